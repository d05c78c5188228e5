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

/// The shards of a step as ranks see them: `k` shards in blocks of `block` shards; rank `r` owns
/// block `r` (none when `r ≥ blocks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Shards in the step.
    pub k: usize,
    /// Shards per block (a power of two).
    pub block: usize,
    /// Non-empty blocks, `⌈k / block⌉`, at most the rank count.
    pub blocks: usize,
}

impl Blocks {
    /// The layout for `k` shards over `ranks` ranks: the smallest power-of-two block that needs at
    /// most `ranks` blocks, but never the whole tree (the last addition always joins two blocks,
    /// so every rank finishes the same way).
    pub fn new(k: usize, ranks: usize) -> Self {
        let top = crate::engine::tree::top_stride(k).max(1);
        let block = k.div_ceil(ranks.max(1)).next_power_of_two().min(top);
        Self { k, block, blocks: k.div_ceil(block) }
    }

    /// The shards of rank `r`.
    pub fn shards_of(&self, r: usize) -> std::ops::Range<usize> {
        let lo = (r * self.block).min(self.k);
        lo..((r + 1) * self.block).min(self.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_power_of_two_subtrees_and_never_the_whole_tree() {
        assert_eq!(Blocks::new(6, 2), Blocks { k: 6, block: 4, blocks: 2 });
        assert_eq!(Blocks::new(6, 4), Blocks { k: 6, block: 2, blocks: 3 });
        assert_eq!(Blocks::new(6, 3), Blocks { k: 6, block: 2, blocks: 3 });
        assert_eq!(Blocks::new(6, 8), Blocks { k: 6, block: 1, blocks: 6 });
        assert_eq!(Blocks::new(2, 1), Blocks { k: 2, block: 1, blocks: 2 });
        assert_eq!(Blocks::new(1, 4), Blocks { k: 1, block: 1, blocks: 1 });
        assert_eq!(Blocks::new(64, 4).shards_of(3), 48..64);
        assert_eq!(Blocks::new(6, 4).shards_of(3), 6..6);
    }
}
