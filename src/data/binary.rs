//! The shardprop binary dataset format (see `docs/FORMAT.md`): a 64-byte header, row-major
//! little-endian `f32` rows (features then target), then a metadata block. Training reads it
//! memory-mapped, so a file larger than RAM trains with resident memory bounded by the page cache.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{Mmap, UncheckedAdvice};
use serde::{Deserialize, Serialize};

use super::{Examples, Scale, Scaler, ScalerFit, Target, Task};
use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;

/// The first 8 bytes of every shardprop dataset file.
pub const MAGIC: &[u8; 8] = b"SHPDATA\0";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Header size in bytes; rows start here (4-byte aligned).
pub const HEADER_LEN: usize = 64;
const BYTE_ORDER_MARK: u32 = 0x0102_0304;
const DTYPE_F32: u32 = 1;
const TARGET_CLASS: u32 = 0;
const TARGET_VALUES: u32 = 1;
/// A mapped file's pages are released from this process after about this many bytes of rows read.
const RELEASE_BYTES: usize = 256 << 20;

/// Whether `path` starts with [`MAGIC`].
pub fn has_magic(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match f.read(&mut head[got..]).map_err(|e| Error::io(path, e))? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == 8 && &head == MAGIC)
}

/// The scaling a run on `path` uses when `--scale` is not given, if `path` is a regular file in
/// the binary format (its header is read and checked; a pipe is never touched).
pub fn default_scale_of(path: &Path) -> Result<Option<Scale>> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) || !has_magic(path)? {
        return Ok(None);
    }
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut h = Vec::with_capacity(HEADER_LEN);
    (&mut f).take(HEADER_LEN as u64).read_to_end(&mut h).map_err(|e| Error::io(path, e))?;
    Ok(Some(Header::decode(path, &h, len)?.default_scale))
}

/// The metadata block after the rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    task: Task,
    feature_names: Vec<String>,
    stats: ScalerFit,
}

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

/// A dataset file opened by memory mapping.
pub struct MappedDataset {
    /// Names the file if reading the map faults. First, so it is dropped (unregistered) before
    /// the map is unmapped.
    _fault: super::sigbus::Registration,
    map: Mmap,
    /// The rows as `f32`s, a view into `map` made once when opening ([`RowFloats`]).
    rows: RowFloats,
    hdr: Header,
    stats: ScalerFit,
    rows_since_release: AtomicUsize,
    release_every: usize,
    /// What the targets mean.
    pub task: Task,
    /// Feature names.
    pub feature_names: Vec<String>,
    /// The file.
    pub path: PathBuf,
    /// Kept open to re-check its length (`fstat`) before each training step.
    file: File,
    /// Its length when opened.
    len: u64,
    /// Whether every row was checked when opening (`verify`).
    verified: bool,
}

