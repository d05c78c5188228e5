//! Gradient buffers. `Δ^(l)` ([`GradSum`]) and `D^(l) = Δ^(l)/m` ([`Grad`]) are separate types, so
//! forgetting or repeating the division by `m` does not compile.

use ndarray::Array2;

use crate::{Float, Network};

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
    /// Zero sums shaped for `net`.
    pub fn zeros(net: &Network<T>) -> Self {
        Self { dw: zeros_like(net), m: 0, loss: 0.0, correct: 0 }
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

    /// Whether the buffers are shaped for `net`.
    pub fn fits(&self, net: &Network<T>) -> bool {
        self.dw.len() == net.weights().len() && self.dw.iter().zip(net.weights()).all(|(d, w)| d.dim() == w.dim())
    }
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
    /// A zero gradient shaped for `net`.
    pub fn zeros(net: &Network<T>) -> Self {
        Self { d: zeros_like(net), m: 0, loss_sum: 0.0, correct: 0 }
    }

    /// `D = (Σ_s Δ_s) / m`, summing the shards in slice order: the plain reference for the
    /// engine's parallel reducer, which must give the same bits.
    pub fn reduce_in_order(sums: &[GradSum<T>], out: &mut Self) {
        let m: usize = sums.iter().map(|s| s.m).sum();
        let mt = T::from_usize(m.max(1));
        for (l, d) in out.d.iter_mut().enumerate() {
            d.assign(&sums[0].dw[l]);
            for s in &sums[1..] {
                *d += &s.dw[l];
            }
            d.mapv_inplace(|v| v / mt);
        }
        out.m = m;
        out.loss_sum = sums.iter().map(|s| s.loss).sum();
        out.correct = sums.iter().map(|s| s.correct).sum();
    }

    /// Whether the buffers are shaped for `net`.
    pub fn fits(&self, net: &Network<T>) -> bool {
        self.d.len() == net.weights().len() && self.d.iter().zip(net.weights()).all(|(d, w)| d.dim() == w.dim())
    }
}

fn zeros_like<T: Float>(net: &Network<T>) -> Vec<Array2<T>> {
    net.weights().iter().map(|w| Array2::zeros(w.raw_dim())).collect()
}
