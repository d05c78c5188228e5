//! Checkpoints and model files: bincode 2 inside our own framing, written atomically.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..8 | magic `SHPCKPT\0` |
//! | 8..12 | format version (`u32`) |
//! | 12..20 | payload length in bytes (`u64`) |
//! | 20..24 | CRC-32 of the payload (`u32`) |
//! | 24.. | payload: [`Checkpoint`] encoded with bincode 2 (standard config, serde) |
//!
//! A file that fails any check is refused with a message saying which; nothing is half-loaded.

use std::path::Path;

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use crate::Network;
use crate::data::{Fingerprint, Scaler, Task};
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::optim::Optimizer;
use crate::run::early_stop::EarlyStop;
use crate::run::spec::RunSpec;
use crate::run::trainer::{EpochReport, TrainConfig, TrainState};

/// The first 8 bytes of every checkpoint.
pub const MAGIC: &[u8; 8] = b"SHPCKPT\0";
/// The format version this build writes. It also reads version 1, whose `shard_size` 0 meant
/// one-row shards (version 2's 0 is the automatic size, [`crate::engine::shard_len`]).
pub const VERSION: u32 = 2;
const HEADER_LEN: usize = 24;
/// Refuse payloads claiming more than this (a damaged length must not allocate wildly).
const MAX_PAYLOAD: u64 = 1 << 36;

/// Everything needed to use a model, and to resume training it bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The network: sizes, activations, head and weights.
    pub network: Network<f32>,
    /// Feature scaling fitted on the training data.
    pub scaler: Scaler,
    /// What the outputs mean (class names or target names).
    pub task: Task,
    /// Feature names, in input order.
    pub feature_names: Vec<String>,
    /// The training configuration.
    pub config: TrainConfig,
    /// Epoch, step and RNG state.
    pub state: TrainState,
    /// The optimiser's per-weight state (velocities, moments, step sizes).
    pub optimizer: Optimizer<f32>,
    /// Where the data came from and how it was read, so `resume` can reopen it.
    pub data: RunSpec,
    /// Early-stopping state (best epoch so far and its weights), when enabled.
    pub early: Option<EarlyStop>,
    /// The training data it was trained on.
    pub fingerprint: Fingerprint,
    /// Per-epoch reports so far.
    pub history: Vec<EpochReport>,
}

