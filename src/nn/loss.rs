//! Output layers and their costs: each head gives the cost `J_i` and the output delta `δ^(L)`.
//!
//! | head | output `h = a^(L)` | `J_i` | `δ^(L) = ∂J_i/∂z^(L)` |
//! | --- | --- | --- | --- |
//! | [`Head::SigmoidMse`] | sigmoid | `Σ_k ½ (h_k − y_k)²` | `(h − y) ⊙ h (1 − h)` |
//! | [`Head::SoftmaxCrossEntropy`] | softmax | `−Σ_k y_k ln h_k` | `h − y` |
//! | [`Head::IdentityMse`] | identity | `Σ_k ½ (h_k − y_k)²` | `h − y` |

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::Float;
use crate::kernel::fastmath::sigmoid_slice;

/// An output activation paired with the cost it is trained on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Head {
    /// Sigmoid outputs with the squared-error cost of the derivation (the default).
    #[default]
    #[value(name = "mse")]
    SigmoidMse,
    /// Softmax outputs with the cross-entropy cost.
    #[value(name = "cross-entropy")]
    SoftmaxCrossEntropy,
    /// Identity outputs with squared error: regression.
    #[value(name = "regression")]
    IdentityMse,
}

impl Head {
    /// A short name: `sigmoid+mse`, `softmax+cross-entropy`, `identity+mse`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SigmoidMse => "sigmoid+mse",
            Self::SoftmaxCrossEntropy => "softmax+cross-entropy",
            Self::IdentityMse => "identity+mse",
        }
    }

    /// Whether the outputs are class scores (accuracy is meaningful).
    pub fn is_classifier(self) -> bool {
        self != Self::IdentityMse
    }

    /// Overwrites `z^(L)` (one row per example) with `h = a^(L)`.
    pub fn activate<T: Float>(self, mut z: ArrayViewMut2<T>) {
        match self {
            Self::SigmoidMse => match z.as_slice_mut() {
                Some(z) => sigmoid_slice(z),
                None => z.iter_mut().for_each(|v| sigmoid_slice(std::slice::from_mut(v))),
            },
            Self::IdentityMse => {}
            Self::SoftmaxCrossEntropy => {
                for mut row in z.axis_iter_mut(Axis(0)) {
                    let max = row.fold(T::neg_infinity(), |m, &v| m.max(v));
                    let mut sum = T::zero();
                    row.mapv_inplace(|v| {
                        let e = (v - max).exp();
                        sum += e;
                        e
                    });
                    row.mapv_inplace(|e| e / sum);
                }
            }
        }
    }

    /// `Σ_i J_i` over the rows of `h` and `y`, accumulated in `f64` in row order.
    pub fn loss_sum<T: Float>(self, h: ArrayView2<T>, y: ArrayView2<T>) -> f64 {
        let mut total = 0.0f64;
        match self {
            Self::SigmoidMse | Self::IdentityMse => Zip::from(h).and(y).for_each(|&h, &y| {
                let d = (h - y).to_f64();
                total += 0.5 * d * d;
            }),
            Self::SoftmaxCrossEntropy => Zip::from(h).and(y).for_each(|&h, &y| {
                if y != T::zero() {
                    // Clamped so that a saturated wrong answer costs a large finite amount.
                    total -= y.to_f64() * h.to_f64().max(1e-300).ln();
                }
            }),
        }
        total
    }

    /// Writes `δ^(L) = ∂J_i/∂z^(L)` for every row into `delta`.
    pub fn output_delta<T: Float>(self, h: ArrayView2<T>, y: ArrayView2<T>, delta: ArrayViewMut2<T>) {
        match self {
            Self::SigmoidMse => Zip::from(delta).and(h).and(y).for_each(|d, &h, &y| *d = (h - y) * h * (T::one() - h)),
            Self::SoftmaxCrossEntropy | Self::IdentityMse => {
                Zip::from(delta).and(h).and(y).for_each(|d, &h, &y| *d = h - y)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn squared_error_and_its_delta() {
        let h = array![[0.5f64, 0.25]];
        let y = array![[1.0f64, 0.0]];
        // ½(0.5−1)² + ½(0.25)² = 0.125 + 0.03125
        assert_eq!(Head::SigmoidMse.loss_sum(h.view(), y.view()), 0.15625);
        let mut d = array![[0.0f64, 0.0]];
        Head::SigmoidMse.output_delta(h.view(), y.view(), d.view_mut());
        assert_eq!(d, array![[-0.5 * 0.25, 0.25 * 0.25 * 0.75]]);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_resist_overflow() {
        let mut z = array![[1000.0f64, 1000.0], [0.0, 2.0f64.ln()]];
        Head::SoftmaxCrossEntropy.activate(z.view_mut());
        assert_eq!(z.row(0).to_vec(), vec![0.5, 0.5]);
        assert!((z[[1, 1]] - 2.0 / 3.0).abs() < 1e-15);
        let y = array![[1.0f64, 0.0], [0.0, 1.0]];
        let loss = Head::SoftmaxCrossEntropy.loss_sum(z.view(), y.view());
        assert!((loss - (2.0f64.ln() + (1.5f64).ln())).abs() < 1e-12);
    }
}
