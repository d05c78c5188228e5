//! The values of enumerated flags, as `clap::ValueEnum`s: `--help` lists them, a bad value gets
//! clap's one message (`invalid value 'x' for '--flag <FLAG>'` and the possible values), and
//! `--config` checks a file's values against the same lists.
//!
//! Where a flag picks one of a library enum's variants as is (`--activation`: [`Activation`],
//! `--scale`: [`Scale`], `--kernel`: [`Kernel`], gradcheck's `--loss`: [`Head`]), the enum
//! itself derives `ValueEnum` (the library depends on clap already): one list of names, beside
//! the enum's own `name`, and nothing to map. The enums here are for flags that do not choose a
//! library variant directly: the library type carries data from other flags ([`Optimizer`] and
//! `--momentum` make a [`Method`], [`LrSchedule`] and `--lr-step`/`--lr-gamma`/`--lr-min` a
//! [`Schedule`]), holds what the data says ([`TaskKind`]: a [`shardprop::data::Task`] holds the
//! class names), or `train`'s `--loss` ([`Loss`]), which picks a cost, not a head: the head
//! follows from the cost and the data's task.
//!
//! [`Activation`]: shardprop::Activation
//! [`Scale`]: shardprop::data::Scale
//! [`Kernel`]: shardprop::kernel::matmul::Kernel
//! [`Head`]: shardprop::Head

use clap::ValueEnum;
use shardprop::optim::{Method, Schedule};

/// `train` and `bench` `--loss`: the cost the network is trained on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Loss {
    /// Squared error (sigmoid outputs, the derivation's J; identity outputs for regression).
    #[default]
    Mse,
    /// Cross-entropy (softmax outputs).
    CrossEntropy,
}

/// `--optimizer`: a [`Method`] once `--momentum` is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Optimizer {
    /// Plain gradient descent.
    #[default]
    #[value(alias = "gd")]
    Sgd,
    /// Classical momentum (--momentum).
    Momentum,
    /// Nesterov momentum (--momentum).
    Nesterov,
    /// Adam.
    Adam,
    /// iRPROP-, FANN's batch default; ignores --lr.
    #[value(alias = "irprop-")]
    Rprop,
}

impl Optimizer {
    /// The method with its usual constants, from the library's own table ([`Method::parse`]).
    pub fn method(self, momentum: f64) -> Method {
        let name = self.to_possible_value().expect("no --optimizer value is skipped");
        // Every name here is one of Method::parse's (the test below checks each).
        Method::parse(name.get_name(), momentum).expect("every --optimizer value names a method")
    }
}

/// `--lr-schedule`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LrSchedule {
    /// The rate stays --lr.
    #[default]
    Constant,
    /// Multiply by --lr-gamma every --lr-step epochs.
    Step,
    /// Cosine from --lr down to --lr-min over the epochs.
    Cosine,
}

impl LrSchedule {
    /// The schedule with its parameters from the other flags.
    pub fn schedule(self, epochs: usize, every: usize, gamma: f64, min_lr: f64) -> Schedule {
        match self {
            Self::Constant => Schedule::Constant,
            Self::Step => Schedule::Step { every, gamma },
            Self::Cosine => Schedule::Cosine { epochs, min_lr },
        }
    }
}

/// `--task`: what the target column holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TaskKind {
    /// Class labels.
    #[default]
    Classification,
    /// Real values.
    Regression,
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardprop::Activation;
    use shardprop::data::Scale;
    use shardprop::kernel::matmul::Kernel;

    fn names<E: ValueEnum>() -> Vec<String> {
        E::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect()
    }

    /// The flags' spellings are a contract: a renamed variant must not rename a flag value.
    #[test]
    fn flag_values_keep_their_spellings() {
        assert_eq!(names::<Activation>(), ["sigmoid", "tanh", "relu", "identity"]);
        assert_eq!(names::<Scale>(), ["none", "minmax", "standard"]);
        assert_eq!(names::<Kernel>(), ["gemm", "matrixmultiply"]);
        assert_eq!(names::<shardprop::Head>(), ["mse", "cross-entropy", "regression"]);
        assert_eq!(names::<Loss>(), ["mse", "cross-entropy"]);
        assert_eq!(names::<Optimizer>(), ["sgd", "momentum", "nesterov", "adam", "rprop"]);
        assert_eq!(names::<LrSchedule>(), ["constant", "step", "cosine"]);
        assert_eq!(names::<TaskKind>(), ["classification", "regression"]);
        assert_eq!(Activation::from_str("linear", false), Ok(Activation::Identity));
        assert_eq!(Optimizer::from_str("gd", false), Ok(Optimizer::Sgd));
        assert_eq!(Optimizer::from_str("irprop-", false), Ok(Optimizer::Rprop));
    }

    /// The library's own names (in checkpoints' JSON, `inspect`, reports) agree with the flags'
    /// values. (The library's `parse` functions are the derived `ValueEnum` ones.)
    #[test]
    fn library_spellings_agree_with_the_flags() {
        for &a in Activation::value_variants() {
            assert_eq!(a.name(), a.to_possible_value().unwrap().get_name());
        }
        for &k in Kernel::value_variants() {
            assert_eq!(k.name(), k.to_possible_value().unwrap().get_name());
        }
        for &o in Optimizer::value_variants() {
            assert_eq!(o.method(0.9).name(), o.to_possible_value().unwrap().get_name());
        }
    }
}
