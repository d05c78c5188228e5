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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

pub mod exchange;
pub mod tree;

use crate::data::{Examples, Rows, Scaler};
use crate::error::{Error, Result};
use crate::nn::StepStats;
use crate::nn::network::{CHUNK_ROWS, count_correct};
use crate::optim::{Optimizer, UPDATE_ELEMS, update_layer};
use crate::{Float, Grad, GradSum, Network, Workspace};
use exchange::{Blocks, Collective};
use tree::{top_stride, tree_shape};

/// At most this many worker threads (a pool is started at once; more would only wait).
pub const MAX_THREADS: usize = 1024;
/// At most this many shards per step, so partial-`Δ` memory stays bounded for full-batch steps.
pub const MAX_SHARDS: usize = 64;
/// Rows per shard in forward-only evaluation.
pub const EVAL_SHARD: usize = CHUNK_ROWS;

/// Rows per shard for a step of `m` examples: the configured `shard_size`, raised so there are at
/// most [`MAX_SHARDS`] shards. A function of `m` and `shard_size` only.
///
/// `shard_size` 0 (the default) chooses for speed from `m` alone: one [`CHUNK_ROWS`] of 256 rows per
/// shard (so a step of up to 256 examples is one shard), raised for steps of more than
/// `64 × 256` examples. Measured on W1–W3 (docs/PERFORMANCE.md): with fewer shards than threads
/// the shards' products are split over the threads, and splitting one shard's products over
/// many threads scales worse than giving each thread its own shard, while shards much smaller
/// than a chunk make `Δ = δᵀ a` a memory-bound product with a full `Δ` per shard to reduce.
pub fn shard_len(m: usize, shard_size: usize) -> usize {
    let size = if shard_size == 0 { CHUNK_ROWS } else { shard_size };
    size.max(m.div_ceil(MAX_SHARDS))
}

/// The result of a forward-only pass over a dataset.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Examples.
    pub m: usize,
    /// `Σ_i J_i`.
    pub loss_sum: f64,
    /// Correct classifications.
    pub correct: usize,
    /// Outputs `h(x)`, one row per example in input order ([`Engine::evaluate`]; empty, `0 × S_L`,
    /// from [`Engine::evaluate_streamed`]).
    pub outputs: Array2<f32>,
}

impl Evaluation {
    /// `J`, the mean cost.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.m.max(1) as f64
    }
    /// Fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.m.max(1) as f64
    }
}

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
    side: Vec<f64>,
    /// A step's rows as the dataset numbers them, when the view maps them ([`Rows::resolve`]).
    resolved: Vec<usize>,
    /// The blocks' losses, summed in the tree's order.
    losses: Vec<f64>,
    stop_vote: bool,
    stop_any: bool,
}

/// Where the time of training steps went, accumulated since the engine started or was reset.
#[derive(Debug, Default)]
pub struct StepTimes {
    /// Wall time of the parallel part of steps (gather, forward, backprop).
    pub parallel: Duration,
    /// Wall time of the fused pass that finishes the ordered reduction and applies the optimiser.
    pub reduce_step: Duration,
    /// Wall time of exchanging block sums between ranks (distributed training only).
    pub comm: Duration,
    /// Bytes received from other ranks (distributed training only).
    pub comm_bytes: u64,
    /// Steps timed.
    pub steps: u64,
    forward_busy_ns: AtomicU64,
    backprop_busy_ns: AtomicU64,
    reduce_busy_ns: AtomicU64,
    tiles_busy_ns: Arc<[AtomicU64; 2]>,
    step_busy_ns: AtomicU64,
    threads: usize,
}

impl StepTimes {
    fn add_busy(&self, forward: Duration, backprop: Duration) {
        self.forward_busy_ns.fetch_add(forward.as_nanos() as u64, Ordering::Relaxed);
        self.backprop_busy_ns.fetch_add(backprop.as_nanos() as u64, Ordering::Relaxed);
    }

