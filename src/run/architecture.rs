//! The network a new run builds: layer sizes from the data and the hidden sizes asked for, the
//! output head from the task and the cost.

use crate::data::Task;
use crate::error::{Error, Result};
use crate::{Activation, Head, Init, Network, rng};

/// The network a new run builds.
#[derive(Clone, Debug)]
pub struct Architecture {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Classification cost: cross-entropy (softmax outputs) instead of squared error.
    pub cross_entropy: bool,
}

impl Architecture {
    /// A fresh network for `n_features` inputs and `task`'s outputs, initialised from `seed` by
    /// `init`'s rules:
    /// sizes `[n_features, hidden (zeros dropped)…, task.n_outputs()]`; identity outputs with
    /// squared error for regression, softmax with cross-entropy or sigmoid with squared error
    /// for classification.
    pub fn build(&self, n_features: usize, task: &Task, seed: u64, init: Init) -> Result<Network<f32>> {
        let head = match (task, self.cross_entropy) {
            (Task::Regression { .. }, true) => {
                return Err(Error::Config("cross-entropy needs classification, not regression".into()));
            }
            (Task::Regression { .. }, false) => Head::IdentityMse,
            (_, true) => Head::SoftmaxCrossEntropy,
            _ => Head::SigmoidMse,
        };
        let mut sizes = vec![n_features];
        sizes.extend(self.hidden.iter().copied().filter(|&h| h > 0));
        sizes.push(task.n_outputs());
        Network::with_init(&sizes, self.activation, head, init, &mut rng::seeded(seed, rng::STREAM_INIT))
    }
}
