//! The reference workloads and the scaling benchmark behind `shardprop bench`.
//!
//! Throughput is training examples per second over whole epochs (forward, backprop, reduction
//! and step), the median of several epochs after a warm-up epoch. The work per example is about
//! `4 × parameters` FLOPs (forward 2W, weight gradients 2W; the input layer needs no delta), so
//! the roof is the GEMM rate divided by that.

use std::time::Instant;

use ndarray::Array2;
use serde::Serialize;

use crate::data::{Examples, Scaler};
use crate::error::Result;
use crate::kernel::matmul::kernel_call;
use crate::{Activation, Head, Network, TrainConfig, Trainer, rng};

/// A workload: a network and a batch size on the benchmark's data.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    /// `W1`, `W2`, `W3`, or `custom` for the user's own network.
    pub name: String,
    /// Layer sizes.
    pub sizes: Vec<usize>,
    /// Hidden activation.
    #[serde(serialize_with = "name_of_activation")]
    pub activation: Activation,
    /// Output layer and cost.
    #[serde(serialize_with = "name_of_head")]
    pub head: Head,
    /// Examples per step (0: the full batch).
    pub batch_size: usize,
    /// Rows per shard, fixed per workload so results are identical across thread counts (0: the
    /// automatic size, a function of the batch size alone, as `train` uses by default).
    pub shard_size: usize,
}

fn name_of_activation<S: serde::Serializer>(a: &Activation, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(a.name())
}

fn name_of_head<S: serde::Serializer>(h: &Head, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(h.name())
}

impl Workload {
    /// A sigmoid network with the derivation's squared-error cost (the reference workloads).
    pub fn sigmoid_mse(name: &str, sizes: &[usize], batch_size: usize) -> Self {
        Self {
            name: name.to_string(),
            sizes: sizes.to_vec(),
            activation: Activation::Sigmoid,
            head: Head::SigmoidMse,
            batch_size,
            shard_size: 0,
        }
    }

    /// Cuts each step of `rows` training rows into `shards` shards (`None`: the automatic size).
    pub fn with_shards(mut self, shards: Option<usize>, rows: usize) -> Self {
        let m = if self.batch_size == 0 { rows } else { self.batch_size.min(rows) };
        self.shard_size = shards.map_or(0, |k| m.div_ceil(k.max(1)).next_multiple_of(8));
        self
    }
}

/// The workloads: W1 784-128-10 batch 256, W2 784-800-10 batch 1024, W3 784-128-10
/// full batch (60,000 rows), with the automatic shard size.
pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::sigmoid_mse("W1", &[784, 128, 10], 256),
        Workload::sigmoid_mse("W2", &[784, 800, 10], 1024),
        Workload::sigmoid_mse("W3", &[784, 128, 10], 0),
    ]
}

/// One row of the benchmark table.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Workload name.
    pub workload: String,
    /// Worker threads.
    pub threads: usize,
    /// Median examples per second over the timed epochs.
    pub examples_per_sec: f64,
    /// Throughput over the same workload at 1 thread (1.0 when 1 thread was not run).
    pub speedup: f64,
    /// `speedup / threads`.
    pub efficiency: f64,
    /// `4 × parameters × examples_per_sec / 1e9`.
    pub gflops: f64,
    /// `gflops / roof` at this thread count.
    pub roof_fraction: f64,
    /// The GEMM roof used, GFLOP/s.
    pub roof_gflops: f64,
    /// Fraction of step time in the forward pass (with the gather of rows).
    pub forward: f64,
    /// Fraction of step time in backprop.
    pub backprop: f64,
    /// Fraction of step time in the ordered reduction.
    pub reduction: f64,
    /// Fraction of step time in the optimiser step.
    pub step: f64,
    /// Fraction of step time exchanging block sums between ranks (0 in one process).
    pub communication: f64,
    /// How busy the threads were in the forward pass: time in its product tiles (with their
    /// fused bias and activation) summed over threads, over the phase's wall time × threads.
    pub busy_forward: f64,
    /// The same for backprop's product tiles.
    pub busy_backprop: f64,
    /// The same for the fused reduction-and-update pass (its chunks' summing and update).
    pub busy_reduce_step: f64,
    /// Bytes this rank received per step from the other ranks (0 in one process).
    pub comm_bytes: f64,
    /// Parameters of the network, `P` (bias weights included).
    pub params: usize,
    /// Rows per shard the run used (the automatic size resolved for its batch).
    pub shard_rows: usize,
    /// Shards per step.
    pub shards: usize,
    /// MPI ranks (1 in one process); `threads` is per rank.
    pub ranks: usize,
    /// Every timed epoch's examples per second.
    pub epochs: Vec<f64>,
    /// `params_digest` after the run: equal across thread counts.
    pub params_digest: String,
}

