//! Durable files: atomic writes (temp file, fsync, rename) and bincode decoding under a byte limit.

pub mod atomic;
pub mod codec;