impl Checkpoint {
    /// Encodes with framing.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .map_err(|e| Error::Config(format!("cannot encode checkpoint: {e}")))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes and checks framing; `path` names the source in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::format(path, "empty file, not a checkpoint"));
        }
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(Error::format(path, "byte 0: bad magic, not a shardprop checkpoint"));
        }
        if bytes.len() < HEADER_LEN {
            return Err(Error::format(
                path,
                format!("truncated: {} bytes, shorter than the {HEADER_LEN}-byte header", bytes.len()),
            ));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION && version != 1 {
            let hint = if version > VERSION {
                "written by a newer shardprop; upgrade to read it"
            } else {
                "from an older format"
            };
            return Err(Error::format(
                path,
                format!("byte 8: format version {version}, this build reads versions 1 to {VERSION} ({hint})"),
            ));
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let have = (bytes.len() - HEADER_LEN) as u64;
        if len > MAX_PAYLOAD || len != have {
            return Err(Error::format(
                path,
                format!(
                    "byte 12: header says the payload is {len} bytes but {have} follow (file is truncated or damaged)"
                ),
            ));
        }
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[HEADER_LEN..];
        if crc32fast::hash(payload) != crc {
            return Err(Error::format(path, "checksum mismatch (file is damaged or truncated)"));
        }
        let (mut ckpt, used): (Self, usize) =
            crate::io::codec::decode(payload).map_err(|e| {
                Error::format(
                    path,
                    format!(
                        "byte {HEADER_LEN}: the payload does not decode as a checkpoint: {} (its checksum matches, so it was written damaged or by another program)",
                        crate::io::codec::describe(&e)
                    ),
                )
            })?;
        if used != payload.len() {
            return Err(Error::format(path, format!("payload has {} trailing bytes", payload.len() - used)));
        }
        if version == 1 && ckpt.config.shard_size == 0 {
            ckpt.config.shard_size = 1;
        }
        ckpt.validate(path)?;
        Ok(ckpt)
    }

    /// Checks every field against the network and against what training can continue from, so
    /// nothing a file carries is trusted unchecked. The error names the field.
    fn validate(&self, path: &Path) -> Result<()> {
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
                && numbers.iter().chain(r.val_loss.iter()).chain(r.val_accuracy.iter()).all(|v| *v >= 0.0);
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

    /// The file name for this checkpoint inside a checkpoint directory: sortable by progress.
    pub fn file_name(&self) -> String {
        format!("ckpt-e{:05}-s{:010}.ckpt", self.state.epoch, self.state.global_step)
    }

    /// Saves into `dir` (created if missing) under [`Checkpoint::file_name`], then removes all
    /// but the newest `keep` checkpoints there. The new file is durable before any old one goes.
    pub fn save_in_dir(&self, dir: &Path, keep: usize) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        remove_stale_temps(dir);
        let path = dir.join(self.file_name());
        self.save(&path)?;
        let mut all = list_dir(dir)?;
        while all.len() > keep.max(1) {
            let oldest = all.remove(0);
            if oldest != path {
                std::fs::remove_file(&oldest).map_err(|e| Error::io(&oldest, e))?;
            }
        }
        Ok(path)
    }

    /// The newest checkpoint in `dir` that loads, with the paths of newer ones that did not
    /// (and why), so a damaged latest file falls back to the one before it.
    pub fn newest_in_dir(dir: &Path) -> Result<(PathBuf, Self, Vec<String>)> {
        let mut skipped = Vec::new();
        for path in list_dir(dir)?.into_iter().rev() {
            match Self::load(&path) {
                Ok(c) => return Ok((path, c, skipped)),
                Err(e) => skipped.push(e.to_string()),
            }
        }
        let why = if skipped.is_empty() { String::new() } else { format!(" ({})", skipped.join("; ")) };
        Err(Error::format(dir, format!("no loadable checkpoint (ckpt-e*-s*.ckpt) in this directory{why}")))
    }

    /// Writes atomically and durably (temp file, fsync, rename, fsync directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        atomic::write(path, &self.to_bytes()?)
    }

    /// Reads and checks a checkpoint file: the header first, then no more than the payload it
    /// announces (capped by [`MAX_PAYLOAD`] and half the machine's memory) and one byte more,
    /// so an endless stream or a lying header cannot fill memory.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self::load_with_version(path)?.0)
    }

    /// Reads and validates a checkpoint file, with the format version the file was written in
    /// (older versions are converted on reading; `inspect` reports the file's).
    pub fn load_with_version(path: &Path) -> Result<(Self, u32)> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        (&mut file).take(HEADER_LEN as u64).read_to_end(&mut header).map_err(|e| Error::io(path, e))?;
        if header.len() < HEADER_LEN || &header[..8] != MAGIC {
            return Self::from_bytes(path, &header).map(|c| (c, 0)); // the header's own error
        }
        let claimed = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
        let memory = crate::memory::physical().map_or(u64::MAX, |m| m as u64 / 2);
        let cap = HEADER_LEN as u64 + claimed.min(MAX_PAYLOAD).min(memory);
        // One byte past the cap is read too, so a longer file shows as a length mismatch.
        let mut bytes = header;
        file.take(cap + 1 - HEADER_LEN as u64).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
        let ckpt = Self::from_bytes(path, &bytes)?;
        Ok((ckpt, u32::from_le_bytes(bytes[8..12].try_into().expect("a loaded file has a header"))))
    }
}

/// Every weight of `net` is finite; else names the first that is not.
fn finite_weights(name: &str, net: &Network<f32>) -> std::result::Result<(), String> {
    for (l, w) in net.weights().iter().enumerate() {
        if let Some(((i, j), v)) = w.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("{name}[{l}][{i}, {j}]: {v}; expected finite weights"));
        }
    }
    Ok(())
}

/// The checkpoint files (`ckpt-e*-s*.ckpt`) in `dir`, oldest first.
pub fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ckpt-e") && n.ends_with(".ckpt"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Removes temp files that killed writers of other processes left in `dir` (never a checkpoint).
fn remove_stale_temps(dir: &Path) {
    let own = format!(".tmp.{}.", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".ckpt-e") && name.contains(".ckpt.tmp.") && !name.contains(&own) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
