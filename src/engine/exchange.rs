//! Training across processes (ranks), the way Horovod does it: the library defines what it needs
//! from a message-passing layer ([`Collective`]); the binary's optional `mpi` feature provides it
//! with MPI. No home-made network protocol.
//!
//! Exactness: a step's shards are the same as in one process. Rank `r` computes the shards of
//! block `r`, a run of `B` consecutive shards where `B` is a power of two, and sums them with the
//! same pairwise tree as one process would ([`crate::engine::tree::tree_shape`]): such a block is a
//! subtree. Then a reduce-scatter along the tree: an all-to-all gives rank `j` slice `j` of every
//! block sum, rank `j` finishes the tree's upper levels for its slice in the same order as one
//! process and divides by `m`, and an all-gather of the finished slices gives every rank all of
//! `D` (loss, hits and example counts travel in a small all-gather). Every rank takes the
//! identical step, with the same bits as a single process, for any number of ranks; each rank
//! receives `2 (R − 1)/R · P` values per step, as a ring all-reduce does, and MPI's own
//! summation order is never trusted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rayon::prelude::*;

use super::Engine;
use super::schedule::Blocks;
use super::tree::{divide_into, tree_levels, tree_shape};
use crate::data::{Examples, Scaler};
use crate::nn::StepStats;
use crate::optim::UPDATE_ELEMS;
use crate::{Float, Network};

/// What distributed training needs from a message-passing layer.
pub trait Collective: Send + Sync {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Every rank contributes `send` (the same length everywhere); `recv`, of `size()` times that
    /// length, receives the contributions in rank order.
    fn all_gather(&self, send: &[u8], recv: &mut [u8]);
    /// Every rank sends block `j` of `send` (`send` cut into `size()` equal blocks) to rank `j`;
    /// `recv`, as long as `send`, receives rank `r`'s block for this rank at block `r`.
    fn all_to_all(&self, send: &[u8], recv: &mut [u8]);
    /// Replaces `buf` on every rank with rank 0's.
    fn broadcast(&self, buf: &mut [u8]);
    /// Ends every rank with exit status `code` (so that one rank's error never leaves the
    /// others waiting).
    fn abort(&self, code: i32) -> !;
}

impl<T: Float> Engine<T> {
    /// `D = Δ/m` of a step trained across ranks, into `self.dflat`, with the same bits as one
    /// process: this rank computes its block of shards and sums it with the tree's lower levels
    /// (a block is a subtree), then a reduce-scatter along the fixed tree: an all-to-all sends
    /// slice `j` of the flat block sum to rank `j`, which finishes the tree's upper levels for its
    /// slice in the order every rank would and divides by `m`; an all-gather of the finished
    /// slices gives every rank all of `D`. Each rank receives `2 (R − 1) ⌈P/R⌉` values per step
    /// (`comm_bytes`), against `(R − 1) P` for an all-gather of block sums.
    pub(super) fn distributed_d(
        &mut self,
        net: &Network<T>,
        data: &dyn Examples,
        scaler: &Scaler,
        idx: &[usize],
    ) -> StepStats {
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
        let my_stats = [
            mine.map_or(0.0, |s| s.loss),
            mine.map_or(0.0, |s| s.correct as f64),
            mine.map_or(0.0, |s| s.m as f64),
            f64::from(u8::from(self.stop_vote)),
        ];
        let reduced = t0.elapsed();

        let t1 = Instant::now();
        c.all_to_all(bytemuck::cast_slice(&self.send), bytemuck::cast_slice_mut(&mut self.recv));
        let all = &mut self.rank_stats[..4 * ranks];
        c.all_gather(bytemuck::cast_slice(&my_stats), bytemuck::cast_slice_mut(all));
        let exchanged = t1.elapsed();

        // The tree's upper levels over the blocks, for this rank's slice, then `/ m`.
        let t2 = Instant::now();
        let blocks = layout.n_blocks;
        let recv = &mut self.recv;
        let m = idx.len();
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
            out.par_chunks_mut(UPDATE_ELEMS)
                .zip(recv[..slice].par_chunks(UPDATE_ELEMS))
                .for_each(|(out, x)| divide_into(out, x.iter().copied(), m));
        });
        let finished = t2.elapsed();

        let t3 = Instant::now();
        c.all_gather(bytemuck::cast_slice(&self.send[..slice]), bytemuck::cast_slice_mut(&mut self.dflat));
        let gathered = t3.elapsed();
        let t = std::mem::size_of::<T>();
        self.times.comm_bytes += ((ranks - 1) * (2 * slice * t + std::mem::size_of_val(&my_stats))) as u64;
        self.times.comm += exchanged + gathered;
        self.times.reduce_step += reduced + finished;
        // Wall time of passes the whole pool ran: as busy time summed over threads.
        let busy_ns = (reduced + finished).as_nanos() as u64 * self.threads as u64;
        self.times.reduce_busy_ns.fetch_add(busy_ns, Ordering::Relaxed);

        let all = &self.rank_stats[..4 * ranks];
        self.stop_any = all.chunks(4).any(|s| s[3] != 0.0);
        // Losses summed in the tree's order over the blocks, as one process sums its shards.
        let losses = &mut self.losses;
        losses.clear();
        losses.extend(all.chunks(4).take(blocks).map(|s| s[0]));
        for (a, b) in tree_shape(blocks) {
            losses[a] += losses[b];
        }
        let block_stats = || all.chunks(4).take(blocks);
        StepStats {
            m: block_stats().map(|s| s[2] as usize).sum(),
            loss_sum: losses.first().copied().unwrap_or(0.0),
            correct: block_stats().map(|s| s[1] as usize).sum(),
        }
    }
}
