//! The network: layers, forward pass and backpropagation over a whole shard, side by side.
//!
//! Activations are kept one row per example, so a shard of `r` examples is an `r × S_l` matrix and
//! `z^(l+1) = W^(l) a^(l)` for all of them is one product `acts[l] · W^(l)[:, 1..]ᵀ` plus the bias
//! column `W^(l)[:, 0]` on every row.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernel::matmul::{layout_free, matmul, matmul_tiles};
use crate::nn::Fresh;
pub use crate::nn::workspace::Workspace;
use crate::{Activation, Float, GradSum, Head, Init};

/// Rows per chunk: a shard is processed in chunks of at most this many rows (the rows a
/// [`Workspace`] holds at once), so scratch buffers stay small and cache-friendly whatever the
/// shard size.
pub const CHUNK_ROWS: usize = 256;

/// A fully connected network `S_1 − S_2 − … − S_L`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network<T> {
    sizes: Vec<usize>,
    hidden: Activation,
    head: Head,
    /// `w[l]` is `W^(l)`: shape `S_{l+1} × (S_l + 1)`, column 0 multiplies the bias unit.
    w: Vec<Array2<T>>,
}

impl<T: Float> Network<T> {
    /// A network with seeded initial weights by the default rule ([`Init::Auto`]): uniform in
    /// `±sqrt(6 / (S_l + S_{l+1}))` (Glorot) for sigmoid, tanh and identity units, He (normal,
    /// variance `2 / S_l`, zero bias) for ReLU units; the output layer always Glorot.
    pub fn new(sizes: &[usize], hidden: Activation, head: Head, rng: &mut ChaCha8Rng) -> Result<Self> {
        Self::with_init(sizes, hidden, head, Init::Auto, rng)
    }

