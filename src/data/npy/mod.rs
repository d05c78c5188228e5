//! NumPy arrays as datasets: features as a 2-D `.npy` array with labels or targets in a second
//! `.npy` (`--labels`), or both as named arrays of an `.npz` file (`--x-key`, `--y-key`).
//!
//! Cells may be float32, float64, signed or unsigned integers of 1 to 8 bytes, or bool, in
//! either byte order, in C or Fortran order. A float32 little-endian C-order `.npy` file is
//! memory-mapped ([`MappedNpy`]), so a file larger than RAM trains in bounded memory; every
//! other array is converted into an in-memory [`Dataset`], allocated only once the file's length
//! (or the `.npz` member's) was checked against the header's shape.
//!
//! The rows read as the same numbers written in a headerless CSV with the labels as last
//! column(s) would (feature names `col1`, `col2`, ...): integers and float32 exactly, float64
//! rounded as its shortest decimal text parses (see [`cells`]), and class labels named and
//! ordered by [`crate::data::csv::ClassMap`] from the text a CSV would hold (`3` for 3 or 3.0).
//! So training on the same rows from CSV, the binary format or NumPy gives the same weights.
//!
//! Written by hand rather than with `ndarray-npy`: that crate allocates the cells a header
//! announces before reading them (a lying header aborts), reads each dtype into its own array
//! type (so a conversion to `f32` would hold the data twice), and has no place for the mapped
//! path's checks; its `.npz` support needs the `zip` crate. The header is a small, strict parser
//! ([`header`]) and the `.npz` a small zip reader ([`zip`]).

mod array;
mod cells;
mod header;
mod mapped;
mod zip;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use header::MAGIC;
pub use mapped::MappedNpy;

use self::array::{Place, check_end, matrix_shape, read_classes, read_header, read_matrix};
use self::header::Header;
use super::csv::ClassMap;
use super::open::Input;
use super::{CsvOptions, Dataset, Examples, Targets, Task, binary};
use crate::error::{Error, Result};

/// Which arrays a NumPy input's rows come from.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NpyOptions {
    /// The labels or targets of `.npy` features: a second `.npy`, 1-D or 2-D, one row per row.
    pub labels: Option<PathBuf>,
    /// The features' array in an `.npz` file (default `x`).
    pub x_key: Option<String>,
    /// The labels' or targets' array in an `.npz` file (default `y`).
    pub y_key: Option<String>,
}

