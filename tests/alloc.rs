//! A steady-state training step makes no call to the system allocator: counted by a global
//! allocator (its own test binary, since the allocator applies to the whole process) installed,
//! as in the `shardprop` binary, under `KernelArena`, which serves the matrix-multiply kernels'
//! per-call packing buffers from a per-thread arena. Calls that reach the system allocator are
//! counted apart for inside and outside the kernels, and both must be zero.

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
static GLOBAL: shardprop::kalloc::KernelArena<Counting> = shardprop::kalloc::KernelArena::new(Counting);

#[test]
fn steady_state_steps_allocate_nothing() {
    the_arena_absorbs_the_kernels_own_allocations();
    // Every trainer stays alive to the end: a dropped pool's threads exit in the background, and
    // thread exit allocates (crossbeam's epoch bookkeeping), which would land in a later window.
    let mut keep = Vec::new();
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
            // Steps run inside the pool, as `Trainer::train` and `Session::run` run them.
            let (during, in_kernel) = t.in_pool(|t| {
                // Warm-up: buffers are allocated by the first steps (and the first epoch boundary).
                for _ in 0..t.steps_per_epoch(rows) + 2 {
                    t.step(&data, &scaler).unwrap();
                }
                let (before, kernel_before) =
                    (ALLOCATIONS.load(Ordering::Relaxed), KERNEL_ALLOCATIONS.load(Ordering::Relaxed));
                for _ in 0..20 {
                    t.step(&data, &scaler).unwrap();
                }
                (
                    ALLOCATIONS.load(Ordering::Relaxed) - before,
                    KERNEL_ALLOCATIONS.load(Ordering::Relaxed) - kernel_before,
                )
            });
            let what = format!("{method:?} batch {batch} shard {shard} threads {threads}");
            assert_eq!(during, 0, "{what}: {during} heap allocations outside the kernels in 20 steps");
            assert_eq!(in_kernel, 0, "{what}: {in_kernel} heap allocations inside the kernels in 20 steps");
            keep.push(t);
        }
    }
    drop(keep);
}

/// Part of the single test: the counters are process-wide, and the test harness itself allocates
/// when it starts another test's thread, so this binary has exactly one test.
fn the_arena_absorbs_the_kernels_own_allocations() {
    // Guards the test above against passing vacuously: the kernels do allocate on every call,
    // and it is the arena that keeps those allocations off the heap.
    let a = ndarray::Array2::<f32>::ones((300, 300));
    let mut c = ndarray::Array2::<f32>::zeros((300, 300));
    shardprop::kalloc::reserve(); // as the engine does on each of its workers
    shardprop::linalg::matmul(a.view(), a.view(), false, c.view_mut());
    let (heap, served) =
        (KERNEL_ALLOCATIONS.load(Ordering::Relaxed) + ALLOCATIONS.load(Ordering::Relaxed), shardprop::kalloc::served());
    for _ in 0..3 {
        shardprop::linalg::matmul(a.view(), a.view(), false, c.view_mut());
    }
    assert_eq!(c[[0, 0]], 300.0);
    assert!(!shardprop::linalg::in_kernel());
    assert!(shardprop::kalloc::served() >= served + 3, "the kernel made no allocation the arena served");
    let now = KERNEL_ALLOCATIONS.load(Ordering::Relaxed) + ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(now - heap, 0, "{} heap allocations for 3 products", now - heap);
}
