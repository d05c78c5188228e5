//! Early stopping: the best validation loss so far, and the weights that had it.

use serde::{Deserialize, Serialize};

use crate::Network;

/// Early-stopping state: the best validation loss so far and the weights that had it.
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
