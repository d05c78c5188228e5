//! Datasets: where examples come from. The engine sees only [`Examples`]: row `i`'s raw features
//! and targets as `f32` slices, from memory ([`Dataset`]) or from a memory-mapped binary file.
//! Feature scaling ([`Scaler`]) is applied while a shard's rows are gathered, so every source is
//! scaled by the same code.

pub mod binary;
pub mod csv;
pub mod idx;
pub mod open;
mod scale;
pub mod sigbus;
pub mod view;

use std::path::Path;

pub use scale::{Scale, Scaler, ScalerFit};
use serde::{Deserialize, Serialize};
pub use view::Rows;

use crate::error::{Error, Result};

/// Row access for training and evaluation.
pub trait Examples: Sync {
    /// Number of rows.
    fn len(&self) -> usize;
    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Features per row (`S_1`).
    fn n_features(&self) -> usize;
    /// Target values per row (`S_L`): classes for one-hot classification.
    fn n_targets(&self) -> usize;
    /// Raw (unscaled) features of row `i`.
    fn features(&self, i: usize) -> &[f32];
    /// The target of row `i`.
    fn target(&self, i: usize) -> Target<'_>;
    /// A hash of every row already known without reading them (a binary file's stored
    /// checksum), so fingerprinting a multi-GB file costs nothing.
    fn content_hash(&self) -> Option<u64> {
        None
    }
    /// Called by the engine after each step with the number of rows it read, outside any
    /// parallel section; a memory-mapped source uses it to hand pages back so resident memory
    /// stays bounded.
    fn rows_read(&self, _rows: usize) {}
    /// Whether every row's cells were checked when the source was opened (always, except for a
    /// binary file opened without `verify`), so [`Examples::check_row`] has nothing to do.
    fn rows_checked(&self) -> bool {
        true
    }
    /// Checks row `i`'s cells before they are used, where opening did not
    /// ([`Examples::rows_checked`]): finite features, a class index in range.
    fn check_row(&self, _i: usize) -> Result<()> {
        Ok(())
    }
    /// Checks that the source is still whole: a memory-mapped file that another program
    /// truncated since it was opened is refused before its missing pages are read.
    fn check_source(&self) -> Result<()> {
        Ok(())
    }
}

/// Checks, before they are used, that `data` is still whole and that the rows `rows` hold only
/// cells its format allows ([`Examples::check_row`]; nothing to do for most sources).
pub fn check_rows(data: &dyn Examples, rows: impl IntoIterator<Item = usize>) -> Result<()> {
    data.check_source()?;
    if !data.rows_checked() {
        for i in rows {
            data.check_row(i)?;
        }
    }
    Ok(())
}

/// The target of one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target<'a> {
    /// A class index, trained as a one-hot row.
    Class(usize),
    /// Real values, one per output unit.
    Values(&'a [f32]),
}

impl Target<'_> {
    /// Writes the target as an output row: one-hot for a class.
    #[inline]
    pub fn write<T: crate::Float>(self, mut out: ndarray::ArrayViewMut1<T>) {
        match self {
            Target::Class(c) => {
                out.fill(T::zero());
                if out.len() == 1 {
                    out[0] = T::from_usize(c.min(1));
                } else if let Some(o) = out.get_mut(c) {
                    // (An out-of-range class can only come from an unverified damaged file.)
                    *o = T::one();
                }
            }
            Target::Values(v) => {
                for (o, &v) in out.iter_mut().zip(v) {
                    *o = T::from_f32(v);
                }
            }
        }
    }

    /// The class index, for classification.
    pub fn class(self) -> Option<usize> {
        match self {
            Target::Class(c) => Some(c),
            Target::Values(_) => None,
        }
    }
}

/// Targets of an in-memory dataset.
#[derive(Clone, Debug)]
pub enum Targets {
    /// One class index per row.
    Classes(Vec<u32>),
    /// Row-major values, `n_targets` per row.
    Values(Vec<f32>),
}

/// Whether targets are classes or real values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// Classification; targets are one-hot over these class names, in output-unit order.
    Classification {
        /// The class names.
        classes: Vec<String>,
    },
    /// Regression on these target columns.
    Regression {
        /// Target column names.
        targets: Vec<String>,
    },
}

