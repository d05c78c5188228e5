//! The training loop: epochs of mini-batch gradient descent over data shuffled by a seeded,
//! portable RNG. Its whole state ([`TrainState`]) is small and serialisable, so a run can stop
//! after any step and resume to the same bits.

use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{Rows, Scaler};
use crate::error::{Error, Result};
use crate::optim::{Method, Optimizer, Schedule};
use crate::rng::{self, RngState};
use crate::run::prefetch::Ahead;
use crate::{Dropout, Engine, Float, Init, Network};

/// What a training run does. Everything that changes the resulting weights is here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Examples per gradient step; 0 (or ≥ the row count) is full-batch gradient descent, the
    /// literal form of the derivation.
    pub batch_size: usize,
    /// Learning rate `α`.
    pub lr: f64,
    /// Seed for initialisation and shuffling.
    pub seed: u64,
    /// Rows per shard; fixes the reduction order, so it is part of the result. 0 chooses it from
    /// the batch size alone ([`crate::engine::shard_len`]). Not the thread count, which never
    /// changes the result.
    pub shard_size: usize,
    /// The optimisation method.
    pub optimizer: Method,
    /// L2 weight decay `λ`: the cost gains `(λ/2m) Σ w²` over non-bias weights.
    pub l2: f64,
    /// Learning-rate schedule over epochs.
    pub schedule: Schedule,
    /// How the initial weights were drawn (from `seed`).
    pub init: Init,
    /// Dropout rates of the layers feeding a weight matrix (input, then each hidden layer;
    /// [`crate::Dropout`]); empty for none.
    pub dropout: Vec<f64>,
    /// Max-norm: after each step, each unit's incoming weights (bias excluded) are scaled back
    /// onto the ball of this radius when longer.
    pub max_norm: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            lr: 1.0,
            seed: 1,
            shard_size: 0,
            optimizer: Method::GradientDescent,
            l2: 0.0,
            schedule: Schedule::Constant,
            init: Init::Auto,
            dropout: Vec::new(),
            max_norm: None,
        }
    }
}

impl TrainConfig {
    /// The batch size for `n` rows (full batch when 0 or too large).
    pub fn batch_for(&self, n: usize) -> usize {
        if self.batch_size == 0 || self.batch_size >= n { n } else { self.batch_size }
    }
}

/// Where a run stands: enough, with the config and weights, to continue bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps completed within the current epoch.
    pub step: usize,
    /// Total steps completed.
    pub global_step: u64,
    /// The shuffling generator as it was before the current epoch's shuffle.
    pub epoch_rng: RngState,
    /// `Σ J_i` so far in the current epoch.
    pub epoch_loss_sum: f64,
    /// Correct classifications so far in the current epoch.
    pub epoch_correct: u64,
    /// Examples so far in the current epoch.
    pub epoch_examples: u64,
}

/// One epoch's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Total steps completed at the end of the epoch.
    pub global_step: u64,
    /// Gradient steps in the epoch.
    pub steps: usize,
    /// Mean `J_i` over the epoch's examples, each measured at its own step's weights.
    pub train_loss: f64,
    /// Fraction of the epoch's examples classified correctly at their step.
    pub train_accuracy: f64,
    /// Learning rate used in the epoch.
    pub lr: f64,
    /// Wall time of the epoch (of the part run in this process, after a resume).
    pub seconds: f64,
    /// Examples per second.
    pub examples_per_sec: f64,
    /// Mean cost on the validation rows after the epoch, when there are any.
    pub val_loss: Option<f64>,
    /// Validation accuracy (classification).
    pub val_accuracy: Option<f64>,
    /// Mean cost on the test set (`--test`) after the epoch, when one was given.
    pub test_loss: Option<f64>,
    /// Test accuracy (classification).
    pub test_accuracy: Option<f64>,
}

/// Trains one network: owns it, the engine and the optimiser.
pub struct Trainer<T: Float> {
    net: Network<T>,
    engine: Engine<T>,
    opt: Optimizer<T>,
    cfg: TrainConfig,
    state: TrainState,
    rng: ChaCha8Rng,
    perm: Vec<usize>,
    ahead: Ahead,
    epoch_started: Option<Instant>,
    epoch_run_examples: u64,
}

impl<T: Float> Trainer<T> {
    /// A trainer at the start of training, with `threads` workers (0: every core).
    pub fn new(net: Network<T>, cfg: TrainConfig, threads: usize) -> Result<Self> {
        let rng = rng::seeded(cfg.seed, rng::STREAM_SHUFFLE);
        let state = TrainState {
            epoch: 0,
            step: 0,
            global_step: 0,
            epoch_rng: RngState::capture(cfg.seed, &rng),
            epoch_loss_sum: 0.0,
            epoch_correct: 0,
            epoch_examples: 0,
        };
        let opt = Optimizer::new(cfg.optimizer, cfg.l2, &net);
        Self::resume(net, cfg, state, opt, threads)
    }

