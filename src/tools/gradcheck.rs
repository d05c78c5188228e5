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

pub use crate::float::max_or_nan;

/// Builds a seeded random network of `sizes` with random non-zero biases and `m` random examples
/// (one-hot targets for classifiers), and compares backprop's `D^(l)` with
/// `(J(w + h) − J(w − h)) / 2h` for every weight ([`central_differences`] of the cost). Gradients smaller than `floor` are compared by
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
    let numeric = central_differences(&net, h, |n| n.cost(x.view(), y.view()));
    let mut out = Vec::new();
    for (l, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        let mut worst = (0.0f64, (0, 0));
        // A NaN error is the worst there is: it sticks (`err > worst` alone would skip it).
        for idx in ndarray::indices(a.raw_dim()) {
            let err = (a[idx] - n[idx]).abs() / a[idx].abs().max(n[idx].abs()).max(floor);
            if !worst.0.is_nan() && (err.is_nan() || err > worst.0) {
                worst = (err, idx);
            }
        }
        out.push(LayerCheck { layer: l, shape: a.dim(), max_rel_error: worst.0, at: worst.1 });
    }
    Ok(out)
}

/// The gradient of `cost` by central differences, `∂J/∂w ≈ (J(w + h) − J(w − h)) / 2h`, for every
/// weight of every layer (the bias column included): one matrix per `W^(l)`, shaped like it.
///
/// `cost` is called with a copy of `net` in which one weight at a time is moved by `±h`, and only
/// its value is used, never `net`'s backprop: this is the reference backprop is checked against,
/// so it must not share backprop's mistakes. Pass any cost of the weights: the network's own
/// (`|n| n.cost(x.view(), y.view())`) or one with extra terms, such as an L2 penalty.
///
/// The truncation error is O(h²) and the rounding error O(ε/h); in `f64`, `h` near `1e-5`
/// balances the two. Costs: two evaluations of `cost` per weight.
///
/// ```
/// use shardprop::{Activation, Head, Network, rng, tools::gradcheck::central_differences};
/// let net = Network::<f64>::new(&[2, 1], Activation::Tanh, Head::IdentityMse, &mut rng::seeded(1, 0))?;
/// // J(w) = Σ w²: its gradient is 2w.
/// let d = central_differences(&net, 1e-5, |n| n.weights().iter().map(|w| w.iter().map(|v| v * v).sum::<f64>()).sum());
/// let w = &net.weights()[0];
/// assert!(d[0].iter().zip(w).all(|(d, w)| (d - 2.0 * w).abs() < 1e-9));
/// # Ok::<(), shardprop::Error>(())
/// ```
pub fn central_differences(net: &Network<f64>, h: f64, mut cost: impl FnMut(&Network<f64>) -> f64) -> Vec<Array2<f64>> {
    let mut probe = net.clone();
    let mut grads = Vec::with_capacity(net.weights().len());
    for (l, w) in net.weights().iter().enumerate() {
        let mut g = Array2::zeros(w.raw_dim());
        for idx in ndarray::indices(w.raw_dim()) {
            let w0 = w[idx];
            probe.weights_mut()[l][idx] = w0 + h;
            let up = cost(&probe);
            probe.weights_mut()[l][idx] = w0 - h;
            let down = cost(&probe);
            probe.weights_mut()[l][idx] = w0;
            g[idx] = (up - down) / (2.0 * h);
        }
        grads.push(g);
    }
    grads
}
