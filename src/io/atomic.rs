//! Atomic, durable file replacement: write a temp file in the target's directory, fsync it,
//! rename it over the target, fsync the directory. A crash at any moment leaves either the old
//! file or the new one, never a mix.
//!
//! Only a regular file (or a path that does not exist yet) is replaced so. A symbolic link is
//! followed and the file it points to is replaced (the link stays a link). Anything else that
//! exists at the path (a device such as `/dev/null`, a FIFO, a socket) is written in place:
//! renaming over it would destroy it (run as root, a temp+rename once replaced `/dev/null` with a
//! regular file). A temp file is removed whenever the write does not complete, including when the
//! flush, the fsync or the rename fails (a full disk must not be left full).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A temp file that becomes `target` on [`AtomicFile::commit`] and is removed if dropped first
/// (or, for a target that is not a regular file, the target itself opened for writing).
pub struct AtomicFile {
    target: PathBuf,
    /// The temp file, until it is renamed over the target; `None` when writing in place.
    tmp: Option<PathBuf>,
    file: Option<BufWriter<File>>,
}

/// How `path` is to be written: `Ok(Some(real))` replaces the regular (or missing) file `real`
/// (the path with symbolic links followed), `Ok(None)` writes in place (a character device, a
/// FIFO, `/dev/stdout` on a pipe). A directory or a block device is refused.
fn resolve(path: &Path) -> Result<Option<PathBuf>> {
    use std::os::unix::fs::FileTypeExt;
    match fs::metadata(path) {
        Ok(m) if m.is_file() => return fs::canonicalize(path).map(Some).map_err(|e| Error::io(path, e)),
        Ok(m) if m.is_dir() => return Err(Error::io(path, std::io::Error::other("is a directory, not a file"))),
        Ok(m) if m.file_type().is_block_device() => {
            return Err(Error::io(path, std::io::Error::other("is a block device; refusing to write over a disk")));
        }
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    // Missing, or a symbolic link to a missing file: follow the links to the name to create.
    let mut real = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&real) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(real)),
            Err(e) => return Err(Error::io(&real, e)),
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&real).map_err(|e| Error::io(&real, e))?;
                real = if to.is_absolute() { to } else { parent_dir(&real).join(to) };
            }
            Ok(m) if m.file_type().is_file() => return Ok(Some(real)),
            Ok(m) if m.file_type().is_dir() => {
                return Err(Error::io(path, std::io::Error::other("is a directory, not a file")));
            }
            Ok(_) => return Ok(None),
        }
    }
    Err(Error::io(path, std::io::Error::other("too many levels of symbolic links")))
}

impl AtomicFile {
    /// Creates the temp file beside `target` (beside the file a symbolic link points to), or
    /// opens `target` itself when it is a device, FIFO or socket.
    pub fn create(target: &Path) -> Result<Self> {
        let Some(real) = resolve(target)? else {
            let file = fs::OpenOptions::new().write(true).open(target).map_err(|e| Error::io(target, e))?;
            return Ok(Self { target: target.to_path_buf(), tmp: None, file: Some(BufWriter::new(file)) });
        };
        let dir = parent_dir(&real);
        // At most 200 bytes of the name, so the temp name (name plus about 30 bytes) fits the
        // 255-byte limit whenever the target's own name does.
        let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let cut = (0..=name.len().min(200)).rev().find(|&i| name.is_char_boundary(i)).unwrap_or(0);
        let name = &name[..cut];
        // Unique per process and per file; never opens an existing name (a planted link).
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self { target: real, tmp: Some(tmp), file: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// Whether the target is written in place (a device or FIFO), not replaced.
    pub fn in_place(&self) -> bool {
        self.tmp.is_none()
    }

    /// Whether `target` would be replaced atomically (a regular or missing file, links
    /// followed) rather than written in place; errors as [`AtomicFile::create`] would. Opens
    /// nothing, so asking about a FIFO does not wait for a reader.
    pub fn replaces(target: &Path) -> Result<bool> {
        resolve(target).map(|r| r.is_some())
    }

    /// Checks now that `target` can be written, before work that would be lost if it could
    /// not: for a file to be replaced, creates and removes its temp file beside it (a read-only
    /// file system, a missing directory or a name the directory refuses shows here, not after
    /// training). A device or FIFO is not opened (a FIFO would wait for a reader).
    pub fn probe(target: &Path) -> Result<()> {
        if Self::replaces(target)? {
            drop(Self::create(target)?);
        }
        Ok(())
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

    /// Flushes, fsyncs, renames over the target and fsyncs the directory (in place: flushes).
    /// If any of it fails the temp file is removed and the target is left as it was.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("commit once");
        let file = file.into_inner().map_err(|e| Error::io(&self.target, e.into_error()))?;
        let Some(tmp) = &self.tmp else {
            return Ok(()); // a device or FIFO: nothing to make durable, nothing to rename
        };
        if hook_fails_at("fsync", &self.target) {
            return Err(Error::io(&self.target, injected_full()));
        }
        file.sync_all().map_err(|e| Error::io(&self.target, e))?;
        drop(file);
        if hook_fails_at("rename", &self.target) {
            return Err(Error::io(&self.target, injected_full()));
        }
        fs::rename(tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.tmp = None;
        sync_dir(&parent_dir(&self.target))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            self.file = None; // close before removing
            let _ = fs::remove_file(tmp);
        }
    }
}

fn injected_full() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device (injected by SHARDPROP_FAIL_AT)")
}

/// Whether the fault-injection hook `SHARDPROP_FAIL_AT` names this point of a commit (`fsync` or
/// `rename`): the places besides `write` where a full disk or a failing device reports errors.
/// `POINT:NAME` fails only the commits of a target whose file name is `NAME`.
fn hook_fails_at(point: &str, target: &Path) -> bool {
    let Some(spec) = test_hooks().fail_at.as_deref() else { return false };
    match spec.split_once(':') {
        Some((p, name)) => p == point && target.file_name().is_some_and(|n| n == name),
        None => spec == point,
    }
}

/// Fault-injection hooks for the crash-safety tests, read once from the environment:
/// `SHARDPROP_SLOW_WRITE_US` sleeps that many microseconds after every 4 KiB written (so a kill
/// lands mid-write), `SHARDPROP_FAIL_WRITES_AFTER` fails writes with "no space left" once that
/// many bytes have been written by the process (a full disk), `SHARDPROP_FAIL_AT=fsync|rename`
/// fails every commit at that point (`rename:model.ckpt`: only that file's).
struct TestHooks {
    slow_write_us: u64,
    fail_after: Option<u64>,
    fail_at: Option<String>,
}

fn test_hooks() -> &'static TestHooks {
    static HOOKS: OnceLock<TestHooks> = OnceLock::new();
    HOOKS.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        TestHooks {
            slow_write_us: var("SHARDPROP_SLOW_WRITE_US").unwrap_or(0),
            fail_after: var("SHARDPROP_FAIL_WRITES_AFTER"),
            fail_at: std::env::var("SHARDPROP_FAIL_AT").ok(),
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
