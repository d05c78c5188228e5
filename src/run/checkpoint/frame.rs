//! The framing around a checkpoint's payload: magic, version, length and CRC-32, checked in that
//! order on reading, and a bounded read of a file, so a lying header or an endless stream cannot
//! fill memory. The layout is in the [module above](super).

use std::path::Path;

use crate::error::{Error, Result};

/// The first 8 bytes of every checkpoint.
pub const MAGIC: &[u8; 8] = b"SHPCKPT\0";
/// The format version this build writes. It also reads versions 1 and 2 (see `v2.rs`): version
/// 3 added the initialisation rule to the config and test-set figures to the epoch reports.
pub const VERSION: u32 = 3;
/// Magic, version, length and CRC-32: the bytes before the payload.
pub(super) const HEADER_LEN: usize = 24;
/// Refuse payloads claiming more than this (a damaged length must not allocate wildly).
pub(super) const MAX_PAYLOAD: u64 = 1 << 36;

/// `payload` behind a header of this build's [`VERSION`].
pub(super) fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks the framing of `bytes` (magic, a version this build reads, a length that matches what
/// follows, the checksum): the file's version and its payload. `path` names the source in errors.
pub(super) fn open<'a>(path: &Path, bytes: &'a [u8]) -> Result<(u32, &'a [u8])> {
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
    if !(1..=VERSION).contains(&version) {
        let hint =
            if version > VERSION { "written by a newer shardprop; upgrade to read it" } else { "from an older format" };
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
            format!("byte 12: header says the payload is {len} bytes but {have} follow (file is truncated or damaged)"),
        ));
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if crc32fast::hash(payload) != crc {
        return Err(Error::format(path, "checksum mismatch (file is damaged or truncated)"));
    }
    Ok((version, payload))
}

/// The bytes of the checkpoint file at `path`: the header first, then no more than the payload
/// it announces (capped by [`MAX_PAYLOAD`] and half the machine's memory) and one byte more, so
/// a longer file shows as a length mismatch in [`open`]. A header that is short or has another
/// magic is returned alone, for [`open`] to name what is wrong with it.
pub(super) fn read(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    (&mut file).take(HEADER_LEN as u64).read_to_end(&mut header).map_err(|e| Error::io(path, e))?;
    if header.len() < HEADER_LEN || &header[..8] != MAGIC {
        return Ok(header);
    }
    let claimed = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    let memory = crate::memory::physical().map_or(u64::MAX, |m| m as u64 / 2);
    let cap = HEADER_LEN as u64 + claimed.min(MAX_PAYLOAD).min(memory);
    let mut bytes = header;
    file.take(cap + 1 - HEADER_LEN as u64).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}
