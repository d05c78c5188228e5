//! The fixed pairwise tree in which partial sums are added: its shape depends on the number of
//! sums alone, so the bits of `D` never depend on the thread or rank count. Here too the engine's
//! parallel passes over it (a worker's run of shards, the lower levels, the last addition) and
//! the plain sequential reference they must match.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::Float;
use crate::nn::{Grad, GradSum, StepStats};
use crate::optim::UPDATE_ELEMS;

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

/// The sum of shards `s..s + g` (those below `end`) into `out`, in the fixed tree's order:
/// the left half into `out`, the right half into the next scratch sum, then one addition. `g`
/// is a power of two and `s` a multiple of it, so this is a subtree of
/// [`tree_shape`].
pub(super) fn subtree<T: Float>(
    s: usize,
    g: usize,
    end: usize,
    out: &mut GradSum<T>,
    stack: &mut [GradSum<T>],
    shard: &mut impl FnMut(usize, &mut GradSum<T>),
) {
    if g == 1 {
        shard(s, out);
        return;
    }
    let half = g / 2;
    subtree(s, half, end, out, stack, shard);
    if s + half < end {
        let (tmp, rest) = stack.split_first_mut().expect("a scratch sum per level");
        subtree(s + half, half, end, tmp, rest, shard);
        out.add(tmp);
    }
}

/// The tree's levels with strides below `limit`, in place: `Δ_s += Δ_{s+stride}` for the pairs
/// of [`tree_shape`], pairs in parallel and, within a pair, elements in parallel.
/// The example counts, losses and hits follow the same shape. With `limit = top_stride(len)` this
/// leaves only the last addition, which the fused pass does.
/// Each chunk's time is added to `busy` (nanoseconds, summed over threads).
pub(super) fn tree_levels<T: Float>(bufs: &mut [GradSum<T>], limit: usize, busy: &AtomicU64) {
    let mut stride = 1;
    while stride < limit {
        bufs.par_chunks_mut(2 * stride).for_each(|c| {
            if c.len() > stride {
                let (a, b) = c.split_at_mut(stride);
                add_into(&mut a[0], &b[0], busy);
            }
        });
        stride *= 2;
    }
}

/// `a += b`: the sums, elementwise in parallel chunks (each chunk's time into `busy`), and the
/// example counts, losses and hits.
fn add_into<T: Float>(a: &mut GradSum<T>, b: &GradSum<T>, busy: &AtomicU64) {
    for (x, y) in a.dw.iter_mut().zip(&b.dw) {
        let (x, y) = (x.as_slice_mut().expect("contiguous"), y.as_slice().expect("contiguous"));
        x.par_chunks_mut(UPDATE_ELEMS).zip(y.par_chunks(UPDATE_ELEMS)).for_each(|(x, y)| {
            let t = Instant::now();
            for (x, &y) in x.iter_mut().zip(y) {
                *x += y;
            }
            busy.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        });
    }
    a.loss += b.loss;
    a.correct += b.correct;
    a.m += b.m;
}

/// Writes `D` for elements `start..start + out.len()` of layer `l`: the tree's last addition
/// `(Δ_0 + Δ_top) / m` after [`tree_levels`]. Gives the same bits as [`reduce_sequential`]
/// however the elements are split among threads.
pub(super) fn sum_shards<T: Float>(sums: &[GradSum<T>], l: usize, start: usize, out: &mut [T], m: usize) {
    let range = start..start + out.len();
    let a = &sums[0].dw[l].as_slice().expect("contiguous")[range.clone()];
    let top = top_stride(sums.len());
    if top > 0 {
        let b = &sums[top].dw[l].as_slice().expect("contiguous")[range];
        divide_into(out, a.iter().zip(b).map(|(&a, &b)| a + b), m);
    } else {
        divide_into(out, a.iter().copied(), m);
    }
}

