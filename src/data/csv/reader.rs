//! Records from a byte stream: lines read with a bound on their length, quoted fields that may
//! span lines, and every field's 1-based line and column kept for error messages.
//!
//! Why our own tokenizer and not `csv_core` (issue 12 asked for it; tried in commit c52e673 on
//! branch r12-csv). There, `csv_core` split the lines without quotes, and our code kept records
//! with quotes, since `csv_core` cannot keep these rules by design ("it prefers *a* parse over
//! *no* parse"): text after a closing quote (`"a"b`) and a quote never closed are errors naming
//! their column, where `csv_core` joins the text on or ends the field at EOF; columns are places
//! in the line as written (quotes and doubled quotes counted), while `csv_core` reports where
//! each field ends in its unescaped output. The tests passed, but loading the `ingest` bench's
//! wide CSV (20,000 rows of 784 short integers, one thread) cost 0.39-0.41 s of CPU against
//! 0.325-0.335 s with the loop below (best of 12 loads, three alternating runs of each build):
//! about 20% more, from `csv_core`'s per-byte state machine and copy where fields are 1-3 bytes
//! long. The split below is one comparison per byte over the line as read.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::data::open::{Input, skip_bom};
use crate::error::{Error, Result};

/// The longest line (or quoted record) read, in bytes: a row of a million features is about
/// 8 MB, while an endless stream without line ends (`/dev/zero`, a binary file) must not fill
/// memory.
pub const MAX_LINE: usize = 64 << 20;

/// `read_until(b'\n')` that refuses to let `buf` grow past [`MAX_LINE`]: the error names the
/// file and the line (1-based) where the overlong line starts.
pub(super) fn read_line_bounded(
    r: &mut (impl BufRead + ?Sized),
    buf: &mut Vec<u8>,
    path: &Path,
    line: u64,
) -> Result<usize> {
    let before = buf.len();
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // A damaged or truncated gzip stream fails here: say where.
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line,
                    column: 1,
                    msg: format!("cannot read line {line}: {e} (a truncated or damaged file?)"),
                });
            }
        };
        if chunk.is_empty() {
            return Ok(buf.len() - before);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take);
        if buf.len() > MAX_LINE {
            return Err(too_long(path, line));
        }
        if done {
            return Ok(buf.len() - before);
        }
    }
}

pub(super) fn too_long(path: &Path, line: u64) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        column: 1,
        msg: format!("line is longer than {MAX_LINE} bytes without a line end (not a CSV file?)"),
    }
}

/// Splits a byte stream into records of fields, honouring quotes. Buffers are reused.
pub struct RecordReader<'a> {
    r: Box<dyn BufRead + Send + 'a>,
    path: PathBuf,
    raw: Vec<u8>,
    /// Unquoted field bytes, back to back (only for records with quotes).
    text: Vec<u8>,
    /// Whether the current record had quotes, so its fields live in `text` rather than `raw`.
    quoted: bool,
    /// Per field: start and end offset (in `raw`, or `text` when quoted) and the 1-based column
    /// of its first byte in the line.
    fields: Vec<(usize, usize, u64)>,
    next_line: u64,
    next_offset: u64,
    /// A record read ahead of the current one (header detection looks at two), returned next.
    ahead: Option<Box<Saved>>,
    /// 1-based line on which the current record starts.
    pub line: u64,
    /// Byte offset in the (uncompressed) file where the current record starts.
    pub offset: u64,
}

/// One record's buffers and place, set aside.
#[derive(Default)]
struct Saved {
    raw: Vec<u8>,
    text: Vec<u8>,
    quoted: bool,
    fields: Vec<(usize, usize, u64)>,
    line: u64,
    offset: u64,
}

