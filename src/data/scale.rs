//! Feature scaling, fitted on the training data only and stored with the model:
//! `x' = (x − shift) · mul` per feature.

use ndarray::ArrayViewMut1;
use serde::{Deserialize, Serialize};

use super::view::Rows;
use crate::Float;

/// Which scaling to fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Scale {
    /// No scaling.
    #[default]
    None,
    /// To `[0, 1]` by the training minimum and maximum.
    #[value(name = "minmax")]
    MinMax,
    /// To zero mean and unit variance.
    Standard,
}

impl Scale {
    /// Parses `none`, `minmax`, `standard`: the names `clap::ValueEnum` derives above, so there
    /// is one list.
    pub fn parse(s: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(s, false).ok()
    }
}

/// A fitted per-feature affine map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// The kind it was fitted as.
    pub kind: Scale,
    shift: Vec<f32>,
    mul: Vec<f32>,
}

impl Scaler {
    /// The first feature whose values span more than the largest `f32` (so `x − shift` can
    /// overflow to infinity before it is scaled): only a min-max scale shows it (`1/range`).
    pub fn overflowing_feature(&self) -> Option<usize> {
        (self.kind == Scale::MinMax).then(|| self.mul.iter().position(|&m| f64::from(m) < 1.0 / f64::from(f32::MAX)))?
    }

    /// The identity on `n` features.
    pub fn identity(n: usize) -> Self {
        Self { kind: Scale::None, shift: vec![0.0; n], mul: vec![1.0; n] }
    }

    /// The per-feature shifts: `x' = (x − shift) · mul`.
    pub fn shift(&self) -> &[f32] {
        &self.shift
    }

    /// The per-feature multipliers: `x' = (x − shift) · mul`.
    pub fn mul(&self) -> &[f32] {
        &self.mul
    }

    /// Features it expects.
    pub fn n_features(&self) -> usize {
        self.shift.len()
    }

    /// Whether this is a scaler for `n` features that maps finite values to finite values:
    /// `n` shifts and multipliers, all finite, multipliers positive; the identity when its kind
    /// is [`Scale::None`]. Names the first field that is not.
    pub fn check(&self, n: usize) -> Result<(), String> {
        for (name, v) in [("shift", &self.shift), ("mul", &self.mul)] {
            if v.len() != n {
                return Err(format!("scaler.{name}: {} values for {n} input features", v.len()));
            }
        }
        for j in 0..n {
            let (s, m) = (self.shift[j], self.mul[j]);
            if !s.is_finite() || (self.kind == Scale::None && s != 0.0) {
                return Err(format!("scaler.shift[{j}]: {s}; expected a finite number (0 without scaling)"));
            }
            if !(m.is_finite() && m > 0.0) || (self.kind == Scale::None && m != 1.0) {
                return Err(format!("scaler.mul[{j}]: {m}; expected a finite positive number (1 without scaling)"));
            }
        }
        Ok(())
    }

    /// Writes the scaled `raw` row into `out`, converting to `T`.
    #[inline]
    pub fn apply_row<T: Float>(&self, raw: &[f32], mut out: ArrayViewMut1<T>) {
        debug_assert_eq!(raw.len(), out.len());
        match out.as_slice_mut() {
            // Rows of the workspace are contiguous: plain slice loops, which vectorise.
            Some(out) => self.apply_slice(raw, out),
            None => {
                for (j, (o, &r)) in out.iter_mut().zip(raw).enumerate() {
                    *o = T::from_f32(if self.kind == Scale::None { r } else { (r - self.shift[j]) * self.mul[j] });
                }
            }
        }
    }

    fn apply_slice<T: Float>(&self, raw: &[f32], out: &mut [T]) {
        if self.kind == Scale::None {
            for (o, &r) in out.iter_mut().zip(raw) {
                *o = T::from_f32(r);
            }
        } else {
            for (((o, &r), &s), &m) in out.iter_mut().zip(raw).zip(&self.shift).zip(&self.mul) {
                *o = T::from_f32((r - s) * m);
            }
        }
    }
}

/// Running statistics (in `f64`, rows in order) from which any [`Scaler`] can be fitted; used by
/// the CSV loader and by streaming conversion alike, so both give the same bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalerFit {
    /// Rows seen.
    pub n: u64,
    /// Per-feature sums.
    pub sum: Vec<f64>,
    /// Per-feature sums of squares.
    pub sumsq: Vec<f64>,
    /// Per-feature minima.
    pub min: Vec<f64>,
    /// Per-feature maxima.
    pub max: Vec<f64>,
}

