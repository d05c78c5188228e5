//! `shardprop plot`: loss and accuracy per epoch from a `--metrics` log, as SVG.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use shardprop::report::plot::{Series, line_panels};

use crate::cli::args::PlotArgs;
use crate::cli::output::refuse_overwriting_inputs;

/// Draws the log's train, validation and test loss (and accuracy), each where logged, against
/// the epoch.
pub fn plot(a: PlotArgs) -> Result<()> {
    refuse_overwriting_inputs("-o", Some(&a.output), &[Some(&a.metrics)])?;
    let rows = read_metrics(&a.metrics)?;
    let series = |key: &str, label: &str| {
        Series::new(label, rows.iter().filter_map(|(e, v)| v[key].as_f64().map(|y| (*e, y))).collect())
    };
    let keep = |s: Vec<Series>| -> Vec<Series> { s.into_iter().filter(|s| !s.points.is_empty()).collect() };
    let loss = keep(vec![series("train_loss", "train"), series("val_loss", "validation"), series("test_loss", "test")]);
    let acc = keep(vec![
        series("train_accuracy", "train"),
        series("val_accuracy", "validation"),
        series("test_accuracy", "test"),
    ]);
    let mut panels = vec![("Loss per epoch", "loss", loss)];
    if !acc.is_empty() {
        panels.push(("Accuracy per epoch", "accuracy", acc));
    }
    line_panels(&a.output, "epoch", &panels)?;
    note!("{} epochs drawn to {}", rows.len(), a.output.display());
    Ok(())
}

/// The log's lines as (epoch, object), blank lines skipped; an error names the line. At least
/// one epoch.
fn read_metrics(path: &Path) -> Result<Vec<(f64, Value)>> {
    // Bounded: a metrics log is a line per epoch; an endless stream must not fill memory.
    let raw = shardprop::memory::read_capped(path, 1 << 28)?;
    let text = String::from_utf8(raw).with_context(|| format!("{}: not UTF-8 text", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON object", path.display(), i + 1))?;
        let epoch =
            v["epoch"].as_f64().with_context(|| format!("{}:{}: no \"epoch\" number", path.display(), i + 1))?;
        rows.push((epoch, v));
    }
    if rows.is_empty() {
        bail!("{}: no epochs to plot", path.display());
    }
    Ok(rows)
}
