//! Which columns of a Parquet file are the features and the targets, found by name, and which
//! column types each may have.
//!
//! Accepted types (physical, with their logical or converted annotation):
//! - features: `FLOAT`, `DOUBLE` (no annotation), `INT32` and `INT64` (none, or a signed or
//!   unsigned `Integer`/`INT_*`/`UINT_*`);
//! - a class target: the integer types above, or `BYTE_ARRAY` text (`String`/`UTF8`, `Enum`, or
//!   none, checked to be UTF-8);
//! - regression targets: the feature types.
//!
//! Everything else (booleans, decimals, dates, times, timestamps, `INT96`, fixed-length bytes,
//! repeated columns) is refused, naming the column and its type.

use std::collections::HashMap;
use std::path::Path;

use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
use parquet::schema::types::{ColumnDescriptor, SchemaDescriptor};

use crate::data::{CsvOptions, ModelColumns, Task};
use crate::error::{Error, Result};

/// How a column's values are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// `FLOAT`.
    F32,
    /// `DOUBLE`, rounded to `f32`.
    F64,
    /// `INT32`, signed or not.
    I32 {
        /// Unsigned (`UINT_8`..`UINT_32`): the bits read as `u32`.
        unsigned: bool,
    },
    /// `INT64`, signed or not.
    I64 {
        /// Unsigned (`UINT_64`): the bits read as `u64`.
        unsigned: bool,
    },
    /// `BYTE_ARRAY` text.
    Text,
}

impl Kind {
    /// The kind of column `c`, or `None` for a type this reader does not take.
    fn of(c: &ColumnDescriptor) -> Option<Kind> {
        let logical = c.logical_type_ref();
        let converted = c.converted_type();
        let plain = logical.is_none() && converted == ConvertedType::NONE;
        let unsigned = match (logical, converted) {
            (Some(LogicalType::Integer(t)), _) => !t.is_signed,
            (None, ConvertedType::UINT_8 | ConvertedType::UINT_16 | ConvertedType::UINT_32) => true,
            (None, ConvertedType::UINT_64) => true,
            (None, ConvertedType::NONE | ConvertedType::INT_8 | ConvertedType::INT_16) => false,
            (None, ConvertedType::INT_32 | ConvertedType::INT_64) => false,
            _ => return (c.physical_type() == Physical::BYTE_ARRAY && text(logical, converted)).then_some(Kind::Text),
        };
        match c.physical_type() {
            Physical::FLOAT if plain => Some(Kind::F32),
            Physical::DOUBLE if plain => Some(Kind::F64),
            Physical::INT32 => Some(Kind::I32 { unsigned }),
            Physical::INT64 => Some(Kind::I64 { unsigned }),
            Physical::BYTE_ARRAY if plain => Some(Kind::Text),
            _ => None,
        }
    }
}

/// Whether a `BYTE_ARRAY`'s annotation says text.
fn text(logical: Option<&LogicalType>, converted: ConvertedType) -> bool {
    match logical {
        Some(l) => matches!(l, LogicalType::String | LogicalType::Enum),
        None => matches!(converted, ConvertedType::UTF8 | ConvertedType::ENUM),
    }
}

/// A column's type as the file states it, for messages: `INT32 (DATE)`.
fn describe(c: &ColumnDescriptor) -> String {
    let repeated = if c.max_rep_level() > 0 { "repeated " } else { "" };
    match (c.logical_type_ref(), c.converted_type()) {
        (Some(l), _) => format!("{repeated}{} ({l:?})", c.physical_type()),
        (None, ConvertedType::NONE) => format!("{repeated}{}", c.physical_type()),
        (None, conv) => format!("{repeated}{} ({conv})", c.physical_type()),
    }
}

/// A file's column names, looked up by name (or 0-based index where allowed).
struct Columns<'a> {
    path: &'a Path,
    names: &'a [String],
    index: HashMap<&'a str, usize>,
}

