//! Same data, config and seed give bitwise-identical weights for any thread count.

use shardprop::data::{Scale, ScalerFit};
use shardprop::{Activation, Head, Network, TrainConfig, Trainer, rng};

use crate::common::classification_data;

fn train(threads: usize, cfg: &TrainConfig, head: Head) -> Network<f32> {
    let data = classification_data(1000, 12, 5, 9);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let net =
        Network::<f32>::new(&[12, 17, 9, 5], Activation::Tanh, head, &mut rng::seeded(cfg.seed, rng::STREAM_INIT))
            .unwrap();
    let mut t = Trainer::new(net, cfg.clone(), threads).unwrap();
    t.train(&data, &scaler, |_| {}).unwrap();
    t.into_network()
}

#[test]
fn weights_are_bitwise_identical_for_1_2_3_4_and_7_threads() {
    for (cfg, head) in [
        (
            TrainConfig { epochs: 3, batch_size: 100, lr: 0.3, seed: 4, shard_size: 8, ..TrainConfig::default() },
            Head::SigmoidMse,
        ),
        (
            TrainConfig { epochs: 2, batch_size: 0, lr: 0.5, seed: 5, shard_size: 3, ..TrainConfig::default() },
            Head::SoftmaxCrossEntropy,
        ),
    ] {
        let reference = train(1, &cfg, head);
        let initial =
            Network::<f32>::new(&[12, 17, 9, 5], Activation::Tanh, head, &mut rng::seeded(cfg.seed, rng::STREAM_INIT))
                .unwrap();
        assert_ne!(reference.weights(), initial.weights(), "training must change the weights");
        for threads in [2, 3, 4, 7] {
            let other = train(threads, &cfg, head);
            assert_eq!(other.params_digest(), reference.params_digest(), "{threads} threads");
            let same_bits = other
                .weights()
                .iter()
                .zip(reference.weights())
                .all(|(a, b)| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(same_bits, "{threads} threads: weights differ in their bits");
        }
    }
}

#[test]
fn the_shard_size_is_part_of_the_result_and_the_seed_matters() {
    // Guards the test above against passing vacuously: other summation orders or seeds do differ.
    let cfg = TrainConfig { epochs: 1, batch_size: 100, lr: 0.3, seed: 4, shard_size: 8, ..TrainConfig::default() };
    let a = train(2, &cfg, Head::SigmoidMse);
    let b = train(2, &TrainConfig { seed: 5, ..cfg.clone() }, Head::SigmoidMse);
    assert_ne!(a.params_digest(), b.params_digest());
}
