//! Opening a dataset by looking at it: an MNIST directory or IDX file, a shardprop binary file
//! (memory-mapped), a NumPy `.npy`/`.npz` file, or a CSV file (optionally gzipped); and
//! converting any of them to the binary format. [`AnyDataset`] is either kind, [`CsvOptions`] and [`ModelColumns`] say how to read CSV.

use std::path::Path;

use super::{Dataset, Examples, Scale, Scaler, ScalerFit, Task, binary, csv, idx, npy, open};
use crate::error::{Error, Result};

/// A loaded dataset of either kind.
pub enum AnyDataset {
    /// Held in memory (CSV, IDX).
    Memory(Dataset),
    /// Memory-mapped binary file.
    Mapped(binary::MappedDataset),
    /// Memory-mapped float32 C-order `.npy` file, with its labels in memory.
    MappedNpy(npy::MappedNpy),
}

impl AnyDataset {
    /// Row access.
    pub fn examples(&self) -> &dyn Examples {
        match self {
            AnyDataset::Memory(d) => d,
            AnyDataset::Mapped(d) => d,
            AnyDataset::MappedNpy(d) => d,
        }
    }
    /// What the targets mean.
    pub fn task(&self) -> &Task {
        match self {
            AnyDataset::Memory(d) => &d.task,
            AnyDataset::Mapped(d) => &d.task,
            AnyDataset::MappedNpy(d) => &d.task,
        }
    }
    /// Feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        match self {
            AnyDataset::Memory(d) => &d.feature_names,
            AnyDataset::Mapped(d) => &d.feature_names,
            AnyDataset::MappedNpy(d) => &d.feature_names,
        }
    }
    /// Statistics for the scaler, gathered at load or conversion time.
    pub fn fit_scaler(&self, scale: Scale) -> Scaler {
        match self {
            AnyDataset::Memory(d) => ScalerFit::fit(d, scale),
            AnyDataset::Mapped(d) => d.scaler(scale),
            AnyDataset::MappedNpy(d) => d.scaler(scale),
        }
    }
}

/// How to read a CSV file (and, in `npy`, where a NumPy input's labels are).
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// Target column, by name or 0-based index; default the last column.
    pub target: Option<String>,
    /// `Some(true)` forces a header row, `Some(false)` forces none; `None` detects it.
    pub header: Option<bool>,
    /// Regression instead of classification.
    pub regression: bool,
    /// Drop unparsable rows instead of failing (they are reported).
    pub skip_bad_rows: bool,
    /// For a test set: the training set's class names, so labels map to the same units.
    pub classes: Option<Vec<String>>,
    /// Rows to predict without a target column: every column is a feature, and each row gets a
    /// placeholder target of this task (the first class, or zeros).
    pub unlabeled: Option<Task>,
    /// For evaluating or predicting with a trained model: its columns, so the file's columns are
    /// matched to the model's features by header name where both have names.
    pub model: Option<ModelColumns>,
    /// For a NumPy input: the labels file of `.npy` features, the arrays of an `.npz`.
    pub npy: npy::NpyOptions,
}

/// What a trained model's inputs and outputs are called, for reading a file to evaluate or
/// predict on ([`csv::Layout::read`]).
///
/// When the file has a header and the model's feature names came from one (not the `col1`,
/// `col2`, ... of a headerless file), the file's columns are matched to the model's features by
/// name, in any order: a feature missing from the header is refused, naming it; other columns are
/// read past (and listed in [`Dataset::ignored_columns`]). When no name can be matched (no header
/// on either side, or no model feature name in the header), columns are matched by position.
#[derive(Clone, Debug)]
pub struct ModelColumns {
    /// The model's feature names, in input order.
    pub features: Vec<String>,
    /// What the model's outputs mean (class names, or regression target names).
    pub task: Task,
    /// The `--target` the model was trained with, tried when none is given.
    pub trained_target: Option<String>,
    /// Whether rows need their target (evaluate), or the target column is read past when present
    /// (predict: its cells may be anything, even empty).
    pub need_target: bool,
}

