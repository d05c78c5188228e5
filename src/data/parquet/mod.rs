//! Parquet input (cargo feature `parquet`): a file, or a directory of `.parquet` files read as
//! one dataset in file-name order, its columns chosen by name.
//!
//! - `columns`: the feature and target columns (by `--target`, `--features`, or a model's
//!   features), and the types each may have;
//! - `rows`: the rows, streamed row group by row group in batches, with each cell checked
//!   (no null, finite numbers, UTF-8 labels); errors name the file, row group, row and column.
//!
//! Rows become what the CSV reader makes of the same values written as text: features rounded
//! to `f32` to nearest (a `DOUBLE` is rounded once, from its binary value; CSV rounds the decimal
//! text once, so the two agree whenever the `DOUBLE` is the text's nearest `f64`, bar a double
//! rounding tie), integers as `f32`, and class labels numbered by the CSV reader's [`ClassMap`]
//! (integers as their decimal text).

mod columns;
mod rows;

use std::path::{Path, PathBuf};

use crate::data::binary::BinaryWriter;
use crate::data::csv::ClassMap;
use crate::data::{CsvOptions, Dataset, Target, Targets, Task};
use crate::error::{Error, Result};

/// The Parquet files `path` names: itself, or a directory's `*.parquet` files in file-name
/// order (none is an error).
pub fn files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files = super::load::parquet_files_in(path)?;
    if files.is_empty() {
        return Err(Error::Config(format!("{}: no .parquet files in this directory", path.display())));
    }
    Ok(files)
}

/// Loads the Parquet file or directory `path` into memory, as `opts` says (`target`,
/// `features`, `regression`, and for a test set or a model its `classes`, `model`, `unlabeled`).
pub fn load(path: &Path, opts: &CsvOptions) -> Result<Dataset> {
    let files = files(path)?;
    let mut classes = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
    let (mut x, mut ids, mut vals) = (Vec::<f32>::new(), Vec::<u32>::new(), Vec::<f32>::new());
    let mut push = |row: &[f32], target: Target<'_>| {
        let grown = grow(&mut x, row).and_then(|()| match target {
            Target::Class(c) => grow(&mut ids, &[c as u32]),
            Target::Values(v) => grow(&mut vals, v),
        });
        grown.map_err(|e| Error::Mismatch(format!("{}: the rows do not fit in memory ({e}); convert the data to the binary format (`shardprop convert`), which is memory-mapped", path.display())))
    };
    let (sel, rows) = rows::for_each_row(&files, opts, false, &mut classes, &mut push)?;
    if rows == 0 {
        return Err(Error::format(path, "no data rows"));
    }
    let (n_features, source) = (sel.features.len(), path.display().to_string());
    let mut data = if let Some(task) = &opts.unlabeled {
        let targets = match task {
            Task::Classification { .. } => Targets::Classes(ids),
            Task::Regression { .. } => Targets::Values(vec![0.0; x.len() / n_features * task.n_outputs()]),
        };
        Dataset::new(x, targets, n_features, task.clone(), source)?
    } else if opts.regression {
        Dataset::new(
            x,
            Targets::Values(vals),
            n_features,
            Task::Regression { targets: sel.names_of(&sel.targets) },
            source,
        )?
    } else {
        let (names, unit) = classes.into_units();
        let labels = ids.iter().map(|&id| unit[id as usize]).collect();
        Dataset::from_labels(x, labels, n_features, names, &source)?
    };
    data.feature_names = sel.names_of(&sel.features);
    data.ignored_columns = sel.names_of(&sel.ignored);
    Ok(data)
}

/// `v.extend_from_slice(more)`, the growth allowed to fail.
fn grow<T: Copy>(v: &mut Vec<T>, more: &[T]) -> std::result::Result<(), std::collections::TryReserveError> {
    v.try_reserve(more.len())?;
    v.extend_from_slice(more);
    Ok(())
}

/// Converts the Parquet file or directory `input` to a binary dataset at `output`, streaming:
/// for classes, a first pass reads only the target column to learn the class names; the second
/// writes rows batch by batch. Memory holds one batch of rows, not the dataset. Returns the rows
/// written.
pub fn convert(input: &Path, output: &Path, opts: &CsvOptions) -> Result<u64> {
    let files = files(input)?;
    let sel = rows::selection(&files[0], opts)?;
    let task = if opts.regression {
        Task::Regression { targets: sel.names_of(&sel.targets) }
    } else {
        let mut classes = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
        rows::for_each_row(&files, opts, true, &mut classes, &mut |_, _| Ok(()))?;
        Task::Classification { classes: classes.into_units().0 }
    };
    let mut fixed = task.classes().map(ClassMap::fixed).unwrap_or_default();
    let mut w = BinaryWriter::create(output, sel.features.len(), &task)?;
    let (_, rows) = rows::for_each_row(&files, opts, false, &mut fixed, &mut |row, target| w.push(row, target))?;
    if rows == 0 {
        return Err(Error::format(input, "no data rows"));
    }
    w.finish(&task, &sel.names_of(&sel.features))
}