/// Measures aggregate single-precision GEMM throughput (GFLOP/s) of the current kernel with
/// `threads` threads each multiplying its own 512³ problem for about `seconds`.
pub fn measure_roof(threads: usize, seconds: f64) -> f64 {
    const N: usize = 512;
    let flops_per = 2.0 * (N * N * N) as f64;
    let results: Vec<(f64, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let a = Array2::<f32>::from_shape_fn((N, N), |(i, j)| ((i * 7 + j * 3 + t) % 13) as f32 * 0.01);
                    let b = Array2::<f32>::from_shape_fn((N, N), |(i, j)| ((i * 5 + j) % 11) as f32 * 0.01);
                    let mut c = Array2::<f32>::zeros((N, N));
                    kernel_call(a.view(), b.view(), false, c.view_mut()); // warm-up
                    let start = Instant::now();
                    let mut reps = 0usize;
                    while start.elapsed().as_secs_f64() < seconds {
                        kernel_call(a.view(), b.view(), true, c.view_mut());
                        reps += 1;
                    }
                    (reps as f64 * flops_per, start.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("roof thread")).collect()
    });
    let wall = results.iter().map(|r| r.1).fold(0.0, f64::max);
    results.iter().map(|r| r.0).sum::<f64>() / wall / 1e9
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Runs `w` on `data` with `threads` workers (per rank, when `dist` spreads it over ranks): one
/// warm-up epoch, then `epochs` timed epochs. `roof` is the GEMM rate of all the cores used
/// (GFLOP/s).
pub fn run(
    w: &Workload,
    data: &dyn Examples,
    scaler: &Scaler,
    threads: usize,
    epochs: usize,
    roof: f64,
    dist: Option<std::sync::Arc<dyn crate::engine::exchange::Collective>>,
) -> Result<BenchResult> {
    let seed = 1;
    let net = Network::<f32>::new(&w.sizes, w.activation, w.head, &mut rng::seeded(seed, rng::STREAM_INIT))?;
    let params = net.n_params() as f64;
    let cfg = TrainConfig {
        epochs: epochs + 1,
        batch_size: w.batch_size,
        lr: 0.1,
        seed,
        shard_size: w.shard_size,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(net, cfg, threads)?;
    let ranks = dist.as_ref().map_or(1, |c| c.size());
    if let Some(c) = dist {
        t.set_collective(c);
    }
    // Epochs run inside the pool, as training does (`Trainer::train`, `Session::run`).
    let rates = t.in_pool(|t| -> Result<Vec<f64>> {
        t.run_epoch(data, scaler)?;
        t.engine_mut().reset_times();
        (0..epochs).map(|_| Ok(t.run_epoch(data, scaler)?.examples_per_sec)).collect()
    })?;
    let times = t.engine_mut().times();
    let (f, b, r, s) = times.split();
    let c = times.comm.as_secs_f64();
    let (busy_forward, busy_backprop, busy_reduce_step) = times.busy();
    let comm_bytes = times.comm_bytes as f64 / times.steps.max(1) as f64;
    let m = if w.batch_size == 0 { data.len() } else { w.batch_size.min(data.len()) };
    let shard_rows = crate::engine::shard_len(m, w.shard_size);
    let total = (f + b + r + s + c).max(1e-12);
    let eps = median(&rates);
    let gflops = 4.0 * params * eps / 1e9;
    Ok(BenchResult {
        workload: w.name.to_string(),
        threads,
        examples_per_sec: eps,
        speedup: 1.0,
        efficiency: 1.0 / threads as f64,
        gflops,
        roof_fraction: gflops / roof.max(1e-9),
        roof_gflops: roof,
        forward: f / total,
        backprop: b / total,
        reduction: r / total,
        step: s / total,
        communication: c / total,
        busy_forward,
        busy_backprop,
        busy_reduce_step,
        comm_bytes,
        params: params as usize,
        shard_rows,
        shards: m.div_ceil(shard_rows),
        ranks,
        epochs: rates,
        params_digest: t.network().params_digest(),
    })
}

/// Fills in `speedup` and `efficiency` against each workload's 1-thread row.
pub fn fill_speedups(results: &mut [BenchResult]) {
    let base: Vec<(String, f64)> =
        results.iter().filter(|r| r.threads == 1).map(|r| (r.workload.clone(), r.examples_per_sec)).collect();
    for r in results.iter_mut() {
        if let Some((_, b)) = base.iter().find(|(w, _)| *w == r.workload) {
            r.speedup = r.examples_per_sec / b;
            r.efficiency = r.speedup / r.threads as f64;
        }
    }
}
