//! The subcommands, one file each: read the parsed flags, call the library, print. What two of
//! them share lives beside this folder: running a session to its end in `run_session` (train, resume), reading
//! data for a model in `load` (evaluate, predict), the output checks in `output`.

pub mod bench;
pub mod convert;
pub mod evaluate;
pub mod export;
pub mod gradcheck;
pub mod inspect;
pub mod plot;
pub mod predict;
pub mod resume;
pub mod train;
