//! Issue 11: a checkpoint's `validate` checks every field. One table, one row per field: a
//! checkpoint written by training, one field altered, re-encoded with a valid checksum, loaded;
//! the error must name the field. And every checkpoint that train and resume write loads again.

use std::process::Command;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use shardprop::data::{Scale, Scaler, Task};
use shardprop::optim::{Method, Schedule};
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::session::{Architecture, Session};
use shardprop::run::spec::RunSpec;
use shardprop::{Activation, Head, Network, TrainConfig};

use crate::common::{Quiet, iris};

/// A checkpoint of 2 epochs of training on iris with `method` and `schedule`, with a
/// validation split and early stopping.
fn trained(method: Method, schedule: Schedule) -> Checkpoint {
    let spec = RunSpec { scale: Scale::Standard, validation: 0.2, patience: 3, ..RunSpec::new(iris()) };
    let arch = Architecture { hidden: vec![5], activation: Activation::Tanh, cross_entropy: true };
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 16,
        lr: 0.05,
        optimizer: method,
        schedule,
        l2: 0.01,
        ..Default::default()
    };
    let (mut s, _) = Session::start(spec, &arch, cfg, 1).unwrap();
    s.run(None, &mut Quiet).unwrap();
    let c = s.checkpoint();
    assert!(c.state.global_step > 0 && !c.history.is_empty() && c.early.is_some());
    c
}

/// `Scaler`'s fields are private: its serialised layout, to build hostile ones.
#[derive(Serialize, Deserialize)]
struct ScalerFields {
    kind: Scale,
    shift: Vec<f32>,
    mul: Vec<f32>,
}

fn scaler_with(s: &Scaler, edit: impl Fn(&mut ScalerFields)) -> Scaler {
    let cfg = bincode::config::standard();
    let mut f: ScalerFields =
        bincode::serde::decode_from_slice(&bincode::serde::encode_to_vec(s, cfg).unwrap(), cfg).unwrap().0;
    edit(&mut f);
    bincode::serde::decode_from_slice(&bincode::serde::encode_to_vec(&f, cfg).unwrap(), cfg).unwrap().0
}

/// A network with `w` as its weights whatever their shapes (only a file can hold one).
fn network_with(net: &Network<f32>, head: Head, w: Vec<Array2<f32>>) -> Network<f32> {
    let mut v = serde_json::to_value(net).unwrap();
    v["head"] = serde_json::to_value(head).unwrap();
    v["w"] = serde_json::to_value(w).unwrap();
    serde_json::from_value(v).unwrap()
}

fn transposed(a: &Array2<f32>) -> Array2<f32> {
    a.t().as_standard_layout().to_owned()
}

type Edit = Box<dyn Fn(&mut Checkpoint)>;