    /// How busy the threads were in each phase, (forward, backprop, reduction and step): the
    /// time spent in product tiles of the forward pass and of backprop, and in the fused pass's
    /// chunks (their summing and their update), each summed over threads and divided by the
    /// phase's wall time × threads. The gather of rows and per-shard bookkeeping count as idle.
    pub fn busy(&self) -> (f64, f64, f64) {
        let (f, b, r, s) = self.split();
        let t = self.threads.max(1) as f64;
        let frac = |ns: u64, wall: f64| if wall > 0.0 { (ns as f64 / 1e9 / (wall * t)).min(1.0) } else { 0.0 };
        (
            frac(self.tiles_busy_ns[0].load(Ordering::Relaxed), f),
            frac(self.tiles_busy_ns[1].load(Ordering::Relaxed), b),
            frac(self.step_busy_ns.load(Ordering::Relaxed), r + s),
        )
    }

    /// Wall seconds of (forward, backprop, reduction, step). The parallel part is split between
    /// forward (with the gather of rows) and backprop in proportion to the workers' busy time;
    /// the fused reduction-and-update pass between reduction and step likewise (the summing of
    /// each chunk is timed inside the pass, the rest is the optimiser).
    pub fn split(&self) -> (f64, f64, f64, f64) {
        let f = self.forward_busy_ns.load(Ordering::Relaxed) as f64;
        let b = self.backprop_busy_ns.load(Ordering::Relaxed) as f64;
        let par = self.parallel.as_secs_f64();
        let share = if f + b > 0.0 { f / (f + b) } else { 0.5 };
        let fused = self.reduce_step.as_secs_f64();
        let busy = self.reduce_busy_ns.load(Ordering::Relaxed) as f64 / 1e9;
        // Busy time is summed over threads: scale it to the pass's wall time by the thread count
        // that ran it, bounded by the whole pass.
        let reduce = (busy / self.threads.max(1) as f64).min(fused);
        (par * share, par * (1.0 - share), reduce, fused - reduce)
    }
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
            times: StepTimes { threads, ..StepTimes::default() },
            dist: None,
            send: Vec::new(),
            recv: Vec::new(),
            dflat: Vec::new(),
            side: Vec::new(),
            resolved: Vec::new(),
            losses: Vec::new(),
            stop_vote: false,
            stop_any: false,
        })
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Trains as one rank of several: each step computes only this rank's block of shards and
    /// exchanges block sums through `c`.
    pub fn set_collective(&mut self, c: Arc<dyn Collective>) {
        self.side = vec![0.0; 4 * c.size()];
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
        self.times = StepTimes { threads: self.threads, ..StepTimes::default() };
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
    /// reduction. Allocates only the first time (or when the network or shard shape grows).
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
        let stats = finish(sums);
        (grad.m, grad.loss_sum, grad.correct) = (stats.m, stats.loss_sum, stats.correct);
        self.times.reduce_step += t0.elapsed();
        // Wall time of a pass the whole pool ran: as busy time summed over threads.
        let busy_ns = t0.elapsed().as_nanos() as u64 * self.threads as u64;
        self.times.reduce_busy_ns.fetch_add(busy_ns, Ordering::Relaxed);
        grad
    }

    /// Everything of a step in one process up to the tree's last addition: the shards' `Δ`, the
    /// tree's lower levels. Returns how many buffers hold the partial sums and when the
    /// reduction started.
    fn sum_to_top(
        &mut self,
        net: &Network<T>,
        data: &dyn Examples,
        scaler: &Scaler,
        idx: &[usize],
    ) -> (usize, Instant) {
        let (_, n) = self.partial_sums(net, data, scaler, idx);
        self.stop_any = self.stop_vote;
        let t0 = Instant::now();
        let bufs = &mut self.sums[..n];
        let busy = &self.times.step_busy_ns;
        self.pool.install(|| tree_levels(bufs, top_stride(bufs.len()), busy));
        (n, t0)
    }

    /// The parallel part of a step: the `Δ_s` of this process's shards (all of them, or this
    /// rank's block), summed by runs of `g` consecutive shards into `self.sums[..groups]`.
    /// Returns `(k, groups)`: the step's shard count and how many group sums there are.
    ///
    /// With enough shards to share evenly, a worker takes a run of `g` shards (a power of two,
    /// aligned: a subtree of the fixed tree) and adds them as the tree says while they are in
    /// cache, with a stack of `log₂ g` scratch sums, so only `groups` full `Δ` are left for the
    /// reduction instead of one per shard ([`group_len`]). Otherwise ([`splits_products`]) every
    /// shard is its own group and its products are split over the pool (tiles fixed by the
    /// shapes). Either way the bits are those of the tree over single shards.
    fn partial_sums(
        &mut self,
        net: &Network<T>,
        data: &dyn Examples,
        scaler: &Scaler,
        idx: &[usize],
    ) -> (usize, usize) {
        let m = idx.len();
        let len = shard_len(m, self.shard_size);
        let k = m.div_ceil(len);
        let own = match &self.dist {
            Some(c) => Blocks::new(k, c.size()).shards_of(c.rank()),
            None => 0..k,
        };
        let split = splits_products(own.len(), self.threads);
        let g = group_len(own.len(), self.threads);
        let groups = own.len().div_ceil(g);
        let depth = g.trailing_zeros() as usize;
        if self.sums.first().is_some_and(|s| !s.fits(net.weights())) {
            self.sums.clear();
            self.scratch.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
        }
        while self.sums.len() < groups.max(1) {
            self.sums.push(GradSum::zeros(net.weights()));
        }
        if !self.grad.as_ref().is_some_and(|g| g.fits(net.weights())) {
            self.grad = Some(Grad::zeros(net.weights()));
        }
        // Groups that can run at once: one per thread, or, when products are split, every shard
        // (a worker waiting inside a split product may take up another shard; there are fewer
        // than four per thread then).
        let running = if split { groups.max(1) } else { self.threads.min(groups.max(1)) };
        {
            // One workspace (and scratch stack) per group that can run at once, made before the
            // parallel section so that a steady-state step never allocates.
            let rows = len.min(CHUNK_ROWS);
            let mut pool = self.workspaces.lock().unwrap_or_else(|p| p.into_inner());
            let fitting = pool.iter().filter(|ws| ws.fits(net, rows)).count();
            for _ in fitting..running {
                pool.push(Workspace::new(net, rows));
            }
            let scratch = self.scratch.get_mut().unwrap_or_else(|p| p.into_inner());
            while scratch.len() < running {
                scratch.push(Vec::new());
            }
            for stack in scratch.iter_mut() {
                while stack.len() < depth {
                    stack.push(GradSum::zeros(net.weights()));
                }
            }
        }
        let first = own.start;
        let (workspaces, scratch, times) = (&self.workspaces, &self.scratch, &self.times);
        let sums = &mut self.sums[..groups];
        let started = Instant::now();
        self.pool.install(|| {
            sums.par_iter_mut().enumerate().for_each(|(j, sum)| {
                let mut ws = take_workspace(workspaces, net, len.min(CHUNK_ROWS));
                ws.set_split(split);
                ws.set_busy(Some(Arc::clone(&times.tiles_busy_ns)));
                // Made above: a run that does not split its products never enters rayon, so at
                // most `running` runs hold a stack at once.
                let mut stack =
                    scratch.lock().unwrap_or_else(|p| p.into_inner()).pop().expect("a scratch stack per running run");
                debug_assert!(stack.len() >= depth);
                let end = own.end;
                // Shard `s`'s Δ into `out`; a shard larger than a chunk is done chunk by chunk
                // in order, adding into its Δ.
                let mut shard = |s: usize, out: &mut GradSum<T>| {
                    let rows = &idx[s * len..((s + 1) * len).min(m)];
                    for (c, chunk) in rows.chunks(CHUNK_ROWS).enumerate() {
                        let t0 = Instant::now();
                        gather(&mut ws, data, scaler, chunk, split);
                        net.forward(&mut ws, chunk.len());
                        let t1 = Instant::now();
                        net.backward(&mut ws, chunk.len(), out, c > 0);
                        times.add_busy(t1 - t0, t1.elapsed());
                    }
                };
                subtree(first + j * g, g, end, sum, &mut stack, &mut shard);
                scratch.lock().unwrap_or_else(|p| p.into_inner()).push(stack);
                workspaces.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
            });
        });
        self.times.parallel += started.elapsed();
        self.times.steps += 1;
        data.rows_read(m);
        (k, groups)
    }

    /// One optimiser step over the examples `idx`: the shards' `Δ` in parallel as in
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
                    let (s0, s1) = opt.slots_mut(l);
                    let w = w.as_slice_mut().expect("contiguous");
                    let d = &dflat[at..at + w.len()];
                    at += w.len();
                    update_layer(&ctx, cols, w, s0, s1, Some(&times.step_busy_ns), |start, out| {
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
                let (s0, s1) = opt.slots_mut(l);
                let w = w.as_slice_mut().expect("contiguous");
                update_layer(&ctx, cols, w, s0, s1, Some(&times.step_busy_ns), |start, out| {
                    let t = Instant::now();
                    sum_shards(sums, l, start, out, idx.len());
                    times.reduce_busy_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                });
            }
        });
        let stats = finish(sums);
        self.times.reduce_step += t0.elapsed();
        stats
    }

    /// `D = Δ/m` of a step trained across ranks, into `self.dflat`, with the same bits as one
    /// process: this rank computes its block of shards and sums it with the tree's lower levels
    /// (a block is a subtree), then a reduce-scatter along the fixed tree: an all-to-all sends
    /// slice `j` of the flat block sum to rank `j`, which finishes the tree's upper levels for its
    /// slice in the order every rank would and divides by `m`; an all-gather of the finished
    /// slices gives every rank all of `D`. Each rank receives `2 (R − 1) ⌈P/R⌉` values per step
    /// (`comm_bytes`), against `(R − 1) P` for an all-gather of block sums.
    fn distributed_d(&mut self, net: &Network<T>, data: &dyn Examples, scaler: &Scaler, idx: &[usize]) -> StepStats {
        let c = Arc::clone(self.dist.as_ref().expect("distributed"));
        let (k, groups) = self.partial_sums(net, data, scaler, idx);
        let (ranks, rank) = (c.size(), c.rank());
        let layout = Blocks::new(k, ranks);
        let own = layout.shards_of(rank);
        let t0 = Instant::now();
        let busy = &self.times.step_busy_ns;
        if !own.is_empty() {
            // The rest of this rank's subtree, over its group sums.
            let block = &mut self.sums[..groups];
            self.pool.install(|| tree_levels(block, groups, busy));
        }
        let p = net.n_params();
        let slice = p.div_ceil(ranks).max(1);
        for buf in [&mut self.send, &mut self.recv, &mut self.dflat] {
            buf.resize(slice * ranks, T::zero());
        }
        // The block sum, flat (layer after layer), padded with zeros to R slices.
        let mut at = 0;
        if !own.is_empty() {
            for d in &self.sums[0].dw {
                let d = d.as_slice().expect("contiguous");
                self.send[at..at + d.len()].copy_from_slice(d);
                at += d.len();
            }
        }
        self.send[at..].fill(T::zero());
        let mine = if own.is_empty() { None } else { Some(&self.sums[0]) };
        let side = [
            mine.map_or(0.0, |s| s.loss),
            mine.map_or(0.0, |s| s.correct as f64),
            mine.map_or(0.0, |s| s.m as f64),
            f64::from(u8::from(self.stop_vote)),
        ];
        let reduced = t0.elapsed();

        let t1 = Instant::now();
        c.all_to_all(bytemuck::cast_slice(&self.send), bytemuck::cast_slice_mut(&mut self.recv));
        let all = &mut self.side[..4 * ranks];
        c.all_gather(bytemuck::cast_slice(&side), bytemuck::cast_slice_mut(all));
        let exchanged = t1.elapsed();

        // The tree's upper levels over the blocks, for this rank's slice, then `/ m`.
        let t2 = Instant::now();
        let blocks = layout.blocks;
        let recv = &mut self.recv;
        let mt = T::from_usize(idx.len().max(1));
        let out = &mut self.send[..slice];
        self.pool.install(|| {
            for (a, b) in tree_shape(blocks) {
                let (lo, hi) = recv.split_at_mut(b * slice);
                let (x, y) = (&mut lo[a * slice..(a + 1) * slice], &hi[..slice]);
                x.par_chunks_mut(UPDATE_ELEMS).zip(y.par_chunks(UPDATE_ELEMS)).for_each(|(x, y)| {
                    let t = Instant::now();
                    for (x, &y) in x.iter_mut().zip(y) {
                        *x += y;
                    }
                    busy.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                });
            }
            out.par_chunks_mut(UPDATE_ELEMS).zip(recv[..slice].par_chunks(UPDATE_ELEMS)).for_each(|(out, x)| {
                for (o, &x) in out.iter_mut().zip(x) {
                    *o = x / mt;
                }
            });
        });
        let finished = t2.elapsed();

        let t3 = Instant::now();
        c.all_gather(bytemuck::cast_slice(&self.send[..slice]), bytemuck::cast_slice_mut(&mut self.dflat));
        let gathered = t3.elapsed();
        let t = std::mem::size_of::<T>();
        self.times.comm_bytes += ((ranks - 1) * (2 * slice * t + std::mem::size_of_val(&side))) as u64;
        self.times.comm += exchanged + gathered;
        self.times.reduce_step += reduced + finished;
        // Wall time of passes the whole pool ran: as busy time summed over threads.
        let busy_ns = (reduced + finished).as_nanos() as u64 * self.threads as u64;
        self.times.reduce_busy_ns.fetch_add(busy_ns, Ordering::Relaxed);

        let all = &self.side[..4 * ranks];
        self.stop_any = all.chunks(4).any(|s| s[3] != 0.0);
        // Losses summed in the tree's order over the blocks, as one process sums its shards.
        let losses = &mut self.losses;
        losses.clear();
        losses.extend(all.chunks(4).take(blocks).map(|s| s[0]));
        for (a, b) in tree_shape(blocks) {
            losses[a] += losses[b];
        }
        let blocks_side = || all.chunks(4).take(blocks);
        StepStats {
            m: blocks_side().map(|s| s[2] as usize).sum(),
            loss_sum: losses.first().copied().unwrap_or(0.0),
            correct: blocks_side().map(|s| s[1] as usize).sum(),
        }
    }

    /// Forward pass over `data` (in shards of [`eval_shard_rows`] rows): cost, hits and outputs.
    /// The outputs take `rows × S_L` values: for many classes, use [`Engine::evaluate_streamed`].
    pub fn evaluate<'a>(&mut self, net: &Network<T>, data: impl Into<Rows<'a>>, scaler: &Scaler) -> Evaluation {
        let data = data.into();
        let mut outputs = Array2::<f32>::zeros((data.len(), net.n_outputs()));
        let mut ev = self.evaluate_streamed(net, data, scaler, |first, batch| {
            outputs.slice_mut(ndarray::s![first..first + batch.nrows(), ..]).assign(&batch);
        });
        ev.outputs = outputs;
        ev
    }

    /// Forward pass over `data` in batches of rows, in bounded memory: `each(first_row, outputs)`
    /// sees each batch's outputs `h(x)` (one row per example, in input order) and may keep what it
    /// needs; the returned [`Evaluation`] has cost and hits but no outputs (`0 × S_L`). A batch
    /// holds at most about [`EVAL_BATCH_VALUES`] outputs (and at least one shard), so a model with
    /// 40,000 classes evaluates a million rows in a few hundred MB. Cost and hits are the same
    /// bits as [`Engine::evaluate`]'s: the per-shard sums are added in the same order.
    pub fn evaluate_streamed<'a>(
        &mut self,
        net: &Network<T>,
        data: impl Into<Rows<'a>>,
        scaler: &Scaler,
        mut each: impl FnMut(usize, ArrayView2<'_, f32>),
    ) -> Evaluation {
        let data = data.into();
        let n = data.len();
        let k = net.n_outputs();
        let shard = eval_shard_rows(net.sizes());
        let per_batch = (EVAL_BATCH_VALUES / (shard * k).max(1)).clamp(1, 4 * self.threads.max(1));
        let batch_rows = shard * per_batch;
        let workspaces = &self.workspaces;
        let mut parts: Vec<(f64, usize)> = Vec::with_capacity(n.div_ceil(shard));
        let mut batch_parts: Vec<(f64, usize)> = Vec::new();
        let mut outputs = Array2::<f32>::zeros((batch_rows.min(n), k));
        let mut first = 0;
        while first < n {
            let len = batch_rows.min(n - first);
            let mut out = outputs.slice_mut(ndarray::s![..len, ..]);
            let split = splits_products(len.div_ceil(shard), self.threads);
            self.pool.install(|| {
                out.axis_chunks_iter_mut(Axis(0), shard)
                    .into_par_iter()
                    .enumerate()
                    .map(|(s, mut out)| {
                        let start = first + s * shard;
                        let rows: Vec<usize> = (start..start + out.nrows()).map(|i| data.row(i)).collect();
                        let mut ws = take_workspace(workspaces, net, shard);
                        ws.set_split(split);
                        ws.set_busy(None); // evaluation is not a training step
                        gather(&mut ws, data.data(), scaler, &rows, split);
                        net.forward(&mut ws, rows.len());
                        let (h, y) = ws.output_and_targets(rows.len());
                        let part = (net.head().loss_sum(h, y), count_correct(net.head(), h, y));
                        out.zip_mut_with(&h, |o, &v| *o = v.to_f64() as f32);
                        workspaces.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
                        part
                    })
                    .collect_into_vec(&mut batch_parts);
            });
            parts.extend_from_slice(&batch_parts);
            each(first, outputs.slice(ndarray::s![..len, ..]));
            first += len;
        }
        let loss_sum = parts.iter().map(|p| p.0).sum();
        let correct = parts.iter().map(|p| p.1).sum();
        Evaluation { m: n, loss_sum, correct, outputs: Array2::zeros((0, k)) }
    }
}

