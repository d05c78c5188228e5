//! [`Dataset`]: rows held in memory (from CSV or IDX), row-major `f32` features and one target
//! per row.

use super::{Examples, Target, Task};
use crate::error::{Error, Result};

/// Targets of an in-memory dataset.
#[derive(Clone, Debug)]
pub enum Targets {
    /// One class index per row.
    Classes(Vec<u32>),
    /// Row-major values, `n_targets` per row.
    Values(Vec<f32>),
}

impl Targets {
    /// Row `i`'s target, `k` values per row for [`Targets::Values`].
    pub fn row(&self, i: usize, k: usize) -> Target<'_> {
        match self {
            Self::Classes(c) => Target::Class(c[i] as usize),
            Self::Values(v) => Target::Values(&v[i * k..(i + 1) * k]),
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
    /// predicting with a model whose features were matched by name, see [`super::ModelColumns`]).
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
        self.y.row(i, self.task.n_outputs())
    }
}
