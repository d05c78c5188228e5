//! One array read from a stream: its header, then its cells as a row-major `f32` matrix (C or
//! Fortran order, any supported dtype) or as class ids. The caller has checked, where it can,
//! that the stream holds exactly the data the header announces; a stream that ends early is an
//! error naming what was missing, and output buffers grow only as data arrives unless the length
//! was checked first.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::cells::{self, to_f32};
use super::header::{self, Header};
use crate::data::csv::ClassMap;
use crate::data::open::read_up_to;
use crate::error::{Error, Result};

/// Bytes read and converted at a time.
const CHUNK: usize = 1 << 20;

/// Where an array is, for messages: a `.npy` file, or an array of an `.npz` file.
#[derive(Clone, Debug)]
pub struct Place {
    /// The file.
    pub path: PathBuf,
    /// The array's name inside an `.npz` file.
    pub array: Option<String>,
}

impl Place {
    /// A `.npy` file.
    pub fn file(path: &Path) -> Self {
        Self { path: path.to_path_buf(), array: None }
    }

    /// An error at byte `byte` of the array's `.npy` bytes (the file, or the `.npz` member).
    pub fn err(&self, byte: Option<u64>, msg: impl std::fmt::Display) -> Error {
        let lead = match (&self.array, byte) {
            (Some(a), Some(b)) => format!("array {a:?}, byte {b}: "),
            (Some(a), None) => format!("array {a:?}: "),
            (None, Some(b)) => format!("byte {b}: "),
            (None, None) => String::new(),
        };
        Error::format(&self.path, format!("{lead}{msg}"))
    }