    /// A network with seeded initial weights drawn by `init`'s rule for each layer. Weights are
    /// drawn in `f64` and rounded, so the `f32` and `f64` networks of one seed agree to `f32`
    /// precision.
    pub fn with_init(
        sizes: &[usize],
        hidden: Activation,
        head: Head,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::Config(format!(
                "a network needs at least an input and an output layer, all of non-zero size; got {sizes:?}"
            )));
        }
        check_trainable_size(sizes, std::mem::size_of::<T>())?;
        let n_layers = sizes.len();
        let w = (0..n_layers - 1)
            .map(|l| init.draw((sizes[l], sizes[l + 1]), hidden, l + 2 == n_layers, rng).mapv(T::from_f64))
            .collect();
        Ok(Self { sizes: sizes.to_vec(), hidden, head, w })
    }

    /// A network with the given weights; each `w[l]` must be `S_{l+1} × (S_l + 1)`.
    pub fn from_weights(sizes: &[usize], hidden: Activation, head: Head, w: Vec<Array2<T>>) -> Result<Self> {
        if sizes.len() < 2 || w.len() + 1 != sizes.len() {
            return Err(Error::Config(format!("{} weight matrices do not fit layer sizes {sizes:?}", w.len())));
        }
        if sizes.contains(&0) {
            return Err(Error::Config(format!("every layer needs at least one unit; got {sizes:?}")));
        }
        for (l, wl) in w.iter().enumerate() {
            if wl.dim() != (sizes[l + 1], sizes[l] + 1) {
                return Err(Error::Config(format!(
                    "W^({l}) is {:?}, expected {:?} for layer sizes {sizes:?}",
                    wl.dim(),
                    (sizes[l + 1], sizes[l] + 1)
                )));
            }
        }
        Ok(Self { sizes: sizes.to_vec(), hidden, head, w })
    }

    /// Layer sizes `S_1 … S_L`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }
    /// Number of layers `L`, input and output included.
    pub fn n_layers(&self) -> usize {
        self.sizes.len()
    }
    /// The hidden-layer activation.
    pub fn hidden(&self) -> Activation {
        self.hidden
    }
    /// The output layer and cost.
    pub fn head(&self) -> Head {
        self.head
    }
    /// `S_1`, the number of input features.
    pub fn n_inputs(&self) -> usize {
        self.sizes[0]
    }
    /// `S_L`, the number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }
    /// The weight matrices `W^(l)`, column 0 the bias weights.
    pub fn weights(&self) -> &[Array2<T>] {
        &self.w
    }
    /// The first weight that is NaN or infinite, as `(l, i, j, value)` of `W^(l)[i, j]`; `None`
    /// when every weight is finite. (A cost can stay finite over non-finite weights: ReLU turns
    /// NaN into 0, so divergence is checked on the weights themselves.)
    pub fn first_non_finite(&self) -> Option<(usize, usize, usize, T)> {
        self.w
            .iter()
            .enumerate()
            .find_map(|(l, w)| w.indexed_iter().find(|(_, v)| !v.is_finite()).map(|((i, j), &v)| (l, i, j, v)))
    }
    /// Mutable weight matrices, for optimisers and tests.
    pub fn weights_mut(&mut self) -> &mut [Array2<T>] {
        &mut self.w
    }
    /// Number of parameters, bias weights included.
    pub fn n_params(&self) -> usize {
        self.w.iter().map(|w| w.len()).sum()
    }

    /// The same network in another float type.
    pub fn cast<U: Float>(&self) -> Network<U> {
        Network {
            sizes: self.sizes.clone(),
            hidden: self.hidden,
            head: self.head,
            w: self.w.iter().map(|w| w.mapv(|v| U::from_f64(v.to_f64()))).collect(),
        }
    }

    /// A hex digest (FNV-1a, 64 bits) of the sizes and the little-endian parameter bytes, so two
    /// runs can be compared bit for bit.
    pub fn params_digest(&self) -> String {
        let mut bytes = Vec::with_capacity(self.n_params() * 8 + 64);
        for &s in &self.sizes {
            bytes.extend_from_slice(&(s as u64).to_le_bytes());
        }
        for w in &self.w {
            for &v in w.iter() {
                v.le_bytes(&mut bytes);
            }
        }
        format!("{:016x}", crate::hash::fnv1a(&bytes))
    }

    /// Forward pass over the first `rows` rows of `ws.acts[0]`:
    /// `a^(l+1) = g(a^(l) W^(l)[:, 1..]ᵀ + 1 W^(l)[:, 0]ᵀ)`, the output layer through the head.
    /// Shapes: `acts[l]` is `(rows, S_l)`.
    pub fn forward(&self, ws: &mut Workspace<T>, rows: usize) {
        self.forward_with(ws, rows, None);
    }

    /// [`Network::forward`] reading `W^(l)[:, 1..]ᵀ` from `copies` (made from this network:
    /// [`crate::nn::Transposed::refresh`]) where that cannot change a bit ([`layout_free`]).
    pub fn forward_with(&self, ws: &mut Workspace<T>, rows: usize, copies: Option<&Fresh<'_, T>>) {
        debug_assert!(rows <= ws.cap);
        let (last, split, hidden) = (self.w.len() - 1, ws.split, self.hidden);
        let busy = ws.busy.clone();
        let busy = busy.as_deref();
        for (l, w) in self.w.iter().enumerate() {
            let masked = ws.apply_mask(l, rows);
            let (lo, hi) = ws.acts.split_at_mut(l + 1);
            // With dropout on this layer, the next one takes `ã^(l) = a^(l) ⊙ m^(l)`.
            let a = if masked { ws.dropped[l].slice(s![..rows, ..]) } else { lo[l].slice(s![..rows, ..]) };
            let mut out = hi[0].slice_mut(s![..rows, ..]);
            let wt = match copies.and_then(|c| c.layer(self, l)) {
                Some(c) if layout_free(rows, w.nrows(), w.ncols() - 1) => c,
                _ => w.slice(s![.., 1..]).reversed_axes(),
            };
            let bias = w.column(0);
            if l == last {
                // The head may work across a row (softmax): after the whole product.
                for mut row in out.rows_mut() {
                    row.assign(&bias);
                }
                matmul(a, wt, true, out.view_mut(), split);
                self.head.activate(out);
            } else {
                // Bias and g elementwise, fused with each tile of the product.
                // The bias column is strided: gathered into the tile's first row once, then
                // copied from there.
                let set_bias = |j: usize, t: ArrayViewMut2<T>| {
                    let n = t.ncols();
                    let (mut first, mut rest) = t.split_at(Axis(0), 1);
                    first.row_mut(0).assign(&bias.slice(s![j..j + n]));
                    for mut row in rest.rows_mut() {
                        row.assign(&first.row(0));
                    }
                };
                matmul_tiles(a, wt, true, out, split, busy.map(|b| &b[0]), set_bias, |_, t| hidden.apply(t));
            }
        }
    }

    /// Forward pass and backpropagation over the first `rows` rows of the workspace; adds the
    /// shard's `Δ^(l)` into `sum` and counts its examples, loss and hits.
    pub fn backprop(&self, ws: &mut Workspace<T>, rows: usize, sum: &mut GradSum<T>) {
        self.forward(ws, rows);
        self.backward(ws, rows, sum, true);
    }

    /// Backpropagation after [`Network::forward`] over the same rows: `Δ^(l) = Σ_i δ^(l+1) a^(l)ᵀ`
    /// into `sum` (added when `add`, else overwriting it: the engine's per-shard buffers need no
    /// zeroing pass), with the rows' count, summed cost and hits.
    ///
    /// `δ^(L)` comes from the head; `δ^(l) = (δ^(l+1) W^(l)[:, 1..]) ⊙ g'(a^(l))` (the bias column
    /// dropped), one product per layer. Shapes: `delta` for layer `l` is `(rows, S_l)`; the weight
    /// part of `Δ^(l)` is `δ^(l+1)ᵀ a^(l)`, `(S_{l+1}, S_l)`, and its bias column is `δ^(l+1)ᵀ 1`.
    pub fn backward(&self, ws: &mut Workspace<T>, rows: usize, sum: &mut GradSum<T>, add: bool) {
        let n_layers = self.n_layers();
        let h = ws.acts[n_layers - 1].slice(s![..rows, ..]);
        let y = ws.y.slice(s![..rows, ..]);
        let (loss, correct) = (self.head.loss_sum(h, y), count_correct(self.head, h, y));
        if add {
            sum.loss += loss;
            sum.correct += correct;
            sum.m += rows;
        } else {
            (sum.loss, sum.correct, sum.m) = (loss, correct, rows);
        }
        self.head.output_delta(h, y, ws.deltas[n_layers - 1].slice_mut(s![..rows, ..]));

        let ones = ws.ones.slice(s![..rows, ..]);
        for l in (0..n_layers - 1).rev() {
            let (d_lo, d_hi) = ws.deltas.split_at_mut(l + 1);
            let delta = d_hi[0].slice(s![..rows, ..]);
            let a = ws.acts[l].slice(s![..rows, ..]);
            // With dropout: `Δ^(l) = δ^(l+1)ᵀ ã^(l)`, and `δ^(l)` also times the mask.
            let mask = ws.masks.get(l).filter(|m| ws.masked && m.nrows() > 0).map(|m| m.slice(s![..rows, ..]));
            let input = if mask.is_some() { ws.dropped[l].slice(s![..rows, ..]) } else { a };
            let g = &mut sum.dw[l];
            let busy = ws.busy.as_deref().map(|b| &b[1]);
            matmul_tiles(delta.t(), input, add, g.slice_mut(s![.., 1..]), ws.split, busy, |_, _| {}, |_, _| {});
            matmul_tiles(delta.t(), ones, add, g.slice_mut(s![.., ..1]), false, busy, |_, _| {}, |_, _| {});
            if l > 0 {
                let prev = d_lo[l].slice_mut(s![..rows, ..]);
                let hidden = self.hidden;
                let scale = |j: usize, mut t: ArrayViewMut2<T>| {
                    let n = t.ncols();
                    hidden.scale_by_derivative(t.view_mut(), a.slice(s![.., j..j + n]));
                    if let Some(m) = &mask {
                        t *= &m.slice(s![.., j..j + n]);
                    }
                };
                matmul_tiles(delta, self.w[l].slice(s![.., 1..]), false, prev, ws.split, busy, |_, _| {}, scale);
            }
        }
    }

    /// Max-norm: projects each unit's incoming weight vector (its row of `W^(l)` without the bias
    /// column, every layer) onto the ball of radius `c`; a longer row is scaled by `c / norm`.
    /// Rows in parallel, each summed in order in `f64`: the same bits for any thread count.
    pub fn max_norm(&mut self, c: f64) {
        use rayon::prelude::*;
        for w in &mut self.w {
            w.axis_iter_mut(Axis(0)).into_par_iter().for_each(|mut row| {
                let f = |v: &T| <T as Float>::to_f64(*v);
                let norm = row.iter().skip(1).map(|v| f(v) * f(v)).sum::<f64>().sqrt();
                if norm > c {
                    let k = c / norm;
                    row.iter_mut().skip(1).for_each(|v| *v = T::from_f64(f(v) * k));
                }
            });
        }
    }

    /// The outputs `h(x)` for the rows of `x` (a convenience for small inputs; allocates).
    pub fn predict(&self, x: ArrayView2<T>) -> Array2<T> {
        let mut ws = Workspace::new(self, x.nrows());
        ws.acts[0].assign(&x);
        self.forward(&mut ws, x.nrows());
        ws.acts.pop().expect("at least two layers")
    }

    /// `J = (1/m) Σ_i J_i` for the rows of `x` and `y` (allocates; for tests and checks).
    pub fn cost(&self, x: ArrayView2<T>, y: ArrayView2<T>) -> f64 {
        let h = self.predict(x);
        self.head.loss_sum(h.view(), y) / x.nrows() as f64
    }

    /// `D^(l) = Δ^(l) / m` for the rows of `x` and `y` in one shard (allocates; for tests).
    pub fn gradient(&self, x: ArrayView2<T>, y: ArrayView2<T>) -> Vec<Array2<T>> {
        let mut ws = Workspace::new(self, x.nrows());
        ws.input_mut(x.nrows()).0.assign(&x);
        ws.input_mut(x.nrows()).1.assign(&y);
        let mut sum = GradSum::zeros(self.weights());
        self.backprop(&mut ws, x.nrows(), &mut sum);
        let m = T::from_usize(x.nrows());
        sum.dw.into_iter().map(|d| d.mapv(|v| v / m)).collect()
    }
}

