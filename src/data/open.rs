//! Opening an input exactly once. A regular file may be reopened, sniffed again or memory-mapped;
//! a pipe or FIFO (`--data <(cat f)`, `/dev/stdin`, `mkfifo`) yields its bytes only once, so its
//! first bytes are read into a buffer, looked at there (binary magic, gzip magic, a UTF-8 BOM),
//! and handed back in front of the rest of the stream. A regular file read twice (`convert`'s
//! two passes) is read again through the handle it was opened with ([`Input::rewinder`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Bytes sniffed at the start of an input: enough for the binary dataset magic.
const HEAD: usize = 8;
/// The gzip magic.
const GZIP: [u8; 2] = [0x1f, 0x8b];
/// The UTF-8 byte-order mark some editors put at the start of a text file.
pub const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// An input opened once, with its first bytes already read.
pub struct Input {
    path: PathBuf,
    regular: bool,
    head: Vec<u8>,
    rest: Box<dyn Read + Send>,
    /// A regular file's open file, a second handle on it (sharing its offset).
    file: Option<File>,
}

impl Input {
    /// Opens `path` (once) and reads its first bytes.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let regular = file.metadata().map_err(|e| Error::io(path, e))?.is_file();
        let again = if regular { Some(file.try_clone().map_err(|e| Error::io(path, e))?) } else { None };
        Self::over(path, again, Box::new(file))
    }

    /// `rest` from its first byte; `file`, a handle on it when it is a regular file.
    fn over(path: &Path, file: Option<File>, mut rest: Box<dyn Read + Send>) -> Result<Self> {
        let mut head = vec![0u8; HEAD];
        let got = read_up_to(&mut rest, &mut head).map_err(|e| Error::io(path, e))?;
        head.truncate(got);
        Ok(Self { path: path.to_path_buf(), regular: file.is_some(), head, rest, file })
    }

    /// A regular file's length, from the handle opened here (not the path again); `None` for a
    /// pipe, FIFO or device.
    pub fn file_len(&self) -> Result<Option<u64>> {
        self.file.as_ref().map(|f| f.metadata().map(|m| m.len()).map_err(|e| Error::io(&self.path, e))).transpose()
    }

    /// For a regular file, a way to read it again from its first byte through the file opened
    /// here (a second handle, not the path opened again: a file renamed or replaced meanwhile is
    /// not picked up); `None` for a pipe, FIFO or device, which yields its bytes only once.
    pub fn rewinder(&self) -> Result<Option<Rewinder>> {
        let Some(file) = &self.file else { return Ok(None) };
        let file = file.try_clone().map_err(|e| Error::io(&self.path, e))?;
        Ok(Some(Rewinder { path: self.path.clone(), file }))
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it is a regular file, which may be reopened or mapped; else a pipe, FIFO,
    /// or device, which is read once, in order.
    pub fn is_regular(&self) -> bool {
        self.regular
    }

    /// Its first bytes (fewer than 8 only when that is all there is).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether it starts with the gzip magic.
    pub fn is_gzip(&self) -> bool {
        self.head.starts_with(&GZIP)
    }

    /// All its bytes from the start, the sniffed ones included.
    pub fn into_reader(self) -> impl Read + Send {
        Cursor::new(self.head).chain(self.rest)
    }

    /// Its bytes from the start, gunzipped when it starts with the gzip magic.
    pub fn into_text(self) -> Box<dyn BufRead + Send> {
        if self.is_gzip() {
            Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(self.into_reader())))
        } else {
            Box::new(BufReader::with_capacity(1 << 20, self.into_reader()))
        }
    }
}

/// A regular file opened as an [`Input`], to be read again from the start ([`Input::rewinder`]).
pub struct Rewinder {
    path: PathBuf,
    file: File,
}

impl Rewinder {
    /// The file from its first byte, its head sniffed as by [`Input::open`].
    pub fn rewind(mut self) -> Result<Input> {
        self.file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&self.path, e))?;
        let again = self.file.try_clone().map_err(|e| Error::io(&self.path, e))?;
        Input::over(&self.path, Some(again), Box::new(self.file))
    }
}

/// Reads until `buf` is full or the input ends (a pipe may hand over fewer bytes per read);
/// returns the bytes read.
pub fn read_up_to(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Drops a UTF-8 byte-order mark at the start of `r`; returns the text after it and the bytes
/// dropped (0 or 3), so byte offsets still count from the start of the file.
pub fn skip_bom(path: &Path, mut r: Box<dyn BufRead + Send>) -> Result<(Box<dyn BufRead + Send>, u64)> {
    let mut head = [0u8; 3];
    let got = read_up_to(&mut r, &mut head).map_err(|e| Error::io(path, e))?;
    if got == 3 && head == BOM { Ok((r, 3)) } else { Ok((Box::new(Cursor::new(head[..got].to_vec()).chain(r)), 0)) }
}
