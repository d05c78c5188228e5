//! `shardprop evaluate`: loss, accuracy and the confusion matrix of a model on a dataset.

use anyhow::{Context, Result, bail};
use serde_json::json;
use shardprop::Engine;
use shardprop::nn::network::class_of;
use shardprop::report::metrics::{ConfusionPairs, MAX_DENSE_CLASSES};

use crate::cli::args::EvaluateArgs;
use crate::cli::load::{load_for_model, load_model, npy_options};
use crate::cli::output::{print_out, refuse_overwriting_inputs};

/// Evaluates the model on the data, streaming the outputs; prints text or `--json`.
pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let inputs = [Some(&a.model), Some(&a.data), a.npy.labels.as_ref()];
    refuse_overwriting_inputs("--confusion", a.confusion.as_ref(), &inputs)?;
    let ckpt = load_model(&a.model)?;
    if let (Some(p), Some(classes)) = (&a.confusion, ckpt.task.classes())
        && classes.len() > MAX_DENSE_CLASSES
    {
        bail!(
            "--confusion {}: the model has {} classes; the heat map is drawn for at most {MAX_DENSE_CLASSES} \
             (--json lists every non-zero pair as confusion_pairs)",
            p.display(),
            classes.len()
        );
    }
    if a.confusion.is_some() && ckpt.task.classes().is_none() {
        bail!("--confusion needs a classification model");
    }
    let data = load_for_model(&ckpt, &a.data, &a.csv, npy_options(&a.npy), true)?;
    if data.examples().is_empty() {
        bail!(
            "{}: holds no rows, so there is nothing to evaluate (loss and accuracy need at least one)",
            a.data.display()
        );
    }
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let ex = data.examples();
    // The outputs stream by in batches: memory stays bounded whatever rows × classes.
    let mut pairs = ckpt.task.classes().map(|c| ConfusionPairs::new(c.len()));
    let ev = engine.evaluate_streamed(&ckpt.network, ex, &ckpt.scaler, |first, outputs| {
        if let Some(pairs) = pairs.as_mut() {
            for (i, row) in outputs.rows().into_iter().enumerate() {
                pairs.add(ex.target(first + i).class().unwrap_or(0), class_of(row));
            }
        }
    });
    let confusion = ckpt.task.classes().zip(pairs);
    if let (Some(p), Some((classes, c))) = (&a.confusion, &confusion) {
        let dense = c.dense().context("a confusion matrix of few classes")?;
        shardprop::report::plot::confusion(p, classes, &dense.counts)?;
        note!("confusion matrix drawn to {}", p.display());
    }
    if a.json {
        let mut obj = json!({ "examples": ev.m, "loss": ev.loss(), "params_digest": ckpt.network.params_digest() });
        if let Some((classes, c)) = &confusion {
            obj["accuracy"] = json!(ev.accuracy());
            obj["classes"] = json!(classes);
            if let Some(dense) = c.dense() {
                obj["confusion"] = json!(dense.counts);
            }
            obj["confusion_pairs"] = json!(c.pairs().map(|(t, p, n)| [t as u64, p as u64, n]).collect::<Vec<_>>());
        }
        print_out(format_args!("{obj}\n"))?;
    } else {
        print_out(format_args!("examples {}\nloss {:.6}\n", ev.m, ev.loss()))?;
        if let Some((classes, c)) = &confusion {
            print_out(format_args!("accuracy {:.2}%\n{}\n", 100.0 * ev.accuracy(), c.to_text(classes)))?;
        }
    }
    Ok(())
}