/// Parameters of a network of layer sizes `sizes` (bias weights included), or `None` when the
/// count does not fit a `usize`.
pub fn param_count(sizes: &[usize]) -> Option<usize> {
    sizes.windows(2).try_fold(0usize, |acc, w| w[1].checked_mul(w[0].checked_add(1)?)?.checked_add(acc))
}

/// Refuses, before anything is allocated, a network that could not be trained in this machine's
/// memory: weights, `D`, at least one partial sum, two optimiser slots and the transposed copy of
/// the hidden weights ([`crate::nn::Transposed`]) per parameter, and a chunk's activations and
/// deltas, against the physical memory (`/proc/meminfo`; 1 TiB where it
/// cannot be read). All arithmetic is checked: sizes that overflow are refused, never wrapped.
fn check_trainable_size(sizes: &[usize], elem: usize) -> Result<()> {
    let shape = sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
    let too_big = || Error::Config(format!("a {shape} network is too large to represent"));
    let params = param_count(sizes).ok_or_else(too_big)?;
    let units = sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s)).ok_or_else(too_big)?;
    let bytes = params
        .checked_mul(6 * elem)
        .and_then(|p| units.checked_mul(2 * CHUNK_ROWS * elem).and_then(|u| p.checked_add(u)))
        .ok_or_else(too_big)?;
    let memory = crate::memory::physical().unwrap_or(1 << 40);
    if bytes > memory {
        return Err(Error::Config(format!(
            "a {shape} network ({params} parameters) needs about {:.1} GB to train, more than this machine's {:.1} GB",
            bytes as f64 / 1e9,
            memory as f64 / 1e9
        )));
    }
    Ok(())
}

