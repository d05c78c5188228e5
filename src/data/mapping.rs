//! A file mapped read-only for training, shared by the memory-mapped readers (the binary
//! format's [`super::binary::MappedDataset`] and `.npy`'s `MappedNpy`): the map
//! registered with the SIGBUS guard before its first read, the length re-checked before each
//! step ([`MappedFile::check_source`]), and pages handed back after every [`RELEASE_BYTES`] of
//! rows read ([`PageRelease`]), so a file larger than RAM trains in bounded resident memory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{Mmap, UncheckedAdvice};

use crate::error::{Error, Result};

/// A mapped file's pages are released from this process after about this many bytes of rows read.
pub const RELEASE_BYTES: usize = 256 << 20;

/// A whole file, mapped read-only, with the handle it was mapped from.
pub struct MappedFile {
    /// Names the file if reading the map faults. First, so it is dropped (unregistered) before
    /// the map is unmapped.
    _fault: super::sigbus::Registration,
    map: Mmap,
    /// Kept open to re-check its length (`fstat`) before each training step.
    file: File,
    /// Its length when mapped.
    len: u64,
    path: PathBuf,
}

impl MappedFile {
    /// Maps `path` for reads in random order (no read-ahead of neighbours).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only. A file truncated underneath us would make a read fault
        // (SIGBUS): the length is re-checked before every training step (`check_source`), and
        // the fault handler of [`crate::data::sigbus`] turns the remaining race into a message.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let fault = super::sigbus::Registration::new(map.as_ptr(), map.len(), path);
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Self { _fault: fault, len: map.len() as u64, map, file, path: path.to_path_buf() })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The open file (for reads that should not go through the map).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Refuses a file that is now shorter than when it was mapped (truncated while in use),
    /// before its missing pages are read.
    pub fn check_source(&self) -> Result<()> {
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

    /// Drops this process's page-table entries for the whole map; later reads fault the same
    /// bytes back in from the page cache or the file.
    pub fn release(&self) {
        // SAFETY: a read-only shared file mapping; MADV_DONTNEED only drops this process's
        // page-table entries. Failure only means the pages stay resident.
        let _ = unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) };
    }
}

/// Counts rows read and releases a map's pages after every [`RELEASE_BYTES`] of them.
pub struct PageRelease {
    since: AtomicUsize,
    every: usize,
}

impl PageRelease {
    /// For rows of `row_bytes` bytes.
    pub fn new(row_bytes: usize) -> Self {
        Self { since: AtomicUsize::new(0), every: (RELEASE_BYTES / row_bytes.max(1)).max(1) }
    }

    /// Records `rows` more rows read from `map`, releasing its pages when enough were.
    pub fn rows_read(&self, rows: usize, map: &MappedFile) {
        let n = self.since.fetch_add(rows, Ordering::Relaxed) + rows;
        if n >= self.every {
            self.since.store(0, Ordering::Relaxed);
            map.release();
        }
    }
}

/// The `f32` cells of a part of a mapping, viewed once when the file is opened rather than on
/// every row read. It holds a pointer, not the map: its owner keeps the map alive beside it.
pub struct RowFloats {
    ptr: std::ptr::NonNull<f32>,
    len: usize,
}

// SAFETY: a pointer into a read-only mapping that the owning reader keeps alive; it is only ever
// read through shared slices, so sharing it between threads is as safe as `&[f32]`.
unsafe impl Send for RowFloats {}
// SAFETY: as for `Send`.
unsafe impl Sync for RowFloats {}

impl RowFloats {
    /// The cells in `bytes`, a part of a map at a 4-byte aligned address (a map is page-aligned,
    /// so a 4-byte aligned offset into it), native-endian `f32`s (any bit pattern is one), whose
    /// length the caller checked against the file's header.
    pub fn of(bytes: &[u8]) -> Self {
        assert!(bytes.as_ptr().cast::<f32>().is_aligned(), "a mapped file's cells are 4-byte aligned");
        let ptr = std::ptr::NonNull::new(bytes.as_ptr().cast::<f32>().cast_mut()).expect("a map is never at null");
        Self { ptr, len: bytes.len() / 4 }
    }

    /// The cells.
    ///
    /// # Safety
    /// The mapping `self` was made from must still be mapped (the map moves with its owner
    /// without its pages moving) for as long as the returned slice is used.
    #[inline]
    pub unsafe fn get(&self) -> &[f32] {
        // SAFETY: the caller keeps the mapping alive; `of` checked alignment and length.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}
