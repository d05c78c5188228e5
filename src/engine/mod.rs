//! The parallel engine: fixed sharding, per-shard partial `Δ`, an ordered reduction into
//! `D = Δ/m`, and forward-only evaluation.
//!
//! Determinism: a step's `m` examples are cut into shards whose boundaries depend only on `m` and
//! the shard size ([`shard_len`]). Each shard's `Δ_s` is computed from that shard's rows alone:
//! by one worker, which adds a run of consecutive shards as the tree says ([`group_len`]), or,
//! when the step has fewer shards than threads or too few to share evenly
//! ([`splits_products`]), by several threads sharing each product in output tiles fixed by the
//! shapes ([`crate::kernel::matmul::matmul`]). The reducer adds the sums in a fixed pairwise tree
//! ([`crate::engine::tree::tree_shape`]) whose shape depends on the number of shards alone. Which thread
//! ran which shard or tile never enters the arithmetic, so the weights are bitwise the same for
//! any thread count (and, since blocks of the tree are subtrees, for any number of processes).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;

mod eval;
pub mod exchange;
mod schedule;
mod shards;
mod times;
pub mod tree;

pub use eval::{EVAL_BATCH_VALUES, EVAL_SHARD, Evaluation, eval_shard_rows};
pub use schedule::{MAX_SHARDS, group_len, shard_len, splits_products};
pub use times::StepTimes;

use crate::data::{Examples, Rows, Scaler};
use crate::error::{Error, Result};
use crate::nn::{StepStats, Transposed};
use crate::optim::{Optimizer, UPDATE_ELEMS, update_layer};
use crate::{Dropout, Float, Grad, GradSum, Network, Workspace};
use exchange::Collective;
use tree::{sum_shards, top_stats};

/// At most this many worker threads (a pool is started at once; more would only wait).
pub const MAX_THREADS: usize = 1024;

/// The worker pool and every buffer a step needs, allocated once and reused.
pub struct Engine<T: Float> {
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
    shard_size: usize,
    sums: Vec<GradSum<T>>,
    workspaces: Mutex<Vec<Workspace<T>>>,
    /// Stacks of scratch sums for adding a worker's run of shards as the tree says.
    scratch: Mutex<Vec<Vec<GradSum<T>>>>,
    grad: Option<Grad<T>>,
    times: StepTimes,
    dist: Option<Arc<dyn Collective>>,
    /// Distributed only: this rank's block sum, flat and cut into one slice per rank (sent by
    /// the all-to-all), then this rank's finished slice of `D`.
    send: Vec<T>,
    /// Distributed only: every rank's block sum for this rank's slice of the parameters.
    recv: Vec<T>,
    /// Distributed only: `D` for all parameters, flat, gathered from every rank's slice.
    dflat: Vec<T>,
    /// Every rank's (loss, hits, examples, stop vote).
    rank_stats: Vec<f64>,
    /// A step's rows as the dataset numbers them, when the view maps them ([`Rows::resolve`]).
    resolved: Vec<usize>,
    /// The blocks' losses, summed in the tree's order.
    losses: Vec<f64>,
    stop_vote: bool,
    stop_any: bool,
    /// Dropout during training steps (never in evaluation), with the step its masks are keyed by.
    dropout: Option<(Dropout, u64)>,
    /// The hidden layers' `W^(l)[:, 1..]ᵀ`, refreshed by each step or evaluation of more than
    /// one chunk.
    transposed: Transposed<T>,
}

