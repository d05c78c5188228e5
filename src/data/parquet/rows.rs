//! Parquet rows, streamed: each file's row groups in order, each row group's selected columns
//! decoded together in batches of [`BATCH`] rows, so memory holds one batch (and each column's
//! current page), whatever the file size.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;

use super::columns::{Kind, Selection};
use crate::data::csv::ClassMap;
use crate::data::{CsvOptions, Target};
use crate::error::{Error, Result};

/// Rows decoded at a time, per column.
const BATCH: usize = 4096;

/// Opens `path` as a Parquet file (footer and metadata read and checked).
pub(super) fn open(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    guard(path, || SerializedFileReader::new(file))
        .and_then(|r| r.map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}"))))
}

/// The columns `opts` selects in the file `path`, from its schema alone.
pub(super) fn selection(path: &Path, opts: &CsvOptions) -> Result<Selection> {
    Selection::resolve(path, open(path)?.metadata().file_metadata().schema_descr(), opts)
}

/// Runs `f`, turning a panic inside the parquet crate (a damaged file it did not foresee) into
/// an error on `path` instead of an abort of the whole program.
fn guard<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| Error::format(path, "the Parquet reader failed on this file: it is damaged or not Parquet"))
}

/// Reads every row of `files` in order, the columns `opts` selects (the same names in every
/// file), handing each row's features and target to `each`; class labels are numbered by
/// `classes`. With `targets_only` no feature is decoded (rows are empty): a pass that only
/// learns the classes. Returns the first file's selection and the number of rows.
pub(super) fn for_each_row(
    files: &[PathBuf],
    opts: &CsvOptions,
    targets_only: bool,
    classes: &mut ClassMap,
    each: &mut dyn FnMut(&[f32], Target<'_>) -> Result<()>,
) -> Result<(Selection, u64)> {
    let mut first: Option<Selection> = None;
    let mut rows = 0u64;
    for path in files {
        let reader = open(path)?;
        let sel = Selection::resolve(path, reader.metadata().file_metadata().schema_descr(), opts)?;
        if let Some(f) = &first {
            let (a, b) = (f.names_of(&f.features), sel.names_of(&sel.features));
            let (ta, tb) = (f.names_of(&f.targets), sel.names_of(&sel.targets));
            if a != b || ta != tb {
                return Err(Error::Mismatch(format!(
                    "{}: its features ({}) and target ({}) are not those of {} ({}; target {})",
                    path.display(),
                    b.join(", "),
                    tb.join(", "),
                    files[0].display(),
                    a.join(", "),
                    ta.join(", ")
                )));
            }
        }
        let mut file = FileRows { path, sel: &sel, opts, classes, targets_only, row: Vec::new(), values: Vec::new() };
        rows += guard(path, || file.read(&reader, each))??;
        first.get_or_insert(sel);
    }
    Ok((first.expect("at least one file"), rows))
}

/// The reading of one file.
struct FileRows<'a> {
    path: &'a Path,
    sel: &'a Selection,
    opts: &'a CsvOptions,
    classes: &'a mut ClassMap,
    targets_only: bool,
    row: Vec<f32>,
    values: Vec<f32>,
}

