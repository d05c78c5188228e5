//! Resuming a run from its checkpoint: the data reopened and checked against what the
//! checkpoint was trained on, then the trainer, scaler, history and early-stopping state as saved.

use crate::error::{Error, Result};
use crate::run::checkpoint::Checkpoint;
use crate::run::open::TrainingData;
use crate::run::session::Session;
use crate::run::spec::RunSpec;
use crate::run::trainer::Trainer;

impl Session {
    /// Reopens a checkpoint's run (its data, or `spec` when given) to continue it. Refuses data
    /// whose fingerprint differs from the checkpoint's unless `force`, and data whose rows do not
    /// fit the network. The scaler is the checkpoint's (no refit: with `force` on other data it
    /// must not move). Returns the CSV lines skipped too.
    pub fn resume(ckpt: Checkpoint, spec: Option<RunSpec>, threads: usize, force: bool) -> Result<(Self, Vec<u64>)> {
        let mut spec = spec.unwrap_or_else(|| ckpt.data.clone());
        if spec.features.is_none() && crate::data::is_parquet(&spec.train) {
            // `--features` is not stored: the model's feature names are those columns.
            spec.features = Some(ckpt.feature_names.clone());
        }
        let classes = ckpt.task.classes().map(|c| c.to_vec());
        let (training, skipped) = TrainingData::open(&spec, ckpt.config.seed, classes)?;
        check_resumable(&spec, &training, &ckpt, force)?;
        training.check_scaled_rows(&spec)?;
        let mut state = ckpt.state;
        if training.fingerprint != ckpt.fingerprint {
            // Forced onto other data: the stopped epoch's order means nothing here; start the
            // epoch afresh (its running sums too). The run's fingerprint becomes this data's.
            (state.step, state.epoch_loss_sum, state.epoch_correct, state.epoch_examples) = (0, 0.0, 0, 0);
        }
        let trainer = Trainer::resume(ckpt.network, ckpt.config, state, ckpt.optimizer, threads)?;
        let session = Self::assemble(spec, training, ckpt.scaler, ckpt.task, trainer, ckpt.history, ckpt.early);
        Ok((session, skipped))
    }
}

/// Whether `training` can continue `ckpt`: the same data (by fingerprint) unless `force`, and in any
/// case rows of as many features and targets as the network's inputs and outputs.
fn check_resumable(spec: &RunSpec, training: &TrainingData, ckpt: &Checkpoint, force: bool) -> Result<()> {
    let (mine, theirs) = (&training.fingerprint, &ckpt.fingerprint);
    if mine != theirs && !force {
        return Err(Error::Mismatch(format!(
            "{}: this is not the data the checkpoint was trained on (checkpoint: {} rows x {} features, hash {:016x}; \
             this file: {} rows x {} features, hash {:016x}); use --force to train on it anyway",
            spec.train.display(),
            theirs.rows,
            theirs.features,
            theirs.hash,
            mine.rows,
            mine.features,
            mine.hash
        )));
    }
    let ex = training.data.examples();
    if ex.n_features() != ckpt.network.n_inputs() {
        return Err(Error::Mismatch(format!(
            "{}: has {} features per row, but the model takes {}",
            spec.train.display(),
            ex.n_features(),
            ckpt.network.n_inputs()
        )));
    }
    if ex.n_targets() != ckpt.network.n_outputs() {
        return Err(Error::Mismatch(format!(
            "{}: has {} targets per row, but the model has {} outputs",
            spec.train.display(),
            ex.n_targets(),
            ckpt.network.n_outputs()
        )));
    }
    Ok(())
}