/// Values (rows × output units) a batch of [`Engine::evaluate_streamed`] holds at most, beyond
/// one shard: 64 MB of `f32` outputs.
pub const EVAL_BATCH_VALUES: usize = 1 << 24;

/// Values (rows × units summed over layers) an evaluation shard's scratch buffers hold at most,
/// beyond one row: 16 MB per buffer of `f32`.
const EVAL_SHARD_VALUES: usize = 1 << 22;

/// Rows per shard in forward-only evaluation of a network of these layer sizes: [`EVAL_SHARD`],
/// fewer when a shard's scratch buffers would pass [`EVAL_SHARD_VALUES`] values (a million
/// classes make a 256-row shard's buffers gigabytes).
pub fn eval_shard_rows(sizes: &[usize]) -> usize {
    let units = sizes.iter().fold(0usize, |a, &s| a.saturating_add(s)).max(1);
    EVAL_SHARD.min(EVAL_SHARD_VALUES / units).max(1)
}

fn take_workspace<T: Float>(pool: &Mutex<Vec<Workspace<T>>>, net: &Network<T>, rows: usize) -> Workspace<T> {
    let found = {
        let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter().position(|ws| ws.fits(net, rows)).map(|i| pool.swap_remove(i))
    };
    found.unwrap_or_else(|| Workspace::new(net, rows))
}