/// The class a row of outputs or one-hot targets stands for: the arg-max, or for a single output
/// unit whether it is at least ½.
pub fn class_of<T: Float>(row: ndarray::ArrayView1<T>) -> usize {
    if row.len() == 1 {
        return usize::from(row[0] >= T::from_f64(0.5));
    }
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Rows of `h` whose class matches the target row of `y` (0 for regression).
pub fn count_correct<T: Float>(head: Head, h: ArrayView2<T>, y: ArrayView2<T>) -> usize {
    if !head.is_classifier() {
        return 0;
    }
    h.axis_iter(Axis(0)).zip(y.axis_iter(Axis(0))).filter(|(h, y)| class_of(*h) == class_of(*y)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_for_a_layer_without_units_are_refused() {
        let w = vec![Array2::<f32>::zeros((0, 4)), Array2::<f32>::zeros((2, 1))];
        let err = Network::from_weights(&[3, 0, 2], Activation::Sigmoid, Head::SigmoidMse, w).unwrap_err();
        assert!(err.to_string().contains("at least one unit"), "{err}");
        let w = vec![Array2::<f32>::zeros((1, 4)), Array2::<f32>::zeros((2, 2))];
        assert!(Network::from_weights(&[3, 1, 2], Activation::Sigmoid, Head::SigmoidMse, w).is_ok());
    }
}