/// Loads a dataset by looking at the path: an MNIST directory or IDX file, a shardprop binary
/// file, or a CSV file (optionally gzipped). Returns the CSV lines skipped by `skip_bad_rows`.
/// `verify` checks a binary file's checksum over all rows (one sequential read) when opening it.
/// A pipe or FIFO is opened and read exactly once (see [`load_input`]).
pub fn load(path: &Path, csv: &CsvOptions, verify: bool) -> Result<(AnyDataset, Vec<u64>)> {
    if path.is_dir() || idx::is_idx_path(path) {
        refuse_labels(path, csv)?;
        return Ok((AnyDataset::Memory(idx::load_mnist(path)?), Vec::new()));
    }
    load_input(open::Input::open(path)?, csv, verify)
}

/// [`load`] from an opened input, sniffed from the bytes it has already read: a binary dataset
/// (which must be a regular file, to be memory-mapped), a NumPy file (by its magic or its
/// `.npy`/`.npz` name; read once whatever `verify` says, see [`npy`]) or a CSV file.
pub fn load_input(input: open::Input, csv: &CsvOptions, verify: bool) -> Result<(AnyDataset, Vec<u64>)> {
    if is_numpy(&input) {
        return Ok((
            match npy::load_input(input, csv)? {
                npy::Loaded::Memory(d) => AnyDataset::Memory(d),
                npy::Loaded::Mapped(d) => AnyDataset::MappedNpy(d),
            },
            Vec::new(),
        ));
    }
    refuse_labels(input.path(), csv)?;
    if input.head() == binary::MAGIC {
        let path = input.path().to_path_buf();
        if !input.is_regular() {
            return Err(not_mappable(&path));
        }
        drop(input);
        return Ok((AnyDataset::Mapped(binary::MappedDataset::open_with(&path, verify)?), Vec::new()));
    }
    let (d, skipped) = csv::load_input(input, csv)?;
    Ok((AnyDataset::Memory(d), skipped))
}

/// Whether an opened input is a NumPy file: its magic, or its name when the magic is not a
/// binary dataset's (a file named `.npy` that holds something else gets the NumPy reader's
/// message about its first bytes, not a CSV parse error).
fn is_numpy(input: &open::Input) -> bool {
    let head = input.head();
    npy::is_npy(head) || npy::is_npz(head) || (head != binary::MAGIC && npy::is_numpy_path(input.path()))
}

/// `--labels` belongs to `.npy` features only.
fn refuse_labels(path: &Path, csv: &CsvOptions) -> Result<()> {
    match &csv.npy.labels {
        Some(labels) => Err(Error::Config(format!(
            "--labels {}: labels in a separate file go with .npy features, but {} is not a .npy file (a CSV's target is one of its columns: --target)",
            labels.display(),
            path.display()
        ))),
        None => Ok(()),
    }
}

fn not_mappable(path: &Path) -> Error {
    Error::format(
        path,
        "byte 0: a shardprop binary dataset, but not a regular file (a pipe or FIFO?): binary datasets \
         are memory-mapped, so give the path of the file itself",
    )
}

/// Converts `input` (CSV, NumPy, IDX images file or MNIST directory) to a binary dataset at `output`.
/// Returns the rows written and the CSV lines skipped.
pub fn convert(input: &Path, output: &Path, csv: &CsvOptions) -> Result<(u64, Vec<u64>)> {
    if input.is_dir() || idx::is_idx_path(input) {
        refuse_labels(input, csv)?;
        let d = idx::load_mnist(input)?;
        // MNIST pixels load as [0, 1]: a run on the conversion is unscaled by default, as on IDX.
        return Ok((binary::write(output, &d, &d.task, &d.feature_names, Scale::None)?, Vec::new()));
    }
    let opened = open::Input::open(input)?;
    if is_numpy(&opened) {
        return Ok((npy::convert(opened, output, csv)?, Vec::new()));
    }
    refuse_labels(input, csv)?;
    csv::convert(opened, output, csv)
}