/// Whether a step with `k` shards (of this process) on `threads` threads splits each shard's
/// products over the threads: when there are fewer shards than threads, or too few to share
/// evenly (not a multiple of the thread count and under four per thread). Scheduling only.
pub fn splits_products(k: usize, threads: usize) -> bool {
    let t = threads.max(1);
    k < t || (!k.is_multiple_of(t) && k < 4 * t)
}

/// Shards per worker run for `k` shards on `threads` threads (when products are not split): the
/// largest power of two that cuts the shards into runs of equal length, as many per thread,
/// else one that leaves at least four runs per thread (so they still balance), else 1. Only the
/// scheduling depends on it, never the bits.
pub fn group_len(k: usize, threads: usize) -> usize {
    let t = threads.max(1);
    if splits_products(k, t) {
        return 1;
    }
    let pow2_below = |x: usize| if x == 0 { 0 } else { 1 << (usize::BITS - 1 - x.leading_zeros()) };
    let mut g = pow2_below(k / t);
    while g > 1 && (!k.is_multiple_of(g) || !(k / g).is_multiple_of(t)) {
        g /= 2;
    }
    if g > 1 { g } else { pow2_below(k / (4 * t)).max(1) }
}

/// The sum of shards `s..s + g` (those below `end`) into `out`, in the fixed tree's order:
/// the left half into `out`, the right half into the next scratch sum, then one addition. `g`
/// is a power of two and `s` a multiple of it, so this is a subtree of
/// [`crate::engine::tree::tree_shape`].
fn subtree<T: Float>(
    s: usize,
    g: usize,
    end: usize,
    out: &mut GradSum<T>,
    stack: &mut [GradSum<T>],
    shard: &mut impl FnMut(usize, &mut GradSum<T>),
) {
    if g == 1 {
        shard(s, out);
        return;
    }
    let half = g / 2;
    subtree(s, half, end, out, stack, shard);
    if s + half < end {
        let (tmp, rest) = stack.split_first_mut().expect("a scratch sum per level");
        subtree(s + half, half, end, tmp, rest, shard);
        out.add(tmp);
    }
}

