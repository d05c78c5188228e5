//! The float types the network runs in: `f32` for training, `f64` for gradient checks.

use std::fmt::{Debug, Display};
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};

/// A floating-point element type for weights, activations and gradients.
pub trait Float:
    LinalgScalar
    + ScalarOperand
    + num_traits::Float
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + bytemuck::Pod
    + 'static
{
    /// Converts from `f32` (exact for `f32` and `f64`).
    fn from_f32(x: f32) -> Self;
    /// Converts from `f64`, rounding to nearest for `f32`.
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts from a count, e.g. `m`.
    fn from_usize(n: usize) -> Self {
        Self::from_f64(n as f64)
    }
    /// Raw bits of the value, little-endian, for digests.
    fn le_bytes(self, out: &mut Vec<u8>);
}

impl Float for f32 {
    fn from_f32(x: f32) -> Self {
        x
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Float for f64 {
    fn from_f32(x: f32) -> Self {
        x as f64
    }
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The larger of two errors, NaN if either is NaN: a fold with this cannot lose a NaN the way
/// `f64::max` does, so a comparison of its result against a tolerance fails on NaN.
pub fn max_or_nan(worst: f64, err: f64) -> f64 {
    if worst.is_nan() || err.is_nan() { f64::NAN } else { worst.max(err) }
}