impl MappedDataset {
    /// Maps `path`, checks the header, sizes and metadata, and verifies the checksum over rows and
    /// metadata in one sequential read, checking every cell on the way (features finite, class
    /// cells integral and in range, target values finite) and recomputing the stored statistics.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, true)
    }

    /// As [`MappedDataset::open`]; with `verify == false` the pass over the rows is skipped (for
    /// multi-GB files whose integrity is checked elsewhere), so opening takes milliseconds. The
    /// header, metadata and the statistics' plausibility are still checked; the rows are then
    /// checked as they are used ([`Examples::check_row`]).
    pub fn open_with(path: &Path, verify: bool) -> Result<Self> {
        if !cfg!(target_endian = "little") {
            return Err(Error::format(
                path,
                "this build reads little-endian dataset files on little-endian hosts only",
            ));
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only. A file truncated underneath us would make a read fault
        // (SIGBUS): the length is re-checked before every training step (`check_source`), and
        // the fault handler of [`super::sigbus`] turns the remaining race into a message.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        // Registered before the first read of the map (the header and metadata, too, may fault).
        let fault = super::sigbus::Registration::new(map.as_ptr(), map.len(), path);
        let hdr = Header::decode(path, &map, map.len() as u64)?;
        // Training reads rows in shuffled order: no read-ahead or fault-around of neighbours.
        let _ = map.advise(memmap2::Advice::Random);
        let meta_start = map.len() - hdr.meta_len as usize;
        let (meta, used): (Meta, usize) = crate::io::codec::decode(&map[meta_start..]).map_err(|e| {
            Error::format(
                path,
                format!("byte {meta_start}: metadata does not decode: {}", crate::io::codec::describe(&e)),
            )
        })?;
        if used != hdr.meta_len as usize {
            return Err(Error::format(
                path,
                format!(
                    "byte {}: {} trailing bytes after the metadata (the header says {} metadata bytes, they hold {used})",
                    meta_start + used,
                    hdr.meta_len as usize - used,
                    hdr.meta_len
                ),
            ));
        }
        if meta.task.n_outputs() != hdr.n_targets as usize || meta.feature_names.len() != hdr.n_features as usize {
            return Err(Error::format(path, format!("byte {meta_start}: metadata disagrees with the header")));
        }
        if meta.task.classes().is_some() != (hdr.target_kind == TARGET_CLASS) {
            return Err(Error::format(
                path,
                format!(
                    "byte 32: target kind {} disagrees with the metadata's task ({})",
                    hdr.target_kind,
                    if meta.task.classes().is_some() { "classification" } else { "regression" }
                ),
            ));
        }
        // A model trained on repeated class names could never be loaded again (its classes must
        // be distinct); repeated feature or target names would make matching by name ambiguous.
        let names = match &meta.task {
            Task::Classification { classes } => [("class", classes), ("feature", &meta.feature_names)],
            Task::Regression { targets } => [("target", targets), ("feature", &meta.feature_names)],
        };
        for (what, list) in names {
            if let Some(dup) = super::first_duplicate(list) {
                return Err(Error::format(
                    path,
                    format!(
                        "byte {meta_start}: metadata: the {what} name {dup:?} appears twice; names must be distinct"
                    ),
                ));
            }
        }
        meta.stats
            .check(hdr.n_features as usize, hdr.rows)
            .map_err(|e| Error::format(path, format!("byte {meta_start}: metadata statistics: {e}")))?;
        // Pages are handed back after about this many rows, so resident memory stays bounded.
        let release_every = (RELEASE_BYTES / (hdr.row_width() * 4)).max(1);
        let len = map.len() as u64;
        let rows = RowFloats::of(&map, hdr.meta_len as usize);
        let mut d = Self {
            rows,
            map,
            hdr,
            stats: meta.stats,
            task: meta.task,
            feature_names: meta.feature_names,
            path: path.to_path_buf(),
            rows_since_release: AtomicUsize::new(0),
            release_every,
            file,
            len,
            verified: false,
            _fault: fault,
        };
        if verify {
            d.verify()?;
            d.verified = true;
        }
        Ok(d)
    }

    /// One sequential pass: the checksum over rows and metadata, every row's cells, and the
    /// statistics recomputed in row order (so they equal the writer's to the bit).
    fn verify(&self) -> Result<()> {
        let w = self.hdr.row_width();
        let rows_per_chunk = ((1 << 20) / (4 * w)).max(1);
        let mut crc = crc32fast::Hasher::new();
        let mut stats = ScalerFit::new(self.n_features());
        let floats = self.floats();
        let mut i = 0;
        while i < self.len() {
            let end = (i + rows_per_chunk).min(self.len());
            let chunk = &floats[i * w..end * w];
            // SAFETY: a view of initialised f32s as bytes (alignment 1, same length in bytes).
            crc.update(unsafe { std::slice::from_raw_parts(chunk.as_ptr().cast::<u8>(), chunk.len() * 4) });
            for r in i..end {
                self.check_cells(r)?;
                stats.push(self.features(r));
            }
            i = end;
        }
        crc.update(&self.map[self.map.len() - self.hdr.meta_len as usize..]);
        if crc.finalize() != self.hdr.checksum {
            return Err(Error::format(&self.path, "checksum mismatch over rows and metadata (file is damaged)"));
        }
        if stats != self.stats {
            let j = (0..self.n_features())
                .find(|&j| {
                    (stats.sum[j], stats.sumsq[j], stats.min[j], stats.max[j])
                        != (self.stats.sum[j], self.stats.sumsq[j], self.stats.min[j], self.stats.max[j])
                })
                .unwrap_or(0);
            return Err(Error::format(
                &self.path,
                format!(
                    "byte {}: metadata statistics of feature {} ({}) disagree with its rows (stored sum {}, sum of squares {}, min {}, max {}; the rows give {}, {}, {}, {})",
                    self.map.len() - self.hdr.meta_len as usize,
                    j + 1,
                    self.feature_names.get(j).map_or("", String::as_str),
                    self.stats.sum[j],
                    self.stats.sumsq[j],
                    self.stats.min[j],
                    self.stats.max[j],
                    stats.sum[j],
                    stats.sumsq[j],
                    stats.min[j],
                    stats.max[j]
                ),
            ));
        }
        Ok(())
    }

    /// Row `i`'s cells: finite features, a class cell that is an integer below the class count,
    /// finite target values. The error names the byte, row and feature.
    fn check_cells(&self, i: usize) -> Result<()> {
        let w = self.hdr.row_width();
        let row = &self.floats()[i * w..(i + 1) * w];
        let byte = |j: usize| HEADER_LEN + 4 * (i * w + j);
        let nf = self.n_features();
        if let Some(j) = row[..nf].iter().position(|v| !v.is_finite()) {
            return Err(Error::format(
                &self.path,
                format!(
                    "byte {}: row {}, feature {} ({}): {} is not a finite number",
                    byte(j),
                    i + 1,
                    j + 1,
                    self.feature_names.get(j).map_or("", String::as_str),
                    row[j]
                ),
            ));
        }
        if self.hdr.target_kind == TARGET_CLASS {
            let c = row[nf];
            let k = self.hdr.n_targets;
            if !(c >= 0.0 && c < k as f32 && c.fract() == 0.0) {
                return Err(Error::format(
                    &self.path,
                    format!(
                        "byte {}: row {}, class cell {c}: expected an integer class index from 0 to {}",
                        byte(nf),
                        i + 1,
                        k - 1
                    ),
                ));
            }
        } else if let Some(t) = row[nf..].iter().position(|v| !v.is_finite()) {
            return Err(Error::format(
                &self.path,
                format!(
                    "byte {}: row {}, target {}: {} is not a finite number",
                    byte(nf + t),
                    i + 1,
                    t + 1,
                    row[nf + t]
                ),
            ));
        }
        Ok(())
    }

    #[inline]
    fn floats(&self) -> &[f32] {
        // SAFETY: `rows` points into `self.map`, which lives (mapped, read-only, at the same
        // address) as long as `self` and so as long as the slice; see [`RowFloats::of`].
        unsafe { std::slice::from_raw_parts(self.rows.ptr.as_ptr(), self.rows.len) }
    }

    /// The scaler of kind `scale`, from statistics gathered when the file was written.
    pub fn scaler(&self, scale: Scale) -> Scaler {
        self.stats.finish(scale)
    }

    /// The scaling a run uses when `--scale` is not given: the converted source's default.
    pub fn default_scale(&self) -> Scale {
        self.hdr.default_scale
    }
}

