//! A shard's scratch buffers ([`Workspace`]): activations and deltas one row per example, the
//! targets, and, during a training step with dropout, the rows' masks.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use crate::{Dropout, Float, Network};

/// Scratch buffers for one shard of up to `cap` rows, reused across steps.
#[derive(Debug)]
pub struct Workspace<T> {
    pub(super) acts: Vec<Array2<T>>,
    pub(super) deltas: Vec<Array2<T>>,
    pub(super) y: Array2<T>,
    pub(super) ones: Array2<T>,
    pub(super) cap: usize,
    /// Whether this shard's products are split over the pool's threads (never changes the bits).
    pub(super) split: bool,
    /// Where tiles of the forward pass (0) and of backprop (1) add their time, if anywhere.
    pub(super) busy: Option<Arc<[AtomicU64; 2]>>,
    /// Dropout masks of the rows gathered last, per layer feeding a weight matrix (`(0, 0)` for a
    /// layer without dropout; all empty until a step with dropout).
    pub(super) masks: Vec<Array2<T>>,
    /// `ã^(l) = a^(l) ⊙ m^(l)`, the masked activations the next layer takes, per masked layer.
    pub(super) dropped: Vec<Array2<T>>,
    /// Whether `masks` belong to the rows now in the workspace (cleared by [`Workspace::input_mut`]).
    pub(super) masked: bool,
}

impl<T: Float> Workspace<T> {
    /// Buffers for shards of up to `cap` examples of `net`.
    pub fn new(net: &Network<T>, cap: usize) -> Self {
        let acts: Vec<_> = net.sizes().iter().map(|&s| Array2::zeros((cap, s))).collect();
        let mut deltas: Vec<_> = net.sizes().iter().map(|&s| Array2::zeros((cap, s))).collect();
        deltas[0] = Array2::zeros((0, 0)); // the input layer needs no δ
        Self {
            acts,
            deltas,
            y: Array2::zeros((cap, net.n_outputs())),
            ones: Array2::ones((cap, 1)),
            cap,
            split: false,
            busy: None,
            masks: Vec::new(),
            dropped: Vec::new(),
            masked: false,
        }
    }

    /// Draws the dropout masks of the rows just gathered (`rows`: their dataset row numbers) at
    /// training step `step`; the next forward pass and backprop over these rows apply them.
    /// Buffers are made the first time only.
    pub fn set_dropout(&mut self, dropout: &Dropout, step: u64, rows: &[usize]) {
        let layers = self.acts.len() - 1;
        if self.masks.len() != layers {
            self.masks = (0..layers).map(|_| Array2::zeros((0, 0))).collect();
            self.dropped = (0..layers).map(|_| Array2::zeros((0, 0))).collect();
        }
        for l in 0..layers {
            let shape = if dropout.drops(l) { (self.cap, self.acts[l].ncols()) } else { (0, 0) };
            if self.masks[l].dim() != shape {
                self.masks[l] = Array2::zeros(shape);
                self.dropped[l] = Array2::zeros(shape);
            }
            if dropout.drops(l) {
                dropout.fill(step, l, rows, self.masks[l].slice_mut(s![..rows.len(), ..]));
            }
        }
        self.masked = true;
    }

    /// Whether layer `l`'s activations are masked for the rows now in the workspace.
    pub(super) fn masks(&self, l: usize) -> Option<ArrayView2<'_, T>> {
        self.masks.get(l).filter(|m| self.masked && m.nrows() > 0).map(|m| m.view())
    }

    /// With a dropout mask on layer `l`, `ã^(l) = a^(l) ⊙ m^(l)` for the first `rows` rows into
    /// `dropped[l]`, the input of weight matrix `l` (call once per forward pass, in layer order);
    /// whether there was one.
    pub(super) fn apply_mask(&mut self, l: usize, rows: usize) -> bool {
        if self.masks(l).is_none() {
            return false;
        }
        let mut out = self.dropped[l].slice_mut(s![..rows, ..]);
        out.assign(&self.acts[l].slice(s![..rows, ..]));
        out *= &self.masks[l].slice(s![..rows, ..]);
        true
    }

    /// Splits this shard's products over the current rayon pool's threads (`true`) or keeps them
    /// on the calling thread; the products' tiles, and so the bits, are the same either way
    /// ([`crate::kernel::matmul::matmul`]).
    pub fn set_split(&mut self, split: bool) {
        self.split = split;
    }

    /// Counts the time of this workspace's product tiles, summed over the threads that run
    /// them: forward tiles into `busy[0]`, backprop tiles into `busy[1]` (nanoseconds).
    /// `None` stops counting.
    pub fn set_busy(&mut self, busy: Option<Arc<[AtomicU64; 2]>>) {
        self.busy = busy;
    }

    /// Whether these buffers fit shards of `rows` examples of `net`.
    pub fn fits(&self, net: &Network<T>, rows: usize) -> bool {
        self.cap >= rows && self.acts.iter().zip(net.sizes()).all(|(a, &s)| a.ncols() == s)
    }

    /// The input rows `acts[0]` and target rows `y` of the next shard, to be filled by the caller.
    /// New rows carry no dropout masks until [`Workspace::set_dropout`].
    pub fn input_mut(&mut self, rows: usize) -> (ArrayViewMut2<'_, T>, ArrayViewMut2<'_, T>) {
        self.masked = false;
        (self.acts[0].slice_mut(s![..rows, ..]), self.y.slice_mut(s![..rows, ..]))
    }

    /// The outputs `h = a^(L)` of the last forward pass over `rows` rows, with their targets.
    pub fn output_and_targets(&self, rows: usize) -> (ArrayView2<'_, T>, ArrayView2<'_, T>) {
        (self.acts[self.acts.len() - 1].slice(s![..rows, ..]), self.y.slice(s![..rows, ..]))
    }
}
