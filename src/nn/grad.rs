//! Gradient buffers. `Δ^(l)` ([`GradSum`]) and `D^(l) = Δ^(l)/m` ([`Grad`]) are separate types, so
//! forgetting or repeating the division by `m` does not compile.

use ndarray::Array2;

use crate::Float;

/// `Δ^(l) = Σ_i δ^(l+1) a^(l)ᵀ` over the examples of a shard, with their count, summed cost and
/// number of correct classifications.
#[derive(Clone, Debug)]
pub struct GradSum<T> {
    /// `Δ^(l)`, one per weight matrix, shaped like `W^(l)`.
    pub dw: Vec<Array2<T>>,
    /// Examples summed.
    pub m: usize,
    /// `Σ_i J_i`.
    pub loss: f64,
    /// Examples whose predicted class matched the target.
    pub correct: usize,
}

impl<T: Float> GradSum<T> {
    /// Zero sums shaped like the weights `w`.
    pub fn zeros(w: &[Array2<T>]) -> Self {
        Self { dw: zeros_like(w), m: 0, loss: 0.0, correct: 0 }
    }

    /// Zeroes the sums in place.
    pub fn reset(&mut self) {
        for d in &mut self.dw {
            d.fill(T::zero());
        }
        self.m = 0;
        self.loss = 0.0;
        self.correct = 0;
    }

    /// Whether the buffers are shaped like the weights `w`.
    pub fn fits(&self, w: &[Array2<T>]) -> bool {
        same_shapes(&self.dw, w)
    }

    /// `self += other`: one addition of the tree, on this thread (the engine's parallel version
    /// splits the elements over the pool, with the same bits).
    pub fn add(&mut self, other: &Self) {
        for (x, y) in self.dw.iter_mut().zip(&other.dw) {
            *x += y;
        }
        self.loss += other.loss;
        self.correct += other.correct;
        self.m += other.m;
    }
}

/// What a training step reports: its example count, summed cost and hits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Examples in the step.
    pub m: usize,
    /// `Σ_i J_i` over the step (at the weights before the step).
    pub loss_sum: f64,
    /// Correct classifications in the step.
    pub correct: usize,
}

/// `D^(l) = Δ^(l) / m` for one gradient step, with the step's mean cost and accuracy.
#[derive(Clone, Debug)]
pub struct Grad<T> {
    /// `D^(l)`, one per weight matrix, shaped like `W^(l)`.
    pub d: Vec<Array2<T>>,
    /// Examples in the step.
    pub m: usize,
    /// `Σ_i J_i` over the step.
    pub loss_sum: f64,
    /// Correct classifications in the step.
    pub correct: usize,
}

impl<T: Float> Grad<T> {
    /// A zero gradient shaped like the weights `w`.
    pub fn zeros(w: &[Array2<T>]) -> Self {
        Self { d: zeros_like(w), m: 0, loss_sum: 0.0, correct: 0 }
    }

    /// Whether the buffers are shaped like the weights `w`.
    pub fn fits(&self, w: &[Array2<T>]) -> bool {
        same_shapes(&self.d, w)
    }
}

fn zeros_like<T: Float>(w: &[Array2<T>]) -> Vec<Array2<T>> {
    w.iter().map(|w| Array2::zeros(w.raw_dim())).collect()
}

fn same_shapes<T>(a: &[Array2<T>], b: &[Array2<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.dim() == y.dim())
}
