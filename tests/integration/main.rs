//! Integration tests: one binary, one module per concern.

mod common;

mod atomic_writes;
mod bad_input;
mod binary_cells;
mod checkpoint_fields;
mod cli;
mod csv_input;
mod determinism;
mod distributed;
mod formats;
mod fuzz;
mod gradcheck;
mod learning;
mod model_columns;
mod oracle;
mod outputs;
#[cfg(feature = "parquet")]
mod parquet;
mod pipes;
mod proba;
mod resume;
mod training;
mod truncation;
