//! Optimisers against hand-computed steps, L2 against finite differences of the regularised
//! cost, early stopping, the metrics log, plots, config files and the gradcheck command.

use std::process::Command;

use ndarray::{Array2, array};
use shardprop::data::{Scale, ScalerFit};
use shardprop::optim::{Method, Optimizer};
use shardprop::tools::gradcheck::central_differences;
use shardprop::{Activation, Engine, Grad, Head, Network, TrainConfig, Trainer};

use crate::common::{bin, classification_data, network, run_json as json_of};

fn one_layer(w: Array2<f32>) -> Network<f32> {
    Network::from_weights(&[2, 1], Activation::Sigmoid, Head::SigmoidMse, vec![w]).unwrap()
}

fn grad(d: Array2<f32>) -> Grad<f32> {
    Grad { d: vec![d], m: 1, loss_sum: 0.0, correct: 0 }
}

/// Applies `ds` in turn with `method` and returns the weights after each step.
fn steps(method: Method, lr: f64, ds: &[[f32; 3]]) -> Vec<[f32; 3]> {
    let mut net = one_layer(array![[0.5f32, -0.25, 1.0]]);
    let mut opt = Optimizer::new(method, 0.0, &net);
    ds.iter()
        .map(|d| {
            opt.step(&mut net, &grad(Array2::from_shape_vec((1, 3), d.to_vec()).unwrap()), lr);
            let w = &net.weights()[0];
            [w[[0, 0]], w[[0, 1]], w[[0, 2]]]
        })
        .collect()
}

