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
