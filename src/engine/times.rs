//! Where the time of training steps goes: wall time per phase and the workers' busy time, for
//! `bench` and `--json`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Busy time of the workers in the forward pass of training steps (nanoseconds).
    forward_busy_ns: AtomicU64,
    /// Busy time of the workers in backprop (nanoseconds).
    backprop_busy_ns: AtomicU64,
    /// Busy time in the reduction's additions (nanoseconds, summed over threads).
    pub(super) reduce_busy_ns: AtomicU64,
    /// Busy time in product tiles, (forward, backprop), shared with the workspaces.
    pub(super) tiles_busy_ns: Arc<[AtomicU64; 2]>,
    /// Busy time in the fused reduction-and-update pass (nanoseconds, summed over threads).
    pub(super) step_busy_ns: AtomicU64,
    threads: usize,
}

impl StepTimes {
    /// No time yet, for a pool of `threads` workers.
    pub(super) fn new(threads: usize) -> Self {
        Self { threads, ..Self::default() }
    }

    /// Adds a chunk's forward and backprop time to the workers' busy time.
    pub(super) fn add_busy(&self, forward: Duration, backprop: Duration) {
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
