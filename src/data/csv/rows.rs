//! A record to a row: its features as `f32` and its target (a class id or regression values),
//! and the rows gathered in memory, with growth that may fail without aborting.

use std::collections::TryReserveError;
use std::path::Path;

use super::classes::ClassMap;
use super::layout::Layout;
use super::reader::RecordReader;
use crate::data::{CsvOptions, Dataset, Target, Targets, Task};
use crate::error::{Error, Result};

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

/// Parses the records of `rr` (the current one first when `pending`), handing each row to
/// `each`; returns how many rows it handed over.
pub(super) fn parse_rows(
    rr: &mut RecordReader<'_>,
    layout: &Layout,
    mut pending: bool,
    opts: &CsvOptions,
    classes: &mut ClassMap,
    skipped: &mut Vec<u64>,
    each: &mut dyn FnMut(&[f32], Target<'_>) -> Result<()>,
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
            Ok(Some(id)) => each(&row, Target::Class(id as usize))?,
            Ok(None) => each(&row, Target::Values(&values))?,
            Err(Error::Parse { .. }) if opts.skip_bad_rows => {
                skipped.push(rr.line);
                continue;
            }
            Err(e) => return Err(e),
        }
        rows += 1;
    }
}

/// `v.extend_from_slice(more)`, with the growth (amortised, as `extend` does) allowed to fail.
pub(super) fn extend<T: Copy>(v: &mut Vec<T>, more: &[T]) -> std::result::Result<(), TryReserveError> {
    v.try_reserve(more.len())?;
    v.extend_from_slice(more);
    Ok(())
}

/// The error for rows that no longer fit in memory, after `rows` rows of `path`.
pub(super) fn out_of_memory(path: &Path, rows: usize, e: TryReserveError) -> Error {
    Error::Mismatch(format!(
        "{}: after {rows} rows, the data read so far does not fit in memory ({e}); convert the file to the binary format (`shardprop convert`), which is memory-mapped, or use a machine with more memory",
        path.display()
    ))
}

/// ParsedRows parsed so far: features, and class ids (first-seen numbering) or target values.
#[derive(Default)]
pub(super) struct ParsedRows {
    pub(super) x: Vec<f32>,
    pub(super) ids: Vec<u32>,
    pub(super) vals: Vec<f32>,
}

impl ParsedRows {
    /// Appends a row; growing the buffers may fail (a stream larger than memory, or an address
    /// space limit), and that is an error, not an abort.
    pub(super) fn push(&mut self, row: &[f32], target: Target<'_>) -> std::result::Result<(), TryReserveError> {
        extend(&mut self.x, row)?;
        match target {
            Target::Class(id) => extend(&mut self.ids, &[id as u32]),
            Target::Values(v) => extend(&mut self.vals, v),
        }
    }

    pub(super) fn rows(&self, features: usize) -> usize {
        self.x.len() / features.max(1)
    }

    pub(super) fn into_dataset(
        self,
        path: &Path,
        opts: &CsvOptions,
        layout: &Layout,
        classes: ClassMap,
    ) -> Result<Dataset> {
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
            let (names, unit) = classes.into_units();
            let labels = self.ids.iter().map(|&id| unit[id as usize]).collect();
            Dataset::from_labels(self.x, labels, features.len(), names, &source)?
        };
        data.feature_names = features.iter().map(|&j| layout.names[j].clone()).collect();
        data.ignored_columns = layout.ignored.iter().map(|&j| layout.names[j].clone()).collect();
        Ok(data)
    }
}