/// The rows of a mapped file as `f32`s: bytes `HEADER_LEN..len - meta_len` of the map, viewed
/// once when the file is opened rather than on every row read.
struct RowFloats {
    ptr: std::ptr::NonNull<f32>,
    len: usize,
}

// SAFETY: a pointer into a read-only mapping that the owning `MappedDataset` keeps alive; it is
// only ever read through shared slices, so sharing it between threads is as safe as `&[f32]`.
unsafe impl Send for RowFloats {}
// SAFETY: as for `Send`.
unsafe impl Sync for RowFloats {}

impl RowFloats {
    /// The rows of `map`, whose header was decoded (so it holds `HEADER_LEN` bytes, rows, then
    /// `meta_len` bytes of metadata).
    fn of(map: &Mmap, meta_len: usize) -> Self {
        let bytes = &map[HEADER_LEN..map.len() - meta_len];
        // The map is page-aligned and HEADER_LEN is a multiple of 4, so the pointer is aligned
        // for f32; the length was checked against the header; every bit pattern is an f32; the
        // host is little-endian (checked in open_with). The map moves with its owner without
        // its pages moving, so the pointer stays valid as long as the map.
        debug_assert!(bytes.as_ptr().cast::<f32>().is_aligned());
        let ptr = std::ptr::NonNull::new(bytes.as_ptr().cast::<f32>().cast_mut()).expect("a map is never at null");
        Self { ptr, len: bytes.len() / 4 }
    }
}

