//! Conversions and checkpoints round-trip exactly.

use shardprop::data::{self, CsvOptions, Examples, Fingerprint, Scale, ScalerFit, binary};
use shardprop::optim::{Method, Optimizer};
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::spec::RunSpec;
use shardprop::run::trainer::TrainState;
use shardprop::{Activation, Head, Network, TrainConfig, rng};

use crate::common::{classification_data, temp_path};

#[test]
fn binary_round_trip_keeps_rows_targets_and_scaling_statistics() {
    let d = classification_data(50, 3, 4, 7);
    let (_dir, p) = temp_path("d.bin");
    binary::write(&p, &d, &d.task, &d.feature_names, Scale::Standard).unwrap();
    let m = binary::MappedDataset::open(&p).unwrap();
    assert_eq!((m.len(), m.n_features(), m.n_targets()), (50, 3, 4));
    for i in 0..50 {
        assert_eq!(m.features(i), d.features(i));
        assert_eq!(m.target(i), d.target(i));
    }
    // A binary file's fingerprint is its stored checksum (no pass over the rows).
    let (fm, fd) = (Fingerprint::of(&m), Fingerprint::of(&d));
    assert_eq!((fm.rows, fm.features, fm.targets), (fd.rows, fd.features, fd.targets));
    assert_eq!(fm.hash >> 63, 1);
    for s in [Scale::MinMax, Scale::Standard] {
        assert_eq!(m.scaler(s), ScalerFit::fit(&d, s));
    }
}

#[test]
fn iris_converted_to_binary_has_the_same_rows_and_statistics() {
    let iris = crate::common::iris();
    let (_dir, p) = temp_path("iris.bin");
    let (rows, _) = data::convert(&iris, &p, &CsvOptions::default()).unwrap();
    assert_eq!(rows, 150);
    let (c, _) = data::csv::load(&iris, &CsvOptions::default()).unwrap();
    let m = binary::MappedDataset::open(&p).unwrap();
    for i in 0..c.len() {
        assert_eq!((m.features(i), m.target(i)), (c.features(i), c.target(i)));
    }
    assert_eq!(m.scaler(Scale::Standard), ScalerFit::fit(&c, Scale::Standard));
    assert_eq!(m.task, c.task);
}

fn checkpoint() -> Checkpoint {
    let d = classification_data(20, 3, 2, 1);
    let net =
        Network::<f32>::new(&[3, 4, 2], Activation::Relu, Head::SoftmaxCrossEntropy, &mut rng::seeded(1, 0)).unwrap();
    let r = rng::seeded(1, rng::STREAM_SHUFFLE);
    Checkpoint {
        scaler: ScalerFit::fit(&d, Scale::Standard),
        task: d.task.clone(),
        feature_names: d.feature_names.clone(),
        config: TrainConfig::default(),
        state: TrainState {
            epoch: 1,
            step: 2,
            global_step: 3,
            epoch_rng: rng::RngState::capture(1, &r),
            epoch_loss_sum: 0.5,
            epoch_correct: 4,
            epoch_examples: 5,
        },
        optimizer: Optimizer::new(Method::GradientDescent, 0.0, &net),
        data: RunSpec::new("synthetic.csv".into()),
        early: None,
        fingerprint: Fingerprint::of(&d),
        history: Vec::new(),
        network: net,
    }
}