impl FileRows<'_> {
    /// Every row group in order; returns the rows read.
    fn read(
        &mut self,
        reader: &SerializedFileReader<File>,
        each: &mut dyn FnMut(&[f32], Target<'_>) -> Result<()>,
    ) -> Result<u64> {
        let (path, sel) = (self.path, self.sel);
        let mut file_rows = 0u64;
        let features: &[usize] = if self.targets_only { &[] } else { &sel.features };
        let leaves: Vec<usize> = features.iter().chain(&self.sel.targets).copied().collect();
        let nf = features.len();
        for g in 0..reader.metadata().num_row_groups() {
            let at = |msg: String| Error::format(path, format!("row group {}: {msg}", g + 1));
            let rg = reader.get_row_group(g).map_err(|e| at(format!("cannot read: {e}")))?;
            let expected = u64::try_from(rg.metadata().num_rows())
                .map_err(|_| at(format!("{} rows in the metadata", rg.metadata().num_rows())))?;
            let mut cols = leaves
                .iter()
                .map(|&j| Column::open(&*rg, j, sel.kinds[j]).map_err(|e| at(cannot(sel, j, e))))
                .collect::<Result<Vec<_>>>()?;
            let mut done = 0u64;
            loop {
                let mut n = None;
                for (c, &j) in cols.iter_mut().zip(&leaves) {
                    let got = c.read(BATCH).map_err(|e| at(cannot(sel, j, e)))?;
                    if *n.get_or_insert(got) != got {
                        return Err(at(format!("column {:?} holds fewer rows than the others", sel.names[j])));
                    }
                }
                let n = n.unwrap_or(0);
                if n == 0 {
                    break;
                }
                for r in 0..n {
                    let place = |j: usize| {
                        let in_group = done + r as u64 + 1;
                        let msg_at = format!(
                            "row group {}, row {in_group} (row {} of the file), column {:?}",
                            g + 1,
                            file_rows + in_group,
                            sel.names[j]
                        );
                        move |what: String| Error::format(path, format!("{msg_at}: {what}"))
                    };
                    self.row.clear();
                    for (c, &j) in cols[..nf].iter().zip(features) {
                        self.row.push(c.number(r).map_err(place(j))?);
                    }
                    let target = if sel.targets.is_empty() {
                        if matches!(&self.opts.unlabeled, Some(crate::data::Task::Regression { .. })) {
                            self.values.clear();
                            Target::Values(&self.values)
                        } else {
                            Target::Class(0) // a placeholder: rows to predict
                        }
                    } else if self.opts.regression {
                        self.values.clear();
                        for (c, &j) in cols[nf..].iter().zip(&sel.targets) {
                            self.values.push(c.number(r).map_err(place(j))?);
                        }
                        Target::Values(&self.values)
                    } else {
                        let j = sel.targets[0];
                        let label = cols[nf].label(r).map_err(place(j))?;
                        Target::Class(self.classes.label_id(&label).map_err(place(j))? as usize)
                    };
                    each(&self.row, target)?;
                }
                done += n as u64;
            }
            if done != expected {
                return Err(at(format!("the metadata says {expected} rows, the columns hold {done}")));
            }
            file_rows += done;
        }
        Ok(file_rows)
    }
}

/// The message for column `j`, which cannot be decoded.
fn cannot(sel: &Selection, j: usize, e: ParquetError) -> String {
    format!("column {:?}: cannot decode: {e} (the file is damaged?)", sel.names[j])
}

/// One column chunk's reader and its current batch of values.
struct Column {
    values: Values,
    defs: Vec<i16>,
    max_def: i16,
}

/// A typed column reader and its decoded batch.
enum Values {
    F32(ColumnReaderImpl<FloatType>, Vec<f32>),
    F64(ColumnReaderImpl<DoubleType>, Vec<f64>),
    I32(ColumnReaderImpl<Int32Type>, Vec<i32>, bool),
    I64(ColumnReaderImpl<Int64Type>, Vec<i64>, bool),
    Text(ColumnReaderImpl<ByteArrayType>, Vec<ByteArray>),
}

impl Column {
    /// The reader of leaf `j` in row group `rg`, of an accepted `kind`.
    fn open(rg: &dyn RowGroupReader, j: usize, kind: Option<Kind>) -> Result<Self, ParquetError> {
        let max_def = rg.metadata().schema_descr().column(j).max_def_level();
        let values = match (rg.get_column_reader(j)?, kind) {
            (ColumnReader::FloatColumnReader(r), Some(Kind::F32)) => Values::F32(r, Vec::new()),
            (ColumnReader::DoubleColumnReader(r), Some(Kind::F64)) => Values::F64(r, Vec::new()),
            (ColumnReader::Int32ColumnReader(r), Some(Kind::I32 { unsigned })) => Values::I32(r, Vec::new(), unsigned),
            (ColumnReader::Int64ColumnReader(r), Some(Kind::I64 { unsigned })) => Values::I64(r, Vec::new(), unsigned),
            (ColumnReader::ByteArrayColumnReader(r), Some(Kind::Text)) => Values::Text(r, Vec::new()),
            _ => return Err(ParquetError::General("the column's type is not the schema's".into())),
        };
        Ok(Self { values, defs: Vec::new(), max_def })
    }

