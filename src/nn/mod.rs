//! The maths of a fully connected network, one concept per file: each activation's `g` and `g'`,
//! each output head's cost and `δ^(L)`, the network's forward pass and backprop over a shard, and
//! the gradient types `Δ` ([`GradSum`]) and `D` ([`Grad`]).

pub mod activation;
pub mod grad;
pub mod loss;
pub mod network;

pub use activation::Activation;
pub use grad::{Grad, GradSum, StepStats};
pub use loss::Head;
pub use network::{Network, Workspace};
