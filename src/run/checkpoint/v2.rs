//! Reading format versions 1 and 2 (before issue 14): their payload is this module's
//! [`CheckpointV2`], whose training config has no `init` (their networks were drawn by
//! [`Init::Auto`], the only rule there was), no dropout and no max-norm, whose run spec has no
//! NumPy labels or arrays, and whose epoch reports have no test figures. A
//! file of either version loads, evaluates and resumes to the bits it would have before
//! (`tests/integration/old_checkpoints.rs`, against files written by version 2).

use std::path::PathBuf;

use serde::Deserialize;

use super::Checkpoint;
use crate::data::npy::NpyOptions;
use crate::data::{Fingerprint, Scale, Scaler, Task};
use crate::optim::{Method, Optimizer, Schedule};
use crate::run::early_stop::EarlyStop;
use crate::run::spec::RunSpec;
use crate::run::trainer::{EpochReport, TrainConfig, TrainState};
use crate::{Init, Network};

/// A version-1 or -2 checkpoint's payload, field for field.
#[derive(Deserialize)]
pub(super) struct CheckpointV2 {
    network: Network<f32>,
    scaler: Scaler,
    task: Task,
    feature_names: Vec<String>,
    config: TrainConfigV2,
    state: TrainState,
    optimizer: Optimizer<f32>,
    data: RunSpecV2,
    early: Option<EarlyStop>,
    fingerprint: Fingerprint,
    history: Vec<EpochReportV2>,
}

/// A version-2 run spec: no NumPy labels or array names and no Parquet `--features` (version 3
/// stores them).
#[derive(Deserialize)]
struct RunSpecV2 {
    train: PathBuf,
    test: Option<PathBuf>,
    target: Option<String>,
    header: Option<bool>,
    regression: bool,
    skip_bad_rows: bool,
    verify: bool,
    scale: Scale,
    validation: f64,
    patience: usize,
    checkpoint_dir: Option<PathBuf>,
    checkpoint_every: usize,
    checkpoint_every_steps: u64,
    keep: usize,
    metrics: Option<PathBuf>,
}

impl From<RunSpecV2> for RunSpec {
    fn from(d: RunSpecV2) -> Self {
        RunSpec {
            train: d.train,
            test: d.test,
            target: d.target,
            header: d.header,
            regression: d.regression,
            skip_bad_rows: d.skip_bad_rows,
            verify: d.verify,
            scale: d.scale,
            validation: d.validation,
            patience: d.patience,
            checkpoint_dir: d.checkpoint_dir,
            checkpoint_every: d.checkpoint_every,
            checkpoint_every_steps: d.checkpoint_every_steps,
            keep: d.keep,
            metrics: d.metrics,
            npy: NpyOptions::default(),
            test_labels: None,
            features: None,
        }
    }
}

#[derive(Deserialize)]
struct TrainConfigV2 {
    epochs: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    shard_size: usize,
    optimizer: Method,
    l2: f64,
    schedule: Schedule,
}

#[derive(Deserialize)]
struct EpochReportV2 {
    epoch: usize,
    global_step: u64,
    steps: usize,
    train_loss: f64,
    train_accuracy: f64,
    lr: f64,
    seconds: f64,
    examples_per_sec: f64,
    val_loss: Option<f64>,
    val_accuracy: Option<f64>,
}

impl CheckpointV2 {
    /// The checkpoint in this build's terms. `version` 1's `shard_size` 0 meant one-row shards
    /// (version 2's 0 is the automatic size, [`crate::engine::shard_len`]).
    pub(super) fn upgrade(self, version: u32) -> Checkpoint {
        let c = self.config;
        let shard_size = if version == 1 && c.shard_size == 0 { 1 } else { c.shard_size };
        let config = TrainConfig {
            epochs: c.epochs,
            batch_size: c.batch_size,
            lr: c.lr,
            seed: c.seed,
            shard_size,
            optimizer: c.optimizer,
            l2: c.l2,
            schedule: c.schedule,
            init: Init::Auto,
            dropout: Vec::new(),
            max_norm: None,
        };
        let history = self
            .history
            .into_iter()
            .map(|r| EpochReport {
                epoch: r.epoch,
                global_step: r.global_step,
                steps: r.steps,
                train_loss: r.train_loss,
                train_accuracy: r.train_accuracy,
                lr: r.lr,
                seconds: r.seconds,
                examples_per_sec: r.examples_per_sec,
                val_loss: r.val_loss,
                val_accuracy: r.val_accuracy,
                test_loss: None,
                test_accuracy: None,
            })
            .collect();
        Checkpoint {
            network: self.network,
            scaler: self.scaler,
            task: self.task,
            feature_names: self.feature_names,
            config,
            state: self.state,
            optimizer: self.optimizer,
            data: self.data.into(),
            early: self.early,
            fingerprint: self.fingerprint,
            history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version-2 file of tests/fixtures, decoded in its own layout.
    fn fixture() -> CheckpointV2 {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2-iris-momentum.ckpt");
        let bytes = std::fs::read(&path).unwrap();
        let (version, payload) = super::super::frame::open(&path, &bytes).unwrap();
        assert_eq!(version, 2);
        super::super::decode_payload(&path, payload).unwrap()
    }

    #[test]
    fn version_1_shard_size_0_means_one_row_shards_and_other_sizes_are_kept() {
        assert_eq!(fixture().config.shard_size, 0);
        assert_eq!(fixture().upgrade(2).config.shard_size, 0, "version 2's 0: the automatic size");
        assert_eq!(fixture().upgrade(1).config.shard_size, 1, "version 1's 0: one-row shards");
        for version in [1, 2] {
            let mut c = fixture();
            c.config.shard_size = 16;
            assert_eq!(c.upgrade(version).config.shard_size, 16);
        }
        let c = fixture().upgrade(2);
        assert_eq!(c.config.init, Init::Auto);
        assert_eq!(c.history.len(), 2);
        assert!(c.history.iter().all(|r| r.test_loss.is_none() && r.test_accuracy.is_none()));
    }
}
