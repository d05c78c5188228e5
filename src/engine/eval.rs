//! Forward-only evaluation: cost, hits and outputs over a dataset's rows, in shards of a size
//! fixed by the network (so the sums are the same bits for any thread count) and in batches of
//! bounded memory.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::Engine;
use super::schedule::splits_products;
use super::shards::{gather, take_workspace};
use crate::data::{Rows, Scaler};
use crate::nn::network::{CHUNK_ROWS, count_correct};
use crate::{Float, Network};

/// Rows per shard in forward-only evaluation.
pub const EVAL_SHARD: usize = CHUNK_ROWS;

/// The result of a forward-only pass over a dataset.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Examples.
    pub m: usize,
    /// `Σ_i J_i`.
    pub loss_sum: f64,
    /// Correct classifications.
    pub correct: usize,
    /// Outputs `h(x)`, one row per example in input order ([`Engine::evaluate`]; empty, `0 × S_L`,
    /// from [`Engine::evaluate_streamed`]).
    pub outputs: Array2<f32>,
}

impl Evaluation {
    /// `J`, the mean cost.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.m.max(1) as f64
    }
    /// Fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.m.max(1) as f64
    }
}

/// Values (rows × output units) a batch of [`Engine::evaluate_streamed`] holds at most, beyond
/// one shard: 64 MB of `f32` outputs.
pub const EVAL_BATCH_VALUES: usize = 1 << 24;

/// Values (rows × units summed over layers) an evaluation shard's scratch buffers hold at most,
/// beyond one row: 16 MB per buffer of `f32`.
const EVAL_SHARD_VALUES: usize = 1 << 22;

/// Rows per shard in forward-only evaluation of a network of these layer sizes: [`EVAL_SHARD`],
/// fewer when a shard's scratch buffers would pass `EVAL_SHARD_VALUES` values (a million
/// classes make a 256-row shard's buffers gigabytes).
pub fn eval_shard_rows(sizes: &[usize]) -> usize {
    let units = sizes.iter().fold(0usize, |a, &s| a.saturating_add(s)).max(1);
    EVAL_SHARD.min(EVAL_SHARD_VALUES / units).max(1)
}

impl<T: Float> Engine<T> {
    /// Forward pass over `data` (in shards of [`eval_shard_rows`] rows): cost, hits and outputs.
    /// The outputs take `rows × S_L` values: for many classes, use [`Engine::evaluate_streamed`].
    pub fn evaluate<'a>(&mut self, net: &Network<T>, data: impl Into<Rows<'a>>, scaler: &Scaler) -> Evaluation {
        let data = data.into();
        let mut outputs = Array2::<f32>::zeros((data.len(), net.n_outputs()));
        let mut ev = self.evaluate_streamed(net, data, scaler, |first, batch| {
            outputs.slice_mut(ndarray::s![first..first + batch.nrows(), ..]).assign(&batch);
        });
        ev.outputs = outputs;
        ev
    }

    /// Forward pass over `data` in batches of rows, in bounded memory: `each(first_row, outputs)`
    /// sees each batch's outputs `h(x)` (one row per example, in input order) and may keep what it
    /// needs; the returned [`Evaluation`] has cost and hits but no outputs (`0 × S_L`). A batch
    /// holds at most about [`EVAL_BATCH_VALUES`] outputs (and at least one shard), so a model with
    /// 40,000 classes evaluates a million rows in a few hundred MB. Cost and hits are the same
    /// bits as [`Engine::evaluate`]'s: the per-shard sums are added in the same order.
    pub fn evaluate_streamed<'a>(
        &mut self,
        net: &Network<T>,
        data: impl Into<Rows<'a>>,
        scaler: &Scaler,
        mut each: impl FnMut(usize, ArrayView2<'_, f32>),
    ) -> Evaluation {
        let data = data.into();
        let n = data.len();
        let k = net.n_outputs();
        let shard = eval_shard_rows(net.sizes());
        let per_batch = (EVAL_BATCH_VALUES / (shard * k).max(1)).clamp(1, 4 * self.threads.max(1));
        let batch_rows = shard * per_batch;
        let (pool, copies) = (&self.pool, &mut self.transposed);
        let copies = (n > shard).then(|| pool.install(|| copies.refresh(net, shard)));
        let workspaces = &self.workspaces;
        let mut parts: Vec<(f64, usize)> = Vec::with_capacity(n.div_ceil(shard));
        let mut batch_parts: Vec<(f64, usize)> = Vec::new();
        let mut outputs = Array2::<f32>::zeros((batch_rows.min(n), k));
        let mut first = 0;
        while first < n {
            let len = batch_rows.min(n - first);
            let mut out = outputs.slice_mut(ndarray::s![..len, ..]);
            let split = splits_products(len.div_ceil(shard), self.threads);
            self.pool.install(|| {
                out.axis_chunks_iter_mut(Axis(0), shard)
                    .into_par_iter()
                    .enumerate()
                    .map(|(s, mut out)| {
                        let start = first + s * shard;
                        let rows: Vec<usize> = (start..start + out.nrows()).map(|i| data.row(i)).collect();
                        let mut ws = take_workspace(workspaces, net, shard);
                        ws.set_split(split);
                        ws.set_busy(None); // evaluation is not a training step
                        gather(&mut ws, data.data(), scaler, &rows, split);
                        net.forward_with(&mut ws, rows.len(), copies.as_ref());
                        let (h, y) = ws.output_and_targets(rows.len());
                        let part = (net.head().loss_sum(h, y), count_correct(net.head(), h, y));
                        out.zip_mut_with(&h, |o, &v| *o = v.to_f64() as f32);
                        workspaces.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
                        part
                    })
                    .collect_into_vec(&mut batch_parts);
            });
            parts.extend_from_slice(&batch_parts);
            each(first, outputs.slice(ndarray::s![..len, ..]));
            first += len;
        }
        let loss_sum = parts.iter().map(|p| p.0).sum();
        let correct = parts.iter().map(|p| p.1).sum();
        Evaluation { m: n, loss_sum, correct, outputs: Array2::zeros((0, k)) }
    }
}