/// Copies the shard's rows into the workspace: scaled features into `acts[0]`, targets into `y`.
/// With `split` (the shard's products are split too) blocks of rows are copied in parallel.
fn gather<T: Float>(ws: &mut Workspace<T>, data: &dyn Examples, scaler: &Scaler, rows: &[usize], split: bool) {
    const BLOCK: usize = 32;
    let (mut x, mut y) = ws.input_mut(rows.len());
    let copy = |rows: &[usize], mut x: ArrayViewMut2<T>, mut y: ArrayViewMut2<T>| {
        for (r, &i) in rows.iter().enumerate() {
            scaler.apply_row(data.features(i), x.row_mut(r));
            data.target(i).write(y.row_mut(r));
        }
    };
    if split && rows.len() > BLOCK {
        rows.par_chunks(BLOCK)
            .zip(x.axis_chunks_iter_mut(Axis(0), BLOCK))
            .zip(y.axis_chunks_iter_mut(Axis(0), BLOCK))
            .for_each(|((rows, x), y)| copy(rows, x, y));
    } else {
        copy(rows, x.view_mut(), y.view_mut());
    }
}

/// The tree's levels with strides below `limit`, in place: `Δ_s += Δ_{s+stride}` for the pairs
/// of [`crate::engine::tree::tree_shape`], pairs in parallel and, within a pair, elements in parallel.
/// The example counts, losses and hits follow the same shape. With `limit = top_stride(len)` this
/// leaves only the last addition, which the fused pass does.
/// Each chunk's time is added to `busy` (nanoseconds, summed over threads).
fn tree_levels<T: Float>(bufs: &mut [GradSum<T>], limit: usize, busy: &AtomicU64) {
    let mut stride = 1;
    while stride < limit {
        bufs.par_chunks_mut(2 * stride).for_each(|c| {
            if c.len() > stride {
                let (a, b) = c.split_at_mut(stride);
                add_into(&mut a[0], &b[0], busy);
            }
        });
        stride *= 2;
    }
}

