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
    /// A zero gradient shaped for `net`.
    pub fn zeros(net: &Network<T>) -> Self {
        Self { d: zeros_like(net), m: 0, loss_sum: 0.0, correct: 0 }
    }

    /// `D = (Σ_s Δ_s) / m`, summing the shards with the fixed pairwise tree of [`tree_shape`]:
    /// the plain sequential reference for the engine's parallel reducer, which must give the
    /// same bits.
    pub fn reduce_tree(sums: &[GradSum<T>], out: &mut Self) {
        let mut work: Vec<GradSum<T>> = sums.to_vec();
        for (a, b) in tree_shape(sums.len()) {
            let (lo, hi) = work.split_at_mut(b);
            lo[a].add(&hi[0]);
        }
        let m: usize = sums.iter().map(|s| s.m).sum();
        let mt = T::from_usize(m.max(1));
        for (d, w) in out.d.iter_mut().zip(&work[0].dw) {
            d.assign(w);
            d.mapv_inplace(|v| v / mt);
        }
        out.m = m;
        out.loss_sum = work.first().map_or(0.0, |w| w.loss);
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

/// The order in which `k` partial sums are added: a fixed pairwise tree that depends on `k`
/// alone. For `stride = 1, 2, 4, …` below `k`, every `s` that is a multiple of `2·stride` with
/// `s + stride < k` does `x_s += x_{s+stride}`; the total ends in `x_0`. Any contiguous block of
/// `2^j` shards starting at a multiple of `2^j` is a subtree, so separate processes can each sum
/// their own block and combine the block sums in the same shape with the same bits.
pub fn tree_shape(k: usize) -> impl Iterator<Item = (usize, usize)> {
    std::iter::successors(Some(1usize), |s| s.checked_mul(2)).take_while(move |&stride| stride < k).flat_map(
        move |stride| (0..k).step_by(2 * stride).filter(move |s| s + stride < k).map(move |s| (s, s + stride)),
    )
}

/// The largest power of two below `k` (the stride of the tree's last addition), or 0 for `k ≤ 1`.
pub fn top_stride(k: usize) -> usize {
    if k <= 1 { 0 } else { 1 << (usize::BITS - 1 - (k - 1).leading_zeros()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_adds_neighbours_then_pairs_then_quads() {
        assert_eq!(tree_shape(1).count(), 0);
        assert_eq!(tree_shape(2).collect::<Vec<_>>(), [(0, 1)]);
        assert_eq!(tree_shape(6).collect::<Vec<_>>(), [(0, 1), (2, 3), (4, 5), (0, 2), (0, 4)]);
        assert_eq!(tree_shape(5).collect::<Vec<_>>(), [(0, 1), (2, 3), (0, 2), (0, 4)]);
        assert_eq!((top_stride(1), top_stride(2), top_stride(5), top_stride(8), top_stride(9)), (0, 1, 4, 4, 8));
    }
}