impl Columns<'_> {
    /// The column named `t`, or with index `t` when `index_ok`.
    fn find(&self, t: &str, index_ok: bool) -> Option<usize> {
        let t = t.trim();
        let n = self.names.len();
        self.index.get(t).copied().or_else(|| t.parse::<usize>().ok().filter(|&j| index_ok && j < n))
    }

    /// The columns of a comma-separated `spec`; an unknown one is a `what` column not found.
    fn list(&self, spec: &str, what: &str, index_ok: bool) -> Result<Vec<usize>> {
        spec.split(',').map(|t| self.find(t, index_ok).ok_or_else(|| self.unknown(what, t))).collect()
    }

    /// The error for a column `t` not in the file, listing those that are.
    fn unknown(&self, what: &str, t: &str) -> Error {
        Error::Config(format!(
            "{}: no {what} column {:?}; the columns are {}",
            self.path.display(),
            t.trim(),
            self.names.join(", ")
        ))
    }
}

/// The columns a file's rows are read from: leaf indices into its schema.
#[derive(Clone, Debug)]
pub(super) struct Selection {
    /// Every leaf column's name (dotted path for nested ones), in file order.
    pub names: Vec<String>,
    /// Each leaf's kind, where accepted.
    pub kinds: Vec<Option<Kind>>,
    /// Feature columns, in the order rows take them.
    pub features: Vec<usize>,
    /// Target columns (none for rows to predict).
    pub targets: Vec<usize>,
    /// Columns read past (a model's extra columns).
    pub ignored: Vec<usize>,
}

impl Selection {
    /// Names of the columns `cols`.
    pub fn names_of(&self, cols: &[usize]) -> Vec<String> {
        cols.iter().map(|&j| self.names[j].clone()).collect()
    }

    /// Finds the features and targets in `schema` as `opts` name them (the target: `--target`,
    /// default the last column; the features: `--features`, default every other column; with a
    /// model, its features by name), and checks their types.
    pub fn resolve(path: &Path, schema: &SchemaDescriptor, opts: &CsvOptions) -> Result<Self> {
        if opts.header.is_some() || opts.skip_bad_rows {
            return Err(Error::Config(format!(
                "{}: --header, --no-header and --skip-bad-rows apply to CSV, not to Parquet",
                path.display()
            )));
        }
        let names: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
        let kinds = schema.columns().iter().map(|c| Kind::of(c)).collect();
        let n = names.len();
        if n == 0 {
            return Err(Error::format(path, "the schema has no columns"));
        }
        let mut index = HashMap::with_capacity(n);
        for (j, name) in names.iter().enumerate() {
            if index.insert(name.as_str(), j).is_some() {
                return Err(Error::format(path, format!("two columns are named {name:?}: expected unique names")));
            }
        }
        let cols = Columns { path, names: &names, index };
        let (find, by_names) =
            (|t: &str, i: bool| cols.find(t, i), |spec: &str, w: &str, i: bool| cols.list(spec, w, i));
        let (features, targets) = match &opts.model {
            Some(model) => Self::for_model(&cols, opts, model)?,
            None => {
                let targets = match &opts.target {
                    _ if opts.unlabeled.is_some() => Vec::new(),
                    None => vec![n - 1],
                    Some(spec) => by_names(spec, "target", true)?,
                };
                let features = match &opts.features {
                    Some(list) => list
                        .iter()
                        .map(|f| find(f, false).ok_or_else(|| cols.unknown("feature", f)))
                        .collect::<Result<_>>()?,
                    None => (0..n).filter(|j| !targets.contains(j)).collect(),
                };
                (features, targets)
            }
        };
        let sel = Self { ignored: Vec::new(), names, kinds, features, targets };
        sel.check(path, schema, opts)
    }