    /// A trainer that continues from `state` and optimiser state `opt` (as saved in a checkpoint).
    pub fn resume(
        net: Network<T>,
        cfg: TrainConfig,
        state: TrainState,
        opt: Optimizer<T>,
        threads: usize,
    ) -> Result<Self> {
        if !(cfg.lr > 0.0 && cfg.lr.is_finite()) {
            return Err(Error::Config(format!("learning rate must be positive, got {}", cfg.lr)));
        }
        if !(cfg.l2 >= 0.0 && cfg.l2.is_finite()) {
            return Err(Error::Config(format!("L2 weight decay must be at least 0, got {}", cfg.l2)));
        }
        if !opt.fits(&net) || opt.method != cfg.optimizer {
            return Err(Error::Config("optimiser state does not match the network or the configured method".into()));
        }
        let mut engine = Engine::new(threads, cfg.shard_size)?;
        if !cfg.dropout.is_empty() {
            if cfg.dropout.len() + 1 != net.n_layers() || !cfg.dropout.iter().all(|p| (0.0..1.0).contains(p)) {
                return Err(Error::Config(format!(
                    "dropout rates {:?}: expected one rate in [0, 1) per layer feeding a weight matrix ({})",
                    cfg.dropout,
                    net.n_layers() - 1
                )));
            }
            let dropout = Dropout { seed: cfg.seed, rates: cfg.dropout.clone() };
            engine.set_dropout(Some((dropout, state.global_step)));
        }
        if cfg.max_norm.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return Err(Error::Config(format!("max-norm {:?}: expected a finite radius > 0", cfg.max_norm)));
        }
        let rng = state.epoch_rng.restore();
        let ahead = Ahead::new();
        let perm = Vec::new();
        Ok(Self { net, engine, opt, cfg, state, rng, perm, ahead, epoch_started: None, epoch_run_examples: 0 })
    }

    /// Whether each step announces the next rows of the permutation to the data
    /// ([`crate::data::Examples::prefetch`]; on by default, off when the environment has
    /// `SHARDPROP_PREFETCH=0`). A hint only: the weights are the same either way.
    pub fn set_prefetch(&mut self, on: bool) {
        self.ahead.on = on;
    }

    /// The network being trained.
    pub fn network(&self) -> &Network<T> {
        &self.net
    }
    /// Consumes the trainer, returning the network.
    pub fn into_network(self) -> Network<T> {
        self.net
    }
    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
    /// Where training stands.
    pub fn state(&self) -> &TrainState {
        &self.state
    }
    /// The optimiser and its state.
    pub fn optimizer(&self) -> &Optimizer<T> {
        &self.opt
    }
    /// The learning rate of the current epoch.
    pub fn current_lr(&self) -> f64 {
        self.cfg.schedule.lr(self.cfg.lr, self.state.epoch)
    }
    /// Replaces the network (e.g. to restore the best epoch's weights).
    pub fn set_network(&mut self, net: Network<T>) {
        self.net = net;
    }
    /// Forward pass of the current network over `data` with the trainer's workers: cost and
    /// hits, in bounded memory (the outputs are not kept).
    pub fn evaluate<'a>(&mut self, data: impl Into<Rows<'a>>, scaler: &Scaler) -> crate::engine::Evaluation {
        self.engine.evaluate_streamed(&self.net, data, scaler, |_, _| {})
    }
    /// The engine (for evaluation with the same workers).
    pub fn engine_mut(&mut self) -> &mut Engine<T> {
        &mut self.engine
    }
    /// Changes the number of epochs to run in total (for resume).
    pub fn set_epochs(&mut self, epochs: usize) {
        self.cfg.epochs = epochs;
    }
    /// Trains as one rank of several (see [`crate::engine::exchange`]): rank 0's weights and optimiser state
    /// are broadcast to every rank first, so all ranks start identical.
    pub fn set_collective(&mut self, c: std::sync::Arc<dyn crate::engine::exchange::Collective>) {
        for w in self.net.weights_mut() {
            c.broadcast(bytemuck::cast_slice_mut(w.as_slice_mut().expect("contiguous")));
        }
        for slot in &mut self.opt.state {
            for s in slot {
                c.broadcast(bytemuck::cast_slice_mut(s.as_slice_mut().expect("contiguous")));
            }
        }
        self.engine.set_collective(c);
    }

    /// Whether all configured epochs are done.
    pub fn finished(&self) -> bool {
        self.state.epoch >= self.cfg.epochs
    }

    /// Steps per epoch on `n` rows.
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        n.div_ceil(self.cfg.batch_for(n).max(1))
    }

    /// One gradient step on `data`; returns the epoch's report when the step completed an epoch.
    pub fn step<'a>(&mut self, data: impl Into<Rows<'a>>, scaler: &Scaler) -> Result<Option<EpochReport>> {
        let data = data.into();
        let n = data.len();
        if n == 0 {
            return Err(Error::Mismatch("no training rows".into()));
        }
        if data.n_features() != self.net.n_inputs() {
            return Err(Error::Mismatch(format!(
                "the data has {} features but the network takes {}",
                data.n_features(),
                self.net.n_inputs()
            )));
        }
        if self.perm.len() != n {
            // Start of an epoch, or the first step after a resume: rebuild this epoch's order.
            self.rng = self.state.epoch_rng.restore();
            self.perm.clear();
            self.perm.extend(0..n);
            self.ahead.to = 0;
            if self.cfg.batch_for(n) < n {
                rng::shuffle(&mut self.rng, &mut self.perm);
            }
        }
        let started = *self.epoch_started.get_or_insert_with(Instant::now);
        let batch = self.cfg.batch_for(n);
        let lo = self.state.step.saturating_mul(batch);
        if lo >= n {
            return Err(Error::Mismatch(format!(
                "the run stopped at step {} of an epoch, but {n} rows make only {} steps per epoch",
                self.state.step,
                n.div_ceil(batch)
            )));
        }
        if self.state.global_step == u64::MAX || self.state.epoch == usize::MAX {
            return Err(Error::Config(format!(
                "the step counter ({}) or epoch counter ({}) is at its maximum: the run cannot continue",
                self.state.global_step, self.state.epoch
            )));
        }
        self.ahead.announce(data, &self.perm, lo, batch);
        let idx = &self.perm[lo..(lo + batch).min(n)];
        // No cell reaches the engine unchecked, and a file truncated since it was opened is
        // reported here rather than by a fault in the middle of the step.
        data.check(idx.iter().copied())?;
        let lr = self.current_lr();
        self.engine.set_dropout_step(self.state.global_step);
        let grad = self.engine.step(&mut self.net, data, scaler, idx, &mut self.opt, lr);
        if let Some(c) = self.cfg.max_norm {
            self.net.max_norm(c);
        }
        if !grad.loss_sum.is_finite() {
            return Err(Error::Diverged(format!(
                "training diverged: the cost is {} at epoch {}, step {} (global step {}); \
                 try a smaller --lr",
                grad.loss_sum,
                self.state.epoch + 1,
                self.state.step + 1,
                self.state.global_step + 1
            )));
        }
        self.state.epoch_loss_sum += grad.loss_sum;
        self.state.epoch_correct += grad.correct as u64;
        self.state.epoch_examples += grad.m as u64;
        self.epoch_run_examples += grad.m as u64;
        self.state.step += 1;
        self.state.global_step += 1;
        if lo + batch < n {
            return Ok(None);
        }
        let seconds = started.elapsed().as_secs_f64();
        let s = &self.state;
        let report = EpochReport {
            epoch: s.epoch + 1,
            global_step: s.global_step,
            steps: s.step,
            train_loss: s.epoch_loss_sum / s.epoch_examples.max(1) as f64,
            train_accuracy: s.epoch_correct as f64 / s.epoch_examples.max(1) as f64,
            lr,
            seconds,
            examples_per_sec: self.epoch_run_examples as f64 / seconds.max(1e-9),
            val_loss: None,
            val_accuracy: None,
            test_loss: None,
            test_accuracy: None,
        };
        self.state = TrainState {
            epoch: s.epoch + 1,
            step: 0,
            global_step: s.global_step,
            epoch_rng: RngState::capture(self.cfg.seed, &self.rng),
            epoch_loss_sum: 0.0,
            epoch_correct: 0,
            epoch_examples: 0,
        };
        self.perm.clear();
        self.epoch_started = None;
        self.epoch_run_examples = 0;
        Ok(Some(report))
    }

    /// Runs steps until the current epoch ends.
    pub fn run_epoch<'a>(&mut self, data: impl Into<Rows<'a>>, scaler: &Scaler) -> Result<EpochReport> {
        let data = data.into();
        loop {
            if let Some(report) = self.step(data, scaler)? {
                return Ok(report);
            }
        }
    }

    /// Runs `f` with this trainer on one of its own worker threads, so that the steps `f` takes
    /// start their parallel sections from inside the pool (see [`Engine::pool`]).
    pub fn in_pool<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R {
        self.engine.pool().install(|| f(self))
    }

    /// Runs the remaining epochs (inside the pool), calling `on_epoch` after each.
    pub fn train<'a>(
        &mut self,
        data: impl Into<Rows<'a>>,
        scaler: &Scaler,
        mut on_epoch: impl FnMut(&EpochReport) + Send,
    ) -> Result<Vec<EpochReport>> {
        let data = data.into();
        self.in_pool(|t| {
            let mut reports = Vec::new();
            while !t.finished() {
                let r = t.run_epoch(data, scaler)?;
                on_epoch(&r);
                reports.push(r);
            }
            Ok(reports)
        })
    }
}
