//! Strict, streaming CSV (optionally gzipped): RFC 4180 quoting, CRLF or LF line ends, a header
//! row detected or forced, the target column by name or index (default the last).
//!
//! Every error names the file, the 1-based line and column and what was expected, e.g.
//! `iris.csv:12:9: column 3 (petal_length): cannot parse "abc" as a number`.
//!
//! One concept per file, in the order a byte meets them:
//! - `reader`: bytes to records of fields, with each field's line and column; the text rules
//!   (UTF-8, no NUL, quotes closed, a bounded line length);
//! - `number`: a field to a finite `f32`;
//! - `layout`: the first record (or two) to the columns: header or data, targets, features,
//!   and a trained model's columns matched by name;
//! - `classes`: class labels to ids, numbers compared as exact decimals;
//! - `rows`: a record to a row of features and its target, and the rows gathered in memory;
//! - `load`: a file to a [`Dataset`](crate::data::Dataset), sequential or in parallel blocks
//!   (`blocks`: the reader thread, the parser threads and the ordered merge; `gathered`: the rows
//!   of a file or a block);
//! - `convert`: a file to the binary format, streaming.

mod blocks;
mod classes;
mod convert;
mod gathered;
mod layout;
mod load;
mod number;
mod reader;
mod rows;

pub use classes::ClassMap;
pub use convert::convert;
pub use layout::{Layout, is_synthetic_name};
pub use load::{BLOCK, load, load_blocks, load_input, load_sequential_input};
pub use reader::{MAX_LINE, RecordReader};
pub use rows::parse_row;