    /// Features (a model's, by name) and targets for a file read with a trained model.
    fn for_model(cols: &Columns<'_>, opts: &CsvOptions, model: &ModelColumns) -> Result<(Vec<usize>, Vec<usize>)> {
        let (path, names) = (cols.path, cols.names);
        let (find, by_names) =
            (|t: &str, i: bool| cols.find(t, i), |spec: &str, w: &str, i: bool| cols.list(spec, w, i));
        if let Some(list) = &opts.features
            && list != &model.features
        {
            return Err(Error::Config(format!(
                "{}: --features {} differ from the model's features ({})",
                path.display(),
                list.join(","),
                model.features.join(", ")
            )));
        }
        let found: Vec<Option<usize>> = model.features.iter().map(|f| find(f, false)).collect();
        let missing: Vec<String> =
            model.features.iter().zip(&found).filter(|(_, j)| j.is_none()).map(|(f, _)| format!("{f:?}")).collect();
        if !missing.is_empty() {
            return Err(Error::Mismatch(format!(
                "{}: no column named {}, but the model takes it (its features are {}; the file's columns are {})",
                path.display(),
                missing.join(", "),
                model.features.join(", "),
                names.join(", ")
            )));
        }
        let features: Vec<usize> = found.into_iter().flatten().collect();
        if !model.need_target {
            return Ok((features, Vec::new()));
        }
        let extras: Vec<usize> = (0..names.len()).filter(|j| !features.contains(j)).collect();
        let all = |list: &[String]| list.iter().map(|t| find(t, false)).collect::<Option<Vec<_>>>();
        let targets = if let Some(spec) = &opts.target {
            by_names(spec, "target", true)?
        } else if let Some(t) = model.trained_target.as_deref().and_then(|s| by_names(s, "target", false).ok()) {
            t
        } else if let Task::Regression { targets } = &model.task
            && let Some(t) = all(targets)
        {
            t
        } else if let Some(&last) = extras.last()
            && (extras.len() == 1 || last == names.len() - 1)
        {
            // As in training without --target: the last column, when it is not a feature.
            vec![last]
        } else {
            return Err(Error::Config(format!(
                "{}: cannot tell the target among the columns that are not the model's features ({}): name it with --target",
                path.display(),
                extras.iter().map(|&j| names[j].as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        Ok((features, targets))
    }

    /// Checks the chosen columns: no overlap or repeats, the target count the task needs, and
    /// each column's type.
    fn check(mut self, path: &Path, schema: &SchemaDescriptor, opts: &CsvOptions) -> Result<Self> {
        let p = path.display();
        if self.features.is_empty() {
            return Err(Error::Config(format!("{p}: no feature columns (the columns are {})", self.names.join(", "))));
        }
        let mut seen = vec![false; self.names.len()];
        for &j in self.features.iter().chain(&self.targets) {
            if std::mem::replace(&mut seen[j], true) {
                let what = if self.targets.contains(&j) && self.features.contains(&j) {
                    "is both a feature and a target"
                } else {
                    "is named twice"
                };
                return Err(Error::Config(format!("{p}: column {:?} {what}", self.names[j])));
            }
        }
        self.ignored = (0..self.names.len()).filter(|&j| !seen[j]).collect();
        let regression = opts.regression || matches!(&opts.unlabeled, Some(Task::Regression { .. }));
        if !regression && opts.unlabeled.is_none() && self.targets.len() != 1 {
            return Err(Error::Config("classification takes exactly one target column".into()));
        }
        if let Some(Task::Regression { targets }) = opts.model.as_ref().map(|m| &m.task)
            && opts.unlabeled.is_none()
            && self.targets.len() != targets.len()
        {
            return Err(Error::Mismatch(format!(
                "{p}: {} target column(s), but the model predicts {} ({}); name them with --target",
                self.targets.len(),
                targets.len(),
                targets.join(", ")
            )));
        }
        let columns = schema.columns();
        for (&j, is_target) in self.features.iter().map(|j| (j, false)).chain(self.targets.iter().map(|j| (j, true))) {
            let c = &columns[j];
            let kind = if c.max_rep_level() > 0 { None } else { self.kinds[j] };
            let ok = match kind {
                None => false,
                Some(Kind::Text) => is_target && !regression,
                Some(Kind::F32 | Kind::F64) => !is_target || regression,
                Some(Kind::I32 { .. } | Kind::I64 { .. }) => true,
            };
            if !ok {
                let expected = match (is_target, regression) {
                    (false, _) => "a feature column must be FLOAT, DOUBLE, INT32 or INT64",
                    (true, false) => {
                        "a class column must be integers (INT32, INT64) or text (BYTE_ARRAY strings); for real values use --task regression"
                    }
                    (true, true) => "a regression target must be FLOAT, DOUBLE, INT32 or INT64",
                };
                return Err(Error::format(
                    path,
                    format!("column {:?} is {}: not supported; {expected}", self.names[j], describe(c)),
                ));
            }
        }
        Ok(self)
    }
}
