//! Gradient checking: backprop against central finite differences in `f64`, per layer. Behind
//! `shardprop gradcheck`, a teaching and debugging tool.

use ndarray::Array2;
use rand::Rng;

use crate::{Activation, Head, Network, rng};

/// The largest relative error of one layer's gradient.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerCheck {
    /// `l` of `W^(l)`.
    pub layer: usize,
    /// Shape of `W^(l)`.
    pub shape: (usize, usize),
    /// `max |a − n| / max(|a|, |n|, floor)` over the layer's weights.
    pub max_rel_error: f64,
    /// Where it occurs (row, column; column 0 is the bias).
    pub at: (usize, usize),
}

/// The larger of two errors, NaN if either is NaN: a fold with this cannot lose a NaN the way
/// `f64::max` does, so a comparison of its result against a tolerance fails on NaN.
pub fn max_or_nan(worst: f64, err: f64) -> f64 {
    if worst.is_nan() || err.is_nan() { f64::NAN } else { worst.max(err) }
}

/// Builds a seeded random network of `sizes` with random non-zero biases and `m` random examples
/// (one-hot targets for classifiers), and compares backprop's `D^(l)` with
/// `(J(w + h) − J(w − h)) / 2h` for every weight. Gradients smaller than `floor` are compared by
/// absolute error.
pub fn check(
    sizes: &[usize],
    hidden: Activation,
    head: Head,
    m: usize,
    seed: u64,
    h: f64,
    floor: f64,
) -> crate::Result<Vec<LayerCheck>> {
    let mut r = rng::seeded(seed, 7);
    let mut net = Network::<f64>::new(sizes, hidden, head, &mut r)?;
    for w in net.weights_mut() {
        for b in w.column_mut(0) {
            *b = r.gen_range(-0.5..0.5);
        }
    }
    let k = sizes[sizes.len() - 1];
    let x = Array2::from_shape_fn((m, sizes[0]), |_| r.gen_range(-1.0..1.0));
    let y = if head.is_classifier() {
        let mut y = Array2::zeros((m, k));
        for i in 0..m {
            y[[i, r.gen_range(0..k)]] = 1.0;
        }
        y
    } else {
        Array2::from_shape_fn((m, k), |_| r.gen_range(-1.0..1.0))
    };
    let analytic = net.gradient(x.view(), y.view());
    let mut probe = net.clone();
    let mut out = Vec::new();
    for (l, a) in analytic.iter().enumerate() {
        let mut worst = (0.0f64, (0, 0));
        // A NaN error is the worst there is: it sticks (`err > worst` alone would skip it).
        for idx in ndarray::indices(a.raw_dim()) {
            let w0 = net.weights()[l][idx];
            probe.weights_mut()[l][idx] = w0 + h;
            let up = probe.cost(x.view(), y.view());
            probe.weights_mut()[l][idx] = w0 - h;
            let down = probe.cost(x.view(), y.view());
            probe.weights_mut()[l][idx] = w0;
            let n = (up - down) / (2.0 * h);
            let err = (a[idx] - n).abs() / a[idx].abs().max(n.abs()).max(floor);
            if !worst.0.is_nan() && (err.is_nan() || err > worst.0) {
                worst = (err, idx);
            }
        }
        out.push(LayerCheck { layer: l, shape: a.dim(), max_rel_error: worst.0, at: worst.1 });
    }
    Ok(out)
}