impl Examples for MappedDataset {
    fn len(&self) -> usize {
        self.hdr.rows as usize
    }
    fn n_features(&self) -> usize {
        self.hdr.n_features as usize
    }
    fn n_targets(&self) -> usize {
        self.hdr.n_targets as usize
    }
    fn features(&self, i: usize) -> &[f32] {
        let w = self.hdr.row_width();
        &self.floats()[i * w..i * w + self.n_features()]
    }
    fn target(&self, i: usize) -> Target<'_> {
        let w = self.hdr.row_width();
        let t = &self.floats()[i * w + self.n_features()..(i + 1) * w];
        if self.hdr.target_kind == TARGET_CLASS { Target::Class(t[0] as usize) } else { Target::Values(t) }
    }

    fn content_hash(&self) -> Option<u64> {
        Some((1 << 63) | u64::from(self.hdr.checksum))
    }

    fn rows_checked(&self) -> bool {
        self.verified
    }

    fn check_row(&self, i: usize) -> Result<()> {
        if self.verified { Ok(()) } else { self.check_cells(i) }
    }

    fn check_source(&self) -> Result<()> {
        let now = self.file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        if now < self.len {
            return Err(Error::format(
                &self.path,
                format!(
                    "byte {now}: the file is now {now} bytes, but it was {} bytes when opened (truncated while in use?)",
                    self.len
                ),
            ));
        }
        Ok(())
    }

    fn rows_read(&self, rows: usize) {
        let n = self.rows_since_release.fetch_add(rows, Ordering::Relaxed) + rows;
        if n >= self.release_every {
            self.rows_since_release.store(0, Ordering::Relaxed);
            // SAFETY: a read-only shared file mapping; MADV_DONTNEED only drops this process's
            // page-table entries, and later reads fault the same bytes back in from the page
            // cache or the file. Failure only means the pages stay resident.
            let _ = unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) };
        }
    }
}

/// Streams rows into a new dataset file, atomically: the file appears complete or not at all.
pub struct BinaryWriter {
    out: AtomicFile,
    path: PathBuf,
    hdr: Header,
    crc: crc32fast::Hasher,
    stats: ScalerFit,
    buf: Vec<u8>,
}

