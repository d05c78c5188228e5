//! Criterion benches of the engine's parts on the W2 shape (784-800-10, MNIST-sized random
//! inputs): forward (from the weights, and from their transposed copy), backprop, reduction and
//! one full step, at 1 and 2 threads (and up to the core count). Run: `cargo bench --bench engine`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shardprop::data::{Dataset, Scaler};
use shardprop::{Activation, Engine, GradSum, Head, Network, TrainConfig, Trainer, Workspace, rng};

fn data(rows: usize) -> Dataset {
    let x: Vec<f32> = (0..rows * 784).map(|i| ((i * 2654435761usize) % 256) as f32 / 255.0).collect();
    let labels: Vec<u32> = (0..rows).map(|i| (i % 10) as u32).collect();
    Dataset::from_labels(x, labels, 784, (0..10).map(|c| c.to_string()).collect(), "bench").unwrap()
}

fn net() -> Network<f32> {
    Network::new(&[784, 800, 10], Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(1, 0)).unwrap()
}

fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t = vec![1];
    while t[t.len() - 1] * 2 <= cores {
        t.push(t[t.len() - 1] * 2);
    }
    t
}

fn shard_passes(c: &mut Criterion) {
    let rows = 256;
    let net = net();
    let d = data(rows);
    let mut ws = Workspace::new(&net, rows);
    {
        let (mut x, mut y) = ws.input_mut(rows);
        for r in 0..rows {
            Scaler::identity(784).apply_row(shardprop::data::Examples::features(&d, r), x.row_mut(r));
            shardprop::data::Examples::target(&d, r).write(y.row_mut(r));
        }
    }
    let mut sum = GradSum::zeros(net.weights());
    let mut g = c.benchmark_group("shard_256_rows");
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function("forward", |b| b.iter(|| net.forward(black_box(&mut ws), rows)));
    // The engine's forward pass in a step of several chunks: from the transposed copy of the
    // weights (made once per step: `transpose_weights`).
    let mut copies = shardprop::nn::Transposed::default();
    g.bench_function("transpose_weights", |b| {
        b.iter(|| copies.refresh(black_box(&net), rows).layer(&net, 0).is_some())
    });
    let fresh = copies.refresh(&net, rows);
    g.bench_function("forward_transposed", |b| b.iter(|| net.forward_with(black_box(&mut ws), rows, Some(&fresh))));
    // The first layer's product alone, one kernel call from the copy: the kernel's own rate at
    // the step's shape (2 · 256 · 784 · 800 FLOPs), against which the step's rate is judged.
    let x = ndarray::Array2::from_shape_fn((rows, 784), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0);
    let mut z = ndarray::Array2::<f32>::zeros((rows, 800));
    let wt = fresh.layer(&net, 0).expect("a 256-row chunk reads the copy");
    g.bench_function("product_from_copy", |b| {
        b.iter(|| shardprop::kernel::matmul::kernel_call(black_box(x.view()), wt, false, z.view_mut()))
    });
    net.forward(&mut ws, rows);
    g.bench_function("backprop", |b| b.iter(|| net.backward(black_box(&mut ws), rows, &mut sum, false)));
    g.finish();
}

fn reduction_and_step(c: &mut Criterion) {
    let batch = 1024;
    let d = data(4096);
    let idx: Vec<usize> = (0..batch).collect();
    let scaler = Scaler::identity(784);
    let mut g = c.benchmark_group("w2_batch_1024");
    g.throughput(Throughput::Elements(batch as u64));
    g.sample_size(20);
    for threads in thread_counts() {
        let mut engine = Engine::<f32>::new(threads, 128).unwrap();
        let n = net();
        g.bench_with_input(BenchmarkId::new("gradient_with_reduction", threads), &threads, |b, _| {
            b.iter(|| engine.gradient(&n, &d, &scaler, black_box(&idx)).m)
        });
        let cfg = TrainConfig {
            epochs: 1_000_000,
            batch_size: batch,
            lr: 0.1,
            seed: 1,
            shard_size: 128,
            ..Default::default()
        };
        let mut t = Trainer::new(net(), cfg, threads).unwrap();
        g.bench_with_input(BenchmarkId::new("full_step", threads), &threads, |b, _| {
            b.iter(|| t.step(&d, &scaler).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, shard_passes, reduction_and_step);
criterion_main!(benches);
