//! What a run reads and writes, apart from the maths: data paths, how they are parsed and
//! scaled, validation, checkpoint cadence and the metrics log. Stored in checkpoints.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::npy::NpyOptions;
use crate::data::{CsvOptions, Scale};

/// Everything about a run that is not the maths: where the data is, how it is read, where
/// checkpoints and metrics go. Stored in checkpoints so `resume` can reopen the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Training data.
    pub train: PathBuf,
    /// Test data, evaluated at the end.
    pub test: Option<PathBuf>,
    /// CSV target column(s).
    pub target: Option<String>,
    /// CSV header: forced on, off, or detected.
    pub header: Option<bool>,
    /// Regression instead of classification.
    pub regression: bool,
    /// Drop unparsable CSV rows (reported).
    pub skip_bad_rows: bool,
    /// Verify binary dataset checksums when opening.
    pub verify: bool,
    /// Feature scaling fitted on the training rows.
    pub scale: Scale,
    /// Fraction of the training rows held out (seeded) for validation.
    pub validation: f64,
    /// Stop when validation loss has not improved for this many epochs (0: never).
    pub patience: usize,
    /// Directory for periodic checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint every this many epochs (0: never).
    pub checkpoint_every: usize,
    /// Checkpoint every this many steps (0: never).
    pub checkpoint_every_steps: u64,
    /// Checkpoints kept in the directory.
    pub keep: usize,
    /// Metrics log (JSON lines), one object per epoch.
    pub metrics: Option<PathBuf>,
    /// NumPy inputs: the labels file of `.npy` training features, the arrays of an `.npz`
    /// (stored from checkpoint version 3 on, so `resume` reopens them).
    pub npy: NpyOptions,
    /// The labels file of a `.npy` test set.
    pub test_labels: Option<PathBuf>,
    /// Parquet feature columns by name (`--features`), stored from checkpoint version 3 on.
    pub features: Option<Vec<String>>,
}

impl RunSpec {
    /// A spec that reads `train` with defaults and writes nothing.
    pub fn new(train: PathBuf) -> Self {
        Self {
            train,
            test: None,
            target: None,
            header: None,
            regression: false,
            skip_bad_rows: false,
            verify: true,
            scale: Scale::None,
            validation: 0.0,
            patience: 0,
            checkpoint_dir: None,
            checkpoint_every: 1,
            checkpoint_every_steps: 0,
            keep: 3,
            metrics: None,
            npy: NpyOptions::default(),
            test_labels: None,
            features: None,
        }
    }

    /// CSV options, with `classes` fixed for a test set.
    pub fn csv(&self, classes: Option<Vec<String>>) -> CsvOptions {
        CsvOptions {
            target: self.target.clone(),
            header: self.header,
            regression: self.regression,
            skip_bad_rows: self.skip_bad_rows,
            classes,
            unlabeled: None,
            model: None,
            npy: self.npy.clone(),
            features: self.features.clone(),
        }
    }
}
