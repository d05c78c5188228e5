//! Typed errors. Messages start with the place they refer to (`path:line:column:` for text,
//! `path: byte N:` for binary files) so editors can jump there; lines and columns are 1-based.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the library. None of it panics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value or combination.
    #[error("{0}")]
    Config(String),
    /// A text file that does not parse.
    #[error("{}:{line}:{column}: {msg}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column (field number for CSV).
        column: u64,
        /// What was found and what was expected.
        msg: String,
    },
    /// A binary file whose structure is wrong (bad magic, size, checksum...).
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with a byte offset where one applies.
        msg: String,
    },
    /// Data that is well-formed but does not fit (feature counts, unknown labels...).
    #[error("{0}")]
    Mismatch(String),
    /// Training diverged: the cost became NaN or infinite.
    #[error("{0}")]
    Diverged(String),
    /// An I/O failure on a named file. The OS error is part of the message, not a separate
    /// `source` (a chain printed with `{:#}` would say it twice).
    #[error("{}: {err}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        err: io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), err: source }
    }
    /// A structural error in the binary file `path`.
    pub fn format(path: &Path, msg: impl Into<String>) -> Self {
        Self::Format { path: path.to_path_buf(), msg: msg.into() }
    }
}
