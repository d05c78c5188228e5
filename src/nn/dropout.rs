//! Dropout (Srivastava et al., JMLR 2014) with inverted scaling: during training, unit `j` of
//! layer `l` (the input layer, then each hidden layer) is kept for example `i` at step `t` with
//! probability `1 − p_l`, and a kept unit's activation is multiplied by `1 / (1 − p_l)`, so
//! evaluation uses the network as it is, with no mask and no rescaling.
//!
//! Each mask value is a pure function of `(seed, t, i, l, j)`, with `i` the example's row in the
//! dataset (not its place in a shard, a thread or a rank): a counter-based generator, here a
//! chain of SplitMix64 finalisers over the key. No stream is consumed in thread or shard order,
//! so the weights are the same bits for any `--threads`, any MPI rank count, and across resume.
//!
//! With the masks `m^(l)` (entries 0 or `1/(1 − p_l)`) and `ã^(l) = a^(l) ⊙ m^(l)`:
//! `z^(l+1) = W^(l) ã^(l)`; `Δ^(l) = Σ_i δ^(l+1) ã^(l)ᵀ`; `δ^(l) = (W^(l)ᵀ δ^(l+1)) ⊙ m^(l) ⊙ g'(z^(l))`
//! (bias row dropped; `g'` taken at the unmasked `a^(l)`). The network's `forward` and `backward`
//! apply them when a workspace carries masks ([`crate::Workspace::set_dropout`]).

use ndarray::ArrayViewMut2;
use serde::{Deserialize, Serialize};

use crate::Float;

/// Dropout rates for the layers that feed a weight matrix: `rates[0]` the input layer's, then
/// one per hidden layer. A rate of 0 leaves its layer alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// The seed the masks are keyed by (the run's `--seed`).
    pub seed: u64,
    /// Per layer `0 ..= L − 2`, each in `[0, 1)`.
    pub rates: Vec<f64>,
}

impl Dropout {
    /// Whether layer `l`'s units are dropped at all.
    pub fn drops(&self, l: usize) -> bool {
        self.rates.get(l).is_some_and(|&p| p > 0.0)
    }

    /// Fills `mask` (rows × units of layer `l`) for the examples `rows` (their dataset row
    /// numbers) at step `step`: `1 / (1 − p_l)` where a unit is kept, 0 where it is dropped.
    pub fn fill<T: Float>(&self, step: u64, l: usize, rows: &[usize], mut mask: ArrayViewMut2<T>) {
        let p = self.rates[l];
        let kept = T::from_f64(1.0 / (1.0 - p));
        for (r, &i) in rows.iter().enumerate() {
            let row_key = row_key(self.seed, step, i as u64);
            for (j, m) in mask.row_mut(r).iter_mut().enumerate() {
                *m = if keep(row_key, l, j, p) { kept } else { T::zero() };
            }
        }
    }
}

/// SplitMix64's finaliser: a bijection of `u64` whose output bits each depend on every input bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The part of the key shared by a row's units: `(seed, step, row)`.
#[inline]
fn row_key(seed: u64, step: u64, row: u64) -> u64 {
    mix(mix(mix(seed ^ 0x9e37_79b9_7f4a_7c15) ^ step) ^ row)
}

/// Whether unit `j` of layer `l` is kept: a uniform `u` in `[0, 1)` from 53 bits of the key's
/// hash, kept when `u ≥ p`.
#[inline]
fn keep(row_key: u64, l: usize, j: usize, p: f64) -> bool {
    let h = mix(row_key ^ ((l as u64) << 40 | j as u64));
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64) >= p
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn masks_depend_on_the_key_alone_and_keep_the_asked_share() {
        let d = Dropout { seed: 7, rates: vec![0.2, 0.5] };
        let mut a = Array2::<f32>::zeros((3, 1000));
        d.fill(4, 1, &[10, 11, 12], a.view_mut());
        // The same row at another place in a shard: the same mask.
        let mut b = Array2::<f32>::zeros((2, 1000));
        d.fill(4, 1, &[12, 10], b.view_mut());
        assert_eq!(a.row(2), b.row(0));
        assert_eq!(a.row(0), b.row(1));
        // Another step, layer, row or seed: another mask.
        let mut c = Array2::<f32>::zeros((1, 1000));
        for (seed, step, l, row) in [(7, 5, 1, 10), (7, 4, 0, 10), (7, 4, 1, 13), (8, 4, 1, 10)] {
            let d = Dropout { seed, rates: vec![0.5, 0.5] };
            d.fill(step, l, &[row], c.view_mut());
            assert_ne!(c.row(0), a.row(0), "{seed} {step} {l} {row}");
        }
        // Values are 0 or 1/(1 − p), kept at about 1 − p over many draws.
        let mut big = Array2::<f64>::zeros((200, 1000));
        for (l, p) in [(0, 0.2), (1, 0.5)] {
            d.fill(9, l, &(0..200).collect::<Vec<_>>(), big.view_mut());
            assert!(big.iter().all(|&m| m == 0.0 || m == 1.0 / (1.0 - p)));
            let kept = big.iter().filter(|&&m| m > 0.0).count() as f64 / big.len() as f64;
            assert!((kept - (1.0 - p)).abs() < 0.005, "layer {l}: kept {kept}");
        }
    }
}
