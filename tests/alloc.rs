//! What a steady-state training step allocates, counted by a global allocator (its own test
//! binary, since the allocator applies to the whole process), on the reference workloads' real
//! shapes (W1 784-128-10 batch 256, W2 784-800-10 batch 1024, W3 784-128-10 full batch of
//! 60,000) and on small networks with every optimiser:
//!
//! * the engine, the network and the optimisers allocate nothing per step (buffers are made by
//!   the first steps and reused);
//! * the `gemm` kernel allocates its packing buffers on every call (it has no reusable scratch
//!   in this version): at most two allocations per kernel call (each output tile of a product is
//!   one call), and it does allocate, so the bound is not vacuous.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use shardprop::data::{Dataset, Examples, Rows, Scale, ScalerFit};
use shardprop::optim::Method;
use shardprop::{Activation, Head, Network, TrainConfig, Trainer, rng};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static KERNEL_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if shardprop::kernel::matmul::in_kernel() {
        KERNEL_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
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

fn mnist_shaped(rows: usize, seed: usize) -> Dataset {
    let x: Vec<f32> = (0..rows * 784).map(|i| ((i.wrapping_mul(2654435761) ^ seed) % 256) as f32 / 255.0).collect();
    let labels: Vec<u32> = (0..rows).map(|i| (i % 10) as u32).collect();
    Dataset::from_labels(x, labels, 784, (0..10).map(|c| c.to_string()).collect(), "synthetic").unwrap()
}

/// Runs `steps` steps after warming up; returns (allocations outside the kernels, inside, kernel
/// calls) over the counted steps.
fn count_steps(
    t: &mut Trainer<f32>,
    data: Rows<'_>,
    scaler: &shardprop::data::Scaler,
    warm: usize,
    steps: usize,
) -> (usize, usize, u64) {
    t.in_pool(|t| {
        // Every worker has started (a thread's start allocates, and a worker that no tiny step
        // needed yet could otherwise start inside the counted window).
        rayon::broadcast(|_| ());
        for _ in 0..warm {
            t.step(data, scaler).unwrap();
        }
        let before = (
            ALLOCATIONS.load(Ordering::Relaxed),
            KERNEL_ALLOCATIONS.load(Ordering::Relaxed),
            shardprop::kernel::matmul::kernel_calls(),
        );
        for _ in 0..steps {
            t.step(data, scaler).unwrap();
        }
        (
            ALLOCATIONS.load(Ordering::Relaxed) - before.0,
            KERNEL_ALLOCATIONS.load(Ordering::Relaxed) - before.1,
            shardprop::kernel::matmul::kernel_calls() - before.2,
        )
    })
}

#[test]
fn steady_state_steps_allocate_only_inside_the_kernel() {
    // Every trainer stays alive to the end: a dropped pool's threads exit in the background, and
    // thread exit allocates (crossbeam's epoch bookkeeping), which would land in a later window.
    let mut keep = Vec::new();
    let mut kernel_total = 0;

    // The reference workloads' real shapes, with the automatic shard size and with 16-row
    // shards, at 1 and 2 threads.
    let data = mnist_shaped(60_000, 7);
    let scaler = ScalerFit::fit(&data, Scale::None);
    for (name, sizes, batch) in [("W1", [784, 128, 10], 256), ("W2", [784, 800, 10], 1024), ("W3", [784, 128, 10], 0)] {
        for (shard, threads) in [(0, 1), (0, 2), (16, 2)] {
            let cfg = TrainConfig {
                epochs: 100,
                batch_size: batch,
                lr: 0.1,
                seed: 1,
                shard_size: shard,
                ..Default::default()
            };
            let net =
                Network::<f32>::new(&sizes, Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(1, 0)).unwrap();
            let mut t = Trainer::new(net, cfg, threads).unwrap();
            let (warm, steps) = if batch == 0 { (2, 2) } else { (3, 5) };
            let (outside, inside, calls) = count_steps(&mut t, Rows::all(&data), &scaler, warm, steps);
            let what = format!("{name} shard {shard} threads {threads}");
            assert!(calls > 0, "{what}: no kernel call counted");
            assert_eq!(outside, 0, "{what}: {outside} heap allocations outside the kernel in {steps} steps");
            assert!(inside as u64 <= 2 * calls, "{what}: {inside} kernel allocations for {calls} kernel calls");
            kernel_total += inside;
            keep.push(t);
        }
    }
    assert!(kernel_total > 0, "the kernel allocates per call; if it stopped, the docs' bound is stale");

    // Through a row map, as a run with a validation split trains (every fifth row held out): the
    // batch's rows are resolved into a buffer that is made once and reused.
    let train_rows: Vec<usize> = (0..data.len()).filter(|i| i % 5 != 0).collect();
    for threads in [1, 2] {
        let cfg = TrainConfig { epochs: 100, batch_size: 1024, lr: 0.1, seed: 1, ..Default::default() };
        let net = Network::<f32>::new(&[784, 800, 10], Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(1, 0))
            .unwrap();
        let mut t = Trainer::new(net, cfg, threads).unwrap();
        let (outside, inside, calls) = count_steps(&mut t, Rows::subset(&data, &train_rows), &scaler, 3, 5);
        let what = format!("W2 through a row map, threads {threads}");
        assert!(calls > 0, "{what}: no kernel call counted");
        assert_eq!(outside, 0, "{what}: {outside} heap allocations outside the kernel in 5 steps");
        assert!(inside as u64 <= 2 * calls, "{what}: {inside} kernel allocations for {calls} kernel calls");
        keep.push(t);
    }

    // Small networks, every optimiser, several batch, shard and thread shapes.
    let rows = 2000;
    let x: Vec<f32> = (0..rows * 20).map(|i| ((i * 37 % 101) as f32) / 101.0).collect();
    let labels: Vec<u32> = (0..rows).map(|i| (i % 3) as u32).collect();
    let data = Dataset::from_labels(x, labels, 20, vec!["a".into(), "b".into(), "c".into()], "synthetic").unwrap();
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    for method in [
        Method::GradientDescent,
        Method::parse("adam", 0.9).unwrap(),
        Method::parse("momentum", 0.9).unwrap(),
        Method::parse("rprop", 0.9).unwrap(),
    ] {
        for (batch, shard, threads) in
            [(100, 16, 2), (100, 16, 3), (400, 300, 2), (400, 0, 2), (400, 300, 3), (0, 64, 2)]
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
            // Warm-up: buffers are made by the first steps (and the first epoch boundary).
            let warm = t.steps_per_epoch(rows) + 2;
            let (outside, inside, calls) = count_steps(&mut t, Rows::all(&data), &scaler, warm, 20);
            let what = format!("{method:?} batch {batch} shard {shard} threads {threads}");
            assert_eq!(outside, 0, "{what}: {outside} heap allocations outside the kernel in 20 steps");
            assert!(inside as u64 <= 2 * calls, "{what}: {inside} kernel allocations for {calls} kernel calls");
            keep.push(t);
        }
    }
    drop(keep);
}
