//! Early stopping: the best validation loss so far, and the weights that had it. A run stops
//! once `patience` epochs in a row fail to beat it, and keeps the best epoch's weights.

use serde::{Deserialize, Serialize};

use crate::Network;

/// Early-stopping state: the best validation loss so far and the weights that had it. Saved in
/// checkpoints (field order is the encoding: keep it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    /// Epochs without improvement that end the run.
    pub patience: usize,
    /// Best validation loss so far.
    pub best_loss: f64,
    /// Its 1-based epoch.
    pub best_epoch: usize,
    /// Epochs since it.
    pub bad_epochs: usize,
    /// The weights after that epoch.
    pub best: Network<f32>,
}

impl EarlyStop {
    /// Before the first epoch: no best loss yet (`∞`), `net` as the best weights.
    pub fn new(patience: usize, net: &Network<f32>) -> Self {
        Self { patience, best_loss: f64::INFINITY, best_epoch: 0, bad_epochs: 0, best: net.clone() }
    }

    /// Records epoch `epoch`'s (1-based) validation loss `loss` with the weights `net` had after
    /// it: a loss below the best so far (strictly; NaN never is) becomes the best, else one more
    /// bad epoch.
    pub fn record(&mut self, epoch: usize, loss: f64, net: &Network<f32>) {
        if loss < self.best_loss {
            (self.best_loss, self.best_epoch, self.bad_epochs) = (loss, epoch, 0);
            self.best = net.clone();
        } else {
            self.bad_epochs += 1;
        }
    }

    /// Whether `patience` epochs in a row failed to improve: the run stops.
    pub fn exhausted(&self) -> bool {
        self.bad_epochs >= self.patience
    }
}
