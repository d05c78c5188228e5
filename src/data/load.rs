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
    /// Parquet only: the feature columns by name, in this order (default: every column that is
    /// not a target).
    pub features: Option<Vec<String>>,
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
    if is_parquet_dir(path)? {
        return Ok((AnyDataset::Memory(load_parquet(path, csv)?), Vec::new()));
    }
    if path.is_dir() || idx::is_idx_path(path) {
        refuse_labels(path, csv)?;
        no_features(path, csv)?;
        return Ok((AnyDataset::Memory(idx::load_mnist(mnist_dir(path)?)?), Vec::new()));
    }
    load_input(open::Input::open(path)?, csv, verify)
}

/// [`load`] from an opened input, sniffed from the bytes it has already read: a binary dataset
/// (which must be a regular file, to be memory-mapped), a NumPy file (by its magic or its
/// `.npy`/`.npz` name; read once whatever `verify` says, see [`npy`]) or a CSV file.
pub fn load_input(input: open::Input, csv: &CsvOptions, verify: bool) -> Result<(AnyDataset, Vec<u64>)> {
    if is_numpy(&input) {
        no_features(input.path(), csv)?;
        return Ok((
            match npy::load_input(input, csv)? {
                npy::Loaded::Memory(d) => AnyDataset::Memory(d),
                npy::Loaded::Mapped(d) => AnyDataset::MappedNpy(d),
            },
            Vec::new(),
        ));
    }
    refuse_labels(input.path(), csv)?;
    if input.head().starts_with(PARQUET_MAGIC) {
        let path = parquet_file(input)?;
        return Ok((AnyDataset::Memory(load_parquet(&path, csv)?), Vec::new()));
    }
    no_features(input.path(), csv)?;
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
    if is_parquet_dir(input)? {
        return Ok((convert_parquet(input, output, csv)?, Vec::new()));
    }
    if input.is_dir() || idx::is_idx_path(input) {
        refuse_labels(input, csv)?;
        no_features(input, csv)?;
        let d = idx::load_mnist(mnist_dir(input)?)?;
        // MNIST pixels load as [0, 1]: a run on the conversion is unscaled by default, as on IDX.
        return Ok((binary::write(output, &d, &d.task, &d.feature_names, Scale::None)?, Vec::new()));
    }
    let opened = open::Input::open(input)?;
    if is_numpy(&opened) {
        no_features(input, csv)?;
        return Ok((npy::convert(opened, output, csv)?, Vec::new()));
    }
    refuse_labels(input, csv)?;
    if opened.head().starts_with(PARQUET_MAGIC) {
        return Ok((convert_parquet(&parquet_file(opened)?, output, csv)?, Vec::new()));
    }
    no_features(input, csv)?;
    csv::convert(opened, output, csv)
}

/// The first bytes of a Parquet file.
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Whether `path` is a directory holding `.parquet` files (a Parquet dataset, not MNIST).
pub fn is_parquet_dir(path: &Path) -> Result<bool> {
    Ok(path.is_dir() && !parquet_files_in(path)?.is_empty())
}

/// The `.parquet` files of the directory `dir`, in file-name order.
pub fn parquet_files_in(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// A directory given as data that holds no `.parquet` files must be an MNIST directory.
fn mnist_dir(path: &Path) -> Result<&Path> {
    if path.is_dir() && idx::images_in(path, "train").is_err() {
        return Err(Error::Config(format!(
            "{}: a directory, but neither Parquet data (no .parquet files) nor MNIST (no \
             train-images-idx3-ubyte[.gz]); expected one of them",
            path.display()
        )));
    }
    Ok(path)
}

/// `--features` names Parquet columns: refused for other formats rather than ignored.
fn no_features(path: &Path, csv: &CsvOptions) -> Result<()> {
    match csv.features {
        Some(_) => Err(Error::Config(format!(
            "{}: --features applies to Parquet data only (a CSV file's features are every column \
             that is not a target)",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// The path of an opened Parquet file, which must be a regular file (its footer is read first).
fn parquet_file(input: open::Input) -> Result<std::path::PathBuf> {
    let path = input.path().to_path_buf();
    if !input.is_regular() {
        return Err(Error::format(
            &path,
            "byte 0: a Parquet file, but not a regular file (a pipe or FIFO?): Parquet is read from its \
             end, so give the path of the file itself",
        ));
    }
    Ok(path)
}

#[cfg(feature = "parquet")]
fn load_parquet(path: &Path, csv: &CsvOptions) -> Result<Dataset> {
    super::parquet::load(path, csv)
}

#[cfg(feature = "parquet")]
fn convert_parquet(input: &Path, output: &Path, csv: &CsvOptions) -> Result<u64> {
    super::parquet::convert(input, output, csv)
}

#[cfg(not(feature = "parquet"))]
fn load_parquet(path: &Path, _: &CsvOptions) -> Result<Dataset> {
    Err(no_parquet(path))
}

#[cfg(not(feature = "parquet"))]
fn convert_parquet(input: &Path, _: &Path, _: &CsvOptions) -> Result<u64> {
    Err(no_parquet(input))
}

/// The error for Parquet data in a build without the `parquet` feature.
#[cfg(not(feature = "parquet"))]
fn no_parquet(path: &Path) -> Error {
    Error::Config(format!(
        "{}: Parquet data, but this build has no Parquet support (build with `cargo build --release --features parquet`)",
        path.display()
    ))
}
