//! Datasets: where examples come from. The engine sees only [`Examples`]: row `i`'s raw features
//! and targets as `f32` slices, from memory ([`Dataset`]) or from a memory-mapped binary file
//! ([`binary::MappedDataset`]) or `.npy` file ([`npy::MappedNpy`]), through one view, [`Rows`] (all rows, or those a row map names).
//! Feature scaling ([`Scaler`]) is applied while a shard's rows are gathered, so every source is
//! scaled by the same code.

pub mod binary;
pub mod csv;
mod dataset;
mod fingerprint;
pub mod idx;
mod load;
pub mod mapping;
pub mod npy;
pub mod open;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod prefetch;
mod scale;
pub mod sigbus;
pub mod view;

pub use dataset::{Dataset, Targets};
pub use fingerprint::Fingerprint;
pub use load::{AnyDataset, CsvOptions, ModelColumns, convert, is_parquet_dir, load, load_input, parquet_files_in};
pub use scale::{Scale, Scaler, ScalerFit};
use serde::{Deserialize, Serialize};
pub use view::Rows;

use crate::error::Result;

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
    /// Rows that will be read soon (the next batches of the epoch's permutation), announced by
    /// the trainer before the current step computes. A memory-mapped source asks the kernel to
    /// start reading their pages ([`prefetch::will_need`]); in memory there is nothing to do.
    /// A hint only: it must not change what any row reads.
    fn prefetch(&self, _rows: &[usize]) {}
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

/// The first name that appears more than once in `names`, if any.
pub fn first_duplicate(names: &[String]) -> Option<&String> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}
