//! Optimisers: how `D^(l)` becomes a weight update. Plain gradient descent is the derivation's
//! `W^(l) -= α D^(l)`.

use ndarray::Zip;
use serde::{Deserialize, Serialize};

use crate::{Float, Grad, Network};

/// Applies one gradient to the weights. Runs inside the engine's pool; updates are elementwise,
/// so parallel application is deterministic.
pub trait Optimizer<T: Float>: Send {
    /// One step with gradient `grad` and learning rate `lr`.
    fn step(&mut self, net: &mut Network<T>, grad: &Grad<T>, lr: f64);
}

/// Plain gradient descent: `W^(l) -= α D^(l)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GradientDescent;

impl<T: Float> Optimizer<T> for GradientDescent {
    fn step(&mut self, net: &mut Network<T>, grad: &Grad<T>, lr: f64) {
        let alpha = T::from_f64(lr);
        for (w, d) in net.weights_mut().iter_mut().zip(&grad.d) {
            Zip::from(w).and(d).par_for_each(|w, &d| *w -= alpha * d);
        }
    }
}
