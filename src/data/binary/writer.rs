//! Writing a binary dataset: [`BinaryWriter`] streams rows into a new file, atomically, and
//! gathers the statistics a scaler needs on the way.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{HEADER_LEN, Header, Meta, TARGET_CLASS, TARGET_VALUES};
use crate::data::{Examples, Scale, ScalerFit, Target, Task};
use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;

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
