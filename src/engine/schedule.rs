//! How a step is scheduled: the shard length (which fixes the bits) and, from the shard and
//! thread counts, whether products are split over threads and how many shards a worker sums in
//! one run (which never change the bits).

use crate::nn::network::CHUNK_ROWS;

/// At most this many shards per step, so partial-`Δ` memory stays bounded for full-batch steps.
pub const MAX_SHARDS: usize = 64;

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

/// The shards of a step as ranks see them: `k` shards in blocks of `block_len` shards; rank `r`
/// owns block `r` (none when `r ≥ n_blocks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Shards in the step.
    pub k: usize,
    /// Shards per block (a power of two).
    pub block_len: usize,
    /// Non-empty blocks, `⌈k / block_len⌉`, at most the rank count.
    pub n_blocks: usize,
}

impl Blocks {
    /// The layout for `k` shards over `ranks` ranks: the smallest power-of-two block that needs at
    /// most `ranks` blocks, but never the whole tree (the last addition always joins two blocks,
    /// so every rank finishes the same way).
    pub fn new(k: usize, ranks: usize) -> Self {
        let top = super::tree::top_stride(k).max(1);
        let block_len = k.div_ceil(ranks.max(1)).next_power_of_two().min(top);
        Self { k, block_len, n_blocks: k.div_ceil(block_len) }
    }

    /// The shards of rank `r`.
    pub fn shards_of(&self, r: usize) -> std::ops::Range<usize> {
        let lo = (r * self.block_len).min(self.k);
        lo..((r + 1) * self.block_len).min(self.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_power_of_two_subtrees_and_never_the_whole_tree() {
        assert_eq!(Blocks::new(6, 2), Blocks { k: 6, block_len: 4, n_blocks: 2 });
        assert_eq!(Blocks::new(6, 4), Blocks { k: 6, block_len: 2, n_blocks: 3 });
        assert_eq!(Blocks::new(6, 3), Blocks { k: 6, block_len: 2, n_blocks: 3 });
        assert_eq!(Blocks::new(6, 8), Blocks { k: 6, block_len: 1, n_blocks: 6 });
        assert_eq!(Blocks::new(2, 1), Blocks { k: 2, block_len: 1, n_blocks: 2 });
        assert_eq!(Blocks::new(1, 4), Blocks { k: 1, block_len: 1, n_blocks: 1 });
        assert_eq!(Blocks::new(64, 4).shards_of(3), 48..64);
        assert_eq!(Blocks::new(6, 4).shards_of(3), 6..6);
    }
}
