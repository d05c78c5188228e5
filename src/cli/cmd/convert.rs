//! `shardprop convert`: a CSV, NumPy or IDX dataset to the binary format, streaming.

use std::time::Instant;

use anyhow::{Context, Result};
use shardprop::data;

use crate::cli::args::ConvertArgs;
use crate::cli::load::{csv_options, npy_options, report_skipped};
use crate::cli::output::refuse_overwriting_inputs;

/// Converts `a.input` to the binary dataset `a.output`.
pub fn convert(a: ConvertArgs) -> Result<()> {
    refuse_overwriting_inputs("the output", Some(&a.output), &[Some(&a.input), a.npy.labels.as_ref()])?;
    let t = Instant::now();
    let mut csv = csv_options(&a.csv, None);
    csv.npy = npy_options(&a.npy);
    let (rows, skipped) = data::convert(&a.input, &a.output, &csv)
        .with_context(|| format!("cannot convert {} to {}", a.input.display(), a.output.display()))?;
    report_skipped(&a.input, &skipped);
    note!("wrote {rows} rows to {} in {:.2}s", a.output.display(), t.elapsed().as_secs_f64());
    Ok(())
}
