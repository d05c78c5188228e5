//! What a run tells its caller: [`Observer`] as it goes, [`Outcome`] when it ends.

use std::path::{Path, PathBuf};

use crate::run::trainer::{EpochReport, Trainer};

/// What a run reports as it goes.
pub trait Observer {
    /// After every step: the epoch (0-based), the step within it and the steps per epoch.
    fn step(&mut self, _epoch: usize, _step: usize, _steps: usize, _trainer: &Trainer<f32>) {}
    /// After every epoch (with validation figures when there is a validation set).
    fn epoch(&mut self, _report: &EpochReport) {}
    /// A checkpoint was written.
    fn checkpoint(&mut self, _path: &Path) {}
    /// Something failed that did not stop the run (e.g. a checkpoint could not be written).
    fn warning(&mut self, _msg: &str) {}
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// All epochs done.
    Finished,
    /// Validation loss stopped improving; the best epoch's weights were restored.
    EarlyStopped {
        /// The best epoch (1-based).
        best_epoch: usize,
    },
    /// The stop flag was raised; a checkpoint was written here.
    Stopped {
        /// The checkpoint to resume from.
        checkpoint: PathBuf,
    },
}
