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
    // Another shard size sums in another order: the last bits move.
    let c = train(2, &TrainConfig { shard_size: 16, ..cfg.clone() }, Head::SigmoidMse);
    assert_ne!(a.params_digest(), c.params_digest());
}

#[test]
fn the_parallel_reducer_gives_the_bits_of_the_sequential_tree_reference() {
    use shardprop::data::Examples;
    use shardprop::{Engine, Grad, GradSum, Workspace};
    let data = classification_data(300, 12, 5, 3);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let net = Network::<f32>::new(&[12, 17, 5], Activation::Tanh, Head::SigmoidMse, &mut rng::seeded(2, 0)).unwrap();
    for (m, shard) in [(300usize, 7usize), (97, 10), (64, 64), (5, 1)] {
        let idx: Vec<usize> = (0..m).map(|i| (i * 41 + 3) % 300).collect();
        // Reference: each shard's Δ computed alone, then the sequential tree.
        let len = shardprop::engine::shard_len(m, shard);
        let sums: Vec<GradSum<f32>> = idx
            .chunks(len)
            .map(|rows| {
                let mut ws = Workspace::new(&net, rows.len());
                {
                    let (mut x, mut y) = ws.input_mut(rows.len());
                    for (r, &i) in rows.iter().enumerate() {
                        scaler.apply_row(data.features(i), x.row_mut(r));
                        data.target(i).write(y.row_mut(r));
                    }
                }
                let mut s = GradSum::zeros(&net);
                net.backprop(&mut ws, rows.len(), &mut s);
                s
            })
            .collect();
        let mut want = Grad::zeros(&net);
        Grad::reduce_tree(&sums, &mut want);
        for threads in [1, 2, 3] {
            let mut engine = Engine::<f32>::new(threads, shard).unwrap();
            let got = engine.gradient(&net, &data, &scaler, &idx);
            assert_eq!(got.m, m);
            assert_eq!(got.loss_sum.to_bits(), want.loss_sum.to_bits());
            for (g, w) in got.d.iter().zip(&want.d) {
                assert!(
                    g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "m {m} shard {shard} threads {threads}"
                );
            }
        }
    }
}