impl ScalerFit {
    /// Empty statistics for `n` features.
    pub fn new(n: usize) -> Self {
        Self {
            n: 0,
            sum: vec![0.0; n],
            sumsq: vec![0.0; n],
            min: vec![f64::INFINITY; n],
            max: vec![f64::NEG_INFINITY; n],
        }
    }

    /// Adds one row.
    pub fn push(&mut self, row: &[f32]) {
        self.n += 1;
        for (j, &v) in row.iter().enumerate() {
            let v = v as f64;
            self.sum[j] += v;
            self.sumsq[j] += v * v;
            self.min[j] = self.min[j].min(v);
            self.max[j] = self.max[j].max(v);
        }
    }

    /// The scaler of kind `scale`. Constant features are shifted but not stretched.
    pub fn scaler(&self, scale: Scale) -> Scaler {
        let n = self.sum.len();
        let mut s = Scaler::identity(n);
        s.kind = scale;
        let rows = self.n.max(1) as f64;
        for j in 0..n {
            let (shift, range) = match scale {
                Scale::None => (0.0, 1.0),
                Scale::MinMax => (self.min[j], self.max[j] - self.min[j]),
                Scale::Standard => {
                    let mean = self.sum[j] / rows;
                    (mean, (self.sumsq[j] / rows - mean * mean).max(0.0).sqrt())
                }
            };
            s.shift[j] = if shift.is_finite() { shift as f32 } else { 0.0 };
            s.mul[j] = if range > 1e-12 { (1.0 / range) as f32 } else { 1.0 };
        }
        s
    }

    /// Whether these could be the statistics of `rows` rows of `n` finite features: every list
    /// `n` long, the row count `rows`, and per feature finite values with `min ≤ mean ≤ max`,
    /// a non-negative sum of squares and variance (up to rounding), or the empty state when
    /// there are no rows. Names the first field that is not.
    pub fn check(&self, n: usize, rows: u64) -> Result<(), String> {
        for (name, v) in [("sum", &self.sum), ("sum of squares", &self.sumsq), ("min", &self.min), ("max", &self.max)] {
            if v.len() != n {
                return Err(format!("{} {name} values for {n} features", v.len()));
            }
        }
        if self.n != rows {
            return Err(format!("row count {} but the file holds {rows} rows", self.n));
        }
        if rows == 0 {
            return if *self == Self::new(n) {
                Ok(())
            } else {
                Err("no rows, but statistics that are not empty".into())
            };
        }
        let rows = rows as f64;
        for j in 0..n {
            let (sum, sumsq, min, max) = (self.sum[j], self.sumsq[j], self.min[j], self.max[j]);
            let bad = |what: String| Err(format!("feature {}: {what}", j + 1));
            if ![sum, sumsq, min, max].iter().all(|v| v.is_finite()) {
                return bad(format!("sum {sum}, sum of squares {sumsq}, min {min}, max {max}: expected finite values"));
            }
            if min.abs() > f64::from(f32::MAX) || max.abs() > f64::from(f32::MAX) {
                return bad(format!("min {min:e}, max {max:e}: expected values an f32 can hold (the cells are f32)"));
            }
            let mean = sum / rows;
            // Rounding of f64 sums over `rows` values: at most about rows · ε relative to the
            // largest magnitude, far below any real disagreement.
            let big = min.abs().max(max.abs());
            let slack = 4.0 * f64::EPSILON * (rows + 1.0);
            let tol = slack * big;
            if !(min <= max && mean >= min - tol && mean <= max + tol) {
                return bad(format!("min {min}, mean {mean}, max {max}: expected min <= mean <= max"));
            }
            let var = sumsq / rows - mean * mean;
            let tol = slack * big * big;
            if !(sumsq >= 0.0 && var >= -tol && sumsq / rows <= big * big + tol) {
                return bad(format!(
                    "sum of squares {sumsq} (variance {var}): expected a variance >= 0 with values within [{min}, {max}]"
                ));
            }
        }
        Ok(())
    }

    /// Fits `scale` to every row of `data` (a dataset, or [`Rows`] of one), in row order.
    pub fn fit<'a>(data: impl Into<Rows<'a>>, scale: Scale) -> Scaler {
        let data = data.into();
        let mut fit = Self::new(data.n_features());
        if scale != Scale::None {
            for i in 0..data.len() {
                fit.push(data.features(i));
            }
        }
        fit.scaler(scale)
    }
}