impl<T: Float> Engine<T> {
    /// A pool of `threads` workers (0: one per core) and shards of `shard_size` rows (0: chosen
    /// from the step's size, [`shard_len`]).
    pub fn new(threads: usize, shard_size: usize) -> Result<Self> {
        let cores = || std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS);
        let threads = if threads == 0 { cores() } else { threads };
        if threads > MAX_THREADS {
            return Err(Error::Config(format!("{threads} worker threads: at most {MAX_THREADS}")));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("shardprop-worker-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start {threads} worker threads: {e}")))?;
        Ok(Self {
            pool: Arc::new(pool),
            threads,
            shard_size,
            sums: Vec::new(),
            workspaces: Mutex::new(Vec::new()),
            scratch: Mutex::new(Vec::new()),
            grad: None,
            times: StepTimes::new(threads),
            dist: None,
            send: Vec::new(),
            recv: Vec::new(),
            dflat: Vec::new(),
            rank_stats: Vec::new(),
            resolved: Vec::new(),
            losses: Vec::new(),
            stop_vote: false,
            stop_any: false,
            dropout: None,
            transposed: Transposed::default(),
        })
    }

    /// Drops units in the training steps that follow ([`Dropout`]), their masks keyed by
    /// `step` (the run's global step: set it before each step); `None` for none.
    pub fn set_dropout(&mut self, dropout: Option<(Dropout, u64)>) {
        self.dropout = dropout;
    }

    /// The step the next training step's dropout masks are keyed by.
    pub fn set_dropout_step(&mut self, step: u64) {
        if let Some((_, s)) = &mut self.dropout {
            *s = step;
        }
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Trains as one rank of several: each step computes only this rank's block of shards and
    /// exchanges block sums through `c`.
    pub fn set_collective(&mut self, c: Arc<dyn Collective>) {
        self.rank_stats = vec![0.0; 4 * c.size()];
        self.dist = (c.size() > 1).then_some(c);
    }

    /// The collective, when training across ranks.
    pub fn collective(&self) -> Option<&Arc<dyn Collective>> {
        self.dist.as_ref()
    }

    /// This rank's wish to stop after the next step (e.g. a signal arrived); exchanged with the
    /// step so that every rank stops after the same step.
    pub fn vote_stop(&mut self, stop: bool) {
        self.stop_vote = stop;
    }

    /// Whether any rank voted to stop in the last step.
    pub fn stop_agreed(&self) -> bool {
        self.stop_any
    }

    /// Time spent in steps so far.
    pub fn times(&self) -> &StepTimes {
        &self.times
    }

    /// Starts the step timers afresh.
    pub fn reset_times(&mut self) {
        self.times = StepTimes::new(self.threads);
    }

    /// Configured rows per shard (0: automatic).
    pub fn shard_size(&self) -> usize {
        self.shard_size
    }

    /// The worker pool, to run a whole training loop inside it: then every step's parallel
    /// sections start from a worker (no job goes through the pool's global queue, whose blocks
    /// rayon allocates as it goes), and nothing allocates per step.
    pub fn pool(&self) -> Arc<rayon::ThreadPool> {
        Arc::clone(&self.pool)
    }

    /// `D^(l) = Δ^(l)/m` over the rows `idx` of `data`: shards in parallel, then the ordered
    /// reduction. `idx` numbers the rows of the view; a view's row map is applied here, once for
    /// the step ([`Rows::resolve`]). Allocates only the first time (or when the network, the
    /// shard shape or a mapped batch grows).
    pub fn gradient<'a>(
        &mut self,
        net: &Network<T>,
        data: impl Into<Rows<'a>>,
        scaler: &Scaler,
        idx: &[usize],
    ) -> &Grad<T> {
        let data = data.into();
        let mut resolved = std::mem::take(&mut self.resolved);
        self.gradient_of(net, data.data(), scaler, data.resolve(idx, &mut resolved));
        self.resolved = resolved;
        self.grad.as_ref().expect("made by gradient_of")
    }

    /// [`Engine::gradient`] over rows `idx` as `data` numbers them.
    fn gradient_of(&mut self, net: &Network<T>, data: &dyn Examples, scaler: &Scaler, idx: &[usize]) -> &Grad<T> {
        if idx.is_empty() {
            // No examples: `D = 0` (every rank has the same empty batch, so none exchanges).
            let grad = self.grad.get_or_insert_with(|| Grad::zeros(net.weights()));
            if !grad.fits(net.weights()) {
                *grad = Grad::zeros(net.weights());
            }
            grad.d.iter_mut().for_each(|d| d.fill(T::zero()));
            (grad.m, grad.loss_sum, grad.correct) = (0, 0.0, 0);
            return grad;
        }
        if self.dist.is_some() {
            let stats = self.distributed_d(net, data, scaler, idx);
            let t0 = Instant::now();
            let grad = self.grad.as_mut().expect("allocated by partial_sums");
            let mut at = 0;
            for d in grad.d.iter_mut() {
                let d = d.as_slice_mut().expect("contiguous");
                d.copy_from_slice(&self.dflat[at..at + d.len()]);
                at += d.len();
            }
            (grad.m, grad.loss_sum, grad.correct) = (stats.m, stats.loss_sum, stats.correct);
            self.times.reduce_step += t0.elapsed();
            return grad;
        }
        let (n, t0) = self.sum_to_top(net, data, scaler, idx);
        let sums = &self.sums[..n];
        let grad = self.grad.as_mut().expect("allocated by partial_sums");
        self.pool.install(|| {
            for (l, d) in grad.d.iter_mut().enumerate() {
                let d = d.as_slice_mut().expect("contiguous");
                d.par_chunks_mut(UPDATE_ELEMS)
                    .enumerate()
                    .for_each(|(c, out)| sum_shards(sums, l, c * UPDATE_ELEMS, out, idx.len()));
            }
        });
        let stats = top_stats(sums);
        (grad.m, grad.loss_sum, grad.correct) = (stats.m, stats.loss_sum, stats.correct);
        self.times.reduce_step += t0.elapsed();
        // Wall time of a pass the whole pool ran: as busy time summed over threads.
        let busy_ns = t0.elapsed().as_nanos() as u64 * self.threads as u64;
        self.times.reduce_busy_ns.fetch_add(busy_ns, Ordering::Relaxed);
        grad
    }

    /// One optimiser step over the rows `idx` of `data` (mapped once, as in [`Engine::gradient`]):
    /// the shards' `Δ` in parallel as in
    /// [`Engine::gradient`], then one fused parallel pass that finishes the tree into
    /// `D = Σ_s Δ_s / m` chunk by chunk (the same bits as [`Engine::gradient`]) and lets `opt`
    /// update each chunk of weights while it is in cache. `D` is not kept as a whole array: the
    /// step returns the batch's example count, summed cost and hits (`Grad::d` is not updated).
    pub fn step<'a>(
        &mut self,
        net: &mut Network<T>,
        data: impl Into<Rows<'a>>,
        scaler: &Scaler,
        idx: &[usize],
        opt: &mut Optimizer<T>,
        lr: f64,
    ) -> StepStats {
        let data = data.into();
        let mut resolved = std::mem::take(&mut self.resolved);
        let stats = self.step_of(net, data.data(), scaler, data.resolve(idx, &mut resolved), opt, lr);
        self.resolved = resolved;
        stats
    }

    /// [`Engine::step`] over rows `idx` as `data` numbers them.
    fn step_of(
        &mut self,
        net: &mut Network<T>,
        data: &dyn Examples,
        scaler: &Scaler,
        idx: &[usize],
        opt: &mut Optimizer<T>,
        lr: f64,
    ) -> StepStats {
        if idx.is_empty() {
            // No examples, no step (every rank has the same empty batch).
            return StepStats::default();
        }
        if self.dist.is_some() {
            let stats = self.distributed_d(net, data, scaler, idx);
            let t0 = Instant::now();
            let ctx = opt.begin_step(lr, idx.len());
            let (times, dflat) = (&self.times, &self.dflat);
            self.pool.install(|| {
                let mut at = 0;
                for (l, w) in net.weights_mut().iter_mut().enumerate() {
                    let cols = w.ncols();
                    let (past_grad, step_state) = opt.slots_mut(l);
                    let w = w.as_slice_mut().expect("contiguous");
                    let d = &dflat[at..at + w.len()];
                    at += w.len();
                    update_layer(&ctx, cols, w, past_grad, step_state, Some(&times.step_busy_ns), |start, out| {
                        out.copy_from_slice(&d[start..start + out.len()]);
                    });
                }
            });
            self.times.reduce_step += t0.elapsed();
            return stats;
        }
        let (n, t0) = self.sum_to_top(net, data, scaler, idx);
        let sums = &self.sums[..n];
        let ctx = opt.begin_step(lr, idx.len());
        let times = &self.times;
        self.pool.install(|| {
            for (l, w) in net.weights_mut().iter_mut().enumerate() {
                let cols = w.ncols();
                let (past_grad, step_state) = opt.slots_mut(l);
                let w = w.as_slice_mut().expect("contiguous");
                update_layer(&ctx, cols, w, past_grad, step_state, Some(&times.step_busy_ns), |start, out| {
                    let t = Instant::now();
                    sum_shards(sums, l, start, out, idx.len());
                    times.reduce_busy_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                });
            }
        });
        let stats = top_stats(sums);
        self.times.reduce_step += t0.elapsed();
        stats
    }
}
