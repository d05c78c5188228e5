//! Reading data and models for the subcommands: `--task`/`--target`/header flags as
//! [`CsvOptions`], the default MNIST directory and scaling, rows dropped by `--skip-bad-rows`,
//! and the checks that a dataset fits a trained model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use shardprop::data::{self, AnyDataset, CsvOptions, Examples, Scale};
use shardprop::run::checkpoint::Checkpoint;

use super::args::{CsvArgs, NpyArgs};
use super::choices::TaskKind;

/// The CSV options the flags in `a` describe; `classes` fixes the class list (a model's).
pub fn csv_options(a: &CsvArgs, classes: Option<Vec<String>>) -> CsvOptions {
    CsvOptions {
        target: a.target.clone(),
        header: if a.no_header {
            Some(false)
        } else if a.header {
            Some(true)
        } else {
            None
        },
        regression: a.task == TaskKind::Regression,
        skip_bad_rows: a.skip_bad_rows,
        classes,
        unlabeled: None,
        model: None,
        npy: data::npy::NpyOptions::default(),
        features: a.features.clone(),
    }
}

/// Where NumPy data's labels are, as the flags in `a` say.
pub fn npy_options(a: &NpyArgs) -> data::npy::NpyOptions {
    data::npy::NpyOptions { labels: a.labels.clone(), x_key: a.x_key.clone(), y_key: a.y_key.clone() }
}

/// CSV options for reading rows with a trained model: its classes fixed, its task (whatever
/// `--task` says), and its columns to match by name ([`data::ModelColumns`]). `need_target`:
/// evaluate reads the target; predict reads past it.
fn model_csv_options(a: &CsvArgs, ckpt: &Checkpoint, need_target: bool) -> CsvOptions {
    let mut opts = csv_options(a, ckpt.task.classes().map(|c| c.to_vec()));
    opts.regression = ckpt.task.classes().is_none();
    opts.model = Some(data::ModelColumns {
        features: ckpt.feature_names.clone(),
        task: ckpt.task.clone(),
        trained_target: ckpt.data.target.clone(),
        need_target,
    });
    if !need_target {
        opts.unlabeled = Some(ckpt.task.clone());
    }
    opts
}

/// `datasets/mnist` under the working directory, else under the crate that built this binary.
pub fn default_mnist() -> PathBuf {
    let here = PathBuf::from("datasets/mnist");
    if here.is_dir() { here } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist") }
}

/// The test set `--test p` names: an MNIST directory means its t10k files.
pub fn test_set(p: &Path) -> Result<PathBuf> {
    if is_mnist_dir(p)? { Ok(data::idx::images_in(p, "t10k")?) } else { Ok(p.to_path_buf()) }
}

/// Whether `p` is a directory of MNIST files (a directory that is not a Parquet dataset).
pub fn is_mnist_dir(p: &Path) -> Result<bool> {
    Ok(p.is_dir() && !data::is_parquet_dir(p)?)
}

/// The scaling of a run without `--scale`: none for MNIST (pixels load as `[0, 1]`), what a
/// binary file's header records (its source's default), standard otherwise.
pub fn default_scale(data: &Path) -> Result<Scale> {
    if (data.is_dir() && !data::is_parquet_dir(data)?) || data::idx::is_idx_path(data) {
        return Ok(Scale::None);
    }
    Ok(data::binary::default_scale_of(data)?.unwrap_or(Scale::Standard))
}

/// Loads a dataset, reporting any rows dropped by `--skip-bad-rows`.
pub fn load(path: &Path, csv: &CsvOptions, verify: bool) -> Result<AnyDataset> {
    let (loaded, skipped) = data::load(path, csv, verify).with_context(|| format!("cannot load {}", path.display()))?;
    report_skipped(path, &skipped);
    Ok(loaded)
}

/// Notes on stderr how many rows of `path` `--skip-bad-rows` dropped, and the first 20 lines.
pub fn report_skipped(path: &Path, skipped: &[u64]) {
    if !skipped.is_empty() {
        let shown: Vec<String> = skipped.iter().take(20).map(|l| l.to_string()).collect();
        let more = if skipped.len() > 20 { ", ..." } else { "" };
        note!("{}: skipped {} bad rows (lines {}{more})", path.display(), skipped.len(), shown.join(", "));
    }
}

/// Loads a model or checkpoint file, naming it in the error.
pub fn load_model(path: &Path) -> Result<Checkpoint> {
    Checkpoint::load(path).with_context(|| format!("cannot load the model {}", path.display()))
}

/// Loads the rows `evaluate` and `predict` read with a model. A pipe or FIFO is read once, as it
/// streams (never buffered whole first: an endless one stops at the first bad line).
pub fn load_for_model(
    ckpt: &Checkpoint,
    path: &Path,
    csv: &CsvArgs,
    npy: data::npy::NpyOptions,
    need_target: bool,
) -> Result<AnyDataset> {
    let mut opts = model_csv_options(csv, ckpt, need_target);
    opts.npy = npy;
    let (data, skipped) =
        data::load(path, &opts, !csv.no_verify).with_context(|| format!("cannot load {}", path.display()))?;
    report_skipped(path, &skipped);
    if let AnyDataset::Memory(d) = &data
        && !d.ignored_columns.is_empty()
    {
        let what = if need_target { "neither the model's features nor the target" } else { "not the model's features" };
        note!("note: {}: columns {what}, not read: {}", path.display(), d.ignored_columns.join(", "));
    }
    if let AnyDataset::Mapped(d) = &data {
        check_binary_names(path, &d.feature_names, &ckpt.feature_names)?;
    }
    // Evaluation reads every row: with --no-verify they are checked first, in one cheap pass.
    data::check_rows(data.examples(), 0..data.examples().len())?;
    check_features(path, data.examples(), ckpt.network.n_inputs())?;
    if need_target {
        if let (Some(model), Some(found)) = (ckpt.task.classes(), data.task().classes())
            && model != found
        {
            bail!(
                "{}: its classes ({}) differ from the model's ({})",
                path.display(),
                found.join(", "),
                model.join(", ")
            );
        }
        if data.task().classes().is_some() != ckpt.task.classes().is_some()
            || data.task().n_outputs() != ckpt.task.n_outputs()
        {
            bail!(
                "{}: has {} target(s) per row, but the model predicts {}",
                path.display(),
                data.examples().n_targets(),
                ckpt.task.n_outputs()
            );
        }
    }
    Ok(data)
}

/// A binary dataset's columns cannot be reordered: where both it and the model have names from a
/// header (not `col1`, `col2`, ...) and they share any, they must be the model's, in its order.
fn check_binary_names(path: &Path, file: &[String], model: &[String]) -> Result<()> {
    let synthetic = |f: &String| data::csv::is_synthetic_name(f);
    let in_file: std::collections::HashSet<&String> = file.iter().collect();
    if file == model
        || file.iter().all(synthetic)
        || model.iter().all(synthetic)
        || !model.iter().any(|m| in_file.contains(m))
    {
        return Ok(());
    }
    bail!(
        "{}: its features are {}, but the model's are {} (a binary file is read by position: \
         convert it from a CSV with the model's columns, or evaluate the CSV, whose columns are matched by name)",
        path.display(),
        file.join(", "),
        model.join(", ")
    )
}

/// Refuses data whose rows are not the model's input width.
fn check_features(what: &Path, data: &dyn Examples, n_inputs: usize) -> Result<()> {
    if data.n_features() != n_inputs {
        bail!("{}: has {} features per row, but the model takes {n_inputs}", what.display(), data.n_features());
    }
    Ok(())
}
