//! Atomic, durable file replacement: write a temp file in the target's directory, fsync it,
//! rename it over the target, fsync the directory. A crash at any moment leaves either the old
//! file or the new one, never a mix.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

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
        let hooks = test_hooks();
        if hooks.slow_write_us == 0 && hooks.fail_after.is_none() {
            return self.writer().write_all(bytes).map_err(|e| Error::io(&target, e));
        }
        for chunk in bytes.chunks(4096) {
            if let Some(limit) = hooks.fail_after {
                let written = WRITTEN.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
                if written > limit {
                    let e = std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "No space left on device (injected by SHARDPROP_FAIL_WRITES_AFTER)",
                    );
                    return Err(Error::io(&target, e));
                }
            }
            self.writer().write_all(chunk).map_err(|e| Error::io(&target, e))?;
            if hooks.slow_write_us > 0 {
                self.writer().flush().map_err(|e| Error::io(&target, e))?;
                std::thread::sleep(std::time::Duration::from_micros(hooks.slow_write_us));
            }
        }
        Ok(())
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

/// Fault-injection hooks for the crash-safety tests, read once from the environment:
/// `SHARDPROP_SLOW_WRITE_US` sleeps that many microseconds after every 4 KiB written (so a kill
/// lands mid-write), `SHARDPROP_FAIL_WRITES_AFTER` fails writes with "no space left" once that
/// many bytes have been written by the process (a full disk).
struct TestHooks {
    slow_write_us: u64,
    fail_after: Option<u64>,
}

fn test_hooks() -> &'static TestHooks {
    static HOOKS: OnceLock<TestHooks> = OnceLock::new();
    HOOKS.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        TestHooks {
            slow_write_us: var("SHARDPROP_SLOW_WRITE_US").unwrap_or(0),
            fail_after: var("SHARDPROP_FAIL_WRITES_AFTER"),
        }
    })
}

static WRITTEN: AtomicU64 = AtomicU64::new(0);

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
