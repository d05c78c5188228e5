//! A training run from files to checkpoints: the loop that trains with periodic atomic
//! checkpoints, early stopping and a stop flag (for signals), and builds the [`Checkpoint`] that
//! lets `resume` continue bit for bit. Opening the data is `run/open.rs`'s, resuming
//! `run/resume.rs`'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Network;
use crate::data::{self, AnyDataset, Fingerprint, Rows, Scaler, Task};
use crate::engine::Evaluation;
use crate::error::{Error, Result};
use crate::optim::Optimizer;
pub use crate::run::architecture::Architecture;
use crate::run::checkpoint::Checkpoint;
use crate::run::early_stop::EarlyStop;
pub use crate::run::observer::{Observer, Outcome};
use crate::run::open::{self, Split, TrainingData};
use crate::run::spec::RunSpec;
use crate::run::trainer::{EpochReport, TrainConfig, TrainState, Trainer};

/// A training run.
pub struct Session {
    /// The run's files and options.
    pub spec: RunSpec,
    data: AnyDataset,
    split: Split,
    /// Feature scaling fitted on the training rows.
    pub scaler: Scaler,
    /// What the outputs mean.
    pub task: Task,
    /// Feature names.
    pub feature_names: Vec<String>,
    /// The training file's fingerprint.
    pub fingerprint: Fingerprint,
    /// The trainer.
    pub trainer: Trainer<f32>,
    /// Reports of the epochs so far (across resumes).
    pub history: Vec<EpochReport>,
    /// Early-stopping state.
    pub early: Option<EarlyStop>,
    /// The test set (`--test`), evaluated after every epoch once attached ([`Session::set_test`]).
    test: Option<AnyDataset>,
    rank: usize,
}

impl Session {
    /// Opens the data and builds a fresh network. Returns the CSV lines skipped.
    pub fn start(spec: RunSpec, arch: &Architecture, cfg: TrainConfig, threads: usize) -> Result<(Self, Vec<u64>)> {
        let (training, skipped) = TrainingData::open(&spec, cfg.seed, None)?;
        let scaler = training.fit_scaler(&spec)?;
        training.check_validation_rows(&spec)?;
        training.check_two_classes(&spec)?;
        let task = training.data.task().clone();
        let net = arch.build(training.data.examples().n_features(), &task, cfg.seed, cfg.init)?;
        let early = (spec.patience > 0).then(|| EarlyStop::new(spec.patience, &net));
        let trainer = Trainer::new(net, cfg, threads)?;
        Ok((Self::assemble(spec, training, scaler, task, trainer, Vec::new(), early), skipped))
    }

    /// A session over `training` with the rest of its state (new, or from a checkpoint).
    pub(crate) fn assemble(
        spec: RunSpec,
        training: TrainingData,
        scaler: Scaler,
        task: Task,
        trainer: Trainer<f32>,
        history: Vec<EpochReport>,
        early: Option<EarlyStop>,
    ) -> Self {
        Self {
            spec,
            feature_names: training.data.feature_names().to_vec(),
            data: training.data,
            split: training.split,
            scaler,
            task,
            fingerprint: training.fingerprint,
            trainer,
            history,
            early,
            test: None,
            rank: 0,
        }
    }

