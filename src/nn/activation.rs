//! Hidden-layer activations: each `g` and its derivative `g'`, written once.
//!
//! Every `g'` here is expressed through the activation `a = g(z)` itself, so the forward pass keeps
//! only `a^(l)` and backprop needs no `z^(l)`.

use ndarray::{ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use crate::Float;
use crate::kernel::fastmath::sigmoid_slice;

/// An elementwise activation function `g`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Activation {
    /// `g(z) = 1 / (1 + e^-z)`, `g' = a (1 - a)`.
    #[default]
    Sigmoid,
    /// `g(z) = tanh z`, `g' = 1 - a²`.
    Tanh,
    /// `g(z) = max(0, z)`, `g' = [a > 0]`.
    Relu,
    /// `g(z) = z`, `g' = 1`.
    #[value(alias = "linear")]
    Identity,
}

impl Activation {
    /// Parses the CLI spelling (`sigmoid`, `tanh`, `relu`, `identity`, or `linear` for identity):
    /// the names `clap::ValueEnum` derives above, so there is one list.
    pub fn parse(s: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(s, false).ok()
    }

    /// The CLI spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Relu => "relu",
            Self::Identity => "identity",
        }
    }

    /// `g(z)` for one value.
    #[inline]
    pub fn g<T: Float>(self, z: T) -> T {
        match self {
            Self::Sigmoid => sigmoid(z),
            Self::Tanh => z.tanh(),
            Self::Relu => z.max(T::zero()),
            Self::Identity => z,
        }
    }

    /// `g'(z)` written through `a = g(z)`.
    #[inline]
    pub fn g_prime_from_a<T: Float>(self, a: T) -> T {
        match self {
            Self::Sigmoid => a * (T::one() - a),
            Self::Tanh => T::one() - a * a,
            Self::Relu => {
                if a > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Self::Identity => T::one(),
        }
    }

    /// Overwrites `z` with `g(z)`, in place.
    pub fn apply<T: Float>(self, mut z: ArrayViewMut2<T>) {
        match (self, z.as_slice_mut()) {
            (Self::Identity, _) => {}
            (Self::Sigmoid, Some(z)) => sigmoid_slice(z),
            // A tile of a wider matrix: row by row, through the same function as a whole slice,
            // so an element's bits do not depend on where the tiles are cut.
            (Self::Sigmoid, None) => z.rows_mut().into_iter().for_each(|mut row| match row.as_slice_mut() {
                Some(r) => sigmoid_slice(r),
                None => row.iter_mut().for_each(|v| sigmoid_slice(std::slice::from_mut(v))),
            }),
            _ => z.mapv_inplace(|v| self.g(v)),
        }
    }

    /// `delta ⊙= g'(z)`, with `g'` computed from the layer's activations `a`.
    pub fn scale_by_derivative<T: Float>(self, delta: ArrayViewMut2<T>, a: ndarray::ArrayView2<T>) {
        // One loop per activation, each with `g'` known at compile time, so that it vectorises.
        let zip = Zip::from(delta).and(a);
        match self {
            Self::Sigmoid => zip.for_each(|d, &a| *d *= Self::Sigmoid.g_prime_from_a(a)),
            Self::Tanh => zip.for_each(|d, &a| *d *= Self::Tanh.g_prime_from_a(a)),
            Self::Relu => zip.for_each(|d, &a| *d *= Self::Relu.g_prime_from_a(a)),
            Self::Identity => {}
        }
    }
}

pub use crate::kernel::fastmath::sigmoid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_at_literal_points() {
        assert_eq!(Activation::Sigmoid.g(0.0f64), 0.5);
        assert!((Activation::Sigmoid.g(2.0f64) - 0.880_797_077_977_882_3).abs() < 1e-15);
        assert_eq!(Activation::Relu.g(-3.0f64), 0.0);
        assert_eq!(Activation::Relu.g(3.0f64), 3.0);
        assert!((Activation::Tanh.g(0.5f64) - 0.462_117_157_260_009_74).abs() < 1e-15);
        assert_eq!(Activation::Sigmoid.g_prime_from_a(0.5f64), 0.25);
        assert_eq!(Activation::Tanh.g_prime_from_a(0.5f64), 0.75);
        assert_eq!(Activation::Relu.g_prime_from_a(0.0f64), 0.0);
        assert_eq!(Activation::Identity.g_prime_from_a(7.0f64), 1.0);
        // Large negative inputs must not overflow to NaN.
        assert_eq!(sigmoid(-1000.0f64), 0.0);
        assert_eq!(sigmoid(1000.0f64), 1.0);
    }
}