/// `out[i] = x_i / m` for the values `x` yields (`m` 0 counts as 1): a multiplication by the
/// [`exact_reciprocal`] when there is one, the same bits as the division.
pub(super) fn divide_into<T: Float>(out: &mut [T], x: impl Iterator<Item = T>, m: usize) {
    match exact_reciprocal::<T>(m) {
        Some(inv) => out.iter_mut().zip(x).for_each(|(o, x)| *o = x * inv),
        None => {
            let mt = T::from_usize(m.max(1));
            out.iter_mut().zip(x).for_each(|(o, x)| *o = x / mt);
        }
    }
}

/// `1/m` when `m` is a power of two (at most 2^63, so `1/m` is a normal number of `f32` and
/// `f64`), else `None`. Then `x · (1/m)` and `x / m` are the same bits for every `x`: both are the
/// correctly rounded value of the same real number, and a multiplication costs a fraction of a
/// division (batch sizes are mostly powers of two).
pub(super) fn exact_reciprocal<T: Float>(m: usize) -> Option<T> {
    let m = m.max(1);
    m.is_power_of_two().then(|| T::one() / T::from_usize(m))
}

/// The step's example count, summed cost and hits, from the tree's last addition.
pub(super) fn top_stats<T: Float>(sums: &[GradSum<T>]) -> StepStats {
    let top = top_stride(sums.len());
    let (a, b) = (&sums[0], (top > 0).then(|| &sums[top]));
    StepStats {
        m: a.m + b.map_or(0, |b| b.m),
        loss_sum: a.loss + b.map_or(0.0, |b| b.loss),
        correct: a.correct + b.map_or(0, |b| b.correct),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplying_by_an_exact_reciprocal_gives_the_bits_of_the_division() {
        assert!(exact_reciprocal::<f32>(384).is_none() && exact_reciprocal::<f32>(0) == Some(1.0));
        // Every float class: zeros, subnormals (which the scaling may round), normals, extremes.
        let mut bits = 0x9e37_79b9u32;
        let xs32: Vec<f32> = (0..200_000)
            .map(|_| {
                bits ^= bits << 13;
                bits ^= bits >> 17;
                bits ^= bits << 5;
                f32::from_bits(bits)
            })
            .filter(|x| !x.is_nan())
            .chain([0.0, -0.0, f32::MIN_POSITIVE, 1e-45, -3e-39, f32::MAX, f32::INFINITY, 1.0, 3.0])
            .collect();
        // Why only powers of two: for m = 3 the reciprocal rounds differently for some x.
        assert!(xs32.iter().any(|&x| (x * (1.0f32 / 3.0)).to_bits() != (x / 3.0).to_bits()));
        for k in [0, 1, 5, 8, 10, 20, 40, 63] {
            let m = 1usize << k;
            let inv = exact_reciprocal::<f32>(m).expect("a power of two");
            let mt = m as f32;
            assert!(xs32.iter().all(|&x| (x * inv).to_bits() == (x / mt).to_bits()), "f32, m = 2^{k}");
            let inv = exact_reciprocal::<f64>(m).expect("a power of two");
            assert!(
                xs32.iter().map(|&x| f64::from(x) * 1e-300).all(|x| (x * inv).to_bits() == (x / m as f64).to_bits()),
                "f64, m = 2^{k}"
            );
        }
    }

    #[test]
    fn the_tree_adds_neighbours_then_pairs_then_quads() {
        assert_eq!(tree_shape(1).count(), 0);
        assert_eq!(tree_shape(2).collect::<Vec<_>>(), [(0, 1)]);
        assert_eq!(tree_shape(6).collect::<Vec<_>>(), [(0, 1), (2, 3), (4, 5), (0, 2), (0, 4)]);
        assert_eq!(tree_shape(5).collect::<Vec<_>>(), [(0, 1), (2, 3), (0, 2), (0, 4)]);
        assert_eq!((top_stride(1), top_stride(2), top_stride(5), top_stride(8), top_stride(9)), (0, 1, 4, 4, 8));
    }
}
