//! The maths of a fully connected network, one concept per file: each activation's `g` and `g'`,
//! the initial weights' rules ([`Init`]), dropout's masks ([`Dropout`]),
//! each output head's cost and `δ^(L)`, the network's forward pass and backprop over a shard, the
//! gradient types `Δ` ([`GradSum`]) and `D` ([`Grad`]), and a classifier's predicted class and
//! class probabilities.

pub mod activation;
pub mod dropout;
pub mod grad;
pub mod init;
pub mod loss;
pub mod network;
pub mod predict;
pub mod transposed;
pub mod workspace;

pub use activation::Activation;
pub use dropout::Dropout;
pub use grad::{Grad, GradSum, StepStats};
pub use init::Init;
pub use loss::Head;
pub use network::{Network, Workspace};
pub use transposed::{Fresh, Transposed};