#[test]
fn checkpoint_validate_checks_every_field() {
    let adam = trained(Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, Schedule::Step { every: 1, gamma: 0.5 });
    let momentum = trained(Method::Momentum { mu: 0.9 }, Schedule::Cosine { epochs: 2, min_lr: 0.001 });
    let rprop = trained(Method::parse("rprop", 0.0).unwrap(), Schedule::Constant);
    let (_dir, p) = crate::common::temp_path("field.ckpt");
    for base in [&adam, &momentum, &rprop] {
        Checkpoint::from_bytes(&p, &base.to_bytes().unwrap()).expect("the unaltered checkpoint loads");
    }
    let rows: Vec<(&str, &Checkpoint, Edit)> = vec![
        // network
        ("network.w[0]", &adam, Box::new(|c| c.network.weights_mut()[0][[1, 2]] = f32::NAN)),
        (
            "network: inconsistent",
            &adam,
            Box::new(|c| {
                let w = vec![c.network.weights()[0].clone(), transposed(&c.network.weights()[1])];
                c.network = network_with(&c.network, c.network.head(), w)
            }),
        ),
        (
            "network.head",
            &adam,
            Box::new(|c| c.network = network_with(&c.network, Head::IdentityMse, c.network.weights().to_vec())),
        ),
        // scaler, feature names, task
        (
            "scaler.shift",
            &adam,
            Box::new(|c| {
                c.scaler = scaler_with(&c.scaler, |s| {
                    s.shift.pop();
                })
            }),
        ),
        ("scaler.shift[2]", &adam, Box::new(|c| c.scaler = scaler_with(&c.scaler, |s| s.shift[2] = f32::INFINITY))),
        ("scaler.mul[0]", &adam, Box::new(|c| c.scaler = scaler_with(&c.scaler, |s| s.mul[0] = 0.0))),
        ("scaler.mul[1]", &adam, Box::new(|c| c.scaler = scaler_with(&c.scaler, |s| s.mul[1] = f32::NAN))),
        (
            "feature_names",
            &adam,
            Box::new(|c| {
                c.feature_names.pop();
            }),
        ),
        ("task:", &adam, Box::new(|c| c.task = Task::Classification { classes: vec!["a".into(), "b".into()] })),
        (
            "task.classes",
            &adam,
            Box::new(|c| c.task = Task::Classification { classes: vec!["a".into(), "b".into(), "a".into()] }),
        ),
        // config
        ("config.lr", &adam, Box::new(|c| c.config.lr = f64::NAN)),
        ("config.lr", &adam, Box::new(|c| c.config.lr = 0.0)),
        ("config.l2", &adam, Box::new(|c| c.config.l2 = -1.0)),
        (
            "config.optimizer.beta1",
            &adam,
            Box::new(|c| c.config.optimizer = Method::Adam { beta1: 1.0, beta2: 0.999, eps: 1e-8 }),
        ),
        (
            "config.optimizer.beta2",
            &adam,
            Box::new(|c| c.config.optimizer = Method::Adam { beta1: 0.9, beta2: f64::NAN, eps: 1e-8 }),
        ),
        (
            "config.optimizer.eps",
            &adam,
            Box::new(|c| c.config.optimizer = Method::Adam { beta1: 0.9, beta2: 0.999, eps: 0.0 }),
        ),
        ("config.optimizer.mu", &momentum, Box::new(|c| c.config.optimizer = Method::Momentum { mu: -0.5 })),
        (
            "config.optimizer.eta_plus",
            &rprop,
            Box::new(|c| {
                if let Method::Rprop { eta_plus, .. } = &mut c.config.optimizer {
                    *eta_plus = f64::INFINITY
                }
            }),
        ),
        (
            "config.optimizer.eta_minus",
            &rprop,
            Box::new(|c| {
                if let Method::Rprop { eta_minus, .. } = &mut c.config.optimizer {
                    *eta_minus = 0.0
                }
            }),
        ),
        (
            "config.optimizer.delta0",
            &rprop,
            Box::new(|c| {
                if let Method::Rprop { delta0, .. } = &mut c.config.optimizer {
                    *delta0 = -0.1
                }
            }),
        ),
        (
            "config.optimizer.delta_min",
            &rprop,
            Box::new(|c| {
                if let Method::Rprop { delta_min, .. } = &mut c.config.optimizer {
                    *delta_min = f64::NAN
                }
            }),
        ),
        (
            "config.optimizer.delta_max",
            &rprop,
            Box::new(|c| {
                if let Method::Rprop { delta_max, .. } = &mut c.config.optimizer {
                    *delta_max = -1.0
                }
            }),
        ),
        ("config.schedule.every", &adam, Box::new(|c| c.config.schedule = Schedule::Step { every: 0, gamma: 0.5 })),
        (
            "config.schedule.gamma",
            &adam,
            Box::new(|c| c.config.schedule = Schedule::Step { every: 1, gamma: f64::NAN }),
        ),
        (
            "config.schedule.min_lr",
            &momentum,
            Box::new(|c| c.config.schedule = Schedule::Cosine { epochs: 2, min_lr: 1.0 }),
        ),
        // state
        ("state.global_step", &adam, Box::new(|c| c.state.global_step = u64::MAX)),
        ("state.epoch", &adam, Box::new(|c| c.state.epoch = usize::MAX)),
        ("state.step", &adam, Box::new(|c| c.state.step = c.state.global_step as usize + 1)),
        ("state.epoch", &adam, Box::new(|c| c.state.epoch = c.state.global_step as usize + 1)),
        ("state.epoch_loss_sum", &adam, Box::new(|c| c.state.epoch_loss_sum = f64::NAN)),
        ("state.epoch_correct", &adam, Box::new(|c| c.state.epoch_correct = c.state.epoch_examples + 1)),
        ("state.epoch_rng", &adam, Box::new(|c| c.state.epoch_rng.seed ^= 1)),
        // optimizer
        ("optimizer.method", &momentum, Box::new(|c| c.optimizer.method = Method::Momentum { mu: 0.5 })),
        ("optimizer.l2", &adam, Box::new(|c| c.optimizer.l2 = 0.5)),
        ("optimizer.t", &adam, Box::new(|c| c.optimizer.t = u64::MAX)),
        (
            "optimizer.state:",
            &momentum,
            Box::new(|c| {
                let extra = c.optimizer.state[0].clone();
                c.optimizer.state.push(extra);
            }),
        ),
        (
            "optimizer.state[0]:",
            &adam,
            Box::new(|c| {
                c.optimizer.state[0].pop();
            }),
        ),
        (
            "optimizer.state[0][1]: shape",
            &momentum,
            Box::new(|c| c.optimizer.state[0][1] = transposed(&c.optimizer.state[0][1])),
        ),
        ("optimizer.state[0][0]: holds NaN", &momentum, Box::new(|c| c.optimizer.state[0][0][[0, 0]] = f32::NAN)),
        ("optimizer.state[1][0]: shape", &adam, Box::new(|c| c.optimizer.state[1][0] = Array2::zeros((1, 1)))),
        ("optimizer.state[1][1]: holds -1", &adam, Box::new(|c| c.optimizer.state[1][1][[0, 0]] = -1.0)),
        (
            "optimizer.state[1][1]: shape",
            &rprop,
            Box::new(|c| c.optimizer.state[1][1] = transposed(&c.optimizer.state[1][1])),
        ),
        ("optimizer.state[1][0]: holds inf", &rprop, Box::new(|c| c.optimizer.state[1][0][[2, 2]] = f32::INFINITY)),
        // data (the run spec)
        ("data.validation", &adam, Box::new(|c| c.data.validation = f64::NAN)),
        ("early: missing", &adam, Box::new(|c| c.early = None)),
        // early stopping
        ("early.patience", &adam, Box::new(|c| c.early.as_mut().unwrap().patience = 0)),
        ("early.best_loss", &adam, Box::new(|c| c.early.as_mut().unwrap().best_loss = f64::NAN)),
        ("early.best_loss", &adam, Box::new(|c| c.early.as_mut().unwrap().best_loss = f64::INFINITY)),
        ("early.best_epoch", &adam, Box::new(|c| c.early.as_mut().unwrap().best_epoch = 99)),
        ("early.bad_epochs", &adam, Box::new(|c| c.early.as_mut().unwrap().bad_epochs = 99)),
        (
            "early.best:",
            &adam,
            Box::new(|c| {
                let e = c.early.as_mut().unwrap();
                let w = vec![e.best.weights()[0].clone(), transposed(&e.best.weights()[1])];
                e.best = network_with(&e.best, e.best.head(), w)
            }),
        ),
        (
            "early.best.w[1]",
            &adam,
            Box::new(|c| c.early.as_mut().unwrap().best.weights_mut()[1][[0, 0]] = f32::NEG_INFINITY),
        ),
        // fingerprint, history
        ("fingerprint", &adam, Box::new(|c| c.fingerprint.features += 1)),
        ("fingerprint", &adam, Box::new(|c| c.fingerprint.targets = 1)),
        ("history[0]", &adam, Box::new(|c| c.history[0].train_loss = f64::NAN)),
        ("history[0]", &adam, Box::new(|c| c.history[0].test_loss = Some(f64::NAN))),
        ("history[1]", &adam, Box::new(|c| c.history[1].test_accuracy = Some(-1.0))),
        ("history[1]", &adam, Box::new(|c| c.history[1].epoch = 1)),
        ("history[1]", &adam, Box::new(|c| c.history[1].global_step = u64::MAX - 1)),
    ];
    let mut failures = Vec::new();
    for (field, base, edit) in &rows {
        let mut c = (*base).clone();
        edit(&mut c);
        assert_ne!(&c, *base, "row {field} changes nothing");
        match Checkpoint::from_bytes(&p, &c.to_bytes().unwrap()) {
            Ok(_) => failures.push(format!("{field}: loaded")),
            Err(e) => {
                let e = e.to_string();
                if !e.starts_with(&format!("{}: ", p.display())) || !e.contains(field) {
                    failures.push(format!("{field}: the error does not name it: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

/// Trains and resumes through the binary with every optimiser and schedule, with and without
/// early stopping; every checkpoint and model written must load again.
#[test]
fn checkpoints_written_by_train_and_resume_always_load_again() {
    let dir = tempfile::tempdir().unwrap();
    let bin = crate::common::bin();
    let mut files = Vec::new();
    let mut run = 0;
    for opt in ["sgd", "momentum", "nesterov", "adam", "rprop"] {
        for sched in ["constant", "step", "cosine"] {
            run += 1;
            let early: &[&str] = if run % 2 == 0 { &["--validation", "0.2", "--early-stopping", "1"] } else { &[] };
            let ck = dir.path().join(format!("ck-{opt}-{sched}"));
            let out = dir.path().join(format!("{opt}-{sched}.ckpt"));
            let lr = if opt == "adam" { "0.01" } else { "0.1" };
            let o = Command::new(bin)
                .args([
                    "train",
                    "--data",
                    iris().to_str().unwrap(),
                    "--hidden",
                    "4",
                    "--epochs",
                    "4",
                    "--batch-size",
                    "16",
                ])
                .args(["--optimizer", opt, "--lr", lr, "--lr-schedule", sched, "--lr-step", "1", "--l2", "0.001"])
                .args(["--checkpoint-dir", ck.to_str().unwrap(), "--checkpoint-every-steps", "3", "--keep", "100"])
                .args(["--out", out.to_str().unwrap(), "--quiet"])
                .args(early)
                .output()
                .unwrap();
            assert!(o.status.success(), "{opt} {sched}: {}", String::from_utf8_lossy(&o.stderr));
            let written = shardprop::run::checkpoint::list_dir(&ck).unwrap();
            assert!(written.len() > 3, "{opt} {sched}: {} checkpoints", written.len());
            let resumed = dir.path().join(format!("{opt}-{sched}-resumed.ckpt"));
            let o = Command::new(bin)
                .args(["resume", written[written.len() / 2].to_str().unwrap(), "--epochs", "6", "--quiet"])
                .args(["--out", resumed.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(o.status.success(), "{opt} {sched} resumed: {}", String::from_utf8_lossy(&o.stderr));
            files.extend(shardprop::run::checkpoint::list_dir(&ck).unwrap());
            files.extend([out, resumed]);
        }
    }
    for f in &files {
        if let Err(e) = Checkpoint::load(f) {
            panic!("{} does not load again: {e}", f.display());
        }
    }
}
