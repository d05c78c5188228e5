//! The shardprop binary dataset format (see `docs/FORMAT.md`): a 64-byte header, row-major
//! little-endian `f32` rows (features then target), then a metadata block. Training reads it
//! memory-mapped ([`MappedDataset`]), so a file larger than RAM trains with resident memory
//! bounded by the page cache; [`BinaryWriter`] streams rows into one. This file holds the format
//! itself: the header and the metadata block.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::open::Input;
use super::{Scale, ScalerFit, Task};
use crate::error::{Error, Result};

mod mapped;
mod writer;

pub use mapped::MappedDataset;
pub use writer::{BinaryWriter, write};

/// The first 8 bytes of every shardprop dataset file.
pub const MAGIC: &[u8; 8] = b"SHPDATA\0";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Header size in bytes; rows start here (4-byte aligned).
pub const HEADER_LEN: usize = 64;
const BYTE_ORDER_MARK: u32 = 0x0102_0304;
const DTYPE_F32: u32 = 1;
/// `target_kind` of a file whose target is one class cell per row.
const TARGET_CLASS: u32 = 0;
/// `target_kind` of a file whose targets are real values.
const TARGET_VALUES: u32 = 1;

/// The scaling a run on `path` uses when `--scale` is not given, if `path` is a regular file in
/// the binary format: sniffed by [`Input`] like every other input (a pipe is never touched), then
/// its header read and checked.
pub fn default_scale_of(path: &Path) -> Result<Option<Scale>> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let input = Input::open(path)?;
    let Some(len) = input.file_len()? else { return Ok(None) };
    if input.head() != MAGIC {
        return Ok(None);
    }
    let mut h = Vec::with_capacity(HEADER_LEN);
    input.into_reader().take(HEADER_LEN as u64).read_to_end(&mut h).map_err(|e| Error::io(path, e))?;
    Ok(Some(Header::decode(path, &h, len)?.default_scale))
}

/// The metadata block after the rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    /// What the targets mean.
    task: Task,
    /// Feature names, in column order.
    feature_names: Vec<String>,
    /// Statistics of every feature over every row, for the scaler.
    stats: ScalerFit,
}

/// The 64-byte header (layout in `docs/FORMAT.md`).
#[derive(Clone, Copy, Debug)]
struct Header {
    rows: u64,
    n_features: u32,
    n_targets: u32,
    target_kind: u32,
    meta_len: u64,
    checksum: u32,
    /// The scaling a run on this file uses when `--scale` is not given (bytes 52..56): that of
    /// the source it was converted from, so that training on the conversion gives the source's
    /// model. 0 standard (every file written before this field), 1 none (MNIST IDX), 2 minmax.
    default_scale: Scale,
}

/// The header's code for a default scaling (bytes 52..56).
fn scale_code(s: Scale) -> u32 {
    match s {
        Scale::Standard => 0,
        Scale::None => 1,
        Scale::MinMax => 2,
    }
}

impl Header {
    fn row_width(&self) -> usize {
        self.n_features as usize + if self.target_kind == TARGET_CLASS { 1 } else { self.n_targets as usize }
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&BYTE_ORDER_MARK.to_le_bytes());
        h[16..24].copy_from_slice(&self.rows.to_le_bytes());
        h[24..28].copy_from_slice(&self.n_features.to_le_bytes());
        h[28..32].copy_from_slice(&self.n_targets.to_le_bytes());
        h[32..36].copy_from_slice(&self.target_kind.to_le_bytes());
        h[36..40].copy_from_slice(&DTYPE_F32.to_le_bytes());
        h[40..48].copy_from_slice(&self.meta_len.to_le_bytes());
        h[48..52].copy_from_slice(&self.checksum.to_le_bytes());
        h[52..56].copy_from_slice(&scale_code(self.default_scale).to_le_bytes());
        // 56..60 reserved (zero); the header checksum covers everything before it.
        let crc = crc32fast::hash(&h[..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    fn decode(path: &Path, h: &[u8], file_len: u64) -> Result<Self> {
        if h.len() < HEADER_LEN {
            return Err(Error::format(
                path,
                format!("file is {} bytes, shorter than the {HEADER_LEN}-byte header", h.len()),
            ));
        }
        if &h[0..8] != MAGIC {
            return Err(Error::format(path, "byte 0: bad magic, not a shardprop dataset file"));
        }
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(Error::format(
                path,
                format!("byte 8: format version {version}, this build reads version {VERSION}"),
            ));
        }
        if u32_at(12) != BYTE_ORDER_MARK {
            return Err(Error::format(path, "byte 12: byte-order mark is wrong (not little-endian data, or damaged)"));
        }
        if crc32fast::hash(&h[..60]) != u32_at(60) {
            return Err(Error::format(path, "byte 60: header checksum mismatch (file is damaged)"));
        }
        let default_scale = match u32_at(52) {
            0 => Scale::Standard,
            1 => Scale::None,
            2 => Scale::MinMax,
            c => {
                return Err(Error::format(
                    path,
                    format!("byte 52: default scaling code {c}, expected 0 (standard), 1 (none) or 2 (minmax)"),
                ));
            }
        };
        if let Some(i) = (56..60).find(|&i| h[i] != 0) {
            return Err(Error::format(
                path,
                format!("byte {i}: reserved header bytes 56..60 must be zero, found {:#04x}", h[i]),
            ));
        }
        if u32_at(36) != DTYPE_F32 {
            return Err(Error::format(path, format!("byte 36: dtype {} is not f32 (1)", u32_at(36))));
        }
        let hdr = Self {
            rows: u64_at(16),
            n_features: u32_at(24),
            n_targets: u32_at(28),
            target_kind: u32_at(32),
            meta_len: u64_at(40),
            checksum: u32_at(48),
            default_scale,
        };
        if hdr.target_kind > TARGET_VALUES || hdr.n_features == 0 || hdr.n_targets == 0 {
            return Err(Error::format(path, "byte 24: feature/target counts or target kind are invalid"));
        }
        let data_len = (hdr.rows as u128) * (hdr.row_width() as u128) * 4;
        let expected = HEADER_LEN as u128 + data_len + hdr.meta_len as u128;
        if expected != file_len as u128 {
            return Err(Error::format(
                path,
                format!(
                    "size mismatch: header says {} rows of {} values plus {} metadata bytes ({expected} bytes in all), but the file is {file_len} bytes (truncated?)",
                    hdr.rows,
                    hdr.row_width(),
                    hdr.meta_len
                ),
            ));
        }
        Ok(hdr)
    }
}
