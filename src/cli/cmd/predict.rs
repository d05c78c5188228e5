//! `shardprop predict`: one prediction per row, in input order, as CSV (names quoted where they
//! need it): the class name, the class probabilities (`--proba`, see [`shardprop::nn::predict`]) or the regression targets.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use shardprop::Engine;
use shardprop::data::Task;
use shardprop::io::atomic::AtomicFile;
use shardprop::nn::predict::{class_probabilities, predicted_class};

use crate::cli::args::PredictArgs;
use crate::cli::load::{load_for_model, load_model};
use crate::cli::output::{csv_field, refuse_overwriting_inputs};

/// Predicts every row of the data: a class name, the class probabilities (`--proba`) or the
/// regression targets, per line after a header; written to `--output` (atomically) or stdout.
///
/// With `--proba` the header names the classes and each row holds one probability per class
/// ([`class_probabilities`]): a cross-entropy model's softmax outputs, a sigmoid model's outputs
/// divided by their sum (normalised scores, not calibrated probabilities). Each row sums to 1
/// and its first largest value is the class `predict` gives without `--proba`. A regression
/// model has no classes: refused.
pub fn predict(a: PredictArgs) -> Result<()> {
    refuse_overwriting_inputs("--output", a.output.as_ref(), &[Some(&a.model), Some(&a.data)])?;
    let ckpt = load_model(&a.model)?;
    if a.proba
        && let Task::Regression { targets } = &ckpt.task
    {
        bail!(
            "--proba: {} is a regression model ({} head, predicting {}): it gives values, not classes, so it has no class probabilities; leave out --proba",
            a.model.display(),
            ckpt.network.head().name(),
            targets.join(", ")
        );
    }
    let npy = shardprop::data::npy::NpyOptions { x_key: a.x_key.clone(), ..Default::default() };
    let data = load_for_model(&ckpt, &a.data, &a.csv, npy, false)?;
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let mut out = Sink::open(a.output.as_deref())?;
    let mut text = match (&ckpt.task, a.proba) {
        (Task::Classification { classes }, true) => classes.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","),
        (Task::Classification { .. }, false) => "prediction".to_string(),
        (Task::Regression { targets }, _) => targets.iter().map(|t| csv_field(t)).collect::<Vec<_>>().join(","),
    };
    text.push('\n');
    out.write(&text)?;
    // The outputs stream by in batches, and each batch's text is written before the next is
    // computed: memory stays bounded whatever rows × classes.
    let mut p = Vec::new();
    let mut written = Ok(());
    engine.evaluate_streamed(&ckpt.network, data.examples(), &ckpt.scaler, |_, outputs| {
        if written.is_err() {
            return;
        }
        text.clear();
        for row in outputs.rows() {
            match &ckpt.task {
                Task::Classification { classes } if a.proba => {
                    class_probabilities(row, classes.len(), &mut p);
                    push_values(&mut text, &p);
                }
                Task::Classification { classes } => {
                    text += &csv_field(&classes[predicted_class(row, classes.len())]);
                    text.push('\n');
                }
                Task::Regression { .. } => push_values(&mut text, row),
            }
        }
        written = out.write(&text);
    });
    written?;
    out.finish()
}

/// Appends `values` as one CSV line, each printed as the shortest text that reads back as the same
/// `f32`: plain decimals from 1e-4 to below 1e7, exponent form outside (so a softmax output of
/// 1.6e-29 is not written as 28 zeros and its digits).
fn push_values<'a>(text: &mut String, values: impl IntoIterator<Item = &'a f32>) {
    for (k, &v) in values.into_iter().enumerate() {
        if k > 0 {
            text.push(',');
        }
        let plain = v == 0.0 || !v.is_finite() || (1e-4..1e7).contains(&v.abs());
        if plain { write!(text, "{v}") } else { write!(text, "{v:e}") }.expect("writing to a String cannot fail");
    }
    text.push('\n');
}

/// Where the CSV goes, batch by batch: the `--output` file, replacing the target only once
/// complete, or stdout.
enum Sink {
    File(AtomicFile, std::path::PathBuf),
    Stdout(std::io::StdoutLock<'static>),
}

impl Sink {
    fn open(output: Option<&Path>) -> Result<Self> {
        Ok(match output {
            Some(p) => Self::File(
                AtomicFile::create(p).with_context(|| format!("cannot write {}", p.display()))?,
                p.to_path_buf(),
            ),
            None => Self::Stdout(std::io::stdout().lock()),
        })
    }

    fn write(&mut self, text: &str) -> Result<()> {
        match self {
            Self::File(f, p) => f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", p.display())),
            Self::Stdout(s) => s.write_all(text.as_bytes()).context("cannot write to stdout"),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Self::File(f, p) => f.commit().with_context(|| format!("cannot write {}", p.display())),
            Self::Stdout(mut s) => s.flush().context("cannot write to stdout"),
        }
    }
}