impl BinaryWriter {
    /// Starts a file for rows of `n_features` features and targets of `task`.
    pub fn create(path: &Path, n_features: usize, task: &Task) -> Result<Self> {
        let target_kind = if task.classes().is_some() { TARGET_CLASS } else { TARGET_VALUES };
        let hdr = Header {
            rows: 0,
            n_features: n_features as u32,
            n_targets: task.n_outputs() as u32,
            target_kind,
            meta_len: 0,
            checksum: 0,
            default_scale: Scale::Standard,
        };
        if !AtomicFile::replaces(path)? {
            // The header is written last, after a seek back: a FIFO or device cannot take it.
            return Err(Error::format(path, "not a regular file: a binary dataset must be written to a file"));
        }
        let mut out = AtomicFile::create(path)?;
        out.write_all(&[0u8; HEADER_LEN])?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            hdr,
            crc: crc32fast::Hasher::new(),
            stats: ScalerFit::new(n_features),
            buf: Vec::new(),
        })
    }

    /// Records the scaling a run on this file uses when `--scale` is not given (the source's
    /// default; standard unless set).
    pub fn with_default_scale(mut self, scale: Scale) -> Self {
        self.hdr.default_scale = scale;
        self
    }

    /// Appends one row. Refuses what a reader would refuse: non-finite features or target
    /// values, a class index outside the task's classes.
    pub fn push(&mut self, features: &[f32], target: Target<'_>) -> Result<()> {
        debug_assert_eq!(features.len(), self.hdr.n_features as usize);
        let row = self.hdr.rows + 1;
        if let Some(j) = features.iter().position(|v| !v.is_finite()) {
            return Err(Error::format(
                &self.path,
                format!("row {row}, feature {}: {} is not a finite number", j + 1, features[j]),
            ));
        }
        match target {
            Target::Class(c) if c >= self.hdr.n_targets as usize || self.hdr.target_kind != TARGET_CLASS => {
                return Err(Error::format(
                    &self.path,
                    format!("row {row}: class {c} is not one of the task's {} classes", self.hdr.n_targets),
                ));
            }
            Target::Values(v) if v.len() != self.hdr.n_targets as usize || self.hdr.target_kind != TARGET_VALUES => {
                return Err(Error::format(
                    &self.path,
                    format!("row {row}: {} target values, the task has {}", v.len(), self.hdr.n_targets),
                ));
            }
            Target::Values(v) if v.iter().any(|v| !v.is_finite()) => {
                return Err(Error::format(&self.path, format!("row {row}: a target value is not a finite number")));
            }
            _ => {}
        }
        self.stats.push(features);
        self.buf.clear();
        for v in features {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        match target {
            Target::Class(c) => self.buf.extend_from_slice(&(c as f32).to_le_bytes()),
            Target::Values(v) => v.iter().for_each(|v| self.buf.extend_from_slice(&v.to_le_bytes())),
        }
        self.crc.update(&self.buf);
        self.hdr.rows += 1;
        let path = self.path.clone();
        self.out.writer().write_all(&self.buf).map_err(|e| Error::io(&path, e))
    }

    /// Writes the metadata and the header, then commits the file atomically.
    pub fn finish(mut self, task: &Task, feature_names: &[String]) -> Result<u64> {
        let meta = Meta { task: task.clone(), feature_names: feature_names.to_vec(), stats: self.stats.clone() };
        let bytes = bincode::serde::encode_to_vec(&meta, bincode::config::standard())
            .map_err(|e| Error::format(&self.path, format!("cannot encode metadata: {e}")))?;
        self.crc.update(&bytes);
        self.out.write_all(&bytes)?;
        self.hdr.meta_len = bytes.len() as u64;
        self.hdr.checksum = self.crc.clone().finalize();
        let path = self.path.clone();
        let w = self.out.writer();
        w.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&path, e))?;
        w.write_all(&self.hdr.encode()).map_err(|e| Error::io(&path, e))?;
        let rows = self.hdr.rows;
        self.out.commit()?;
        Ok(rows)
    }
}

/// Writes every row of `data` to `path`.
pub fn write(
    path: &Path,
    data: &dyn Examples,
    task: &Task,
    feature_names: &[String],
    default_scale: Scale,
) -> Result<u64> {
    let mut w = BinaryWriter::create(path, data.n_features(), task)?.with_default_scale(default_scale);
    for i in 0..data.len() {
        w.push(data.features(i), data.target(i))?;
    }
    w.finish(task, feature_names)
}
