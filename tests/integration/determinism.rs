//! Same data, config and seed give bitwise-identical weights for any thread count.

use shardprop::data::{Dataset, Scale, Scaler, ScalerFit};
use shardprop::{Activation, Head, Network, TrainConfig, Trainer, Workspace, rng};

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
    let data = classification_data(300, 12, 5, 3);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let net = Network::<f32>::new(&[12, 17, 5], Activation::Tanh, Head::SigmoidMse, &mut rng::seeded(2, 0)).unwrap();
    for (m, shard) in [(300usize, 7usize), (97, 10), (64, 64), (5, 1)] {
        let idx: Vec<usize> = (0..m).map(|i| (i * 41 + 3) % 300).collect();
        engine_gives_the_plain_reference(&net, &data, &scaler, &idx, shard);
    }
}

/// A shard's rows gathered (scaled) into a new workspace, as the engine gathers them.
fn gathered(net: &Network<f32>, data: &Dataset, scaler: &Scaler, rows: &[usize]) -> Workspace<f32> {
    use shardprop::data::Examples;
    let mut ws = Workspace::new(net, rows.len());
    let (mut x, mut y) = ws.input_mut(rows.len());
    for (r, &i) in rows.iter().enumerate() {
        scaler.apply_row(data.features(i), x.row_mut(r));
        data.target(i).write(y.row_mut(r));
    }
    ws
}

