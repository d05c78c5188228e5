//! A checkpoint directory: files named by progress (`ckpt-e00003-s0000000120.ckpt`), the newest
//! `keep` kept, the newest that loads found again, and temp files of killed writers removed.

use std::path::{Path, PathBuf};

use super::Checkpoint;
use crate::error::{Error, Result};

impl Checkpoint {
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
