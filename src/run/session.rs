//! A training run from files to checkpoints: opens the data, holds out validation rows, trains
//! with periodic atomic checkpoints, early stopping and a stop flag (for signals), and builds the
//! [`Checkpoint`] that lets `resume` continue bit for bit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::data::{self, Fingerprint, Loaded, Rows, Scale, Scaler, ScalerFit, Task};
use crate::engine::Evaluation;
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use crate::run::checkpoint::Checkpoint;
use crate::run::early_stop::EarlyStop;
use crate::run::spec::RunSpec;
use crate::run::trainer::{EpochReport, TrainConfig, TrainState, Trainer};
use crate::{Network, rng};

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

/// A training run.
pub struct Session {
    /// The run's files and options.
    pub spec: RunSpec,
    data: Loaded,
    train_rows: Option<Vec<usize>>,
    val_rows: Vec<usize>,
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
    rank: usize,
}

/// The network a new run builds.
#[derive(Clone, Debug)]
pub struct Architecture {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: crate::Activation,
    /// Classification cost: cross-entropy (softmax outputs) instead of squared error.
    pub cross_entropy: bool,
}

struct Opened {
    data: Loaded,
    train_rows: Option<Vec<usize>>,
    val_rows: Vec<usize>,
    scaler: Scaler,
    fingerprint: Fingerprint,
}

fn open(spec: &RunSpec, seed: u64, classes: Option<Vec<String>>) -> Result<(Opened, Vec<u64>)> {
    if !(0.0..1.0).contains(&spec.validation) {
        return Err(Error::Config(format!("--validation must be in [0, 1), got {}", spec.validation)));
    }
    if spec.patience > 0 && spec.validation == 0.0 {
        return Err(Error::Config("--early-stopping needs a validation set (--validation 0.1, say)".into()));
    }
    let (data, skipped) = data::load(&spec.train, &spec.csv(classes), spec.verify)?;
    let ex = data.examples();
    let fingerprint = Fingerprint::of(ex);
    let n = ex.len();
    let n_val = (spec.validation * n as f64).round() as usize;
    let (train_rows, val_rows, scaler) = if n_val == 0 {
        (None, Vec::new(), data.fit_scaler(spec.scale))
    } else {
        if n_val >= n {
            return Err(Error::Config(format!("--validation {} leaves no training rows of {n}", spec.validation)));
        }
        let mut perm: Vec<usize> = (0..n).collect();
        rng::shuffle(&mut rng::seeded(seed, rng::STREAM_SPLIT), &mut perm);
        let mut val = perm[..n_val].to_vec();
        let mut train = perm[n_val..].to_vec();
        val.sort_unstable();
        train.sort_unstable();
        // Rows read outside training steps are checked here, once (a binary file opened without
        // `verify`): the validation rows, and the training rows when the scaler is refitted.
        data::check_rows(ex, val.iter().copied())?;
        if spec.scale != Scale::None {
            data::check_rows(ex, train.iter().copied())?;
        }
        let scaler = ScalerFit::fit(Rows::subset(ex, &train), spec.scale);
        (Some(train), val, scaler)
    };
    if let Some(j) = scaler.overflowing_feature() {
        let names = feature_names(&data);
        return Err(Error::Mismatch(format!(
            "{}: feature {} ({}): its values span more than the largest f32, so --scale minmax cannot map \
             them to [0, 1] in f32; use --scale standard or none, or rescale the column",
            spec.train.display(),
            j + 1,
            names.get(j).map_or("?", |s| s.as_str())
        )));
    }
    Ok((Opened { data, train_rows, val_rows, scaler, fingerprint }, skipped))
}

impl Session {
    /// Opens the data and builds a fresh network. Returns the CSV lines skipped.
    pub fn start(spec: RunSpec, arch: &Architecture, cfg: TrainConfig, threads: usize) -> Result<(Self, Vec<u64>)> {
        let (o, skipped) = open(&spec, cfg.seed, None)?;
        if spec.validation > 0.0 && o.val_rows.is_empty() {
            // (Resume keeps what the run had: this is checked when a run starts.)
            let n = o.data.examples().len();
            let least = (0.5 / n.max(1) as f64 * 1e4).ceil() / 1e4;
            return Err(Error::Config(format!(
                "--validation {}: {} of {n} rows rounds to none held out; give at least {least}, or 0 for no validation",
                spec.validation,
                spec.validation * n as f64
            )));
        }
        let task = o.data.task().clone();
        // (A test set may hold one class; it is read against the model's classes.) The task may
        // name more classes than the rows use (MNIST's ten): look at the labels, stopping at the
        // first that differs, so a usual file costs a few rows.
        if let Some(classes) = task.classes() {
            let ex = o.data.examples();
            let first = (!ex.is_empty()).then(|| ex.target(0).class()).flatten();
            if let Some(c) = first
                && (1..ex.len()).all(|i| ex.target(i).class() == Some(c))
            {
                return Err(Error::Mismatch(format!(
                    "{}: every row has the label {:?}: a classifier needs at least 2 classes \
                     (use --task regression to fit a single value)",
                    spec.train.display(),
                    classes.get(c).map_or("?", |s| s.as_str())
                )));
            }
        }
        let head = match (&task, arch.cross_entropy) {
            (Task::Regression { .. }, true) => {
                return Err(Error::Config("cross-entropy needs classification, not regression".into()));
            }
            (Task::Regression { .. }, false) => crate::Head::IdentityMse,
            (_, true) => crate::Head::SoftmaxCrossEntropy,
            _ => crate::Head::SigmoidMse,
        };
        let mut sizes = vec![o.data.examples().n_features()];
        sizes.extend(arch.hidden.iter().copied().filter(|&h| h > 0));
        sizes.push(task.n_outputs());
        let net = Network::new(&sizes, arch.activation, head, &mut rng::seeded(cfg.seed, rng::STREAM_INIT))?;
        let early = (spec.patience > 0).then(|| EarlyStop {
            patience: spec.patience,
            best_loss: f64::INFINITY,
            best_epoch: 0,
            bad_epochs: 0,
            best: net.clone(),
        });
        let trainer = Trainer::new(net, cfg, threads)?;
        let scaler = o.scaler.clone();
        Ok((Self::assemble(spec, o, scaler, task, trainer, Vec::new(), early), skipped))
    }

