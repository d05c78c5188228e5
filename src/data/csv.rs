//! Strict, streaming CSV (optionally gzipped): RFC 4180 quoting, CRLF or LF line ends, a header
//! row detected or forced, the target column by name or index (default the last).
//!
//! Every error names the file, the 1-based line and column and what was expected, e.g.
//! `iris.csv:12:9: column 3 (petal_length): cannot parse "abc" as a number`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use rayon::prelude::*;
use std::collections::TryReserveError;
use std::path::{Path, PathBuf};

use super::open::{BOM, Input, skip_bom};
use super::{CsvOptions, Dataset, ModelColumns, Targets, Task};
use crate::error::{Error, Result};

/// The longest line (or quoted record) read, in bytes: a row of a million features is about
/// 8 MB, while an endless stream without line ends (`/dev/zero`, a binary file) must not fill
/// memory.
pub const MAX_LINE: usize = 64 << 20;

/// `read_until(b'\n')` that refuses to let `buf` grow past [`MAX_LINE`]: the error names the
/// file and the line (1-based) where the overlong line starts.
fn read_line_bounded(r: &mut (impl BufRead + ?Sized), buf: &mut Vec<u8>, path: &Path, line: u64) -> Result<usize> {
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

fn too_long(path: &Path, line: u64) -> Error {
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
        let mut rr = Self::over(r, &path, 1);
        rr.next_offset = bom;
        Ok(rr)
    }

    /// Reads records from `bytes`, a run of whole lines of `path` starting at line `first_line`
    /// and byte `first_offset`.
    pub fn from_bytes(bytes: &'a [u8], path: &Path, first_line: u64, first_offset: u64) -> Self {
        let mut rr = Self::over(Box::new(bytes), path, first_line);
        rr.next_offset = first_offset;
        rr
    }

    fn over(r: Box<dyn BufRead + Send + 'a>, path: &Path, first_line: u64) -> Self {
        Self {
            r,
            path: path.to_path_buf(),
            raw: Vec::new(),
            text: Vec::new(),
            quoted: false,
            fields: Vec::new(),
            next_line: first_line,
            next_offset: 0,
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
    fn field_bytes(&self, j: usize) -> &[u8] {
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

    /// Parses field `j` as a finite `f32`, naming the column in the error.
    #[inline]
    pub fn number(&self, j: usize, name: &str) -> Result<f32> {
        let b = self.field_bytes(j);
        // Fast path: a plain integer of up to 7 digits converts to f32 exactly.
        if !b.is_empty() && b.len() <= 7 {
            let mut v = 0u32;
            let mut digits = true;
            for &d in b {
                let x = d.wrapping_sub(b'0');
                digits &= x < 10;
                v = v.wrapping_mul(10).wrapping_add(x as u32);
            }
            if digits {
                return Ok(v as f32);
            }
        }
        self.number_slow(j, name)
    }

    #[cold]
    fn number_slow(&self, j: usize, name: &str) -> Result<f32> {
        let s = self.field(j);
        if s.is_empty() {
            return Err(self.error(j, format!("column {} ({name}): empty field, expected a number", j + 1)));
        }
        match s.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(self.error(j, format!("column {} ({name}): {s:?} is not a finite number", j + 1))),
            Err(_) => Err(self.error(j, format!("column {} ({name}): cannot parse {s:?} as a number", j + 1))),
        }
    }
}

/// The layout of a CSV file, read from its first record: column names, which are targets, and
/// whether the first record was a header.
#[derive(Clone, Debug)]
pub struct Layout {
    /// All column names (from the header, or `col1`, `col2`, ...).
    pub names: Vec<String>,
    /// Indices of the target columns.
    pub targets: Vec<usize>,
    /// Indices of the feature columns, in the order the rows' features take (the model's, when
    /// they were matched by name).
    pub feature_columns: Vec<usize>,
    /// Indices of the columns read past: neither features nor targets.
    pub ignored: Vec<usize>,
    /// Whether the first record was a header.
    pub has_header: bool,
}

impl Layout {
    /// Indices of the feature columns.
    pub fn features(&self) -> Vec<usize> {
        self.feature_columns.clone()
    }

    /// Every column that is not a target, in file order: the features when nothing is matched
    /// by name.
    fn positional(names: Vec<String>, targets: Vec<usize>, ignored: Vec<usize>, has_header: bool) -> Self {
        let mut taken = vec![false; names.len()];
        for &j in targets.iter().chain(&ignored) {
            if let Some(t) = taken.get_mut(j) {
                *t = true;
            }
        }
        let feature_columns = (0..names.len()).filter(|&j| !taken[j]).collect();
        Self { names, targets, feature_columns, ignored, has_header }
    }

    /// Reads the layout from the reader's first record; returns it with `true` when that record
    /// is a data row still to be consumed.
    pub fn read(rr: &mut RecordReader<'_>, opts: &CsvOptions) -> Result<(Self, bool)> {
        if !rr.next_record()? {
            return Err(Error::format(rr.path(), "empty file: expected a header or data rows"));
        }
        let n = rr.len();
        // Old Mac line ends (CR alone) make the whole file one line: say so, not "duplicate names".
        if let Some(j) = (0..n).find(|&j| rr.field(j).contains('\r')) {
            return Err(rr.error(
                j,
                "a carriage return (CR) inside the first line: line ends of CR alone are not supported; \
                 expected LF or CRLF line ends (convert with: tr '\\r' '\\n')",
            ));
        }
        let has_header = match opts.header {
            Some(forced) => forced,
            None => Self::detect_header(rr)?,
        };
        let names: Vec<String> = if has_header {
            (0..n).map(|j| rr.field(j).to_string()).collect()
        } else {
            (1..=n).map(|j| format!("col{j}")).collect()
        };
        if has_header {
            let mut seen = HashMap::with_capacity(n);
            for (j, name) in names.iter().enumerate() {
                if let Some(first) = seen.insert(name.as_str(), j) {
                    return Err(rr.error(
                        j,
                        format!(
                            "column {} has the same name {name:?} as column {}: expected unique column names",
                            j + 1,
                            first + 1
                        ),
                    ));
                }
            }
        }
        if let Some(model) = &opts.model {
            return Ok((Self::for_model(rr, names, has_header, opts, model)?, !has_header));
        }
        let targets = match &opts.target {
            _ if opts.unlabeled.is_some() => Vec::new(),
            None => vec![n - 1],
            Some(spec) => spec
                .split(',')
                .map(|t| {
                    let t = t.trim();
                    names
                        .iter()
                        .position(|name| name == t)
                        .or_else(|| t.parse::<usize>().ok().filter(|&j| j < n))
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "{}: unknown target column {t:?}; the columns are {} (or an index 0..{})",
                                rr.path().display(),
                                names.join(", "),
                                n - 1
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if n < 2 && opts.unlabeled.is_none() {
            return Err(rr.error(0, format!("found {n} column, expected at least one feature and a target")));
        }
        if !opts.regression && targets.len() != 1 && opts.unlabeled.is_none() {
            return Err(Error::Config("classification takes exactly one target column".into()));
        }
        Ok((Self::positional(names, targets, Vec::new(), has_header), !has_header))
    }

    /// The layout of a file to evaluate or predict on with a trained model (see
    /// [`ModelColumns`]): features matched by header name where both sides have names, else by
    /// position; the target by `--target`, the model's own target names or training `--target`,
    /// else the one column left over (the last column, without names).
    fn for_model(
        rr: &RecordReader<'_>,
        names: Vec<String>,
        has_header: bool,
        opts: &CsvOptions,
        model: &ModelColumns,
    ) -> Result<Self> {
        let path = rr.path();
        let n = names.len();
        let n_in = model.features.len();
        let k = match &model.task {
            Task::Regression { targets } => targets.len(),
            Task::Classification { .. } => 1,
        };
        // Name lookups by hash (a file may have 100,000 columns): header names are unique.
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(j, name)| (name.as_str(), j)).collect();
        let by_name = |t: &str| index.get(t).copied();
        let resolve = |spec: &str, index_ok: bool| -> Option<Vec<usize>> {
            spec.split(',')
                .map(|t| {
                    let t = t.trim();
                    by_name(t).or_else(|| t.parse::<usize>().ok().filter(|&j| index_ok && j < n))
                })
                .collect()
        };
        let user_target = match &opts.target {
            Some(spec) => Some(resolve(spec, true).ok_or_else(|| {
                Error::Config(format!(
                    "{}: unknown target column {spec:?}; the columns are {} (or an index 0..{})",
                    path.display(),
                    names.join(", "),
                    n.saturating_sub(1)
                ))
            })?),
            None => None,
        };
        let list = |cols: &[usize]| cols.iter().map(|&j| names[j].as_str()).collect::<Vec<_>>().join(", ");
        let check_count = |targets: &[usize]| -> Result<()> {
            if targets.len() == k {
                return Ok(());
            }
            let what = match &model.task {
                Task::Regression { targets } => format!("{k} target column(s) ({})", targets.join(", ")),
                Task::Classification { .. } => "one class column".to_string(),
            };
            Err(Error::Mismatch(format!(
                "{}: {} target column(s) ({}), but the model predicts {what}; name them with --target",
                path.display(),
                targets.len(),
                list(targets)
            )))
        };
        // A headerless training file names its columns col1, col2, ...: nothing to match.
        let synthetic = |f: &String| is_synthetic_name(f);
        if has_header && !model.features.iter().all(synthetic) {
            let found: Vec<Option<usize>> = model.features.iter().map(|f| by_name(f)).collect();
            let missing: Vec<&str> =
                model.features.iter().zip(&found).filter(|(_, j)| j.is_none()).map(|(f, _)| f.as_str()).collect();
            if missing.is_empty() {
                let features: Vec<usize> = found.into_iter().flatten().collect();
                let mut is_feature = vec![false; n];
                for &j in &features {
                    is_feature[j] = true;
                }
                let extras: Vec<usize> = (0..n).filter(|&j| !is_feature[j]).collect();
                let targets = if !model.need_target {
                    Some(Vec::new())
                } else if let Some(t) = user_target.clone() {
                    Some(t)
                } else if let Some(t) = model.trained_target.as_deref().and_then(|s| resolve(s, false)) {
                    Some(t)
                } else if let Task::Regression { targets } = &model.task {
                    targets
                        .iter()
                        .map(|t| by_name(t))
                        .collect::<Option<Vec<_>>>()
                        .or_else(|| (extras.len() == k).then(|| extras.clone()))
                } else if extras.last() == Some(&(n - 1)) || extras.len() == 1 {
                    extras.last().map(|&j| vec![j])
                } else if extras.is_empty() {
                    // Every column is a feature: the file has no target (the label column was
                    // left out), and reading the last feature as one would misreport it.
                    return Err(Error::Mismatch(format!(
                        "{}: its columns are the model's features and no target column; evaluate needs the \
                         target (predict reads rows without one)",
                        path.display()
                    )));
                } else {
                    return Err(Error::Config(format!(
                        "{}: the columns {} are not the model's features; name the target column with --target",
                        path.display(),
                        list(&extras)
                    )));
                };
                if let Some(targets) = targets {
                    if let Some(&j) = targets.iter().find(|&&j| is_feature[j]) {
                        return Err(Error::Config(format!(
                            "{}: the target column {:?} is one of the model's features",
                            path.display(),
                            names[j]
                        )));
                    }
                    if model.need_target {
                        check_count(&targets)?;
                    }
                    let ignored = extras.into_iter().filter(|j| !targets.contains(j)).collect();
                    return Ok(Self { names, targets, feature_columns: features, ignored, has_header });
                }
            } else if missing.len() < n_in {
                return Err(Error::Mismatch(format!(
                    "{}: no column named {} in the header, but the model takes {} (its features are {}; the file's columns are {})",
                    path.display(),
                    missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                    model.features.join(", "),
                    names.join(", ")
                )));
            }
        }
        // By position: the target by --target, training's --target or the last k columns. A
        // training --target given by name cannot be found in a file without names: guessing the
        // last column would read the target as a feature.
        if !has_header
            && user_target.is_none()
            && let Some(t) = model.trained_target.as_deref()
            && t.split(',').any(|c| c.trim().parse::<usize>().is_err())
        {
            return Err(Error::Config(format!(
                "{}: has no header, and the model's target was named {t:?} when it was trained, so its column \
                 cannot be found: give --target with its 0-based index, or add the header",
                path.display()
            )));
        }
        let default_targets = || {
            user_target
                .clone()
                .or_else(|| model.trained_target.as_deref().and_then(|s| resolve(s, true)).filter(|t| t.len() == k))
                .unwrap_or_else(|| (n.saturating_sub(k)..n).collect())
        };
        if model.need_target {
            let targets = default_targets();
            check_count(&targets)?;
            if n < 2 {
                return Err(rr.error(0, format!("found {n} column, expected at least one feature and a target")));
            }
            return Ok(Self::positional(names, targets, Vec::new(), has_header));
        }
        // Rows to predict: every column a feature, or the features and the target (read past).
        let ignored = if n == n_in && user_target.is_none() { Vec::new() } else { default_targets() };
        let layout = Self::positional(names, Vec::new(), ignored, has_header);
        if layout.feature_columns.len() != n_in {
            return Err(Error::Mismatch(format!(
                "{}: has {} columns, but the model takes {n_in} features (and the file may add its {k} target column(s))",
                path.display(),
                n
            )));
        }
        Ok(layout)
    }

    /// Whether the current (first) record is a header: it is when it has a field that is not a
    /// number above a number in the next record (a name over a numeric column), or when it has
    /// text and no record follows. A first record whose text fields all sit above text in the
    /// next record (string labels, `5.1,3.5,1.4,0.2,setosa`) is data, so a headerless file with
    /// string labels keeps its first row.
    fn detect_header(rr: &mut RecordReader<'_>) -> Result<bool> {
        let text: Vec<usize> = (0..rr.len()).filter(|&j| rr.field(j).parse::<f64>().is_err()).collect();
        if text.is_empty() {
            return Ok(false);
        }
        rr.peek_next(|next| match next {
            None => true,
            Some(next) => text.iter().any(|&j| j < next.len() && next.field(j).parse::<f64>().is_ok()),
        })
    }
}

/// Assigns class ids in first-seen order and, at the end, renumbers them in sorted order
/// (numerically when every label is a number), so the output units do not depend on row order.
#[derive(Clone, Default)]
pub struct ClassMap {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    fixed: bool,
    /// For a fixed map whose classes are all numbers: each class's exact decimal value, built
    /// at the first label not found by its text (one lookup per label, not a scan).
    values: Option<HashMap<(bool, String, i64), u32>>,
}

impl ClassMap {
    /// A map that accepts only the given classes (a test set against a training set's classes).
    pub fn fixed(classes: &[String]) -> Self {
        let ids = classes.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
        Self { ids, names: classes.to_vec(), fixed: true, values: None }
    }

    /// The id of field `j` of the current record.
    pub fn id(&mut self, rr: &RecordReader<'_>, j: usize) -> Result<u32> {
        let label = rr.field(j);
        if let Some(&id) = self.ids.get(label) {
            return Ok(id);
        }
        if label.is_empty() {
            return Err(rr.error(j, format!("column {}: empty label", j + 1)));
        }
        if self.fixed {
            // A number written another way (`1.0` for a model's `1`) is the same class.
            let names = &self.names;
            let values = self.values.get_or_insert_with(|| {
                let keys: Option<Vec<_>> = names.iter().map(|n| decimal_key(n)).collect();
                keys.map(|k| k.into_iter().zip(0u32..).collect()).unwrap_or_default()
            });
            if let Some(&id) = decimal_key(label).and_then(|k| values.get(&k)) {
                self.ids.insert(label.to_string(), id);
                return Ok(id);
            }
            // At most 10 names: with --skip-bad-rows this message is built for every such row.
            let mut known = self.names.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
            if self.names.len() > 10 {
                known += &format!(", ... ({} classes)", self.names.len());
            }
            return Err(rr.error(j, format!("label {label:?} was never seen in training (known: {known})")));
        }
        let id = self.names.len() as u32;
        self.ids.insert(label.to_string(), id);
        self.names.push(label.to_string());
        Ok(id)
    }

    /// The id of `name`, numbering it next if it is new (merging another map's names).
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    /// The class names in output-unit order, and for each first-seen id its unit.
    pub fn finish(self) -> (Vec<String>, Vec<u32>) {
        if self.fixed {
            let identity = (0..self.names.len() as u32).collect();
            return (self.names, identity);
        }
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        let values: Option<Vec<f64>> = self.names.iter().map(|n| n.parse::<f64>().ok()).collect();
        let mut unit = vec![0u32; order.len()];
        let mut names = Vec::with_capacity(order.len());
        if let Some(v) = values {
            // Numeric labels are ordered by value, and one number written two ways (`1`, `1.0`,
            // `01`, `1e0`) is one class, named as first seen. "The same number" is decided on the
            // decimal text, exactly: 2^53 + 1 and 2^53 stay two classes although they round to
            // one f64.
            let keys: Vec<Option<(bool, String, i64)>> = self.names.iter().map(|n| decimal_key(n)).collect();
            order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then_with(|| keys[a].cmp(&keys[b])).then(a.cmp(&b)));
            for (k, &id) in order.iter().enumerate() {
                let prev = k.checked_sub(1).map(|p| order[p]);
                if prev.is_none_or(|p| keys[id].is_none() || keys[id] != keys[p]) {
                    names.push(self.names[id].clone());
                }
                unit[id] = (names.len() - 1) as u32;
            }
        } else {
            order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
            for (u, &id) in order.iter().enumerate() {
                unit[id] = u as u32;
                names.push(self.names[id].clone());
            }
        }
        (names, unit)
    }
}

/// Whether `name` is one a headerless file's column gets (`col1`, `col2`, ...), not a real name.
pub fn is_synthetic_name(name: &str) -> bool {
    name.strip_prefix("col").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A decimal number's exact value as (negative, significant digits, exponent): `1`, `1.0`, `01`,
/// `+1` and `1e0` give the same key, `0.1` and `0.10000000000000001` do not. `None` for text that
/// is not a plain decimal (`inf`, `NaN`, names).
fn decimal_key(s: &str) -> Option<(bool, String, i64)> {
    let s = s.trim();
    let (neg, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some((false, "0".into(), 0)); // every zero, -0 included
    }
    let trail = digits.len() - digits.trim_end_matches('0').len();
    let exp = exp.checked_sub(frac.len() as i64)?.checked_add(trail as i64)?;
    Some((neg, digits.trim_end_matches('0').to_string(), exp))
}

/// Parses the current record into `row` (features) and the target (class id or `values`).
pub fn parse_row(
    rr: &RecordReader<'_>,
    layout: &Layout,
    features: &[usize],
    classes: &mut ClassMap,
    regression: bool,
    row: &mut Vec<f32>,
    values: &mut Vec<f32>,
) -> Result<Option<u32>> {
    let n = layout.names.len();
    if rr.len() != n {
        let j = rr.len().min(n);
        return Err(Error::Parse {
            path: rr.path().to_path_buf(),
            line: rr.line,
            column: if rr.len() > n { rr.column(n) } else { rr.column(rr.len() - 1) },
            msg: format!("found {} fields, expected {n} (ragged row; field {} is where it differs)", rr.len(), j + 1),
        });
    }
    row.clear();
    for &j in features {
        row.push(rr.number(j, &layout.names[j])?);
    }
    if layout.targets.is_empty() {
        // Unlabeled rows: a placeholder target (the first class), or no values for regression.
        values.clear();
        return Ok((!regression).then_some(0));
    }
    if regression {
        values.clear();
        for &j in &layout.targets {
            values.push(rr.number(j, &layout.names[j])?);
        }
        Ok(None)
    } else {
        classes.id(rr, layout.targets[0]).map(Some)
    }
}

/// Loads a CSV file into memory. Returns the dataset and the lines of rows skipped (only with
/// `skip_bad_rows`). An uncompressed regular file without quotes is parsed in parallel, in waves
/// of blocks cut at line ends (memory beyond the final matrix stays bounded by the wave);
/// anything else streams through one thread. Both give the same dataset and the same first error.
pub fn load(path: &Path, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    load_input(Input::open(path)?, opts)
}

/// [`load`] from an opened input. A pipe or FIFO is read exactly once, by the sequential parser.
pub fn load_input(input: Input, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    let path = input.path().to_path_buf();
    let input = if input.is_regular() && !input.is_gzip() {
        if let Some(done) = load_parallel(input, opts)? {
            return Ok(done);
        }
        // Quotes or blank lines near the start: a regular file may be read again from the start.
        Input::open(&path)?
    } else {
        input
    };
    let mut classes = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
    let mut rows = Rows::default();
    let mut skipped = Vec::new();
    let layout = stream(input, opts, &mut classes, &mut skipped, |row, target| {
        rows.push(row, target).map_err(|e| out_of_memory(&path, rows.rows(row.len()), e))
    })?;
    Ok((rows.finish(&path, opts, &layout, classes)?, skipped))
}

/// `v.extend_from_slice(more)`, with the growth (amortised, as `extend` does) allowed to fail.
fn extend<T: Copy>(v: &mut Vec<T>, more: &[T]) -> std::result::Result<(), TryReserveError> {
    v.try_reserve(more.len())?;
    v.extend_from_slice(more);
    Ok(())
}

/// The error for rows that no longer fit in memory, after `rows` rows of `path`.
fn out_of_memory(path: &Path, rows: usize, e: TryReserveError) -> Error {
    Error::Mismatch(format!(
        "{}: after {rows} rows, the data read so far does not fit in memory ({e}); convert the file to the binary format (`shardprop convert`), which is memory-mapped, or use a machine with more memory",
        path.display()
    ))
}

/// Rows parsed so far: features, and class ids (first-seen numbering) or target values.
#[derive(Default)]
struct Rows {
    x: Vec<f32>,
    ids: Vec<u32>,
    vals: Vec<f32>,
}

impl Rows {
    /// Appends a row; growing the buffers may fail (a stream larger than memory, or an address
    /// space limit), and that is an error, not an abort.
    fn push(&mut self, row: &[f32], target: super::Target<'_>) -> std::result::Result<(), TryReserveError> {
        extend(&mut self.x, row)?;
        match target {
            super::Target::Class(id) => extend(&mut self.ids, &[id as u32]),
            super::Target::Values(v) => extend(&mut self.vals, v),
        }
    }

    fn rows(&self, features: usize) -> usize {
        self.x.len() / features.max(1)
    }

    fn finish(self, path: &Path, opts: &CsvOptions, layout: &Layout, classes: ClassMap) -> Result<Dataset> {
        let features = layout.features();
        let source = path.display().to_string();
        let mut data = if let Some(task) = &opts.unlabeled {
            let rows = self.x.len() / features.len().max(1);
            let targets = match task {
                Task::Classification { .. } => Targets::Classes(vec![0; rows]),
                Task::Regression { .. } => Targets::Values(vec![0.0; rows * task.n_outputs()]),
            };
            Dataset::new(self.x, targets, features.len(), task.clone(), source)?
        } else if opts.regression {
            let names = layout.targets.iter().map(|&j| layout.names[j].clone()).collect();
            Dataset::new(
                self.x,
                Targets::Values(self.vals),
                features.len(),
                Task::Regression { targets: names },
                source,
            )?
        } else {
            // A first line taken for data because its text sits over text (string labels) may be
            // a header whose feature names are numbers (`400,410,420,class`): then its "label"
            // is a class of one row. Ask instead of guessing.
            let first = self.ids.first().copied();
            if opts.header.is_none()
                && !layout.has_header
                && !classes.fixed
                && self.ids.len() > 2
                && let Some(first) = first
                && classes.names.get(first as usize).is_some_and(|l| l.parse::<f64>().is_err())
                && self.ids.iter().filter(|&&id| id == first).count() == 1
            {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    msg: format!(
                        "the first line was read as data, but its label {:?} appears on no other line: if it is a \
                         header (numeric column names), pass --header; if it is data, pass --no-header",
                        classes.names[first as usize]
                    ),
                });
            }
            let (names, unit) = classes.finish();
            let labels = self.ids.iter().map(|&id| unit[id as usize]).collect();
            Dataset::from_labels(self.x, labels, features.len(), names, &source)?
        };
        data.feature_names = features.iter().map(|&j| layout.names[j].clone()).collect();
        data.ignored_columns = layout.ignored.iter().map(|&j| layout.names[j].clone()).collect();
        Ok(data)
    }
}

/// Bytes per block of the parallel parser.
const BLOCK: usize = 8 << 20;

/// One block's rows, with its own class numbering and skipped lines.
struct Part {
    rows: Rows,
    classes: ClassMap,
    skipped: Vec<u64>,
    count: u64,
}

/// The parallel path of [`load`] over an uncompressed regular file; `None` when the file needs
/// the sequential one (quoted fields, blank lines among the first two).
fn load_parallel(input: Input, opts: &CsvOptions) -> Result<Option<(Dataset, Vec<u64>)>> {
    let path = &input.path().to_path_buf();
    let mut r = BufReader::with_capacity(1 << 20, input.into_reader());
    // The first two lines: header detection looks at both.
    let mut first = Vec::new();
    read_line_bounded(&mut r, &mut first, path, 1)?;
    let bom = if first.starts_with(&BOM) { BOM.len() } else { 0 };
    first.drain(..bom);
    let first_len = first.len();
    read_line_bounded(&mut r, &mut first, path, 2)?;
    let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
    if first.contains(&b'"') || blank(&first[..first_len]) || (first.len() > first_len && blank(&first[first_len..])) {
        return Ok(None);
    }
    let mut head = RecordReader::from_bytes(&first, path, 1, bom as u64);
    let (layout, first_is_data) = Layout::read(&mut head, opts)?;
    drop(head);
    let fixed = opts.classes.as_deref().map(ClassMap::fixed);
    let mut classes = fixed.clone().unwrap_or_default();
    let (mut rows, mut skipped, mut count) = (Rows::default(), Vec::new(), 0u64);
    let threads = rayon::current_num_threads().max(1);
    let (mut carry, mut line, mut offset) =
        if first_is_data { (first, 1, bom as u64) } else { (first.split_off(first_len), 2, (bom + first_len) as u64) };
    loop {
        let mut wave = std::mem::take(&mut carry);
        let want = (threads * BLOCK) as u64;
        let got = (&mut r).take(want).read_to_end(&mut wave).map_err(|e| Error::io(path, e))?;
        let at_end = (got as u64) < want;
        if !at_end {
            // Keep the last partial line for the next wave.
            match wave.iter().rposition(|&b| b == b'\n') {
                Some(pos) => carry = wave.split_off(pos + 1),
                None if wave.len() > MAX_LINE => return Err(too_long(path, line)),
                None => {
                    carry = wave;
                    continue;
                }
            }
        }
        if wave.contains(&b'"') {
            return Ok(None);
        }
        // Blocks of about equal size, cut after a line end, with their first line numbers and
        // byte offsets.
        let mut blocks = Vec::with_capacity(threads);
        let mut start = 0;
        while start < wave.len() {
            let target = (start + wave.len().div_ceil(threads)).min(wave.len());
            let end = wave[target..].iter().position(|&b| b == b'\n').map_or(wave.len(), |p| target + p + 1);
            blocks.push((start, end, line, offset + start as u64));
            line += wave[start..end].iter().filter(|&&b| b == b'\n').count() as u64;
            start = end;
        }
        offset += wave.len() as u64;
        let parts: Vec<Result<Part>> = blocks
            .par_iter()
            .map(|&(a, b, first_line, first_offset)| {
                let mut rr = RecordReader::from_bytes(&wave[a..b], path, first_line, first_offset);
                let mut part = Part {
                    rows: Rows::default(),
                    classes: fixed.clone().unwrap_or_default(),
                    skipped: Vec::new(),
                    count: 0,
                };
                let mut each = |row: &[f32], target: super::Target<'_>| {
                    part.rows.push(row, target).map_err(|e| out_of_memory(path, part.rows.rows(row.len()), e))
                };
                let n = parse_rows(&mut rr, &layout, false, opts, &mut part.classes, &mut part.skipped, &mut each)?;
                part.count = n;
                Ok(part)
            })
            .collect();
        for part in parts {
            // The first failing block in file order holds the file's first error.
            let part = part?;
            let remap: Vec<u32> = part.classes.names.iter().map(|n| classes.intern(n)).collect();
            let ids: Vec<u32> = if opts.unlabeled.is_some() {
                part.rows.ids.clone() // placeholders
            } else {
                part.rows.ids.iter().map(|&id| remap[id as usize]).collect()
            };
            let oom = |e| out_of_memory(path, count as usize, e);
            extend(&mut rows.x, &part.rows.x).map_err(oom)?;
            extend(&mut rows.ids, &ids).map_err(oom)?;
            extend(&mut rows.vals, &part.rows.vals).map_err(oom)?;
            skipped.extend_from_slice(&part.skipped);
            count += part.count;
        }
        if at_end {
            break;
        }
    }
    if count == 0 {
        let what = if layout.has_header { "header only" } else { "all rows were skipped" };
        return Err(Error::format(path, format!("{what}: no data rows")));
    }
    Ok(Some((rows.finish(path, opts, &layout, classes)?, skipped)))
}

/// Converts a CSV file to the binary format in two streaming passes (the first learns the class
/// names, the second writes rows), so memory stays bounded whatever the file size. A pipe or
/// FIFO, which can be read only once, is loaded into memory in one pass instead. Returns the rows
/// written and the lines skipped.
pub fn convert(input: Input, output: &Path, opts: &CsvOptions) -> Result<(u64, Vec<u64>)> {
    let path = input.path().to_path_buf();
    if !input.is_regular() {
        let (d, skipped) = load_input(input, opts)?;
        return Ok((super::binary::write(output, &d, &d.task, &d.feature_names, super::Scale::Standard)?, skipped));
    }
    let mut classes = ClassMap::default();
    let mut skipped = Vec::new();
    let layout = stream(input, opts, &mut classes, &mut skipped, |_, _| Ok(()))?;
    let features = layout.features();
    let task = if opts.regression {
        Task::Regression { targets: layout.targets.iter().map(|&j| layout.names[j].clone()).collect() }
    } else {
        Task::Classification { classes: classes.finish().0 }
    };
    let mut fixed = task.classes().map(ClassMap::fixed).unwrap_or_default();
    let mut w = super::binary::BinaryWriter::create(output, features.len(), &task)?;
    let mut skipped_again = Vec::new();
    stream(Input::open(&path)?, opts, &mut fixed, &mut skipped_again, |row, target| w.push(row, target))?;
    let names: Vec<String> = features.iter().map(|&j| layout.names[j].clone()).collect();
    Ok((w.finish(&task, &names)?, skipped))
}

/// Parses the records of `rr` (the current one first when `pending`), handing each row to
/// `each`; returns how many rows it handed over.
fn parse_rows(
    rr: &mut RecordReader<'_>,
    layout: &Layout,
    mut pending: bool,
    opts: &CsvOptions,
    classes: &mut ClassMap,
    skipped: &mut Vec<u64>,
    each: &mut dyn FnMut(&[f32], super::Target<'_>) -> Result<()>,
) -> Result<u64> {
    let features = layout.features();
    let (mut row, mut values) = (Vec::with_capacity(features.len()), Vec::new());
    let mut rows = 0u64;
    loop {
        if !pending && !rr.next_record()? {
            return Ok(rows);
        }
        pending = false;
        match parse_row(rr, layout, &features, classes, opts.regression, &mut row, &mut values) {
            Ok(Some(id)) => each(&row, super::Target::Class(id as usize))?,
            Ok(None) => each(&row, super::Target::Values(&values))?,
            Err(Error::Parse { .. }) if opts.skip_bad_rows => {
                skipped.push(rr.line);
                continue;
            }
            Err(e) => return Err(e),
        }
        rows += 1;
    }
}

/// Parses every data row of `input`, handing each to `each`; returns the layout.
fn stream(
    input: Input,
    opts: &CsvOptions,
    classes: &mut ClassMap,
    skipped: &mut Vec<u64>,
    mut each: impl FnMut(&[f32], super::Target<'_>) -> Result<()>,
) -> Result<Layout> {
    let mut rr = RecordReader::from_input(input)?;
    let (layout, pending) = Layout::read(&mut rr, opts)?;
    let rows = parse_rows(&mut rr, &layout, pending, opts, classes, skipped, &mut each)?;
    if rows == 0 {
        let what = if layout.has_header { "header only" } else { "all rows were skipped" };
        return Err(Error::format(rr.path(), format!("{what}: no data rows")));
    }
    Ok(layout)
}
