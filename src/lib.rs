//! shardprop: a deterministic, data-parallel trainer for fully connected networks.
//!
//! Notation, used throughout the crate (Greek letters live in comments only):
//!
//! * `L` (`n_layers`): number of layers, input and output included; sizes `S_1 … S_L`.
//! * `m`: number of examples in a gradient step (a batch), cut into shards.
//! * `a^(l)` (`acts[l]`): activations of layer `l`, one row per example; `acts[0]` is the input.
//!   The bias unit `a_0 = 1` is implicit: column 0 of every weight matrix multiplies it.
//! * `W^(l)` (`w[l]`): weights from layer `l` to `l+1`, shape `S_{l+1} × (S_l + 1)`.
//! * `z^(l+1) = W^(l) a^(l)`, `a^(l+1) = g(z^(l+1))`.
//! * `δ^(l)` (`delta`): error terms; `δ^(L) = ∂J_i/∂z^(L)`,
//!   `δ^(l) = (W^(l)ᵀ δ^(l+1)) ⊙ g'(z^(l))` with the bias row dropped.
//! * `Δ^(l)` ([`GradSum`]): `Σ_i δ^(l+1) a^(l)ᵀ` over the examples of a shard or step.
//! * `D^(l) = Δ^(l) / m` ([`Grad`]); the step is `W^(l) -= α D^(l)`.
//!
//! The path of one example: a loader in [`data`] yields a row of features and targets, the
//! [`Trainer`] ([`run::trainer`]) shuffles indices with a seeded portable RNG and takes a batch, [`engine`] cuts the batch into
//! shards fixed by `m` and the shard size alone, runs [`Network::backprop`] on each shard as matrix
//! products, sums the shards' [`GradSum`]s in a fixed pairwise tree into `D` (a [`Grad`]), and an
//! optimiser from [`optim`] applies it in the same pass.
//!
//! The modules, bottom to top (each imports only from those listed before it):
//! [`error`], [`float`], [`hash`], [`memory`], [`rng`] (the notation and the ground rules); [`io`] (durable
//! files); [`kernel`] (products, fast elementwise maths); [`nn`] (the maths of one network);
//! [`optim`]; [`data`] (loaders and the row view); [`engine`] (the parallel step, the fixed tree,
//! the MPI exchange); [`run`] (the trainer, checkpoints, a run from files); [`report`],
//! [`tools`] and [`export`] (ONNX files). The binary's `cli` sits on top. docs/ARCHITECTURE.md draws the map.
#![warn(missing_docs)]

pub mod data;
pub mod engine;
pub mod error;
pub mod export;
pub mod float;
pub mod hash;
pub mod io;
pub mod kernel;
pub mod memory;
pub mod nn;
pub mod optim;
pub mod report;
pub mod rng;
pub mod run;
pub mod tools;

/// The README's Rust examples, compiled and run as doctests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use engine::Engine;
pub use error::{Error, Result};
pub use float::Float;
pub use nn::{Activation, Dropout, Grad, GradSum, Head, Init, Network, StepStats, Workspace};
pub use run::trainer::{TrainConfig, Trainer};