    /// The name of the array in messages: `X.npy`, or `d.npz` array `"x"`.
    pub fn name(&self) -> String {
        match &self.array {
            Some(a) => format!("{} array {a:?}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// Reads and parses the header at the start of `r`, leaving `r` at the first data byte.
pub fn read_header(r: &mut dyn Read, place: &Place) -> Result<Header> {
    let io = |e| Error::io(&place.path, e);
    let mut bytes = vec![0u8; 8];
    let got = read_up_to(r, &mut bytes).map_err(io)?;
    bytes.truncate(got);
    let prefix = header::prefix_len(&bytes).map_err(|(at, m)| place.err(Some(at), m))?;
    bytes.resize(prefix, 0);
    if read_up_to(r, &mut bytes[8..]).map_err(io)? < prefix - 8 {
        return Err(place.err(Some(8), "the file ends inside the header length field"));
    }
    let len = if prefix == 10 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as u64
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as u64
    };
    // Bounded by the parser's own limit before anything is allocated for it.
    let mut text = Vec::new();
    r.take(len.min(1 << 20)).read_to_end(&mut text).map_err(io)?;
    bytes.extend_from_slice(&text);
    header::parse(&bytes).map_err(|(at, m)| place.err(Some(at), m))
}

/// The shape of a 2-D features array: `(rows, columns)`, both at least 1.
pub fn matrix_shape(h: &Header, place: &Place) -> Result<(usize, usize)> {
    let hint = if h.shape.len() == 1 { " (one feature per row? reshape it with x.reshape(-1, 1))" } else { "" };
    let (&[rows, cols], true) = (h.shape.as_slice(), h.shape.len() == 2) else {
        return Err(place.err(
            None,
            format!("features must be a 2-D array (rows, features), found shape {}{hint}", h.shape_text()),
        ));
    };
    if rows == 0 || cols == 0 {
        return Err(place.err(None, format!("shape {}: no data rows or no features", h.shape_text())));
    }
    let to = |n: u64| usize::try_from(n).map_err(|_| place.err(None, format!("shape {} is too large", h.shape_text())));
    Ok((to(rows)?, to(cols)?))
}

/// Refuses an array whose cells as `f32` would not fit in this machine's memory.
pub fn check_fits(h: &Header, place: &Place) -> Result<()> {
    let cells = h.data_len / h.dtype.size as u64;
    let memory = crate::memory::physical().unwrap_or(1 << 40) as u64;
    if cells.saturating_mul(4) > memory / 2 {
        return Err(place.err(
            None,
            format!(
                "shape {} holds {cells} cells, more than this machine's memory can hold as f32 (only a float32 C-order .npy file is memory-mapped; or convert it to the binary format)",
                h.shape_text()
            ),
        ));
    }
    Ok(())
}

/// Reads exactly `len` bytes of data from `r` in chunks of whole `unit`s, calling `each` with
/// the first unit's index and the bytes; an early end is an error naming what was missing.
fn read_units(
    r: &mut dyn Read,
    h: &Header,
    place: &Place,
    unit: usize,
    mut each: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Result<()> {
    let per = (CHUNK / unit).max(1) * unit;
    let mut buf = vec![0u8; per.min(usize::try_from(h.data_len).unwrap_or(usize::MAX))];
    let mut done = 0u64;
    while done < h.data_len {
        let want = (h.data_len - done).min(buf.len() as u64) as usize;
        let got = read_up_to(r, &mut buf[..want]).map_err(|e| Error::io(&place.path, e))?;
        if got < want {
            return Err(place.err(
                Some(h.data_offset + done + got as u64),
                format!(
                    "truncated: shape {} of {:?} needs {} bytes of data, only {} follow the header",
                    h.shape_text(),
                    h.descr,
                    h.data_len,
                    done + got as u64
                ),
            ));
        }
        each((done / unit as u64) as usize, &buf[..want])?;
        done += want as u64;
    }
    Ok(())
}

/// Reads a `rows × cols` array's data from `r` as a row-major `f32` matrix (transposing Fortran
/// order), refusing non-finite values by row and column. `sized`: the stream's length was
/// checked against the header, so the matrix may be allocated at once.
pub fn read_matrix(
    r: &mut dyn Read,
    h: &Header,
    place: &Place,
    rows: usize,
    cols: usize,
    sized: bool,
) -> Result<Vec<f32>> {
    let n = rows.checked_mul(cols).ok_or_else(|| place.err(None, "too many cells"))?;
    let oom = |e| place.err(None, format!("the array does not fit in memory ({e})"));
    let size = h.dtype.size;
    let mut out: Vec<f32> = Vec::new();
    if sized {
        check_fits(h, place)?;
        out.try_reserve_exact(n).map_err(oom)?;
    }
    let bad_bool =
        |k: usize| place.err(Some(h.data_offset + (k * size) as u64), "a bool cell holds a byte other than 0 or 1");
    if h.fortran {
        // Column by column as stored, growing as the cells arrive (an unsized stream's header
        // alone never makes it allocate), then transposed to one row per example.
        read_units(r, h, place, size, |first, bytes| {
            let m = bytes.len() / size;
            let start = out.len();
            out.try_reserve(m).map_err(oom)?;
            out.resize(start + m, 0.0);
            to_f32(h.dtype, bytes, &mut out[start..]).map_err(|k| bad_bool(first + k))
        })?;
        let mut by_rows: Vec<f32> = Vec::new();
        by_rows.try_reserve_exact(n).map_err(oom)?;
        by_rows.extend((0..n).map(|k| out[(k % cols) * rows + k / cols]));
        out = by_rows;
    } else {
        read_units(r, h, place, size * cols, |first_row, bytes| {
            let m = bytes.len() / size;
            let start = out.len();
            out.try_reserve(m).map_err(oom)?;
            out.resize(start + m, 0.0);
            to_f32(h.dtype, bytes, &mut out[start..]).map_err(|k| bad_bool(first_row * cols + k))
        })?;
    }
    if let Some(k) = out.iter().position(|v| !v.is_finite()) {
        let (i, j) = (k / cols, k % cols);
        let cell = if h.fortran { j * rows + i } else { k };
        return Err(place.err(
            Some(h.data_offset + (cell * size) as u64),
            format!("row {}, column {}: {} is not a finite number", i + 1, j + 1, out[k]),
        ));
    }
    Ok(out)
}

/// Reads a label array of `rows` cells (shape `(rows,)` or `(rows, 1)`) as class ids of `map`,
/// numbered as first seen (or the fixed map's), one label text per distinct cell value.
pub fn read_classes(r: &mut dyn Read, h: &Header, place: &Place, rows: usize, map: &mut ClassMap) -> Result<Vec<u32>> {
    let size = h.dtype.size;
    let mut ids: Vec<u32> = Vec::new();
    ids.try_reserve_exact(rows).map_err(|e| place.err(None, format!("the labels do not fit in memory ({e})")))?;
    let mut seen: HashMap<u64, u32> = HashMap::new();
    read_units(r, h, place, size, |first, bytes| {
        for (k, cell) in (first..).zip(bytes.chunks_exact(size)) {
            let key = cells::key(cell);
            let id = match seen.get(&key) {
                Some(&id) => id,
                None => {
                    let at = Some(h.data_offset + (k * size) as u64);
                    let text =
                        cells::label_text(h.dtype, cell).map_err(|m| place.err(at, format!("row {}: {m}", k + 1)))?;
                    let id = map.label_id(&text).map_err(|m| place.err(at, format!("row {}: {m}", k + 1)))?;
                    seen.insert(key, id);
                    id
                }
            };
            ids.push(id);
        }
        Ok(())
    })?;
    Ok(ids)
}

/// Refuses a stream that goes on after the array's data (a `.npy` read from a pipe).
pub fn check_end(r: &mut dyn Read, h: &Header, place: &Place) -> Result<()> {
    let mut probe = [0u8; 1];
    if read_up_to(r, &mut probe).map_err(|e| Error::io(&place.path, e))? > 0 {
        return Err(place.err(
            Some(h.data_offset + h.data_len),
            format!("more bytes follow the data that shape {} of {:?} announces", h.shape_text(), h.descr),
        ));
    }
    Ok(())
}
