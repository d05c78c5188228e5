//! The parallel part of a step: each shard's rows gathered (scaled) into a workspace, forward
//! and backprop giving its `Δ_s`, and a worker's run of shards added as the tree says, into the
//! engine's group sums; then the tree's lower levels.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use ndarray::{ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::Engine;

use super::schedule::{Blocks, group_len, shard_len, splits_products};
use super::tree::{subtree, top_stride, tree_levels};
use crate::data::{Examples, Scaler};
use crate::nn::network::CHUNK_ROWS;
use crate::{Float, Grad, GradSum, Network, Workspace};

impl<T: Float> Engine<T> {
    /// Everything of a step in one process up to the tree's last addition: the shards' `Δ`, the
    /// tree's lower levels. Returns how many buffers hold the partial sums and when the
    /// reduction started.
    pub(super) fn sum_to_top(
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
    pub(super) fn partial_sums(
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
        let started = Instant::now();
        // More than one chunk of rows here: the hidden layers' transposed weights, copied once,
        // save each chunk's forward products a strided gather (the same bits: `Transposed`).
        let own_rows = (own.end * len).min(m) - (own.start * len).min(m);
        let (pool, copies) = (&self.pool, &mut self.transposed);
        let copies = (own_rows > CHUNK_ROWS).then(|| pool.install(|| copies.refresh(net, len.min(CHUNK_ROWS))));
        let first = own.start;
        let (workspaces, scratch, times, dropout) = (&self.workspaces, &self.scratch, &self.times, &self.dropout);
        let sums = &mut self.sums[..groups];
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
                        if let Some((d, step)) = dropout {
                            // `chunk` holds the rows' numbers in the dataset: the masks' key.
                            ws.set_dropout(d, *step, chunk);
                        }
                        net.forward_with(&mut ws, chunk.len(), copies.as_ref());
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
}

/// A workspace from `pool` that fits `net` and `rows` rows, or a new one.
pub(super) fn take_workspace<T: Float>(pool: &Mutex<Vec<Workspace<T>>>, net: &Network<T>, rows: usize) -> Workspace<T> {
    let found = {
        let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter().position(|ws| ws.fits(net, rows)).map(|i| pool.swap_remove(i))
    };
    found.unwrap_or_else(|| Workspace::new(net, rows))
}

/// Copies the shard's rows into the workspace: scaled features into `acts[0]`, targets into `y`.
/// With `split` (the shard's products are split too) blocks of rows are copied in parallel.
pub(super) fn gather<T: Float>(
    ws: &mut Workspace<T>,
    data: &dyn Examples,
    scaler: &Scaler,
    rows: &[usize],
    split: bool,
) {
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
