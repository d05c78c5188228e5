//! A vectorisable single-precision sigmoid for the training path. libm's `expf` is a scalar
//! call per element, which made the forward pass's activation cost a fifth of a W2 step; this
//! one is branch-free straight-line arithmetic the compiler turns into SIMD (AVX2 when the CPU
//! has it, chosen at run time; SSE2 otherwise). Both paths do the same IEEE operations in the
//! same order (no FMA contraction), so they give the same bits. `f64` (gradient checks) keeps
//! libm's `exp`.

use std::any::TypeId;

use crate::Float;

/// The range [`exp_f32`] clamps its input to: `e^x` is a normal `f32` throughout. (ONNX export
/// clips the same way, so its sigmoid head agrees with this one far from 0.)
pub const EXP_RANGE: (f32, f32) = (-87.3, 88.7);

/// `e^x` for `f32`: Cody–Waite reduction `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`, then the Cephes
/// degree-7 polynomial for `e^r` (relative error about 1 ulp), scaled by `2^n` through the
/// exponent bits. Inputs are clamped to `[−87.3, 88.7]`, where `e^x` is a normal `f32`.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(EXP_RANGE.0, EXP_RANGE.1);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let er = p * r * r + r + 1.0;
    // n is the low bits of `shifted` (an integer in [−126, 128] stored with exponent 2^23).
    let n_int = (shifted.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    er * scale
}

#[inline(always)]
fn sigmoid_body(z: &mut [f32]) {
    for v in z {
        *v = 1.0 / (1.0 + exp_f32(-*v));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sigmoid_avx2(z: &mut [f32]) {
    sigmoid_body(z)
}

/// Overwrites each `z` with the logistic sigmoid `1 / (1 + e^−z)`: the vectorised [`sigmoid_f32`]
/// for `f32` (training), the stable scalar [`sigmoid`] for `f64` (gradient checks).
pub fn sigmoid_slice<T: Float>(z: &mut [T]) {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // T is f32, so this cast is the identity on the bits (checked again by bytemuck).
        sigmoid_f32(bytemuck::cast_slice_mut(z));
    } else {
        z.iter_mut().for_each(|v| *v = sigmoid(*v));
    }
}

/// The logistic sigmoid, stable for large `|z|`.
#[inline]
pub fn sigmoid<T: Float>(z: T) -> T {
    if z >= T::zero() {
        T::one() / (T::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::one() + e)
    }
}

/// Overwrites each `z` with `1 / (1 + e^−z)`.
pub fn sigmoid_f32(z: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { sigmoid_avx2(z) };
        return;
    }
    sigmoid_body(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps_of_libm_and_sigmoid_saturates_cleanly() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            worst = crate::float::max_or_nan(worst, ((got - want) / want).abs());
            x += 0.001_37;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        let mut z = [-1000.0f32, -88.0, -20.0, 0.0, 3.0, 20.0, 1000.0, f32::MIN, f32::MAX];
        sigmoid_f32(&mut z);
        assert_eq!(z[0], 0.0f32.max(z[0])); // no NaN, tiny or zero
        assert!(z.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{z:?}");
        assert_eq!(z[3], 0.5);
        assert!((z[4] - 0.952_574_1).abs() < 1e-7);
        assert_eq!(z[6], 1.0);
        // The SIMD and scalar paths agree bit for bit.
        let mut a: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.037).collect();
        let mut b = a.clone();
        sigmoid_f32(&mut a);
        sigmoid_body(&mut b);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