impl Task {
    /// Output units the network needs.
    pub fn n_outputs(&self) -> usize {
        match self {
            Task::Classification { classes } => classes.len(),
            Task::Regression { targets } => targets.len(),
        }
    }
    /// The class names, for classification.
    pub fn classes(&self) -> Option<&[String]> {
        match self {
            Task::Classification { classes } => Some(classes),
            Task::Regression { .. } => None,
        }
    }
}

/// An in-memory dataset: row-major `f32` features and per-row targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    x: Vec<f32>,
    y: Targets,
    n_features: usize,
    /// What the targets mean.
    pub task: Task,
    /// Feature names (from a CSV header, or `x0`, `x1`, ...).
    pub feature_names: Vec<String>,
    /// Where the rows came from, for messages.
    pub source: String,
    /// Columns of the file that were read past: neither features nor targets (evaluating or
    /// predicting with a model whose features were matched by name, see [`ModelColumns`]).
    pub ignored_columns: Vec<String>,
}

impl Dataset {
    /// Builds a dataset from row-major features and targets.
    pub fn new(x: Vec<f32>, y: Targets, n_features: usize, task: Task, source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let n_outputs = task.n_outputs();
        if n_features == 0 || n_outputs == 0 || !x.len().is_multiple_of(n_features) {
            return Err(Error::Mismatch(format!(
                "{source}: {} values do not make rows of {n_features} features with {n_outputs} outputs",
                x.len()
            )));
        }
        let rows = x.len() / n_features;
        let target_rows = match (&y, &task) {
            (Targets::Classes(c), Task::Classification { classes }) => {
                if let Some((i, &bad)) = c.iter().enumerate().find(|&(_, &c)| c as usize >= classes.len()) {
                    return Err(Error::Mismatch(format!(
                        "{source}: row {}: class {bad} is not below {}",
                        i + 1,
                        classes.len()
                    )));
                }
                c.len()
            }
            (Targets::Values(v), Task::Regression { .. }) if v.len().is_multiple_of(n_outputs) => v.len() / n_outputs,
            _ => return Err(Error::Mismatch(format!("{source}: targets do not match the task"))),
        };
        if rows != target_rows {
            return Err(Error::Mismatch(format!("{source}: {rows} feature rows but {target_rows} target rows")));
        }
        let feature_names = (0..n_features).map(|j| format!("x{j}")).collect();
        Ok(Self { x, y, n_features, task, feature_names, source, ignored_columns: Vec::new() })
    }

    /// A classification dataset from features and labels `0..classes.len()`.
    pub fn from_labels(
        x: Vec<f32>,
        labels: Vec<u32>,
        n_features: usize,
        classes: Vec<String>,
        source: &str,
    ) -> Result<Self> {
        Self::new(x, Targets::Classes(labels), n_features, Task::Classification { classes }, source)
    }

    /// All features, row-major.
    pub fn x(&self) -> &[f32] {
        &self.x
    }
}

impl Examples for Dataset {
    fn len(&self) -> usize {
        self.x.len() / self.n_features
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn n_targets(&self) -> usize {
        self.task.n_outputs()
    }
    fn features(&self, i: usize) -> &[f32] {
        &self.x[i * self.n_features..(i + 1) * self.n_features]
    }
    fn target(&self, i: usize) -> Target<'_> {
        match &self.y {
            Targets::Classes(c) => Target::Class(c[i] as usize),
            Targets::Values(v) => {
                let k = self.task.n_outputs();
                Target::Values(&v[i * k..(i + 1) * k])
            }
        }
    }
}

/// The row and column counts of a dataset and a hash of its bytes, so that resuming on other data
/// can be refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Rows.
    pub rows: u64,
    /// Features per row.
    pub features: u64,
    /// Targets per row.
    pub targets: u64,
    /// FNV-1a over the 32-bit words of every row's features then target (a class as `f32`); for
    /// a binary dataset file, its stored CRC-32 of rows and metadata with bit 63 set.
    pub hash: u64,
}