    /// The training rows.
    pub fn train_examples(&self) -> Rows<'_> {
        self.split.train(&self.data)
    }

    /// The checkpoint of the run as it stands.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            network: self.trainer.network().clone(),
            scaler: self.scaler.clone(),
            task: self.task.clone(),
            feature_names: self.feature_names.clone(),
            config: self.trainer.config().clone(),
            state: self.trainer.state().clone(),
            optimizer: self.trainer.optimizer().clone(),
            data: self.spec.clone(),
            early: self.early.clone(),
            fingerprint: self.fingerprint.clone(),
            history: self.history.clone(),
        }
    }

    /// Trains as one rank of several: checks that every rank has the same training data (row
    /// and column counts and hash), then rank 0's weights are broadcast; rank 0 alone writes
    /// checkpoints.
    pub fn set_collective(&mut self, c: Arc<dyn crate::engine::exchange::Collective>) -> Result<()> {
        open::check_same_data_on_every_rank(&self.spec, &self.fingerprint, c.as_ref())?;
        self.rank = c.rank();
        self.trainer.set_collective(c);
        Ok(())
    }

    /// This process's rank (0 when not distributed).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Writes a periodic checkpoint (rank 0, with a checkpoint directory, finite weights); a
    /// failure is a warning, not an error.
    fn save_periodic(&self, obs: &mut dyn Observer) {
        if self.rank != 0 {
            return;
        }
        let Some(dir) = &self.spec.checkpoint_dir else { return };
        if self.trainer.network().first_non_finite().is_some() {
            // A cost can stay finite over non-finite weights (ReLU turns NaN into 0): such a
            // checkpoint would be no checkpoint. The run stops at its next cost check or ends.
            obs.warning("checkpoint not written: the weights are not finite (training diverged)");
            return;
        }
        match self.checkpoint().save_in_dir(dir, self.spec.keep) {
            Ok(p) => obs.checkpoint(&p),
            Err(e) => obs.warning(&format!("checkpoint not written, the previous one is kept: {e}")),
        }
    }

    /// Trains until the configured epochs are done, early stopping fires, or `stop` is raised
    /// (then the current step finishes and a checkpoint is written).
    pub fn run(&mut self, stop: Option<&Arc<AtomicBool>>, obs: &mut (dyn Observer + Send)) -> Result<Outcome> {
        // The whole loop runs on one of the engine's workers (see `Engine::pool`).
        let pool = self.trainer.engine_mut().pool();
        pool.install(|| self.run_here(stop, obs))
    }

    fn run_here(&mut self, stop: Option<&Arc<AtomicBool>>, obs: &mut (dyn Observer + Send)) -> Result<Outcome> {
        let n = self.train_examples().len();
        let steps = self.trainer.steps_per_epoch(n);
        // Test hook: behave as if a signal arrived during global step N (1-based), exactly.
        let stop_after: Option<u64> = std::env::var("SHARDPROP_STOP_AFTER_STEP").ok().and_then(|v| v.parse().ok());
        while !self.trainer.finished() {
            if self.early.as_ref().is_some_and(EarlyStop::exhausted) {
                break;
            }
            let epoch = self.trainer.state().epoch;
            let hook = stop_after.is_some_and(|n| self.trainer.state().global_step.saturating_add(1) >= n);
            self.trainer.engine_mut().vote_stop(hook || stop.is_some_and(|s| s.load(Ordering::SeqCst)));
            let done = match self.trainer.step(self.split.train(&self.data), &self.scaler) {
                Ok(done) => done,
                Err(Error::Diverged(msg)) => {
                    // The cost of step N is taken at the weights after step N − 1, so those
                    // already diverged: the last good checkpoint is one from step N − 2 or before.
                    let good = self.last_good(self.trainer.state().global_step.checked_sub(1));
                    return Err(Error::Diverged(format!("{msg}; {good}")));
                }
                Err(e) => return Err(e),
            };
            let step = self.trainer.state().step;
            obs.step(epoch, if done.is_some() { steps } else { step }, steps, &self.trainer);
            let epoch_ended = done.is_some();
            if let Some(report) = done {
                self.end_epoch(report, obs)?;
            }
            if self.checkpoint_due(epoch_ended) {
                self.save_periodic(obs);
            }
            // Every rank stops after the same step: the votes travel with the step's exchange.
            if self.trainer.engine_mut().stop_agreed() {
                return self.stop_with_checkpoint();
            }
        }
        if let Some(e) = &self.early
            && e.best_epoch > 0
        {
            let best_epoch = e.best_epoch;
            let stopped_early = e.exhausted() && !self.trainer.finished();
            self.trainer.set_network(e.best.clone());
            if stopped_early {
                return Ok(Outcome::EarlyStopped { best_epoch });
            }
        }
        Ok(Outcome::Finished)
    }

    /// After the step that ended an epoch: the validation figures (and early stopping's record of
    /// them) and the test set's into `report`, which the observer sees and the history keeps.
    fn end_epoch(&mut self, mut report: EpochReport, obs: &mut dyn Observer) -> Result<()> {
        report.global_step = self.trainer.state().global_step;
        if self.split.validates() {
            self.data.examples().check_source()?;
            let ev = self.evaluate_validation();
            report.val_loss = Some(ev.loss());
            report.val_accuracy = self.task.classes().map(|_| ev.accuracy());
            if let Some(e) = &mut self.early {
                e.record(report.epoch, ev.loss(), self.trainer.network());
            }
        }
        if let Some(ev) = self.evaluate_test()? {
            report.test_loss = Some(ev.loss());
            report.test_accuracy = self.task.classes().map(|_| ev.accuracy());
        }
        obs.epoch(&report);
        self.history.push(report);
        Ok(())
    }

    /// Whether the step just taken is due a periodic checkpoint: every `checkpoint_every`
    /// epochs at an epoch's end, else every `checkpoint_every_steps` global steps (0: never).
    fn checkpoint_due(&self, epoch_ended: bool) -> bool {
        let state = self.trainer.state();
        let (every, count) = if epoch_ended {
            (self.spec.checkpoint_every as u64, state.epoch as u64)
        } else {
            (self.spec.checkpoint_every_steps, state.global_step)
        };
        every > 0 && count.is_multiple_of(every)
    }

    /// Ends the run after a stop every rank agreed on: writes the checkpoint to resume from (rank
    /// 0 only; in the checkpoint directory, or `shardprop-interrupted.ckpt` without one), unless
    /// the weights are not finite.
    fn stop_with_checkpoint(&self) -> Result<Outcome> {
        if self.trainer.network().first_non_finite().is_some() {
            // The step just taken diverged before any cost could show it: a checkpoint of these
            // weights would be refused on loading, so none is written.
            let step = self.trainer.state().global_step;
            let good = self.last_good(step.checked_sub(1));
            return Err(Error::Diverged(format!(
                "stopped by a signal after step {step}, whose weights are not finite (training diverged); no checkpoint written; {good}"
            )));
        }
        let ckpt = self.checkpoint();
        let path = match &self.spec.checkpoint_dir {
            Some(dir) => dir.join(ckpt.file_name()),
            None => PathBuf::from("shardprop-interrupted.ckpt"),
        };
        if self.rank == 0 {
            match &self.spec.checkpoint_dir {
                Some(dir) => ckpt.save_in_dir(dir, self.spec.keep.max(1))?,
                None => {
                    ckpt.save(&path)?;
                    path.clone()
                }
            };
        }
        Ok(Outcome::Stopped { checkpoint: path })
    }

    /// Names the newest checkpoint of this run's directory from step `last` or before whose
    /// weights are finite, for a message about a diverged run.
    fn last_good(&self, last: Option<u64>) -> String {
        match &self.spec.checkpoint_dir {
            Some(dir) => last.and_then(|s| last_good_checkpoint(dir, s)).map_or_else(
                || format!("no checkpoint in {} is from before the divergence", dir.display()),
                |(p, step)| format!("the last good checkpoint is {} (step {step})", p.display()),
            ),
            None => "no checkpoint was being written (--checkpoint-dir)".to_string(),
        }
    }

    /// Cost and hits of the network on the validation rows.
    fn evaluate_validation(&mut self) -> Evaluation {
        self.trainer.evaluate(self.split.validation(&self.data), &self.scaler)
    }

    /// Loads a test set and checks that it fits the model (features, classes or targets), so
    /// that a bad `--test` is found before training; returns it with the CSV lines skipped.
    pub fn load_test(&self, path: &Path) -> Result<(data::AnyDataset, Vec<u64>)> {
        let classes = self.task.classes().map(|c| c.to_vec());
        let mut opts = self.spec.csv(classes);
        // The model's feature names pick the test set's columns (in any format): the training
        // run's Parquet `--features` do not apply to it.
        opts.features = None;
        opts.npy.labels = self.spec.test_labels.clone();
        // Columns matched to the training features by header name, as evaluate does.
        opts.model = Some(data::ModelColumns {
            features: self.feature_names.clone(),
            task: self.task.clone(),
            trained_target: self.spec.target.clone(),
            need_target: true,
        });
        let (test, skipped) = data::load(path, &opts, self.spec.verify)?;
        let ex = test.examples();
        data::check_rows(ex, 0..ex.len())?;
        if ex.n_features() != self.trainer.network().n_inputs() {
            return Err(Error::Mismatch(format!(
                "{}: has {} features per row, but the model takes {}",
                path.display(),
                ex.n_features(),
                self.trainer.network().n_inputs()
            )));
        }
        if test.task() != &self.task {
            return Err(Error::Mismatch(format!(
                "{}: its classes or targets differ from the training data's",
                path.display()
            )));
        }
        Ok((test, skipped))
    }

    /// Attaches a test set from [`Session::load_test`]: from now on its cost (and accuracy) is
    /// measured after every epoch, into the epoch's report ([`EpochReport::test_loss`]).
    pub fn set_test(&mut self, test: AnyDataset) {
        self.test = Some(test);
    }

    /// The forward pass over the attached test set, if there is one; an error if its file was
    /// truncated since it was opened (a memory-mapped binary file).
    pub fn evaluate_test(&mut self) -> Result<Option<Evaluation>> {
        let Some(test) = &self.test else { return Ok(None) };
        test.examples().check_source()?;
        Ok(Some(self.trainer.evaluate(test.examples(), &self.scaler)))
    }

    /// The network as it stands.
    pub fn network(&self) -> &Network<f32> {
        self.trainer.network()
    }

    /// The training state.
    pub fn state(&self) -> &TrainState {
        self.trainer.state()
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &Optimizer<f32> {
        self.trainer.optimizer()
    }
}

/// The newest checkpoint in `dir` that loads, is from global step `last` or before, and has
/// finite weights.
fn last_good_checkpoint(dir: &Path, last: u64) -> Option<(PathBuf, u64)> {
    let files = crate::run::checkpoint::list_dir(dir).ok()?;
    files.into_iter().rev().find_map(|p| {
        let c = Checkpoint::load(&p).ok()?;
        (c.state.global_step <= last && c.network.first_non_finite().is_none()).then_some((p, c.state.global_step))
    })
}
