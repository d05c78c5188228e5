//! Reading a binary dataset: [`MappedDataset`] maps the file, checks its header, metadata and
//! (with `verify`) every row, and serves rows to training straight from the page cache.

use std::path::{Path, PathBuf};

use super::{HEADER_LEN, Header, Meta, TARGET_CLASS};
use crate::data::mapping::{MappedFile, PageRelease, RowFloats};
use crate::data::{Examples, Scale, Scaler, ScalerFit, Target, Task};
use crate::error::{Error, Result};

/// A dataset file opened by memory mapping.
pub struct MappedDataset {
    /// The file, mapped (with its SIGBUS registration and length check).
    map: MappedFile,
    /// The rows as `f32`s, a view into `map` made once when opening ([`RowFloats`]).
    rows: RowFloats,
    hdr: Header,
    stats: ScalerFit,
    /// Hands the map's pages back as rows are read, so resident memory stays bounded.
    release: PageRelease,
    /// What the targets mean.
    pub task: Task,
    /// Feature names.
    pub feature_names: Vec<String>,
    /// The file.
    pub path: PathBuf,
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
        // Registered with the SIGBUS guard before the first read of the map (the header and
        // metadata, too, may fault), and advised for random reads (training shuffles).
        let file = MappedFile::open(path)?;
        let map = file.bytes();
        let hdr = Header::decode(path, map, map.len() as u64)?;
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
            if let Some(dup) = crate::data::first_duplicate(list) {
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
        // The map is page-aligned and HEADER_LEN a multiple of 4; the length was checked against
        // the header; the host is little-endian (checked above).
        let rows = RowFloats::of(&map[HEADER_LEN..map.len() - hdr.meta_len as usize]);
        let mut d = Self {
            rows,
            release: PageRelease::new(hdr.row_width() * 4),
            map: file,
            hdr,
            stats: meta.stats,
            task: meta.task,
            feature_names: meta.feature_names,
            path: path.to_path_buf(),
            verified: false,
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
        let map = self.map.bytes();
        crc.update(&map[map.len() - self.hdr.meta_len as usize..]);
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
                    self.map.bytes().len() - self.hdr.meta_len as usize,
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
        // address) as long as `self` and so as long as the slice.
        unsafe { self.rows.get() }
    }

    /// The scaler of kind `scale`, from statistics gathered when the file was written.
    pub fn scaler(&self, scale: Scale) -> Scaler {
        self.stats.scaler(scale)
    }

    /// The scaling a run uses when `--scale` is not given: the converted source's default.
    pub fn default_scale(&self) -> Scale {
        self.hdr.default_scale
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
        self.map.check_source()
    }

    fn prefetch(&self, rows: &[usize]) {
        let floats = self.floats();
        // SAFETY: the rows' f32s viewed as bytes (any bit pattern is a byte), same lifetime.
        let bytes = unsafe { std::slice::from_raw_parts(floats.as_ptr().cast::<u8>(), floats.len() * 4) };
        crate::data::prefetch::will_need(bytes, self.hdr.row_width() * 4, rows);
    }

    fn rows_read(&self, rows: usize) {
        self.release.rows_read(rows, &self.map);
    }
}