/// The reference: each shard's `Δ` computed alone, chunk by chunk, by the network's plain
/// forward pass (the weights themselves, no copies, tiles in order), then the sequential tree.
/// The engine's `D` must have its bits at 1, 2 and 3 threads.
fn engine_gives_the_plain_reference(net: &Network<f32>, data: &Dataset, scaler: &Scaler, idx: &[usize], shard: usize) {
    use shardprop::nn::network::CHUNK_ROWS;
    use shardprop::{Engine, Grad, GradSum};
    let m = idx.len();
    let sums: Vec<GradSum<f32>> = idx
        .chunks(shardprop::engine::shard_len(m, shard))
        .map(|shard| {
            let mut s = GradSum::zeros(net.weights());
            for (c, rows) in shard.chunks(CHUNK_ROWS).enumerate() {
                let mut ws = gathered(net, data, scaler, rows);
                net.forward(&mut ws, rows.len());
                net.backward(&mut ws, rows.len(), &mut s, c > 0);
            }
            s
        })
        .collect();
    let mut want = Grad::zeros(net.weights());
    shardprop::engine::tree::reduce_sequential(&sums, &mut want);
    for threads in [1, 2, 3] {
        let mut engine = Engine::<f32>::new(threads, shard).unwrap();
        let got = engine.gradient(net, data, scaler, idx);
        assert_eq!(got.m, m);
        assert_eq!(got.loss_sum.to_bits(), want.loss_sum.to_bits());
        let same = got.d.iter().zip(&want.d).all(|(g, w)| g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(same, "m {m} shard {shard} threads {threads}: D differs from the plain reference");
    }
}

/// Issue 10: the engine's forward products read a transposed copy of the hidden layers' weights
/// (made once per step of more than one chunk), and on one thread a product runs as one kernel
/// call instead of its tiles, wherever `layout_free` says that cannot change a bit. The engine's
/// `D` must equal a reference that multiplies by the weights themselves, chunk by chunk, at 1, 2
/// and 3 threads (so tiled, merged and split products all meet the reference), and so must the
/// evaluation's outputs.
#[test]
fn transposed_weights_and_whole_products_keep_the_bits_of_the_plain_forward_pass() {
    use shardprop::Engine;
    use shardprop::kernel::matmul::{layout_free, tile_count};
    use shardprop::nn::network::CHUNK_ROWS;
    let data = classification_data(700, 30, 5, 4);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let net =
        Network::<f32>::new(&[30, 200, 40, 5], Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(5, 0)).unwrap();
    // The guard against a vacuous pass: both hidden layers take the copy, and the first product
    // has several tiles that one thread runs as one call.
    assert!(layout_free(CHUNK_ROWS, 200, 30) && layout_free(CHUNK_ROWS, 40, 200));
    assert!(tile_count(CHUNK_ROWS, 200, 30) > 1);
    // 512 and 1024 rows: `D = Δ/m` by the reciprocal, after a tree of 4 shards.
    for (m, shard) in [(600usize, 300usize), (600, 600), (700, 0), (300, 0), (512, 128), (1024, 0)] {
        let idx: Vec<usize> = (0..m).map(|i| (i * 37 + 11) % 700).collect();
        engine_gives_the_plain_reference(&net, &data, &scaler, &idx, shard);
    }
    // Evaluation over all 700 rows (several shards: the copy is made) against the plain pass.
    let all: Vec<usize> = (0..700).collect();
    for threads in [1, 2, 3] {
        let ev = Engine::<f32>::new(threads, 0).unwrap().evaluate(&net, &data, &scaler);
        for rows in all.chunks(shardprop::engine::eval_shard_rows(net.sizes())) {
            let mut ws = gathered(&net, &data, &scaler, rows);
            net.forward(&mut ws, rows.len());
            let (h, _) = ws.output_and_targets(rows.len());
            let got = ev.outputs.slice(ndarray::s![rows[0]..rows[0] + rows.len(), ..]);
            assert!(
                got.iter().zip(&h).all(|(g, w)| g.to_bits() == (*w).to_bits()),
                "{threads} threads: outputs differ"
            );
        }
    }
}

/// Issue 10: products split inside a shard. A network wide enough that one 256-row chunk's
/// products have several output tiles, trained with 1 shard (larger than a chunk), 2 shards,
/// 64 shards and the automatic shard size, at 1, 2, 3, 4, 7 and 16 threads: the weights are
/// bitwise the same whichever threads computed which tiles.
#[test]
fn split_products_give_the_same_bits_for_1_2_3_4_7_and_16_threads() {
    use shardprop::engine::shard_len;
    use shardprop::kernel::matmul::tile_count;
    use shardprop::nn::network::CHUNK_ROWS;
    // 784 inputs as MNIST: the kernel cuts the summed dimension differently for narrow and wide
    // tiles of short shards, so tiles that moved with the thread count would show in the bits.
    let sizes = [784, 300, 300, 5];
    // The guard against a vacuous pass: these products really are cut into several tiles.
    assert!(tile_count(CHUNK_ROWS, 300, 784) > 1 && tile_count(CHUNK_ROWS, 300, 300) > 1);
    assert!(tile_count(300, 784, CHUNK_ROWS) > 1);
    let data = classification_data(2000, 784, 5, 21);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let train = |threads: usize, cfg: &TrainConfig| {
        let net =
            Network::<f32>::new(&sizes, Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(cfg.seed, 0)).unwrap();
        let mut t = Trainer::new(net, cfg.clone(), threads).unwrap();
        t.train(&data, &scaler, |_| {}).unwrap();
        t.into_network()
    };
    for (batch, shard, shards) in [(600, 600, 1), (600, 300, 2), (600, 0, 3), (640, 10, 64), (0, 0, 8)] {
        let m: usize = if batch == 0 { 2000 } else { batch };
        assert_eq!(m.div_ceil(shard_len(m, shard)), shards, "batch {batch} shard {shard}");
        let cfg =
            TrainConfig { epochs: 2, batch_size: batch, lr: 0.5, seed: 3, shard_size: shard, ..Default::default() };
        let reference = train(1, &cfg);
        assert!(reference.weights().iter().all(|w| w.iter().all(|v| v.is_finite())));
        for threads in [2, 3, 4, 7, 16] {
            let other = train(threads, &cfg);
            let same = other
                .weights()
                .iter()
                .zip(reference.weights())
                .all(|(a, b)| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(same, "batch {batch}, {shards} shard(s) of {shard}: {threads} threads differ in their bits");
        }
    }
}

#[test]
fn the_automatic_shard_size_depends_on_the_batch_alone() {
    use shardprop::engine::{MAX_SHARDS, shard_len};
    use shardprop::nn::network::CHUNK_ROWS;
    let shards = |m: usize| m.div_ceil(shard_len(m, 0));
    assert_eq!(shards(32), 1, "a small step is one shard");
    assert_eq!(shards(CHUNK_ROWS), 1);
    assert_eq!((shards(CHUNK_ROWS + 1), shards(1024)), (2, 4), "one chunk of rows per shard");
    assert_eq!(shards(MAX_SHARDS * CHUNK_ROWS), MAX_SHARDS);
    assert_eq!(shards(60_000), MAX_SHARDS, "full batch: at most 64 shards");
    assert_eq!(shard_len(60_000, 0), 938);
    assert_eq!(shards(0), 0);
    assert_eq!(shard_len(100, 16), 16, "an explicit size is kept");
}

#[test]
fn runs_of_shards_are_aligned_power_of_two_subtrees_shared_evenly() {
    use shardprop::engine::{group_len, splits_products};
    // Fewer shards than threads, or too few to share evenly: products are split instead.
    assert!(splits_products(1, 2) && splits_products(3, 2) && splits_products(4, 16));
    assert!(!splits_products(4, 2) && !splits_products(9, 2) && !splits_products(64, 16));
    assert_eq!(group_len(4, 2), 2, "W2 at 2 threads: one run of two shards per thread");
    assert_eq!(group_len(64, 2), 32);
    assert_eq!(group_len(64, 16), 4);
    assert_eq!(group_len(64, 3), 4, "no even split: at least four runs per thread");
    assert_eq!(group_len(43, 1), 8);
    assert_eq!(group_len(9, 2), 1);
    assert_eq!(group_len(3, 2), 1);
    for (k, t) in [(4usize, 2usize), (64, 2), (64, 16), (64, 3), (43, 1), (9, 2), (100, 7)] {
        let g = group_len(k, t);
        assert!(g.is_power_of_two() && g <= k, "k {k} threads {t}: {g}");
    }
}

#[test]
fn a_step_without_examples_is_no_step_and_no_panic() {
    use shardprop::optim::Optimizer;
    use shardprop::{Engine, optim::Method};
    let data = classification_data(50, 12, 5, 3);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let mut net = Network::<f32>::new(&[12, 7, 5], Activation::Tanh, Head::SigmoidMse, &mut rng::seeded(2, 0)).unwrap();
    let before = net.params_digest();
    for threads in [1, 3] {
        let mut engine = Engine::<f32>::new(threads, 0).unwrap();
        // A real step first, so that stale sums would show if the empty one read them.
        let idx: Vec<usize> = (0..20).collect();
        assert_eq!(engine.gradient(&net, &data, &scaler, &idx).m, 20);
        let g = engine.gradient(&net, &data, &scaler, &[]);
        assert_eq!((g.m, g.loss_sum, g.correct), (0, 0.0, 0));
        assert!(g.d.iter().all(|d| d.iter().all(|&v| v == 0.0)));
        let mut opt = Optimizer::new(Method::GradientDescent, 0.0, &net);
        let stats = engine.step(&mut net, &data, &scaler, &[], &mut opt, 0.5);
        assert_eq!(stats.m, 0);
        assert_eq!(net.params_digest(), before, "an empty step must not move the weights");
    }
}
