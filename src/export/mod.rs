//! Models that travel: a trained network written as an ONNX file of standard operators, with its
//! input scaling inside the graph and its class and feature names in the metadata.
//!
//! `graph` turns a network into ONNX nodes and constants; `onnx` encodes those as ONNX's
//! protobuf messages; `proto` is the protobuf wire format underneath (no protobuf crate: the
//! handful of messages an exported network needs are written by hand).

pub mod graph;
pub mod onnx;
pub mod proto;

use std::path::Path;

pub use graph::{INPUT, IR_VERSION, ModelInfo, OPSET, OUTPUT, PROBABILITIES, output_name};

use crate::error::Result;
use crate::io::atomic;
use crate::run::checkpoint::Checkpoint;

/// The ONNX file's bytes for the model in `ckpt` (see [`graph`] for what the graph computes).
pub fn to_onnx(ckpt: &Checkpoint) -> Result<Vec<u8>> {
    let info = ModelInfo {
        network: &ckpt.network,
        scaler: &ckpt.scaler,
        task: &ckpt.task,
        feature_names: &ckpt.feature_names,
    };
    graph::build(&info)?.encode()
}

/// Writes the model in `ckpt` to `path` as ONNX, atomically (temp file, fsync, rename).
pub fn save_onnx(ckpt: &Checkpoint, path: &Path) -> Result<()> {
    atomic::write(path, &to_onnx(ckpt)?)
}
