//! The field-by-field validation of a decoded [`Checkpoint`]: every field is checked against the
//! network and against what training can continue from, so nothing a file carries is trusted
//! unchecked. Each error names its field (`optimizer.state[1][0]: ...`).
//!
//! One long function on purpose: it reads top to bottom in the order of the fields, and each
//! check is a line or two.

use std::path::Path;

use super::Checkpoint;
use crate::Network;
use crate::error::{Error, Result};

impl Checkpoint {
    /// Checks every field against the network and against what training can continue from, so
    /// nothing a file carries is trusted unchecked. The error names the field.
    pub(super) fn validate(&self, path: &Path) -> Result<()> {
        self.check_fields().map_err(|e| Error::format(path, e))
    }

    fn check_fields(&self) -> std::result::Result<(), String> {
        use crate::optim::{Method, Schedule};
        let net = &self.network;
        Network::from_weights(net.sizes(), net.hidden(), net.head(), net.weights().to_vec())
            .map_err(|e| format!("network: inconsistent network: {e}"))?;
        if let Some(l) = net.sizes().iter().position(|&s| s == 0) {
            return Err(format!("network.sizes[{l}]: a layer of 0 units"));
        }
        finite_weights("network.w", net)?;
        let (inputs, outputs) = (net.n_inputs(), net.n_outputs());
        if self.feature_names.len() != inputs {
            return Err(format!(
                "feature_names: {} names, but the network's input layer has {inputs} units (feature count disagrees)",
                self.feature_names.len()
            ));
        }
        self.scaler.check(inputs).map_err(|e| format!("{e} (feature count disagrees with the input layer)"))?;
        if self.task.n_outputs() != outputs {
            return Err(format!(
                "task: {} classes or targets, but the network has {outputs} outputs (the task's classes or targets disagree with the network's outputs)",
                self.task.n_outputs()
            ));
        }
        let regression = self.task.classes().is_none();
        if regression != (net.head() == crate::Head::IdentityMse) {
            return Err(format!(
                "network.head: {} does not fit a {} task",
                net.head().name(),
                if regression { "regression" } else { "classification" }
            ));
        }
        if let Some(dup) = self.task.classes().and_then(crate::data::first_duplicate) {
            return Err(format!("task.classes: the class name {dup:?} appears twice"));
        }

        // The training configuration.
        let c = &self.config;
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{name}: {v}; expected a finite number > 0")) }
        };
        let unit = |name: &str, v: f64| {
            if (0.0..1.0).contains(&v) { Ok(()) } else { Err(format!("{name}: {v}; expected a number in [0, 1)")) }
        };
        positive("config.lr", c.lr)?;
        if !(c.l2.is_finite() && c.l2 >= 0.0) {
            return Err(format!("config.l2: {}; expected a finite number >= 0", c.l2));
        }
        match c.optimizer {
            Method::GradientDescent => {}
            Method::Momentum { mu } | Method::Nesterov { mu } => unit("config.optimizer.mu", mu)?,
            Method::Adam { beta1, beta2, eps } => {
                unit("config.optimizer.beta1", beta1)?;
                unit("config.optimizer.beta2", beta2)?;
                positive("config.optimizer.eps", eps)?;
            }
            Method::Rprop { eta_plus, eta_minus, delta0, delta_min, delta_max } => {
                if !(eta_plus.is_finite() && eta_plus >= 1.0) {
                    return Err(format!("config.optimizer.eta_plus: {eta_plus}; expected a finite number >= 1"));
                }
                if !(eta_minus > 0.0 && eta_minus <= 1.0) {
                    return Err(format!("config.optimizer.eta_minus: {eta_minus}; expected a number in (0, 1]"));
                }
                positive("config.optimizer.delta0", delta0)?;
                if !(delta_min.is_finite() && delta_min >= 0.0) {
                    return Err(format!("config.optimizer.delta_min: {delta_min}; expected a finite number >= 0"));
                }
                if !(delta_max.is_finite() && delta_max >= delta_min) {
                    return Err(format!(
                        "config.optimizer.delta_max: {delta_max}; expected a finite number >= delta_min ({delta_min})"
                    ));
                }
            }
        }
        match c.schedule {
            Schedule::Constant => {}
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return Err("config.schedule.every: 0; expected a decay every 1 or more epochs".into());
                }
                positive("config.schedule.gamma", gamma)?;
            }
            Schedule::Cosine { min_lr, .. } => {
                if !(min_lr.is_finite() && min_lr >= 0.0 && min_lr <= c.lr) {
                    return Err(format!(
                        "config.schedule.min_lr: {min_lr}; expected a rate from 0 to config.lr ({})",
                        c.lr
                    ));
                }
            }
        }
        if !c.dropout.is_empty() && c.dropout.len() + 1 != net.n_layers() {
            return Err(format!(
                "config.dropout: {} rates; expected none or one per layer feeding a weight matrix ({})",
                c.dropout.len(),
                net.n_layers() - 1
            ));
        }
        for (l, &p) in c.dropout.iter().enumerate() {
            unit(&format!("config.dropout[{l}]"), p)?;
        }
        if let Some(r) = c.max_norm {
            positive("config.max_norm", r)?;
        }

        // Where training stands: counters that can still advance, sums that fit them.
        let st = &self.state;
        if st.global_step == u64::MAX || st.epoch == usize::MAX {
            return Err(format!(
                "state.global_step/state.epoch: {}/{}; the counters are at their maximum and cannot advance",
                st.global_step, st.epoch
            ));
        }
        if st.step as u64 > st.global_step {
            return Err(format!(
                "state.step: {} steps into the epoch, but only {} steps in all",
                st.step, st.global_step
            ));
        }
        if st.epoch as u64 > st.global_step {
            return Err(format!("state.epoch: {} epochs done in only {} steps", st.epoch, st.global_step));
        }
        if st.epoch_loss_sum.is_nan() || st.epoch_loss_sum < 0.0 {
            return Err(format!("state.epoch_loss_sum: {}; expected a cost >= 0", st.epoch_loss_sum));
        }
        if st.epoch_correct > st.epoch_examples {
            return Err(format!("state.epoch_correct: {} correct of {} examples", st.epoch_correct, st.epoch_examples));
        }
        if st.epoch_rng.seed != c.seed || st.epoch_rng.stream != crate::rng::STREAM_SHUFFLE {
            return Err(format!(
                "state.epoch_rng: seed {} stream {}; expected the shuffle stream ({}) of config.seed ({})",
                st.epoch_rng.seed,
                st.epoch_rng.stream,
                crate::rng::STREAM_SHUFFLE,
                c.seed
            ));
        }

        // The optimiser's state: its method and decay, its slots' shapes and values.
        let opt = &self.optimizer;
        if opt.method != c.optimizer {
            return Err(
                "optimizer.method: disagrees with config.optimizer (optimiser state disagrees with the configuration)"
                    .into(),
            );
        }
        if opt.l2.to_bits() != c.l2.to_bits() {
            return Err(format!("optimizer.l2: {}; expected config.l2 ({})", opt.l2, c.l2));
        }
        if opt.t > st.global_step {
            return Err(format!("optimizer.t: {} steps, but the run has taken {}", opt.t, st.global_step));
        }
        if opt.state.len() != opt.method.slots() {
            return Err(format!(
                "optimizer.state: {} slots, {} keeps {} (optimiser state disagrees with the network)",
                opt.state.len(),
                opt.method.name(),
                opt.method.slots()
            ));
        }
        for (k, slot) in opt.state.iter().enumerate() {
            if slot.len() != net.weights().len() {
                return Err(format!(
                    "optimizer.state[{k}]: {} layers, the network has {} (optimiser state disagrees with the network)",
                    slot.len(),
                    net.weights().len()
                ));
            }
            for (l, (s, w)) in slot.iter().zip(net.weights()).enumerate() {
                if s.dim() != w.dim() {
                    return Err(format!(
                        "optimizer.state[{k}][{l}]: shape {:?}, but W^({l}) is {:?} (optimiser state disagrees with the network)",
                        s.dim(),
                        w.dim()
                    ));
                }
                // Adam's second moments are never negative (they may overflow to +inf, which
                // only stops their weights); iRPROP−'s steps stay within [0, max(Δ₀, Δmax)].
                let hi = match opt.method {
                    Method::Rprop { delta0, delta_max, .. } if k == 1 => delta0.max(delta_max),
                    _ => f64::INFINITY,
                };
                let lo = if k == 1 { 0.0 } else { f64::NEG_INFINITY };
                if let Some(v) = s.iter().find(|v| v.is_nan() || (**v as f64) < lo || (**v as f64) > hi) {
                    return Err(format!("optimizer.state[{k}][{l}]: holds {v}; expected numbers in [{lo}, {hi}]"));
                }
            }
        }

        // The run: its validation split and early stopping.
        let d = &self.data;
        if !(0.0..1.0).contains(&d.validation) {
            return Err(format!("data.validation: {}; expected a fraction in [0, 1)", d.validation));
        }
        match &self.early {
            None if d.patience > 0 => {
                return Err(format!("early: missing, but data.patience is {}", d.patience));
            }
            None => {}
            Some(e) => {
                // Shapes first: a mis-shaped matrix once reached the product.
                let b = &e.best;
                let shapes_ok = b.sizes() == net.sizes()
                    && b.hidden() == net.hidden()
                    && b.head() == net.head()
                    && Network::from_weights(b.sizes(), b.hidden(), b.head(), b.weights().to_vec()).is_ok();
                if !shapes_ok {
                    return Err("early.best: early-stopping weights disagree with the network".into());
                }
                finite_weights("early.best.w", b)?;
                if e.patience == 0 || e.patience != d.patience {
                    return Err(format!("early.patience: {}; expected data.patience ({}) > 0", e.patience, d.patience));
                }
                if e.best_loss.is_nan() || e.best_loss < 0.0 || (e.best_loss.is_infinite() != (e.best_epoch == 0)) {
                    return Err(format!(
                        "early.best_loss: {} at epoch {}; expected a finite loss >= 0 (infinite before the first epoch)",
                        e.best_loss, e.best_epoch
                    ));
                }
                if e.best_epoch > st.epoch || e.bad_epochs > st.epoch {
                    return Err(format!(
                        "early.best_epoch/early.bad_epochs: {}/{}, but only {} epochs are done",
                        e.best_epoch, e.bad_epochs, st.epoch
                    ));
                }
            }
        }

        // The data it was trained on, and the epochs so far.
        let f = &self.fingerprint;
        if f.features != inputs as u64 || f.targets != outputs as u64 {
            return Err(format!(
                "fingerprint: {} features and {} targets, the network has {inputs} inputs and {outputs} outputs",
                f.features, f.targets
            ));
        }
        let mut last = (0, 0);
        for (i, r) in self.history.iter().enumerate() {
            let numbers = [r.train_loss, r.train_accuracy, r.lr, r.seconds, r.examples_per_sec];
            let ok = r.epoch > last.0
                && r.epoch <= st.epoch
                && r.global_step >= last.1
                && r.global_step <= st.global_step
                && numbers
                    .iter()
                    .chain([r.val_loss, r.val_accuracy, r.test_loss, r.test_accuracy].iter().flatten())
                    .all(|v| *v >= 0.0);
            if !ok {
                return Err(format!(
                    "history[{i}]: epoch {} at step {}: expected increasing epochs and steps up to state's ({}, {}) and figures >= 0",
                    r.epoch, r.global_step, st.epoch, st.global_step
                ));
            }
            last = (r.epoch, r.global_step);
        }
        Ok(())
    }
}

/// Every weight of `net` is finite; else names the first that is not.
fn finite_weights(name: &str, net: &Network<f32>) -> std::result::Result<(), String> {
    match net.first_non_finite() {
        Some((l, i, j, v)) => Err(format!("{name}[{l}][{i}, {j}]: {v}; expected finite weights")),
        None => Ok(()),
    }
}
