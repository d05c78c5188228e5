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

use crate::data::{Fingerprint, Scaler, Task};
use crate::error::{Error, Result};
use crate::train::{EpochReport, TrainConfig, TrainState};
use crate::{Network, atomic};

/// The first 8 bytes of every checkpoint.
pub const MAGIC: &[u8; 8] = b"SHPCKPT\0";
/// The format version this build writes; it reads exactly this version.
pub const VERSION: u32 = 1;
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
        if version != VERSION {
            let hint = if version > VERSION {
                "written by a newer shardprop; upgrade to read it"
            } else {
                "from an older format"
            };
            return Err(Error::format(
                path,
                format!("byte 8: format version {version}, this build reads version {VERSION} ({hint})"),
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
        let (ckpt, used): (Self, usize) = bincode::serde::decode_from_slice(payload, bincode::config::standard())
            .map_err(|e| Error::format(path, format!("payload does not decode: {e}")))?;
        if used != payload.len() {
            return Err(Error::format(path, format!("payload has {} trailing bytes", payload.len() - used)));
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
        Ok(())
    }

    /// Writes atomically and durably (temp file, fsync, rename, fsync directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        atomic::write(path, &self.to_bytes()?)
    }

    /// Reads and checks a checkpoint file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }
}