    fn assemble(
        spec: RunSpec,
        o: Opened,
        scaler: Scaler,
        task: Task,
        trainer: Trainer<f32>,
        history: Vec<EpochReport>,
        early: Option<EarlyStop>,
    ) -> Self {
        Self {
            spec,
            feature_names: feature_names(&o.data),
            data: o.data,
            train_rows: o.train_rows,
            val_rows: o.val_rows,
            scaler,
            task,
            fingerprint: o.fingerprint,
            trainer,
            history,
            early,
            rank: 0,
        }
    }

    /// Reopens a checkpoint's run (its data, or `spec` when given) to continue it. Refuses data
    /// whose fingerprint differs from the checkpoint's unless `force`.
    pub fn resume(ckpt: Checkpoint, spec: Option<RunSpec>, threads: usize, force: bool) -> Result<(Self, Vec<u64>)> {
        let spec = spec.unwrap_or_else(|| ckpt.data.clone());
        let classes = ckpt.task.classes().map(|c| c.to_vec());
        let (o, skipped) = open(&spec, ckpt.config.seed, classes)?;
        if o.fingerprint != ckpt.fingerprint && !force {
            return Err(Error::Mismatch(format!(
                "{}: this is not the data the checkpoint was trained on (checkpoint: {} rows x {} features, hash {:016x}; \\
                 this file: {} rows x {} features, hash {:016x}); use --force to train on it anyway",
                spec.train.display(),
                ckpt.fingerprint.rows,
                ckpt.fingerprint.features,
                ckpt.fingerprint.hash,
                o.fingerprint.rows,
                o.fingerprint.features,
                o.fingerprint.hash
            )));
        }
        if o.data.examples().n_features() != ckpt.network.n_inputs() {
            return Err(Error::Mismatch(format!(
                "{}: has {} features per row, but the model takes {}",
                spec.train.display(),
                o.data.examples().n_features(),
                ckpt.network.n_inputs()
            )));
        }
        if o.data.examples().n_targets() != ckpt.network.n_outputs() {
            return Err(Error::Mismatch(format!(
                "{}: has {} targets per row, but the model has {} outputs",
                spec.train.display(),
                o.data.examples().n_targets(),
                ckpt.network.n_outputs()
            )));
        }
        let mut state = ckpt.state;
        if o.fingerprint != ckpt.fingerprint {
            // Forced onto other data: the stopped epoch's order means nothing here; start the
            // epoch afresh (its running sums too). The run's fingerprint becomes this data's.
            (state.step, state.epoch_loss_sum, state.epoch_correct, state.epoch_examples) = (0, 0.0, 0, 0);
        }
        let trainer = Trainer::resume(ckpt.network, ckpt.config, state, ckpt.optimizer, threads)?;
        // The checkpoint's scaler, not a refit: with --force on other data it must not move.
        Ok((Self::assemble(spec, o, ckpt.scaler, ckpt.task, trainer, ckpt.history, ckpt.early), skipped))
    }

    /// The training rows.
    pub fn train_examples(&self) -> Rows<'_> {
        train_rows(&self.data, &self.train_rows)
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
        let f = &self.fingerprint;
        let mine = [f.rows, f.features, f.targets, f.hash];
        let mut all = vec![0u64; 4 * c.size()];
        c.all_gather(bytemuck::cast_slice(&mine), bytemuck::cast_slice_mut(&mut all));
        if let Some(r) = all.chunks(4).position(|x| x != mine) {
            return Err(Error::Mismatch(format!(
                "{}: rank {} has other training data than rank {r} ({} rows x {} features here, {} x {} there); \
                 every rank must read the same dataset",
                self.spec.train.display(),
                c.rank(),
                f.rows,
                f.features,
                all[4 * r],
                all[4 * r + 1]
            )));
        }
        self.rank = c.rank();
        self.trainer.set_collective(c);
        Ok(())
    }

    /// This process's rank (0 when not distributed).
    pub fn rank(&self) -> usize {
        self.rank
    }

    fn save_periodic(&self, obs: &mut dyn Observer) {
        if self.rank != 0 {
            return;
        }
        let Some(dir) = &self.spec.checkpoint_dir else { return };
        if !finite_weights(self.trainer.network()) {
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
            if self.early.as_ref().is_some_and(|e| e.bad_epochs >= e.patience) {
                break;
            }
            let epoch = self.trainer.state().epoch;
            let hook = stop_after.is_some_and(|n| self.trainer.state().global_step.saturating_add(1) >= n);
            self.trainer.engine_mut().vote_stop(hook || stop.is_some_and(|s| s.load(Ordering::SeqCst)));
            let done = match self.trainer.step(train_rows(&self.data, &self.train_rows), &self.scaler) {
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
            if let Some(mut report) = done {
                report.global_step = self.trainer.state().global_step;
                if !self.val_rows.is_empty() {
                    self.data.examples().check_source()?;
                    let ev = self.evaluate_validation();
                    report.val_loss = Some(ev.loss());
                    report.val_accuracy = self.task.classes().map(|_| ev.accuracy());
                    if let Some(e) = &mut self.early {
                        if ev.loss() < e.best_loss {
                            (e.best_loss, e.best_epoch, e.bad_epochs) = (ev.loss(), report.epoch, 0);
                            e.best = self.trainer.network().clone();
                        } else {
                            e.bad_epochs += 1;
                        }
                    }
                }
                obs.epoch(&report);
                self.history.push(report);
                let every = self.spec.checkpoint_every;
                if every > 0 && self.trainer.state().epoch.is_multiple_of(every) {
                    self.save_periodic(obs);
                }
            } else {
                let every = self.spec.checkpoint_every_steps;
                if every > 0 && self.trainer.state().global_step.is_multiple_of(every) {
                    self.save_periodic(obs);
                }
            }
            // Every rank stops after the same step: the votes travel with the step's exchange.
            if self.trainer.engine_mut().stop_agreed() {
                if !finite_weights(self.trainer.network()) {
                    // The step just taken diverged before any cost could show it: a checkpoint
                    // of these weights would be refused on loading, so none is written.
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
                return Ok(Outcome::Stopped { checkpoint: path });
            }
        }
        if let Some(e) = &self.early
            && e.best_epoch > 0
        {
            let best_epoch = e.best_epoch;
            let stopped_early = e.bad_epochs >= e.patience && !self.trainer.finished();
            self.trainer.set_network(e.best.clone());
            if stopped_early {
                return Ok(Outcome::EarlyStopped { best_epoch });
            }
        }
        Ok(Outcome::Finished)
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

    fn evaluate_validation(&mut self) -> Evaluation {
        self.trainer.evaluate(Rows::subset(self.data.examples(), &self.val_rows), &self.scaler)
    }

    /// Evaluates the network on `path` (a test set), with the run's scaling and classes. Returns
    /// the CSV lines skipped by `skip_bad_rows` too.
    pub fn evaluate_file(&mut self, path: &Path) -> Result<(Evaluation, Vec<u64>)> {
        let (test, skipped) = self.load_test(path)?;
        Ok((self.evaluate_loaded(&test), skipped))
    }

    /// Loads a test set and checks that it fits the model (features, classes or targets), so
    /// that a bad `--test` is found before training; returns it with the CSV lines skipped.
    pub fn load_test(&self, path: &Path) -> Result<(data::Loaded, Vec<u64>)> {
        let classes = self.task.classes().map(|c| c.to_vec());
        let mut opts = self.spec.csv(classes);
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

    /// The forward pass over a test set from [`Session::load_test`].
    pub fn evaluate_loaded(&mut self, test: &data::Loaded) -> Evaluation {
        self.trainer.evaluate(test.examples(), &self.scaler)
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

fn train_rows<'a>(data: &'a Loaded, rows: &'a Option<Vec<usize>>) -> Rows<'a> {
    match rows {
        Some(rows) => Rows::subset(data.examples(), rows),
        None => Rows::all(data.examples()),
    }
}

fn feature_names(loaded: &Loaded) -> Vec<String> {
    match loaded {
        Loaded::Memory(d) => d.feature_names.clone(),
        Loaded::Mapped(d) => d.feature_names.clone(),
    }
}

/// The newest checkpoint in `dir` that loads, is from global step `last` or before, and has
/// finite weights.
fn last_good_checkpoint(dir: &Path, last: u64) -> Option<(PathBuf, u64)> {
    let files = crate::run::checkpoint::list_dir(dir).ok()?;
    files.into_iter().rev().find_map(|p| {
        let c = Checkpoint::load(&p).ok()?;
        (c.state.global_step <= last && finite_weights(&c.network)).then_some((p, c.state.global_step))
    })
}

fn finite_weights(net: &Network<f32>) -> bool {
    net.weights().iter().all(|w| w.iter().all(|v| v.is_finite()))
}