impl<'a> RecordReader<'a> {
    /// Reads records from `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::from_input(Input::open(path)?)
    }

    /// Reads records from an opened input (gunzipped if need be), after any UTF-8 BOM.
    pub fn from_input(input: Input) -> Result<Self> {
        let path = input.path().to_path_buf();
        let (r, bom) = skip_bom(&path, input.into_text())?;
        Ok(Self::from_reader(r, &path, 1, bom))
    }

    /// Reads records from `bytes`, a run of whole lines of `path` starting at line `first_line`
    /// and byte `first_offset`.
    pub fn from_bytes(bytes: &'a [u8], path: &Path, first_line: u64, first_offset: u64) -> Self {
        Self::from_reader(Box::new(bytes), path, first_line, first_offset)
    }

    /// Reads records from `r`, the rest of `path` from the start of line `first_line`, at byte
    /// `first_offset` of the (uncompressed) file.
    pub(super) fn from_reader(
        r: Box<dyn BufRead + Send + 'a>,
        path: &Path,
        first_line: u64,
        first_offset: u64,
    ) -> Self {
        Self {
            r,
            path: path.to_path_buf(),
            raw: Vec::new(),
            text: Vec::new(),
            quoted: false,
            fields: Vec::new(),
            next_line: first_line,
            next_offset: first_offset,
            ahead: None,
            line: 0,
            offset: 0,
        }
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next non-blank record; `Ok(false)` at the end of the file.
    pub fn next_record(&mut self) -> Result<bool> {
        if let Some(mut saved) = self.ahead.take() {
            self.swap(&mut saved);
            return Ok(true);
        }
        loop {
            self.raw.clear();
            let n = read_line_bounded(&mut self.r, &mut self.raw, &self.path, self.next_line)?;
            if n == 0 {
                return Ok(false);
            }
            self.line = self.next_line;
            self.offset = self.next_offset;
            self.next_line += 1;
            self.next_offset += n as u64;
            self.check_text(0)?;
            if self.raw.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            self.split()?;
            return Ok(true);
        }
    }

    /// Reads the record after the current one and returns whether there is one, leaving both in
    /// place: `f` sees the next record; afterwards the current one is current again, and the
    /// next one is what [`Self::next_record`] returns.
    pub fn peek_next<T>(&mut self, f: impl FnOnce(Option<&Self>) -> T) -> Result<T> {
        let mut current = Saved::default();
        self.swap(&mut current);
        let found = self.next_record();
        let out = match &found {
            Ok(true) => f(Some(self)),
            _ => f(None),
        };
        self.swap(&mut current);
        if found? {
            self.ahead = Some(Box::new(current));
        }
        Ok(out)
    }

    fn swap(&mut self, s: &mut Saved) {
        std::mem::swap(&mut self.raw, &mut s.raw);
        std::mem::swap(&mut self.text, &mut s.text);
        std::mem::swap(&mut self.quoted, &mut s.quoted);
        std::mem::swap(&mut self.fields, &mut s.fields);
        std::mem::swap(&mut self.line, &mut s.line);
        std::mem::swap(&mut self.offset, &mut s.offset);
    }

    /// Refuses a NUL byte or invalid UTF-8 in `raw[from..]` (the line just read), naming its
    /// line, column and byte offset: a CSV file is UTF-8 text, and a NUL is the mark of a binary
    /// file given as one.
    #[inline]
    fn check_text(&self, from: usize) -> Result<()> {
        let bytes = &self.raw[from..];
        if bytes.is_ascii() && !bytes.contains(&0) {
            return Ok(());
        }
        self.bad_text(from)
    }

    #[cold]
    fn bad_text(&self, from: usize) -> Result<()> {
        let bytes = &self.raw[from..];
        let nul = bytes.iter().position(|&b| b == 0);
        let bad_utf8 = std::str::from_utf8(bytes).err().map(|e| e.valid_up_to());
        let (at, nul) = match (nul, bad_utf8) {
            (Some(n), Some(u)) if u < n => (u, false),
            (Some(n), _) => (n, true),
            (None, Some(u)) => (u, false),
            (None, None) => return Ok(()),
        };
        let i = from + at;
        let offset = self.offset + i as u64;
        let msg = if nul {
            format!("NUL byte at byte {offset} of the file: expected CSV text (is this a binary file?)")
        } else {
            format!("invalid UTF-8 (byte 0x{:02x}) at byte {offset} of the file: expected UTF-8 text", self.raw[i])
        };
        let line_start = self.raw[..i].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let lines_before = self.raw[..line_start].iter().filter(|&&b| b == b'\n').count() as u64;
        Err(Error::Parse {
            path: self.path.clone(),
            line: self.line + lines_before,
            column: (i - line_start) as u64 + 1,
            msg,
        })
    }

    fn split(&mut self) -> Result<()> {
        self.fields.clear();
        self.quoted = self.raw.contains(&b'"');
        if !self.quoted {
            // Fast path: fields are ranges of the raw line.
            let mut end = self.raw.len();
            if self.raw[..end].ends_with(b"\n") {
                end -= 1;
            }
            if self.raw[..end].ends_with(b"\r") {
                end -= 1;
            }
            let mut start = 0;
            for (i, &b) in self.raw[..end].iter().enumerate() {
                if b == b',' {
                    self.fields.push((start, i, start as u64 + 1));
                    start = i + 1;
                }
            }
            self.fields.push((start, end, start as u64 + 1));
            return Ok(());
        }
        self.text.clear();
        let mut i = 0;
        let mut col_base = 0usize; // byte offset in `raw` where the current physical line starts
        loop {
            let start_col = (i - col_base) as u64 + 1;
            let text_start = self.text.len();
            if self.raw.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    match self.raw.get(i) {
                        Some(b'"') if self.raw.get(i + 1) == Some(&b'"') => {
                            self.text.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(&b) => {
                            self.text.push(b);
                            i += 1;
                        }
                        None => {
                            // The quoted field goes on past the line end.
                            let before = self.raw.len();
                            let n = read_line_bounded(&mut self.r, &mut self.raw, &self.path, self.line)?;
                            if n == 0 {
                                return Err(Error::Parse {
                                    path: self.path.clone(),
                                    line: self.line,
                                    column: start_col,
                                    msg: "quoted field is never closed (expected a closing \")".into(),
                                });
                            }
                            col_base = before;
                            self.next_line += 1;
                            self.next_offset += n as u64;
                            self.check_text(before)?;
                        }
                    }
                }
                // Only a separator or the line end may follow a closing quote.
                match self.raw.get(i) {
                    Some(b',') | Some(b'\n') | None => {}
                    Some(b'\r') if matches!(self.raw.get(i + 1), Some(b'\n') | None) => {}
                    Some(&b) => {
                        return Err(Error::Parse {
                            path: self.path.clone(),
                            line: self.line,
                            column: (i - col_base) as u64 + 1,
                            msg: format!("expected ',' or a line end after a closing quote, found {:?}", b as char),
                        });
                    }
                }
            } else {
                let begin = i;
                while let Some(&b) = self.raw.get(i) {
                    if b == b',' || b == b'\n' {
                        break;
                    }
                    i += 1;
                }
                let mut end = i;
                if end > begin && self.raw[end - 1] == b'\r' && self.raw.get(i).is_none_or(|&b| b == b'\n') {
                    end -= 1;
                }
                self.text.extend_from_slice(&self.raw[begin..end]);
            }
            self.fields.push((text_start, self.text.len(), start_col));
            match self.raw.get(i) {
                Some(b',') => i += 1,
                _ => return Ok(()),
            }
        }
    }

    /// Number of fields in the current record.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the current record has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    #[inline]
    pub(super) fn field_bytes(&self, j: usize) -> &[u8] {
        let (start, end, _) = self.fields[j];
        let buf = if self.quoted { &self.text } else { &self.raw };
        buf[start..end].trim_ascii()
    }

    /// Field `j` of the current record (unquoted, surrounding spaces trimmed).
    pub fn field(&self, j: usize) -> &str {
        std::str::from_utf8(self.field_bytes(j)).unwrap_or("\u{fffd}")
    }

    /// 1-based column where field `j` starts.
    pub fn column(&self, j: usize) -> u64 {
        self.fields[j].2
    }

    /// An error at field `j` of the current record.
    pub fn error(&self, j: usize, msg: impl Into<String>) -> Error {
        Error::Parse {
            path: self.path.clone(),
            line: self.line,
            column: self.fields.get(j).map_or(1, |f| f.2),
            msg: msg.into(),
        }
    }
}
