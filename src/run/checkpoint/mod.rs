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
//!
//! The framing is `frame`; the field-by-field checks of a decoded checkpoint are `validate`;
//! a directory of checkpoints (naming, keeping the newest, finding one that loads) is `dir`;
//! reading the files of versions 1 and 2, written before version 3, is `v2`.

mod dir;
mod frame;
mod v2;
mod validate;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use dir::list_dir;
pub use frame::{MAGIC, VERSION};

use crate::Network;
use crate::data::{Fingerprint, Scaler, Task};
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::optim::Optimizer;
use crate::run::early_stop::EarlyStop;
use crate::run::spec::RunSpec;
use crate::run::trainer::{EpochReport, TrainConfig, TrainState};
use frame::HEADER_LEN;

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
        Ok(frame::seal(&payload))
    }

    /// Decodes and checks framing; `path` names the source in errors. Versions 1 and 2 are read
    /// through their own layout ([`v2::CheckpointV2`]) and upgraded.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let (version, payload) = frame::open(path, bytes)?;
        let ckpt = if version < 3 {
            decode_payload::<v2::CheckpointV2>(path, payload)?.upgrade(version)
        } else {
            decode_payload::<Self>(path, payload)?
        };
        ckpt.validate(path)?;
        Ok(ckpt)
    }

    /// Writes atomically and durably (temp file, fsync, rename, fsync directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        atomic::write(path, &self.to_bytes()?)
    }

    /// Reads and checks a checkpoint file: the header first, then no more than the payload it
    /// announces (capped by `frame::MAX_PAYLOAD`, 64 GiB, and half the machine's memory) and one
    /// byte more, so an endless stream or a lying header cannot fill memory.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self::load_with_version(path)?.0)
    }

    /// Reads and validates a checkpoint file, with the format version the file was written in
    /// (older versions are converted on reading; `inspect` reports the file's).
    pub fn load_with_version(path: &Path) -> Result<(Self, u32)> {
        let bytes = frame::read(path)?;
        let ckpt = Self::from_bytes(path, &bytes)?;
        Ok((ckpt, u32::from_le_bytes(bytes[8..12].try_into().expect("a loaded file has a header"))))
    }
}

/// The whole payload decoded as `C`: every byte used, none left over.
fn decode_payload<C: DeserializeOwned>(path: &Path, payload: &[u8]) -> Result<C> {
    let (c, used): (C, usize) = crate::io::codec::decode(payload).map_err(|e| {
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
    Ok(c)
}
