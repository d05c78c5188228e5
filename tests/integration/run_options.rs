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