impl Fingerprint {
    /// Fingerprints `data`: its stored content hash when it has one, else reads every row once.
    pub fn of(data: &dyn Examples) -> Self {
        let (rows, features, targets) = (data.len() as u64, data.n_features() as u64, data.n_targets() as u64);
        if let Some(hash) = data.content_hash() {
            return Self { rows, features, targets, hash };
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |vals: &[f32]| {
            for v in vals {
                h ^= v.to_bits() as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for i in 0..data.len() {
            eat(data.features(i));
            match data.target(i) {
                Target::Class(c) => eat(&[c as f32]),
                Target::Values(v) => eat(v),
            }
        }
        Self { rows, features, targets, hash: h }
    }
}

/// A loaded dataset of either kind.
pub enum Loaded {
    /// Held in memory (CSV, IDX).
    Memory(Dataset),
    /// Memory-mapped binary file.
    Mapped(binary::MappedDataset),
}

impl Loaded {
    /// Row access.
    pub fn examples(&self) -> &dyn Examples {
        match self {
            Loaded::Memory(d) => d,
            Loaded::Mapped(d) => d,
        }
    }
    /// What the targets mean.
    pub fn task(&self) -> &Task {
        match self {
            Loaded::Memory(d) => &d.task,
            Loaded::Mapped(d) => &d.task,
        }
    }
    /// Feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        match self {
            Loaded::Memory(d) => &d.feature_names,
            Loaded::Mapped(d) => &d.feature_names,
        }
    }
    /// Statistics for the scaler, gathered at load or conversion time.
    pub fn fit_scaler(&self, scale: Scale) -> Scaler {
        match self {
            Loaded::Memory(d) => ScalerFit::fit(d, scale),
            Loaded::Mapped(d) => d.scaler(scale),
        }
    }
}

/// How to read a CSV file.
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

/// The first name that appears more than once in `names`, if any.
pub fn first_duplicate(names: &[String]) -> Option<&String> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// Loads a dataset by looking at the path: an MNIST directory or IDX file, a shardprop binary
/// file, or a CSV file (optionally gzipped). Returns the CSV lines skipped by `skip_bad_rows`.
/// `verify` checks a binary file's checksum over all rows (one sequential read) when opening it.
/// A pipe or FIFO is opened and read exactly once (see [`load_input`]).
pub fn load(path: &Path, csv: &CsvOptions, verify: bool) -> Result<(Loaded, Vec<u64>)> {
    if path.is_dir() || idx::is_idx_path(path) {
        return Ok((Loaded::Memory(idx::load_mnist(path)?), Vec::new()));
    }
    load_input(open::Input::open(path)?, csv, verify)
}

/// [`load`] from an opened input, sniffed from the bytes it has already read: a binary dataset
/// (which must be a regular file, to be memory-mapped) or a CSV file.
pub fn load_input(input: open::Input, csv: &CsvOptions, verify: bool) -> Result<(Loaded, Vec<u64>)> {
    if input.head() == binary::MAGIC {
        let path = input.path().to_path_buf();
        if !input.is_regular() {
            return Err(not_mappable(&path));
        }
        drop(input);
        return Ok((Loaded::Mapped(binary::MappedDataset::open_with(&path, verify)?), Vec::new()));
    }
    let (d, skipped) = csv::load_input(input, csv)?;
    Ok((Loaded::Memory(d), skipped))
}

fn not_mappable(path: &Path) -> Error {
    Error::format(
        path,
        "byte 0: a shardprop binary dataset, but not a regular file (a pipe or FIFO?): binary datasets \
         are memory-mapped, so give the path of the file itself",
    )
}

/// Converts `input` (CSV, IDX images file or MNIST directory) to a binary dataset at `output`.
/// Returns the rows written and the CSV lines skipped.
pub fn convert(input: &Path, output: &Path, csv: &CsvOptions) -> Result<(u64, Vec<u64>)> {
    if input.is_dir() || idx::is_idx_path(input) {
        let d = idx::load_mnist(input)?;
        // MNIST pixels load as [0, 1]: a run on the conversion is unscaled by default, as on IDX.
        return Ok((binary::write(output, &d, &d.task, &d.feature_names, Scale::None)?, Vec::new()));
    }
    csv::convert(open::Input::open(input)?, output, csv)
}