#[test]
fn checkpoints_round_trip_and_damage_is_refused_with_its_own_message() {
    let c = checkpoint();
    let (_dir, p) = temp_path("m.ckpt");
    c.save(&p).unwrap();
    assert_eq!(Checkpoint::load(&p).unwrap(), c);
    let bytes = std::fs::read(&p).unwrap();
    let err = |b: &[u8]| Checkpoint::from_bytes(&p, b).unwrap_err().to_string();
    assert!(err(&[]).contains("empty file"));
    assert!(err(&bytes[..bytes.len() - 1]).contains("but") && err(&bytes[..bytes.len() - 1]).contains("truncated"));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 4;
    assert!(err(&flipped).contains("checksum mismatch"));
    let mut magic = bytes.clone();
    magic[1] = b'?';
    assert!(err(&magic).contains("bad magic"));
    let mut future = bytes.clone();
    future[8] = 4;
    assert!(err(&future).contains("format version 4, this build reads versions 1 to 3 (written by a newer shardprop"));
    // Version 1 (before the automatic shard size) has version 2's layout: its shard size 0
    // meant one-row shards, and still does. The version-2 file of tests/fixtures, relabelled
    // as version 1 (the checksum covers the payload, not the header).
    let v2 = std::fs::read(crate::common::fixture("v2-iris-momentum.ckpt")).unwrap();
    assert_eq!(Checkpoint::from_bytes(&p, &v2).unwrap().config.shard_size, 0);
    let mut v1 = v2.clone();
    v1[8] = 1;
    assert_eq!(Checkpoint::from_bytes(&p, &v1).unwrap().config.shard_size, 1);
    // A version-3 payload is not read as version 2's layout, nor the other way round.
    let mut as_v2 = bytes.clone();
    as_v2[8] = 2;
    assert!(err(&as_v2).contains("does not decode as a checkpoint"), "{}", err(&as_v2));
    let mut as_v3 = v2.clone();
    as_v3[8] = 3;
    assert!(err(&as_v3).contains("does not decode as a checkpoint"), "{}", err(&as_v3));
    // `inspect` reports the version the file was written in, not this build's.
    let (_d, v1_path) = temp_path("v1.ckpt");
    std::fs::write(&v1_path, &v1).unwrap();
    assert_eq!(Checkpoint::load_with_version(&v1_path).unwrap().1, 1);
    let o = crate::common::run_bin(&["inspect", "--json", v1_path.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    c.save(&v1_path).unwrap();
    assert_eq!(Checkpoint::load_with_version(&v1_path).unwrap().1, shardprop::run::checkpoint::VERSION);
    // Issue 11: fields that disagree with the network are refused, not trusted.
    let mut three = c.clone();
    three.task = shardprop::data::Task::Classification { classes: vec!["a".into(), "b".into(), "c".into()] };
    let err = Checkpoint::from_bytes(&p, &three.to_bytes().unwrap()).unwrap_err().to_string();
    assert!(err.contains("classes or targets disagree with the network's outputs"), "{err}");
    // Early-stopping weights of the right layer sizes but a transposed matrix (only a file can
    // hold such a network): refused, where they once reached the matrix product.
    let mut v = serde_json::to_value(&c.network).unwrap();
    let dim = &mut v["w"][1]["dim"];
    assert_eq!(*dim, serde_json::json!([2, 5]));
    *dim = serde_json::json!([5, 2]);
    let bad: Network<f32> = serde_json::from_value(v).unwrap();
    let early =
        shardprop::run::early_stop::EarlyStop { patience: 3, best_loss: 1.0, best_epoch: 1, bad_epochs: 0, best: bad };
    let with_early = Checkpoint { early: Some(early), ..c.clone() };
    let err = Checkpoint::from_bytes(&p, &with_early.to_bytes().unwrap()).unwrap_err().to_string();
    assert!(err.contains("early-stopping weights disagree with the network"), "{err}");
    // No temp files are left behind by a save.
    let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn training_on_converted_mnist_gives_the_model_of_the_idx_files_with_the_same_flags() {
    // MNIST trains unscaled by default; its conversion records that default in its header, so
    // the same flags give the same model on either (they once differed: standard vs none).
    let mnist = crate::common::datasets().join("mnist");
    let (_dir, p) = temp_path("mnist.bin");
    let bin = crate::common::bin();
    let o = crate::common::run_bin(&["convert", mnist.to_str().unwrap(), p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(binary::MappedDataset::open(&p).unwrap().default_scale(), Scale::None);
    let digest = |data: &std::path::Path, extra: &[&str]| {
        let mut args =
            vec!["train", "--data", data.to_str().unwrap(), "--hidden", "8", "--epochs", "1", "--json", "--quiet"];
        args.extend_from_slice(extra);
        let o = std::process::Command::new(bin).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["params_digest"].as_str().unwrap().to_string()
    };
    let idx = digest(&mnist, &[]);
    assert_eq!(digest(&p, &[]), idx);
    // And an explicit --scale still wins over the recorded default.
    assert_ne!(digest(&p, &["--scale", "standard"]), idx);
}
