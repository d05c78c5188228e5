//! Integration tests: one binary, one module per concern.

mod common;

mod atomic_writes;
mod bad_input;
mod binary_cells;
mod checkpoint_fields;
mod cli;
mod csv_input;
mod csv_pipeline;
mod determinism;
mod distributed;
mod formats;
mod fuzz;
mod gradcheck;
mod learning;
mod model_columns;
mod npy;
mod old_checkpoints;
mod onnx_export;
mod oracle;
mod outputs;
#[cfg(feature = "parquet")]
mod parquet;
mod pipes;
mod prefetch;
mod proba;
mod resume;
mod run_options;
mod training;
mod truncation;
