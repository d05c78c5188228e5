//! `shardprop export`: a model as an ONNX file (see [`shardprop::export`]).

use anyhow::{Context, Result};
use shardprop::export::{INPUT, OPSET, output_name};

use crate::cli::args::ExportArgs;
use crate::cli::load::load_model;
use crate::cli::output::refuse_overwriting_inputs;

/// Loads the model (a damaged or foreign file is refused, naming it) and writes it as ONNX to
/// the output path, atomically; the output may not be the model file itself. A line on stderr
/// says what was written.
pub fn export(a: ExportArgs) -> Result<()> {
    refuse_overwriting_inputs("the output", Some(&a.output), &[Some(&a.model)])?;
    let ckpt = load_model(&a.model)?;
    shardprop::export::save_onnx(&ckpt, &a.output)
        .with_context(|| format!("cannot export to {}", a.output.display()))?;
    let net = &ckpt.network;
    let output = output_name(net.head());
    note!(
        "{}: ONNX opset {OPSET}, input {INPUT:?} [N, {}], output {output:?} [N, {}]",
        a.output.display(),
        net.n_inputs(),
        net.n_outputs()
    );
    Ok(())
}