fn close(a: &[[f32; 3]], b: &[[f32; 3]]) {
    for (x, y) in a.iter().zip(b) {
        for (u, v) in x.iter().zip(y) {
            // f32 arithmetic: a few ulps of 1.
            assert!((u - v).abs() <= 2e-6, "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn each_optimiser_matches_a_hand_computed_step() {
    let ds = [[0.2f32, -0.1, 0.4], [0.2, 0.3, -0.4]];
    // Gradient descent, α = 0.5: w − 0.5 d.
    close(&steps(Method::GradientDescent, 0.5, &ds), &[[0.4, -0.2, 0.8], [0.3, -0.35, 1.0]]);
    // Momentum μ = 0.9, α = 0.5: v1 = d1, w1 = w0 − 0.5 v1; v2 = 0.9 v1 + d2 = (0.38, 0.21, −0.04).
    close(&steps(Method::Momentum { mu: 0.9 }, 0.5, &ds), &[[0.4, -0.2, 0.8], [0.21, -0.305, 0.82]]);
    // Nesterov: w1 = w0 − 0.5 (d1 + 0.9 d1) = w0 − 0.95 d1 = (0.31, −0.155, 0.62);
    // v2 = (0.38, 0.21, −0.04), w2 = w1 − 0.5 (d2 + 0.9 v2) = w1 − 0.5 (0.542, 0.489, −0.436).
    close(&steps(Method::Nesterov { mu: 0.9 }, 0.5, &ds), &[[0.31, -0.155, 0.62], [0.039, -0.3995, 0.838]]);
    // Adam, α = 0.1: the first step moves each weight by α·sign(d) (m̂ = d, v̂ = d², ε ≈ 0).
    // Second: m = 0.9·0.1·d1 + 0.1 d2; v = 0.999·0.001 d1² + 0.001 d2²; bias corrections 0.19, 0.001999.
    let adam = steps(Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.1, &ds);
    let second = |d1: f64, d2: f64| {
        let m = (0.9 * 0.1 * d1 + 0.1 * d2) / 0.19;
        let v = (0.999 * 0.001 * d1 * d1 + 0.001 * d2 * d2) / (1.0 - 0.999f64.powi(2));
        0.1 * m / (v.sqrt() + 1e-8)
    };
    let w1 = [0.4f32, -0.15, 0.9];
    let w2 = [w1[0] - second(0.2, 0.2) as f32, w1[1] - second(-0.1, 0.3) as f32, w1[2] - second(0.4, -0.4) as f32];
    close(&adam, &[w1, w2]);
    // iRPROP−: Δ0 = 0.1; same sign grows Δ by 1.2, a flip halves it and skips the move.
    let rprop = Method::parse("rprop", 0.0).unwrap();
    let ds = [[0.2f32, -0.1, 0.4], [0.3, 0.3, 0.1], [0.1, 0.2, -0.5], [0.1, 0.2, -0.5]];
    close(
        &steps(rprop, 123.0, &ds),
        &[
            [0.4, -0.15, 0.9],      // −0.1·sign(d)
            [0.28, -0.15, 0.78],    // weight 1 flipped: no move; others Δ = 0.12
            [0.136, -0.2, 0.78],    // Δ0 = 0.144; weight 1 restarts with Δ = 0.05; weight 2 flips: no move
            [-0.0368, -0.26, 0.84], // Δ0 = 0.1728; Δ1 = 0.06; weight 2 restarts with Δ = 0.06
        ],
    );
}

#[test]
fn l2_gradient_matches_finite_differences_of_the_regularised_cost() {
    let data = classification_data(40, 4, 3, 11);
    let scaler = ScalerFit::fit(&data, Scale::None);
    let lambda = 0.7;
    let lr = 1e-3;
    let net = network(&[4, 5, 3], Activation::Tanh, Head::SoftmaxCrossEntropy, 12);
    let cfg = TrainConfig { epochs: 1, batch_size: 0, lr, seed: 1, shard_size: 8, l2: lambda, ..Default::default() };
    let mut t = Trainer::new(net.clone(), cfg, 2).unwrap();
    t.step(&data, &scaler).unwrap();
    // The regularised gradient the optimiser applied: (w − w') / α.
    let applied: Vec<Array2<f64>> =
        net.weights().iter().zip(t.network().weights()).map(|(a, b)| (a - b) / lr).collect();
    // J_reg(w) = J(w) + λ/(2m) Σ non-bias w², by central differences.
    let x = Array2::from_shape_fn((40, 4), |(i, j)| shardprop::data::Examples::features(&data, i)[j] as f64);
    let mut y = Array2::zeros((40, 3));
    for i in 0..40 {
        y[[i, shardprop::data::Examples::target(&data, i).class().unwrap()]] = 1.0;
    }
    let cost = |n: &Network<f64>| {
        let penalty: f64 =
            n.weights().iter().map(|w| w.slice(ndarray::s![.., 1..]).iter().map(|v| v * v).sum::<f64>()).sum();
        n.cost(x.view(), y.view()) + lambda / (2.0 * 40.0) * penalty
    };
    let numeric = central_differences(&net, 1e-5, cost);
    for (l, (a, num)) in applied.iter().zip(&numeric).enumerate() {
        for idx in ndarray::indices(a.raw_dim()) {
            let n = num[idx];
            let err = (a[idx] - n).abs() / a[idx].abs().max(n.abs()).max(1e-4);
            assert!(err < 1e-6, "layer {l} {idx:?}: applied {} vs numeric {n}", a[idx]);
        }
    }
    // And the decay is really there: without it the bias column matches but weights differ.
    assert!(
        applied[0][[0, 1]]
            != Engine::<f64>::new(1, 8).unwrap().gradient(&net, &data, &scaler, &(0..40).collect::<Vec<_>>()).d[0]
                [[0, 1]]
    );
}

/// `datasets/iris.csv` as text, for argument lists and config files.
fn iris() -> String {
    crate::common::iris().to_str().unwrap().to_string()
}

#[test]
fn early_stopping_keeps_the_best_epochs_weights() {
    let iris = iris();
    let base = [
        "train",
        "--data",
        &iris,
        "--hidden",
        "16",
        "--batch-size",
        "8",
        "--lr",
        "3",
        "--validation",
        "0.3",
        "--json",
        "--quiet",
    ];
    let mut args = base.to_vec();
    args.extend(["--epochs", "300", "--early-stopping", "5"]);
    let stopped = json_of(&args);
    let best = stopped["best_epoch"].as_u64().expect("stopped early") as usize;
    let ran = stopped["epochs"].as_u64().unwrap() as usize;
    assert_eq!(ran, best + 5, "stops after 5 epochs without improvement");
    let losses: Vec<f64> =
        stopped["history"].as_array().unwrap().iter().map(|r| r["val_loss"].as_f64().unwrap()).collect();
    let min = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(losses[best - 1], min, "best_epoch has the lowest validation loss");
    // The top-level figures describe the model written: the kept epoch's, not the last one's.
    let kept = &stopped["history"][best - 1];
    for key in ["val_loss", "val_accuracy", "train_loss", "train_accuracy"] {
        assert_eq!(stopped[key], kept[key], "{key} of the kept epoch {best}");
    }
    assert_ne!(stopped["val_loss"], stopped["history"][ran - 1]["val_loss"]);
    // The same run cut at the best epoch has exactly the kept weights.
    let epochs = best.to_string();
    let mut args = base.to_vec();
    args.extend(["--epochs", &epochs]);
    assert_eq!(json_of(&args)["params_digest"], stopped["params_digest"]);
}

#[test]
fn metrics_log_has_one_parsable_line_per_epoch_and_plots_as_svg() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let iris = iris();
    json_of(&[
        "train",
        "--data",
        &iris,
        "--hidden",
        "6",
        "--epochs",
        "7",
        "--validation",
        "0.2",
        "--metrics",
        log.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i + 1);
        for k in
            ["step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "examples_per_sec", "seconds"]
        {
            assert!(l[k].is_number(), "line {}: {k} in {l}", i + 1);
        }
    }
    let svg = dir.path().join("curves.svg");
    let o = Command::new(bin()).args(["plot", log.to_str().unwrap(), "-o", svg.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "not an SVG document");
    // plotters writes each text element's content on its own line.
    for title in ["Loss per epoch", "Accuracy per epoch", "\ntrain\n</text>", "\nvalidation\n</text>"] {
        assert!(s.contains(title), "missing {title}");
    }
    // Four series (train/validation loss and accuracy), each a polyline of 7 points.
    let polylines: Vec<&str> = s.split("<polyline").skip(1).collect();
    let seven = polylines
        .iter()
        .filter(|p| {
            p.split("points=\"")
                .nth(1)
                .is_some_and(|pts| pts.split('"').next().unwrap().split_whitespace().count() == 7)
        })
        .count();
    assert_eq!(seven, 4, "{} polylines", polylines.len());
}

#[test]
fn confusion_svg_config_file_and_gradcheck_command() {
    let dir = tempfile::tempdir().unwrap();
    let iris = iris();
    let model = dir.path().join("m.ckpt");
    // A config file with the same keys as the flags; the command line overrides it.
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, format!("data = \"{iris}\"\nhidden = [7]\nepochs = 50\nlr = 0.5\nquiet = true\n")).unwrap();
    let j = json_of(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--epochs",
        "3",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(j["epochs"], 3, "the flag overrides the file");
    let inspected = json_of(&["inspect", "--json", model.to_str().unwrap()]);
    assert_eq!(inspected["sizes"], serde_json::json!([4, 7, 3]), "the file's hidden = [7] applies");
    assert_eq!(inspected["config"]["lr"], 0.5);

    let svg = dir.path().join("c.svg");
    let e = json_of(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &iris,
        "--confusion",
        svg.to_str().unwrap(),
        "--json",
    ]);
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg") && s.contains("Confusion matrix"));
    for row in e["confusion"].as_array().unwrap() {
        for c in row.as_array().unwrap() {
            assert!(s.contains(&format!("\n{c}\n</text>")), "cell count {c} not drawn");
        }
    }

    let g = json_of(&["gradcheck", "--layers", "5,4,3", "--activation", "tanh", "--loss", "cross-entropy", "--json"]);
    assert_eq!(g["layers"].as_array().unwrap().len(), 2);
    assert!(g["max_rel_error"].as_f64().unwrap() <= 1e-6);
    assert_eq!(g["pass"], true);
}

/// Issue 11: a cost that becomes NaN or infinite stops the run with exit 2, naming the epoch and
/// step and the last checkpoint whose weights still gave a finite cost; the model is not written.
#[test]
fn a_diverging_run_stops_with_exit_2_and_names_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let out = dir.path().join("m.ckpt");
    let iris = crate::common::iris();
    let bin = crate::common::bin();
    let o = std::process::Command::new(bin)
        .args(["train", "--data", iris.to_str().unwrap(), "--task", "regression", "--target", "0", "--hidden", "8"])
        .args(["--activation", "identity", "--lr", "1000", "--epochs", "50", "--quiet", "--keep", "100"])
        .args([
            "--checkpoint-every-steps",
            "1",
            "--checkpoint-dir",
            ck.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("training diverged: the cost is") && err.contains("at epoch 1, step"), "{err}");
    assert!(!out.exists(), "diverged weights must not be written as the model");
    let good = err.split("the last good checkpoint is ").nth(1).and_then(|r| r.split(" (step").next()).expect(&err);
    let c = shardprop::run::checkpoint::Checkpoint::load(std::path::Path::new(good)).unwrap();
    let data = shardprop::data::csv::load(
        &iris,
        &shardprop::data::CsvOptions { target: Some("0".into()), regression: true, ..Default::default() },
    )
    .unwrap()
    .0;
    let x = ndarray::Array2::from_shape_vec((150, 4), data.x().to_vec()).unwrap();
    let h = c.network.predict(x.view());
    assert!(h.iter().all(|v| v.is_finite()), "the named checkpoint's weights must still give finite outputs");
}

/// Issue 11: Adam forms `1 − β` in f64 before rounding to f32 (as PyTorch does), not from the
/// rounded β: with β₂ = 0.999 rounded first, every step came out 6.4e-6 (relative) too large.
/// With a constant gradient, m̂ = g and v̂ = g², so each step is α·g/(|g| + ε) to f32 precision.
#[test]
fn adam_steps_are_alpha_to_f32_precision_for_a_constant_gradient() {
    let mut net = one_layer(array![[0.0f32, 0.0, 0.0]]);
    let mut opt = Optimizer::new(Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.0, &net);
    let g = [0.3f32, -0.02, 1.5];
    let mut before = [0.0f64; 3];
    for t in 1..=5 {
        opt.step(&mut net, &grad(Array2::from_shape_vec((1, 3), g.to_vec()).unwrap()), 0.1);
        for (j, &gj) in g.iter().enumerate() {
            let w = f64::from(net.weights()[0][[0, j]]);
            let step = before[j] - w;
            let want = 0.1 * f64::from(gj) / (f64::from(gj).abs() + 1e-8);
            let rel = ((step - want) / want).abs();
            assert!(rel < 1e-6, "step {t}, weight {j}: {step} vs {want} (relative error {rel:e})");
            before[j] = w;
        }
    }
}

#[test]
fn rprop_is_igel_and_huskens_irprop_minus_step_by_step() {
    // One weight per rule: a gradient that keeps its sign, one that flips, one that is zero.
    // iRPROP− (Igel & Hüsken 2000): Δ grows by η⁺ = 1.2 when d·d_prev > 0, shrinks by η⁻ = 0.5
    // and forgets d when < 0, stays when = 0 (so the first step is Δ₀ = 0.1); w −= sign(d) Δ.
    // FANN's fann_update_weights_irpropm differs on purpose (README, Optimisers).
    let mut net = one_layer(array![[0.0f32, 0.0, 0.0]]);
    let mut opt = Optimizer::new(Method::parse("rprop", 0.0).unwrap(), 0.0, &net);
    let steps: [[f32; 3]; 4] = [[1.0, 1.0, 0.0], [2.0, -1.0, 0.0], [0.5, -1.0, 0.0], [1.0, 1.0, 0.0]];
    // Expected weights after each step, by hand.
    //  w0: −0.1, −0.1−0.12 = −0.22, −0.22−0.144 = −0.364, −0.364−0.1728 = −0.5368
    //  w1: −0.1; flip: Δ 0.05, d forgotten, no move; d_prev 0 → Δ stays 0.05, +0.05 → −0.05;
    //      flip: Δ 0.025, no move
    //  w2: zero gradient: never moves
    let want: [[f64; 3]; 4] = [[-0.1, -0.1, 0.0], [-0.22, -0.1, 0.0], [-0.364, -0.05, 0.0], [-0.5368, -0.05, 0.0]];
    for (g, w) in steps.iter().zip(&want) {
        opt.step(&mut net, &grad(Array2::from_shape_vec((1, 3), g.to_vec()).unwrap()), 1.0);
        for (j, &want) in w.iter().enumerate() {
            let got = f64::from(net.weights()[0][[0, j]]);
            assert!((got - want).abs() < 1e-6, "weight {j}: {got} vs {want}");
        }
    }
}
