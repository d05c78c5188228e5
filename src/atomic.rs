//! Atomic, durable file replacement: write a temp file in the target's directory, fsync it,
//! rename it over the target, fsync the directory. A crash at any moment leaves either the old
//! file or the new one, never a mix.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temp file that becomes `target` on [`AtomicFile::commit`] and is removed if dropped first.
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temp file beside `target`.
    pub fn create(target: &Path) -> Result<Self> {
        let dir = parent_dir(target);
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self { target: target.to_path_buf(), tmp, file: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("writer is present until commit")
    }

    /// Writes all of `bytes`, naming the temp file's target in any error.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let target = self.target.clone();
        self.writer().write_all(bytes).map_err(|e| Error::io(&target, e))
    }

    /// Flushes, fsyncs, renames over the target and fsyncs the directory.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("commit once");
        let file = file.into_inner().map_err(|e| Error::io(&self.target, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.target, e))?;
        drop(file);
        fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        sync_dir(&parent_dir(&self.target))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}
