//! How a new network's weights are drawn ([`Init`]): per layer, Glorot's uniform rule or He's
//! normal rule, from the run's seeded generator. Weights are drawn in `f64`, in layer order, so
//! a seed gives the same network whatever the thread count.

use ndarray::Array2;
use ndarray_rand::RandomExt;
use ndarray_rand::rand_distr::{Normal, Uniform};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Activation;

/// `--init`: the rule for each layer's initial weights. The output layer always takes Glorot's
/// rule (its units are sigmoid, softmax or identity, never ReLU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Init {
    /// The default: He for ReLU hidden layers, Glorot for sigmoid, tanh and identity ones
    /// (each rule for the units it was derived for).
    #[default]
    Auto,
    /// Glorot and Bengio (2010), "Xavier": uniform in `±sqrt(6 / (S_l + S_{l+1}))`, bias
    /// included, for every layer.
    #[value(alias = "xavier")]
    Glorot,
    /// He et al. (2015): normal with variance `2 / S_l` and zero bias, for every hidden layer.
    He,
}

impl Init {
    /// The name `--init` takes, as `inspect` and the run's first line show it.
    pub fn name(self) -> &'static str {
        match self {
            Init::Auto => "auto",
            Init::Glorot => "glorot",
            Init::He => "he",
        }
    }

    /// The rule this choice gives a layer of `hidden` units (`is_output`: the last layer).
    fn rule(self, hidden: Activation, is_output: bool) -> Rule {
        match (self, is_output) {
            (_, true) | (Init::Glorot, false) => Rule::Glorot,
            (Init::He, false) => Rule::He,
            (Init::Auto, false) if hidden == Activation::Relu => Rule::He,
            (Init::Auto, false) => Rule::Glorot,
        }
    }

    /// `W^(l)` (shape `fan_out × (fan_in + 1)`, column 0 the bias) for layer `l` of a network
    /// with `n_layers` layers, drawn from `rng`.
    pub(crate) fn draw(
        self,
        (fan_in, fan_out): (usize, usize),
        hidden: Activation,
        is_output: bool,
        rng: &mut ChaCha8Rng,
    ) -> Array2<f64> {
        match self.rule(hidden, is_output) {
            Rule::He => {
                let std = (2.0 / fan_in as f64).sqrt();
                let mut w = Array2::random_using((fan_out, fan_in + 1), Normal::new(0.0, std).expect("std > 0"), rng);
                w.column_mut(0).fill(0.0);
                w
            }
            Rule::Glorot => {
                let r = (6.0 / (fan_in + fan_out) as f64).sqrt();
                Array2::random_using((fan_out, fan_in + 1), Uniform::new(-r, r), rng)
            }
        }
    }
}

enum Rule {
    Glorot,
    He,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    #[test]
    fn each_choice_draws_its_rule() {
        let mut r = rng::seeded(3, rng::STREAM_INIT);
        let (fan_in, fan_out) = (400, 300);
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
        for (init, hidden, he) in [
            (Init::Auto, Activation::Relu, true),
            (Init::Auto, Activation::Tanh, false),
            (Init::Glorot, Activation::Relu, false),
            (Init::He, Activation::Sigmoid, true),
        ] {
            let w = init.draw((fan_in, fan_out), hidden, false, &mut r);
            let weights = w.slice(ndarray::s![.., 1..]);
            let var = weights.iter().map(|x| x * x).sum::<f64>() / weights.len() as f64;
            if he {
                // Zero bias, variance 2 / fan_in (within 5% over 120,000 draws).
                assert!(w.column(0).iter().all(|&b| b == 0.0), "{init:?}");
                assert!((var * fan_in as f64 / 2.0 - 1.0).abs() < 0.05, "{init:?}: variance {var}");
            } else {
                // Uniform in ±limit: variance limit² / 3, and nothing outside.
                assert!(w.iter().all(|x| x.abs() <= limit), "{init:?}");
                assert!((var * 3.0 / (limit * limit) - 1.0).abs() < 0.05, "{init:?}: variance {var}");
            }
            // The output layer is Glorot whatever the choice.
            let out = init.draw((fan_in, 10), hidden, true, &mut r);
            assert!(out.iter().all(|x| x.abs() <= (6.0 / (fan_in + 10) as f64).sqrt()), "{init:?}");
        }
    }
}
