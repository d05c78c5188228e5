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

use crate::data::{Fingerprint, Scaler, Task};
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use crate::session::{EarlyStop, RunSpec};
use crate::train::{EpochReport, TrainConfig, TrainState};
use crate::{Network, atomic};

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
            crate::codec::decode(payload).map_err(|e| Error::format(path, format!("payload does not decode: {e}")))?;
        if used != payload.len() {
            return Err(Error::format(path, format!("payload has {} trailing bytes", payload.len() - used)));
        }
        if version == 1 && ckpt.config.shard_size == 0 {
            ckpt.config.shard_size = 1;
        }
        ckpt.validate(path)?;
        Ok(ckpt)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let net = &self.network;
        Network::from_weights(net.sizes(), net.hidden(), net.head(), net.weights().to_vec())
            .map_err(|e| Error::format(path, format!("inconsistent network: {e}")))?;
        if self.scaler.n_features() != net.n_inputs() || self.feature_names.len() != net.n_inputs() {
            return Err(Error::format(path, "feature count disagrees with the network's input layer"));
        }
        if !self.optimizer.fits(net) || self.optimizer.method != self.config.optimizer {
            return Err(Error::format(path, "optimiser state disagrees with the network or the configuration"));
        }
        if self.task.n_outputs() != net.n_outputs() {
            return Err(Error::format(path, "the task's classes or targets disagree with the network's outputs"));
        }
        if let Some(e) = &self.early {
            let b = &e.best;
            let shapes_ok = b.sizes() == net.sizes()
                && Network::from_weights(b.sizes(), b.hidden(), b.head(), b.weights().to_vec()).is_ok();
            if !shapes_ok {
                return Err(Error::format(path, "early-stopping weights disagree with the network"));
            }
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
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        (&mut file).take(HEADER_LEN as u64).read_to_end(&mut header).map_err(|e| Error::io(path, e))?;
        if header.len() < HEADER_LEN || &header[..8] != MAGIC {
            return Self::from_bytes(path, &header); // the header's own error
        }
        let claimed = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
        let memory = crate::memory::physical().map_or(u64::MAX, |m| m as u64 / 2);
        let cap = HEADER_LEN as u64 + claimed.min(MAX_PAYLOAD).min(memory);
        // One byte past the cap is read too, so a longer file shows as a length mismatch.
        let mut bytes = header;
        file.take(cap + 1 - HEADER_LEN as u64).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }
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
