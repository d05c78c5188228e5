//! The layout of a file, read from its first record (and the second, to tell a header from
//! data): column names, target columns, feature columns in the order the rows take them, and,
//! for a file given to a trained model, its columns matched to the model's by name.

use std::collections::HashMap;

use super::reader::RecordReader;
use crate::data::{CsvOptions, ModelColumns, Task};
use crate::error::{Error, Result};

/// The layout of a CSV file, read from its first record: column names, which are targets, and
/// whether the first record was a header.
#[derive(Clone, Debug)]
pub struct Layout {
    /// All column names (from the header, or `col1`, `col2`, ...).
    pub names: Vec<String>,
    /// Indices of the target columns.
    pub targets: Vec<usize>,
    /// Indices of the feature columns, in the order the rows' features take (the model's, when
    /// they were matched by name).
    pub feature_columns: Vec<usize>,
    /// Indices of the columns read past: neither features nor targets.
    pub ignored: Vec<usize>,
    /// Whether the first record was a header.
    pub has_header: bool,
}

impl Layout {
    /// Indices of the feature columns.
    pub fn features(&self) -> Vec<usize> {
        self.feature_columns.clone()
    }

    /// Every column that is not a target, in file order: the features when nothing is matched
    /// by name.
    fn positional(names: Vec<String>, targets: Vec<usize>, ignored: Vec<usize>, has_header: bool) -> Self {
        let mut taken = vec![false; names.len()];
        for &j in targets.iter().chain(&ignored) {
            if let Some(t) = taken.get_mut(j) {
                *t = true;
            }
        }
        let feature_columns = (0..names.len()).filter(|&j| !taken[j]).collect();
        Self { names, targets, feature_columns, ignored, has_header }
    }

