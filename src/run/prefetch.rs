//! Announcing a step's rows, and the rows after them, to the data before the step reads them
//! ([`crate::data::Examples::prefetch`]), so a memory-mapped file's pages are read from disk while
//! the step before computes. A hint only: the weights are the same bits with or without it.

use crate::data::Rows;

/// Rows announced beyond the current batch: at least this many, or one batch if larger. Enough
/// that a cold disk has many reads in flight, few enough to stay a few MB of page cache.
const PREFETCH_ROWS: usize = 256;

/// Rows of the epoch's permutation already announced to the data.
pub(crate) struct Ahead {
    /// Off when `SHARDPROP_PREFETCH=0`, or by `Trainer::set_prefetch`.
    pub(crate) on: bool,
    /// Positions `..to` of the permutation were announced.
    pub(crate) to: usize,
    /// The announced rows mapped through the view (reused: no allocation per step).
    buf: Vec<usize>,
}

impl Ahead {
    /// On unless the environment has `SHARDPROP_PREFETCH=0`.
    pub(crate) fn new() -> Self {
        Self { on: std::env::var_os("SHARDPROP_PREFETCH").is_none_or(|v| v != "0"), to: 0, buf: Vec::new() }
    }

    /// Before the step over `perm[lo..lo + batch]`: this batch (if not yet announced) and the
    /// rows after it.
    pub(crate) fn announce(&mut self, data: Rows<'_>, perm: &[usize], lo: usize, batch: usize) {
        if !self.on {
            return;
        }
        let until = (lo + batch).saturating_add(batch.max(PREFETCH_ROWS)).min(perm.len());
        let from = self.to.max(lo);
        if from < until {
            data.prefetch(&perm[from..until], &mut self.buf);
            self.to = until;
        }
    }
}
