//! `shardprop predict`: one prediction per row, in input order, as CSV.

use anyhow::{Context, Result};
use shardprop::Engine;
use shardprop::data::Task;
use shardprop::nn::network::class_of;

use crate::cli::args::PredictArgs;
use crate::cli::load::{load_for_model, load_model};
use crate::cli::output::{print_out, refuse_overwriting_inputs};

/// Predicts every row of the data: a class name, or the regression targets, per line after a
/// header; written to `--output` (atomically) or stdout.
pub fn predict(a: PredictArgs) -> Result<()> {
    refuse_overwriting_inputs("--output", a.output.as_ref(), &[Some(&a.model), Some(&a.data)])?;
    let ckpt = load_model(&a.model)?;
    let data = load_for_model(&ckpt, &a.data, &a.csv, false)?;
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let mut text = String::new();
    match &ckpt.task {
        Task::Classification { .. } => text += "prediction\n",
        Task::Regression { targets } => {
            text += &targets.join(",");
            text.push('\n');
        }
    }
    // The outputs stream by in batches: memory stays bounded whatever rows × classes.
    engine.evaluate_streamed(&ckpt.network, data.examples(), &ckpt.scaler, |_, outputs| match &ckpt.task {
        Task::Classification { classes } => {
            for row in outputs.rows() {
                let c = if classes.len() > 1 && row.len() == 1 {
                    class_of(row)
                } else {
                    class_of(row).min(classes.len() - 1)
                };
                text += &classes[c];
                text.push('\n');
            }
        }
        Task::Regression { .. } => {
            for row in outputs.rows() {
                let vals: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                text += &vals.join(",");
                text.push('\n');
            }
        }
    });
    match &a.output {
        Some(p) => {
            shardprop::io::atomic::write(p, text.as_bytes()).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print_out(format_args!("{text}"))?,
    }
    Ok(())
}
