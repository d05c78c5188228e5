//! Issue 14's run options that need no new maths: `--init` (recorded in the checkpoint and shown
//! by `inspect`), each optimiser's default learning rate, and the test set measured after every
//! epoch (logged, reported and drawn).

use std::path::Path;

use crate::common::{digest, digits, iris, json, run_bin, run_json, stderr};

/// `train` on `data` with 2 epochs, `--json --quiet` and `extra`.
fn train(data: &Path, extra: &[&str]) -> std::process::Output {
    let base = ["train", "--data", data.to_str().unwrap(), "--hidden", "12", "--epochs", "2", "--json", "--quiet"];
    run_bin(&[&base[..], extra].concat())
}

fn inspect(model: &Path) -> serde_json::Value {
    run_json(&["inspect", "--json", model.to_str().unwrap()])
}

#[test]
fn init_rules_change_the_weights_as_documented_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = digits();
    let run = |extra: &[&str]| digest(&train(&d, extra));
    // The default is auto, the rule of every earlier build.
    assert_eq!(run(&[]), run(&["--init", "auto"]));
    for act in ["sigmoid", "tanh", "relu"] {
        let auto = run(&["--activation", act]);
        let glorot = run(&["--activation", act, "--init", "glorot"]);
        let he = run(&["--activation", act, "--init", "he"]);
        assert_eq!(glorot, run(&["--activation", act, "--init", "xavier"]), "xavier is glorot");
        // auto is He for ReLU layers, Glorot for the others.
        let (same, other) = if act == "relu" { (&he, &glorot) } else { (&glorot, &he) };
        assert_eq!(&auto, same, "{act}");
        assert_ne!(&auto, other, "{act}");
    }
    // Recorded in the checkpoint (inspect shows it), and kept by a resume.
    let model = dir.path().join("he.ckpt");
    let straight = run(&["--init", "he", "--epochs", "3"]);
    json(&train(&d, &["--init", "he", "--out", model.to_str().unwrap()]));
    assert_eq!(inspect(&model)["config"]["init"], "He");
    let resumed = run_bin(&["resume", model.to_str().unwrap(), "--epochs", "3", "--json", "--quiet"]);
    assert_eq!(digest(&resumed), straight);
    let o = run_bin(&["train", "--init", "lecun"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid value 'lecun' for '--init"), "{}", stderr(&o));
}

#[test]
fn each_optimiser_has_its_own_default_learning_rate_printed_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let i = iris();
    for (opt, extra, lr) in [
        ("sgd", &[][..], 1.0),
        ("adam", &[][..], 0.001),
        ("momentum", &[][..], 0.1),
        ("nesterov", &["--momentum", "0.8"][..], 0.2),
    ] {
        let model = dir.path().join(format!("{opt}.ckpt"));
        let args = [&["--optimizer", opt, "--out", model.to_str().unwrap()][..], extra].concat();
        // Without --quiet, the run says which rate it took.
        let base = ["train", "--data", i.to_str().unwrap(), "--hidden", "12", "--epochs", "2", "--json"];
        let o = run_bin(&[&base[..], &args].concat());
        let said = format!("--lr not given: {opt} takes its default learning rate, {lr}");
        assert!(stderr(&o).contains(&said), "{opt}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("{opt} at lr {lr}, init auto")), "{opt}: {}", stderr(&o));
        let defaulted = digest(&o);
        assert_eq!(inspect(&model)["config"]["lr"], lr, "{opt}: stored");
        let given = train(&i, &[&["--optimizer", opt, "--lr", &lr.to_string()][..], extra].concat());
        assert_eq!(digest(&given), defaulted, "{opt}: the same as --lr {lr}");
    }
    // An explicit --lr wins and is not announced as a default.
    let o = train(&i, &["--optimizer", "adam", "--lr", "0.01"]);
    assert!(!stderr(&o).contains("--lr not given"), "{}", stderr(&o));
    // Adam at its default learns iris (42% with the old shared default of 1.0).
    let o = run_bin(&["train", "--data", i.to_str().unwrap(), "--optimizer", "adam", "--json", "--quiet"]);
    let acc = json(&o)["train_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.8, "adam at its default rate: {acc}");
    // iRPROP- sizes its own steps: no rate is announced.
    let o = train(&i, &["--optimizer", "rprop"]);
    assert!(!stderr(&o).contains("--lr not given") && !stderr(&o).contains("at lr"), "{}", stderr(&o));
}

#[test]
fn the_test_set_is_measured_after_every_epoch_logged_and_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let (d, log, model) = (digits(), dir.path().join("m.jsonl"), dir.path().join("m.ckpt"));
    let (ds, ls, ms) = (d.to_str().unwrap(), log.to_str().unwrap(), model.to_str().unwrap());
    let epochs = ["--epochs", "4"];
    let with = json(&train(&d, &[&epochs[..], &["--test", ds, "--metrics", ls, "--out", ms]].concat()));
    // Measuring the test set changes no weight.
    assert_eq!(with["params_digest"], json(&train(&d, &epochs))["params_digest"]);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert!(l["test_loss"].as_f64().is_some_and(|v| v > 0.0), "{l}");
        assert!(l["test_accuracy"].as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)), "{l}");
    }
    // The last epoch's figures are the final model's: the report's and evaluate's.
    let last = &lines[3];
    assert_eq!(last["test_loss"], with["test_loss"]);
    assert_eq!(last["test_accuracy"], with["test_accuracy"]);
    let ev = run_json(&["evaluate", "--model", ms, "--data", ds, "--json"]);
    assert_eq!(last["test_loss"], ev["loss"]);
    // The checkpoint's history keeps them.
    let history = &inspect(&model)["history"];
    assert_eq!(history[3]["test_loss"], last["test_loss"], "{history}");

    // plot draws them: train and test, loss and accuracy, 4 points each.
    let svg = dir.path().join("m.svg");
    run_bin(&["plot", ls, "-o", svg.to_str().unwrap()]);
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.contains("\ntest\n</text>") && s.contains("\ntrain\n</text>"), "legend");
    let four = s
        .split("<polyline")
        .skip(1)
        .filter(|p| {
            p.split("points=\"")
                .nth(1)
                .is_some_and(|pts| pts.split('"').next().unwrap().split_whitespace().count() == 4)
        })
        .count();
    assert_eq!(four, 4, "train and test loss and accuracy");

    // Without --test: null in the log, no test line in the plot.
    let (log, svg) = (dir.path().join("plain.jsonl"), dir.path().join("plain.svg"));
    let ls = log.to_str().unwrap();
    json(&train(&d, &[&epochs[..], &["--metrics", ls]].concat()));
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().lines().next().unwrap()).unwrap();
    assert!(first["test_loss"].is_null(), "{first}");
    run_bin(&["plot", ls, "-o", svg.to_str().unwrap()]);
    assert!(!std::fs::read_to_string(&svg).unwrap().contains("\ntest\n</text>"));
}

