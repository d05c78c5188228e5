//! The fixed pairwise tree in which partial sums are added: its shape depends on the number of
//! sums alone, so the bits of `D` never depend on the thread or rank count.

use crate::Float;
use crate::nn::{Grad, GradSum};

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

/// `D = (Σ_s Δ_s) / m`, summing the shards with the fixed pairwise tree of [`tree_shape`]:
/// the plain sequential reference for the engine's parallel reducer, which must give the
/// same bits.
pub fn reduce_sequential<T: Float>(sums: &[GradSum<T>], out: &mut Grad<T>) {
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