fn add_into<T: Float>(a: &mut GradSum<T>, b: &GradSum<T>, busy: &AtomicU64) {
    for (x, y) in a.dw.iter_mut().zip(&b.dw) {
        let (x, y) = (x.as_slice_mut().expect("contiguous"), y.as_slice().expect("contiguous"));
        x.par_chunks_mut(UPDATE_ELEMS).zip(y.par_chunks(UPDATE_ELEMS)).for_each(|(x, y)| {
            let t = Instant::now();
            for (x, &y) in x.iter_mut().zip(y) {
                *x += y;
            }
            busy.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        });
    }
    a.loss += b.loss;
    a.correct += b.correct;
    a.m += b.m;
}

/// Writes `D` for elements `start..start + out.len()` of layer `l`: the tree's last addition
/// `(Δ_0 + Δ_top) / m` after [`tree_levels`]. Gives the same bits as [`Grad::reduce_tree`]
/// however the elements are split among threads.
fn sum_shards<T: Float>(sums: &[GradSum<T>], l: usize, start: usize, out: &mut [T], m: usize) {
    let range = start..start + out.len();
    let a = &sums[0].dw[l].as_slice().expect("contiguous")[range.clone()];
    let mt = T::from_usize(m.max(1));
    let top = top_stride(sums.len());
    if top > 0 {
        let b = &sums[top].dw[l].as_slice().expect("contiguous")[range];
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = (a + b) / mt;
        }
    } else {
        for (o, &a) in out.iter_mut().zip(a) {
            *o = a / mt;
        }
    }
}

/// The step's example count, summed cost and hits, from the tree's last addition.
fn finish<T: Float>(sums: &[GradSum<T>]) -> StepStats {
    let top = top_stride(sums.len());
    let (a, b) = (&sums[0], (top > 0).then(|| &sums[top]));
    StepStats {
        m: a.m + b.map_or(0, |b| b.m),
        loss_sum: a.loss + b.map_or(0.0, |b| b.loss),
        correct: a.correct + b.map_or(0, |b| b.correct),
    }
}