    /// Reads the layout from the reader's first record; returns it with `true` when that record
    /// is a data row still to be consumed.
    pub fn read(rr: &mut RecordReader<'_>, opts: &CsvOptions) -> Result<(Self, bool)> {
        if !rr.next_record()? {
            return Err(Error::format(rr.path(), "empty file: expected a header or data rows"));
        }
        let n = rr.len();
        // Old Mac line ends (CR alone) make the whole file one line: say so, not "duplicate names".
        if let Some(j) = (0..n).find(|&j| rr.field(j).contains('\r')) {
            return Err(rr.error(
                j,
                "a carriage return (CR) inside the first line: line ends of CR alone are not supported; \
                 expected LF or CRLF line ends (convert with: tr '\\r' '\\n')",
            ));
        }
        let has_header = match opts.header {
            Some(forced) => forced,
            None => Self::detect_header(rr)?,
        };
        let names: Vec<String> = if has_header {
            (0..n).map(|j| rr.field(j).to_string()).collect()
        } else {
            (1..=n).map(|j| format!("col{j}")).collect()
        };
        if has_header {
            let mut seen = HashMap::with_capacity(n);
            for (j, name) in names.iter().enumerate() {
                if let Some(first) = seen.insert(name.as_str(), j) {
                    return Err(rr.error(
                        j,
                        format!(
                            "column {} has the same name {name:?} as column {}: expected unique column names",
                            j + 1,
                            first + 1
                        ),
                    ));
                }
            }
        }
        if let Some(model) = &opts.model {
            return Ok((Self::for_model(rr, names, has_header, opts, model)?, !has_header));
        }
        let targets = match &opts.target {
            _ if opts.unlabeled.is_some() => Vec::new(),
            None => vec![n - 1],
            Some(spec) => spec
                .split(',')
                .map(|t| {
                    let t = t.trim();
                    names
                        .iter()
                        .position(|name| name == t)
                        .or_else(|| t.parse::<usize>().ok().filter(|&j| j < n))
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "{}: unknown target column {t:?}; the columns are {} (or an index 0..{})",
                                rr.path().display(),
                                names.join(", "),
                                n - 1
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if n < 2 && opts.unlabeled.is_none() {
            return Err(rr.error(0, format!("found {n} column, expected at least one feature and a target")));
        }
        if !opts.regression && targets.len() != 1 && opts.unlabeled.is_none() {
            return Err(Error::Config("classification takes exactly one target column".into()));
        }
        Ok((Self::positional(names, targets, Vec::new(), has_header), !has_header))
    }

    /// The layout of a file to evaluate or predict on with a trained model (see
    /// [`ModelColumns`]): features matched by header name where both sides have names, else by
    /// position; the target by `--target`, the model's own target names or training `--target`,
    /// else the one column left over (the last column, without names).
    fn for_model(
        rr: &RecordReader<'_>,
        names: Vec<String>,
        has_header: bool,
        opts: &CsvOptions,
        model: &ModelColumns,
    ) -> Result<Self> {
        let path = rr.path();
        let n = names.len();
        let n_in = model.features.len();
        let k = match &model.task {
            Task::Regression { targets } => targets.len(),
            Task::Classification { .. } => 1,
        };
        // Name lookups by hash (a file may have 100,000 columns): header names are unique.
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(j, name)| (name.as_str(), j)).collect();
        let by_name = |t: &str| index.get(t).copied();
        let resolve = |spec: &str, index_ok: bool| -> Option<Vec<usize>> {
            spec.split(',')
                .map(|t| {
                    let t = t.trim();
                    by_name(t).or_else(|| t.parse::<usize>().ok().filter(|&j| index_ok && j < n))
                })
                .collect()
        };
        let user_target = match &opts.target {
            Some(spec) => Some(resolve(spec, true).ok_or_else(|| {
                Error::Config(format!(
                    "{}: unknown target column {spec:?}; the columns are {} (or an index 0..{})",
                    path.display(),
                    names.join(", "),
                    n.saturating_sub(1)
                ))
            })?),
            None => None,
        };
        let list = |cols: &[usize]| cols.iter().map(|&j| names[j].as_str()).collect::<Vec<_>>().join(", ");
        let check_count = |targets: &[usize]| -> Result<()> {
            if targets.len() == k {
                return Ok(());
            }
            let what = match &model.task {
                Task::Regression { targets } => format!("{k} target column(s) ({})", targets.join(", ")),
                Task::Classification { .. } => "one class column".to_string(),
            };
            Err(Error::Mismatch(format!(
                "{}: {} target column(s) ({}), but the model predicts {what}; name them with --target",
                path.display(),
                targets.len(),
                list(targets)
            )))
        };
        // A headerless training file names its columns col1, col2, ...: nothing to match.
        let synthetic = |f: &String| is_synthetic_name(f);
        if has_header && !model.features.iter().all(synthetic) {
            let found: Vec<Option<usize>> = model.features.iter().map(|f| by_name(f)).collect();
            let missing: Vec<&str> =
                model.features.iter().zip(&found).filter(|(_, j)| j.is_none()).map(|(f, _)| f.as_str()).collect();
            if missing.is_empty() {
                let features: Vec<usize> = found.into_iter().flatten().collect();
                let mut is_feature = vec![false; n];
                for &j in &features {
                    is_feature[j] = true;
                }
                let extras: Vec<usize> = (0..n).filter(|&j| !is_feature[j]).collect();
                let targets = if !model.need_target {
                    Some(Vec::new())
                } else if let Some(t) = user_target.clone() {
                    Some(t)
                } else if let Some(t) = model.trained_target.as_deref().and_then(|s| resolve(s, false)) {
                    Some(t)
                } else if let Task::Regression { targets } = &model.task {
                    targets
                        .iter()
                        .map(|t| by_name(t))
                        .collect::<Option<Vec<_>>>()
                        .or_else(|| (extras.len() == k).then(|| extras.clone()))
                } else if extras.last() == Some(&(n - 1)) || extras.len() == 1 {
                    extras.last().map(|&j| vec![j])
                } else if extras.is_empty() {
                    // Every column is a feature: the file has no target (the label column was
                    // left out), and reading the last feature as one would misreport it.
                    return Err(Error::Mismatch(format!(
                        "{}: its columns are the model's features and no target column; evaluate needs the \
                         target (predict reads rows without one)",
                        path.display()
                    )));
                } else {
                    return Err(Error::Config(format!(
                        "{}: the columns {} are not the model's features; name the target column with --target",
                        path.display(),
                        list(&extras)
                    )));
                };
                if let Some(targets) = targets {
                    if let Some(&j) = targets.iter().find(|&&j| is_feature[j]) {
                        return Err(Error::Config(format!(
                            "{}: the target column {:?} is one of the model's features",
                            path.display(),
                            names[j]
                        )));
                    }
                    if model.need_target {
                        check_count(&targets)?;
                    }
                    let ignored = extras.into_iter().filter(|j| !targets.contains(j)).collect();
                    return Ok(Self { names, targets, feature_columns: features, ignored, has_header });
                }
            } else if missing.len() < n_in {
                return Err(Error::Mismatch(format!(
                    "{}: no column named {} in the header, but the model takes {} (its features are {}; the file's columns are {})",
                    path.display(),
                    missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                    model.features.join(", "),
                    names.join(", ")
                )));
            }
        }
        // By position: the target by --target, training's --target or the last k columns. A
        // training --target given by name cannot be found in a file without names: guessing the
        // last column would read the target as a feature.
        if !has_header
            && user_target.is_none()
            && let Some(t) = model.trained_target.as_deref()
            && t.split(',').any(|c| c.trim().parse::<usize>().is_err())
        {
            return Err(Error::Config(format!(
                "{}: has no header, and the model's target was named {t:?} when it was trained, so its column \
                 cannot be found: give --target with its 0-based index, or add the header",
                path.display()
            )));
        }
        let default_targets = || {
            user_target
                .clone()
                .or_else(|| model.trained_target.as_deref().and_then(|s| resolve(s, true)).filter(|t| t.len() == k))
                .unwrap_or_else(|| (n.saturating_sub(k)..n).collect())
        };
        if model.need_target {
            let targets = default_targets();
            check_count(&targets)?;
            if n < 2 {
                return Err(rr.error(0, format!("found {n} column, expected at least one feature and a target")));
            }
            return Ok(Self::positional(names, targets, Vec::new(), has_header));
        }
        // Rows to predict: every column a feature, or the features and the target (read past).
        let ignored = if n == n_in && user_target.is_none() { Vec::new() } else { default_targets() };
        let layout = Self::positional(names, Vec::new(), ignored, has_header);
        if layout.feature_columns.len() != n_in {
            return Err(Error::Mismatch(format!(
                "{}: has {} columns, but the model takes {n_in} features (and the file may add its {k} target column(s))",
                path.display(),
                n
            )));
        }
        Ok(layout)
    }

    /// Whether the current (first) record is a header: it is when it has a field that is not a
    /// number above a number in the next record (a name over a numeric column), or when it has
    /// text and no record follows. A first record whose text fields all sit above text in the
    /// next record (string labels, `5.1,3.5,1.4,0.2,setosa`) is data, so a headerless file with
    /// string labels keeps its first row.
    fn detect_header(rr: &mut RecordReader<'_>) -> Result<bool> {
        let text: Vec<usize> = (0..rr.len()).filter(|&j| rr.field(j).parse::<f64>().is_err()).collect();
        if text.is_empty() {
            return Ok(false);
        }
        rr.peek_next(|next| match next {
            None => true,
            Some(next) => text.iter().any(|&j| j < next.len() && next.field(j).parse::<f64>().is_ok()),
        })
    }
}

/// Whether `name` is one a headerless file's column gets (`col1`, `col2`, ...), not a real name.
pub fn is_synthetic_name(name: &str) -> bool {
    name.strip_prefix("col").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}