    /// Decodes the next (up to) `n` rows; returns how many. A null is refused later, at its row.
    fn read(&mut self, n: usize) -> Result<usize, ParquetError> {
        fn next<T: DataType>(
            r: &mut ColumnReaderImpl<T>,
            v: &mut Vec<T::T>,
            defs: &mut Vec<i16>,
            nullable: bool,
            n: usize,
        ) -> Result<usize, ParquetError> {
            v.clear();
            defs.clear();
            Ok(r.read_records(n, nullable.then_some(defs), None, v)?.0)
        }
        let (defs, nullable) = (&mut self.defs, self.max_def > 0);
        let rows = match &mut self.values {
            Values::F32(r, v) => next(r, v, defs, nullable, n)?,
            Values::F64(r, v) => next(r, v, defs, nullable, n)?,
            Values::I32(r, v, _) => next(r, v, defs, nullable, n)?,
            Values::I64(r, v, _) => next(r, v, defs, nullable, n)?,
            Values::Text(r, v) => next(r, v, defs, nullable, n)?,
        };
        let values = match &self.values {
            Values::F32(_, v) => v.len(),
            Values::F64(_, v) => v.len(),
            Values::I32(_, v, _) => v.len(),
            Values::I64(_, v, _) => v.len(),
            Values::Text(_, v) => v.len(),
        };
        if (nullable && self.defs.len() != rows) || values > rows {
            return Err(ParquetError::General(format!("{rows} rows but {values} values")));
        }
        Ok(rows)
    }

    /// Where row `r`'s value is in the values (only non-nulls are stored), or the null error.
    fn slot(&self, r: usize) -> Result<usize, String> {
        if self.max_def == 0 {
            return Ok(r);
        }
        if self.defs.get(r).is_none_or(|&d| d < self.max_def) {
            return Err("null (missing value): expected a value".into());
        }
        // No null before row r (they are refused at their row), so values and rows line up.
        Ok(r)
    }

    /// Row `r` as a finite `f32`, rounded as a CSV reader rounds its decimal text (to nearest).
    fn number(&self, r: usize) -> Result<f32, String> {
        let i = self.slot(r)?;
        let missing = || "missing value (the column is damaged)".to_string();
        let (v, shown) = match &self.values {
            Values::F32(_, v) => (*v.get(i).ok_or_else(missing)?, None),
            Values::F64(_, v) => {
                let x = *v.get(i).ok_or_else(missing)?;
                (x as f32, Some(x.to_string()))
            }
            Values::I32(_, v, unsigned) => {
                let x = *v.get(i).ok_or_else(missing)?;
                (if *unsigned { x as u32 as f32 } else { x as f32 }, None)
            }
            Values::I64(_, v, unsigned) => {
                let x = *v.get(i).ok_or_else(missing)?;
                (if *unsigned { x as u64 as f32 } else { x as f32 }, None)
            }
            Values::Text(..) => return Err("text where a number was expected".into()),
        };
        if v.is_finite() {
            return Ok(v);
        }
        let shown = shown.filter(|s| s.parse::<f64>().is_ok_and(f64::is_finite));
        Err(match shown {
            Some(s) => format!("{s} is beyond f32's range: not a finite number"),
            None => format!("{v} is not a finite number"),
        })
    }

    /// Row `r` as a class label: integers as their decimal text (as a CSV file writes them).
    fn label(&self, r: usize) -> Result<String, String> {
        let i = self.slot(r)?;
        let missing = || "missing value (the column is damaged)".to_string();
        let label = match &self.values {
            Values::I32(_, v, unsigned) => {
                let x = *v.get(i).ok_or_else(missing)?;
                if *unsigned { (x as u32).to_string() } else { x.to_string() }
            }
            Values::I64(_, v, unsigned) => {
                let x = *v.get(i).ok_or_else(missing)?;
                if *unsigned { (x as u64).to_string() } else { x.to_string() }
            }
            Values::Text(_, v) => {
                let bytes = v.get(i).ok_or_else(missing)?.data();
                std::str::from_utf8(bytes).map_err(|e| format!("label is not UTF-8 text ({e})"))?.to_string()
            }
            Values::F32(..) | Values::F64(..) => return Err("a number where a class label was expected".into()),
        };
        if label.is_empty() {
            return Err("empty label".into());
        }
        Ok(label)
    }
}
