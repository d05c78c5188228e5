//! A steady-state training step allocates nothing outside the matrix-multiply kernel: counted by
//! a global allocator (its own test binary, since the allocator applies to the whole process).
//! Both available kernels (`gemm`, `matrixmultiply`) allocate packing buffers inside every call;
//! those are counted separately and reported, not hidden.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use shardprop::data::{Dataset, Scale, ScalerFit};
use shardprop::optim::Method;
use shardprop::{Activation, Head, Network, TrainConfig, Trainer, rng};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static KERNEL_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if shardprop::linalg::in_kernel() {
        KERNEL_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_steps_allocate_nothing() {
    let rows = 2000;
    let x: Vec<f32> = (0..rows * 20).map(|i| ((i * 37 % 101) as f32) / 101.0).collect();
    let labels: Vec<u32> = (0..rows).map(|i| (i % 3) as u32).collect();
    let data = Dataset::from_labels(x, labels, 20, vec!["a".into(), "b".into(), "c".into()], "synthetic").unwrap();
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    for method in
        [Method::GradientDescent, Method::parse("adam", 0.9).unwrap(), Method::parse("momentum", 0.9).unwrap()]
    {
        for (batch, shard, threads) in
            [(100, 16, 2), (100, 16, 3), (400, 300, 2), (400, 100, 2), (400, 300, 3), (0, 64, 2)]
        {
            let cfg = TrainConfig {
                epochs: 100,
                batch_size: batch,
                lr: 0.1,
                seed: 1,
                shard_size: shard,
                optimizer: method,
                ..Default::default()
            };
            let net =
                Network::<f32>::new(&[20, 33, 3], Activation::Tanh, Head::SoftmaxCrossEntropy, &mut rng::seeded(1, 0))
                    .unwrap();
            let mut t = Trainer::new(net, cfg, threads).unwrap();
            // Warm-up: buffers are allocated by the first steps (and the first epoch boundary).
            let steps_per_epoch = t.steps_per_epoch(rows);
            for _ in 0..steps_per_epoch + 2 {
                t.step(&data, &scaler).unwrap();
            }
            let (before, kernel_before) =
                (ALLOCATIONS.load(Ordering::Relaxed), KERNEL_ALLOCATIONS.load(Ordering::Relaxed));
            for _ in 0..5 {
                t.step(&data, &scaler).unwrap();
            }
            let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
            let in_kernel = KERNEL_ALLOCATIONS.load(Ordering::Relaxed) - kernel_before;
            eprintln!(
                "{method:?} batch {batch} shard {shard} threads {threads}: {in_kernel} kernel allocations in 5 steps"
            );
            assert_eq!(
                during, 0,
                "{method:?} batch {batch} shard {shard} threads {threads}: {during} allocations in 5 steps"
            );
        }
    }
}