#[test]
fn dropout_and_max_norm_keep_the_bits_across_threads_and_resume_and_bound_the_norms() {
    use shardprop::run::checkpoint::Checkpoint;
    let dir = tempfile::tempdir().unwrap();
    let d = digits();
    let reg = ["--hidden", "40,20", "--dropout", "0.2,0.5", "--max-norm", "1.5", "--batch-size", "64", "--epochs", "3"];
    let run = |extra: &[&str]| digest(&train(&d, &[&reg[..], extra].concat()));
    let one = run(&["--threads", "1"]);
    for threads in ["2", "3"] {
        assert_eq!(run(&["--threads", threads]), one, "{threads} threads");
    }
    // Each changes the weights; rates of 0 are no dropout.
    let plain = ["--hidden", "40,20", "--batch-size", "64", "--epochs", "3"];
    let none = digest(&train(&d, &plain));
    assert_ne!(digest(&train(&d, &[&plain[..], &["--dropout", "0.2,0.5"]].concat())), none);
    assert_ne!(digest(&train(&d, &[&plain[..], &["--max-norm", "1.5"]].concat())), none);
    assert_eq!(digest(&train(&d, &[&plain[..], &["--dropout", "0,0"]].concat())), none);

    // Resumed from inside an epoch (the masks are keyed by the global step), at another thread
    // count: the straight run's bits.
    let ck = dir.path().join("ck");
    let args =
        [&reg[..], &["--checkpoint-dir", ck.to_str().unwrap(), "--checkpoint-every-steps", "20", "--keep", "50"]];
    assert_eq!(digest(&train(&d, &args.concat())), one);
    let mid = ck.join("ckpt-e00001-s0000000040.ckpt");
    let resumed = run_bin(&["resume", mid.to_str().unwrap(), "--threads", "1", "--json", "--quiet"]);
    assert_eq!(digest(&resumed), one, "resumed at step 40, inside epoch 2");

    // Recorded, and every unit's incoming weights (bias excluded) within the radius.
    let model = dir.path().join("m.ckpt");
    json(&train(&d, &[&reg[..], &["--out", model.to_str().unwrap()]].concat()));
    let c = Checkpoint::load(&model).unwrap();
    assert_eq!(c.config.dropout, [0.2, 0.5, 0.5]);
    assert_eq!(c.config.max_norm, Some(1.5));
    let mut longest = 0.0f64;
    for w in c.network.weights() {
        for row in w.rows() {
            let norm = row.iter().skip(1).map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
            longest = shardprop::tools::gradcheck::max_or_nan(longest, norm);
        }
    }
    assert!(longest <= 1.5 * (1.0 + 1e-6) && longest > 1.4, "longest incoming weight vector {longest}");

    // Bad values are refused before anything loads.
    for (flag, value, want) in [
        ("--dropout", "1", "--dropout 1.0: expected rates in [0, 1)"),
        ("--dropout", "0.2,NaN", "--dropout NaN: expected rates in [0, 1)"),
        ("--dropout", "0.2,0.5,0.5,0.5", "expected the input layer's rate, then one rate for all 2 hidden layers"),
        ("--max-norm", "0", "--max-norm 0.0: expected a radius > 0"),
    ] {
        let o = run_bin(&["train", "--data", d.to_str().unwrap(), "--hidden", "40,20", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        assert!(stderr(&o).contains(want), "{flag} {value}: {}", stderr(&o));
    }
}
