//! It learns: XOR with a 2-2-1 sigmoid network by full-batch descent, iris to ≥ 95% training
//! accuracy, and with a small learning rate full-batch loss never increases.

use shardprop::data::{CsvOptions, Dataset, Scale, ScalerFit, csv};
use shardprop::{Activation, Engine, Head, Network, TrainConfig, Trainer, rng};

fn iris() -> Dataset {
    csv::load(crate::common::iris().as_path(), &CsvOptions::default()).unwrap().0
}

fn train_xor(seed: u64) -> (Network<f32>, f64) {
    let x = vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let data = Dataset::from_labels(x, vec![0, 1, 1, 0], 2, vec!["0".into(), "1".into()], "xor").unwrap();
    let scaler = ScalerFit::fit(&data, Scale::None);
    let cfg = TrainConfig { epochs: 5000, batch_size: 0, lr: 2.0, seed, shard_size: 4, ..TrainConfig::default() };
    let net =
        Network::<f32>::new(&[2, 2, 1], Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(seed, 0)).unwrap();
    let mut t = Trainer::new(net, cfg, 1).unwrap();
    let reports = t.train(&data, &scaler, |_| {}).unwrap();
    (t.into_network(), reports.last().unwrap().train_loss)
}

#[test]
fn a_2_2_1_sigmoid_network_learns_xor_by_full_batch_descent() {
    let (net, loss) = train_xor(2);
    let out = net.predict(ndarray::array![[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]].view());
    for (i, &w) in [0.0f32, 1.0, 1.0, 0.0].iter().enumerate() {
        assert!((out[[i, 0]] - w).abs() < 0.1, "XOR row {i}: output {} for target {w}", out[[i, 0]]);
    }
    assert!(loss < 0.01, "final loss {loss}");
    // 2-2-1 XOR has well-known local minima (one hidden unit saturates): some initialisations end
    // there, as in the literature, but most must not.
    let solved = (1..=10).filter(|&s| train_xor(s).1 < 0.01).count();
    assert!(solved >= 6, "only {solved} of 10 seeds learned XOR");
}

#[test]
fn iris_reaches_95_percent_training_accuracy() {
    let data = iris();
    assert_eq!(data.task.classes().unwrap(), ["0", "1", "2"]);
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let cfg = TrainConfig { epochs: 300, batch_size: 16, lr: 0.5, seed: 1, shard_size: 8, ..TrainConfig::default() };
    let net =
        Network::<f32>::new(&[4, 8, 3], Activation::Sigmoid, Head::SigmoidMse, &mut rng::seeded(cfg.seed, 0)).unwrap();
    let mut t = Trainer::new(net, cfg, 2).unwrap();
    t.train(&data, &scaler, |_| {}).unwrap();
    let net = t.network().clone();
    let ev = Engine::<f32>::new(2, 64).unwrap().evaluate(&net, &data, &scaler);
    assert!(ev.accuracy() >= 0.95, "training accuracy {}", ev.accuracy());
}

#[test]
fn full_batch_loss_never_increases_with_a_small_learning_rate() {
    let data = iris();
    let scaler = ScalerFit::fit(&data, Scale::Standard);
    let cfg = TrainConfig { epochs: 300, batch_size: 0, lr: 0.1, seed: 3, shard_size: 16, ..TrainConfig::default() };
    let net =
        Network::<f64>::new(&[4, 6, 3], Activation::Tanh, Head::SigmoidMse, &mut rng::seeded(cfg.seed, 0)).unwrap();
    let mut t = Trainer::new(net, cfg, 2).unwrap();
    let losses: Vec<f64> = t.train(&data, &scaler, |_| {}).unwrap().iter().map(|r| r.train_loss).collect();
    for w in losses.windows(2) {
        assert!(w[1] <= w[0], "loss rose from {} to {}", w[0], w[1]);
    }
    assert!(
        losses[losses.len() - 1] < 0.8 * losses[0],
        "loss barely moved: {} -> {}",
        losses[0],
        losses[losses.len() - 1]
    );
}
