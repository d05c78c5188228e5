//! A training run: the trainer (epochs, seeded shuffling, batches), the checkpoint that saves it,
//! and the session that builds a run from files (`open`: data, validation split, scaler;
//! `architecture`: the network; `resume`: from a checkpoint) and drives its loop, reporting to an
//! `observer`, with early stopping.

pub mod architecture;
pub mod checkpoint;
pub mod early_stop;
pub mod observer;
pub(crate) mod open;
mod prefetch;
mod resume;
pub mod session;
pub mod spec;
pub mod trainer;