/// Whether an input's first bytes are those of a `.npy` file.
pub fn is_npy(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Whether an input's first bytes are those of a zip (`.npz`) file.
pub fn is_npz(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Whether `path` is named as a NumPy file (`.npy` or `.npz`).
pub fn is_numpy_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy") || e.eq_ignore_ascii_case("npz"))
}

/// A loaded NumPy dataset: mapped, or in memory.
pub enum Loaded {
    /// Converted into memory.
    Memory(Dataset),
    /// A float32 C-order `.npy`, memory-mapped.
    Mapped(MappedNpy),
}

impl Loaded {
    /// Row access.
    pub fn examples(&self) -> &dyn Examples {
        match self {
            Loaded::Memory(d) => d,
            Loaded::Mapped(d) => d,
        }
    }
    fn task(&self) -> &Task {
        match self {
            Loaded::Memory(d) => &d.task,
            Loaded::Mapped(d) => &d.task,
        }
    }
    fn feature_names(&self) -> &[String] {
        match self {
            Loaded::Memory(d) => &d.feature_names,
            Loaded::Mapped(d) => &d.feature_names,
        }
    }
}

/// Loads a NumPy input (sniffed or named as `.npy` or `.npz`) with `opts`: `opts.npy` says where
/// the labels are; `opts.classes`, `opts.unlabeled`, `opts.regression` and `opts.model` mean
/// what they mean for CSV. CSV-only flags (`header`, `skip_bad_rows`) are ignored.
pub fn load_input(input: Input, opts: &CsvOptions) -> Result<Loaded> {
    let path = input.path().to_path_buf();
    if opts.target.is_some() && opts.model.is_none() && opts.unlabeled.is_none() {
        return Err(Error::Config(format!(
            "{}: --target names a CSV column; NumPy labels come from --labels (a second .npy) or --y-key (an .npz array)",
            path.display()
        )));
    }
    if is_npz(input.head())
        || (!is_npy(input.head()) && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz")))
    {
        return load_npz(input, opts);
    }
    let place = Place::file(&path);
    let (regular, file_len) = (input.is_regular(), input.file_len()?);
    let mut r = input.into_reader();
    let h = read_header(&mut r, &place)?;
    let (rows, cols) = matrix_shape(&h, &place)?;
    if let Some(len) = file_len {
        check_length(&h, &place, len)?;
    }
    // Rows to predict get placeholder targets once the rows are known to exist (a pipe's
    // header alone must not size an allocation).
    let (targets, task) = match (&opts.unlabeled, &opts.npy.labels) {
        (Some(task), _) => (Targets::Classes(Vec::new()), task.clone()),
        (None, None) => {
            return Err(Error::Config(format!(
                "{}: .npy features need their labels or targets in a second .npy: give --labels y.npy (with --test, --test-labels)",
                path.display()
            )));
        }
        (None, Some(labels)) => {
            let input = Input::open(labels)?;
            let lplace = Place::file(labels);
            if !is_npy(input.head()) {
                return Err(lplace.err(Some(0), "labels: not a NumPy .npy array (expected the bytes \\x93NUMPY first)"));
            }
            let file_len = input.file_len()?;
            let mut lr = input.into_reader();
            let lh = read_header(&mut lr, &lplace)?;
            if let Some(len) = file_len {
                check_length(&lh, &lplace, len)?;
            }
            let got = targets(&mut lr, &lh, &lplace, (rows, cols), &place, opts, file_len.is_some())?;
            if file_len.is_none() {
                check_end(&mut lr, &lh, &lplace)?;
            }
            got
        }
    };
    let mappable = regular && cfg!(target_endian = "little") && h.dtype.is_native_f32() && !h.fortran;
    if mappable && h.data_offset % 4 == 0 {
        drop(r);
        // A regular file's length was checked against the rows.
        let targets = if opts.unlabeled.is_some() { placeholders(&task, rows, &place)? } else { targets };
        return Ok(Loaded::Mapped(MappedNpy::open(&path, &h, (rows, cols), targets, task)?));
    }
    let x = read_matrix(&mut r, &h, &place, rows, cols, file_len.is_some())?;
    if file_len.is_none() {
        check_end(&mut r, &h, &place)?;
    }
    let targets = if opts.unlabeled.is_some() { placeholders(&task, rows, &place)? } else { targets };
    dataset(x, targets, cols, task, &place)
}

/// An in-memory dataset with a headerless CSV's feature names.
fn dataset(x: Vec<f32>, targets: Targets, cols: usize, task: Task, place: &Place) -> Result<Loaded> {
    let mut d = Dataset::new(x, targets, cols, task, place.name())?;
    d.feature_names = (1..=cols).map(|j| format!("col{j}")).collect();
    Ok(Loaded::Memory(d))
}

/// Refuses a regular file whose length is not the header's plus the data its shape announces.
fn check_length(h: &Header, place: &Place, len: u64) -> Result<()> {
    let expected = h.data_offset.checked_add(h.data_len);
    if expected == Some(len) {
        return Ok(());
    }
    let what = if expected.is_none_or(|e| e > len) { "truncated" } else { "bytes after the data" };
    Err(place.err(
        None,
        format!(
            "{what}: shape {} of {:?} needs {} bytes of data after the {}-byte header, but the file is {len} bytes",
            h.shape_text(),
            h.descr,
            h.data_len,
            h.data_offset
        ),
    ))
}

/// The placeholder targets of `rows` rows read without labels (to predict), made once the rows
/// were read (or a file's length checked against them).
fn placeholders(task: &Task, rows: usize, place: &Place) -> Result<Targets> {
    Ok(match task {
        Task::Classification { .. } => Targets::Classes(vec![0; rows]),
        Task::Regression { .. } => {
            let n = rows.checked_mul(task.n_outputs()).ok_or_else(|| place.err(None, "too many cells"))?;
            Targets::Values(vec![0.0; n])
        }
    })
}

/// Reads the label array (header `h`, data next in `r`) for features of `rows × cols`: class
/// ids and names as a CSV target column would give, or regression targets.
fn targets(
    r: &mut dyn Read,
    h: &Header,
    place: &Place,
    (rows, cols): (usize, usize),
    features: &Place,
    opts: &CsvOptions,
    sized: bool,
) -> Result<(Targets, Task)> {
    let (n, k) = match *h.shape.as_slice() {
        [n] => (n, 1),
        [n, k] if k > 0 => (n, k),
        _ => {
            return Err(place.err(
                None,
                format!(
                    "labels must be a 1-D array (one per row) or 2-D (rows, targets), found shape {}",
                    h.shape_text()
                ),
            ));
        }
    };
    if n != rows as u64 {
        return Err(Error::Mismatch(format!(
            "{}: holds {n} labels, but {} holds {rows} rows",
            place.name(),
            features.name()
        )));
    }
    if !opts.regression {
        if k != 1 {
            return Err(place.err(
                None,
                format!(
                    "shape {}: classification takes one label per row (one-hot labels? pass y.argmax(axis=1)); for {k} real-valued targets, use --task regression",
                    h.shape_text()
                ),
            ));
        }
        let mut map = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
        let ids = read_classes(r, h, place, rows, &mut map)?;
        let (names, unit) = map.into_units();
        let labels = ids.iter().map(|&id| unit[id as usize]).collect();
        return Ok((Targets::Classes(labels), Task::Classification { classes: names }));
    }
    let k = k as usize;
    let values = read_matrix(r, h, place, rows, k, sized)?;
    let names = match opts.model.as_ref().map(|m| &m.task) {
        Some(Task::Regression { targets }) if targets.len() == k => targets.clone(),
        _ => (cols + 1..=cols + k).map(|j| format!("col{j}")).collect(),
    };
    Ok((Targets::Values(values), Task::Regression { targets: names }))
}

/// Loads an `.npz` file: the features array `x_key` and (unless unlabeled) the labels `y_key`.
fn load_npz(input: Input, opts: &CsvOptions) -> Result<Loaded> {
    let path = input.path().to_path_buf();
    if !input.is_regular() {
        return Err(Error::format(&path, "an .npz must be a regular file (its index is at its end), not a pipe"));
    }
    drop(input);
    if opts.npy.labels.is_some() {
        return Err(Error::Config(format!(
            "{}: --labels goes with .npy features; an .npz holds its own labels (choose the array with --y-key)",
            path.display()
        )));
    }
    let zip = zip::Zip::open(&path)?;
    let member = |key: &str| {
        let npy = format!("{key}.npy");
        zip.members.iter().find(|m| m.name == npy).or_else(|| zip.members.iter().find(|m| m.name == key)).ok_or_else(
            || {
                let keys: Vec<String> = zip
                    .members
                    .iter()
                    .map(|m| format!("{:?}", m.name.strip_suffix(".npy").unwrap_or(&m.name)))
                    .collect();
                Error::Config(format!(
                    "{}: no array {key:?} (the file holds {}); choose the arrays with --x-key and --y-key",
                    path.display(),
                    if keys.is_empty() { "no arrays".to_string() } else { keys.join(", ") }
                ))
            },
        )
    };
    let x_key = opts.npy.x_key.as_deref().unwrap_or("x");
    let xm = member(x_key)?;
    let y = if opts.unlabeled.is_none() {
        Some((opts.npy.y_key.as_deref().unwrap_or("y"), member(opts.npy.y_key.as_deref().unwrap_or("y"))?))
    } else {
        None
    };
    let place = Place { path: path.clone(), array: Some(x_key.to_string()) };
    let mut xr = zip.reader(xm)?;
    let h = read_member_header(&mut xr, &place, xm.size)?;
    let (rows, cols) = matrix_shape(&h, &place)?;
    let (targets, task) = match (&opts.unlabeled, y) {
        (Some(task), _) => (Targets::Classes(Vec::new()), task.clone()),
        (None, Some((key, ym))) => {
            let lplace = Place { path: path.clone(), array: Some(key.to_string()) };
            let mut yr = zip.reader(ym)?;
            let lh = read_member_header(&mut yr, &lplace, ym.size)?;
            let got = targets(&mut yr, &lh, &lplace, (rows, cols), &place, opts, true)?;
            yr.finish()?;
            got
        }
        (None, None) => unreachable!("labels are read unless the rows are unlabeled"),
    };
    let x = read_matrix(&mut xr, &h, &place, rows, cols, true)?;
    xr.finish()?;
    let targets = if opts.unlabeled.is_some() { placeholders(&task, rows, &place)? } else { targets };
    dataset(x, targets, cols, task, &place)
}

/// Reads a member's `.npy` header and checks the member's size against it.
fn read_member_header(r: &mut dyn Read, place: &Place, size: u64) -> Result<Header> {
    let h = read_header(r, place)?;
    check_length(&h, place, size)?;
    Ok(h)
}

/// Converts a NumPy input to the binary format at `output`, row by row (a mapped file's pages
/// handed back as they are read). Returns the rows written.
pub fn convert(input: Input, output: &Path, opts: &CsvOptions) -> Result<u64> {
    let loaded = load_input(input, opts)?;
    let ex = loaded.examples();
    let mut w = binary::BinaryWriter::create(output, ex.n_features(), loaded.task())?;
    for i in 0..ex.len() {
        w.push(ex.features(i), ex.target(i))?;
        ex.rows_read(1);
    }
    w.finish(loaded.task(), loaded.feature_names())
}
