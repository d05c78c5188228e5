//! The `shardprop` binary: the contract of flags, JSON fields and exit codes.

use std::process::{Command, Output};

use crate::common::{datasets, json, run_bin as shardprop, stderr};

fn iris_train(extra: &[&str]) -> Output {
    let iris = datasets().join("iris.csv");
    let mut args = vec![
        "train",
        "--data",
        iris.to_str().unwrap(),
        "--hidden",
        "6",
        "--epochs",
        "30",
        "--batch-size",
        "16",
        "--json",
    ];
    args.extend_from_slice(extra);
    shardprop(&args)
}

#[test]
fn train_json_has_the_contract_fields_and_the_digest_ignores_threads() {
    let one = json(&iris_train(&["--threads", "1"]));
    for field in ["epochs", "train_loss", "train_accuracy", "examples_per_sec", "seconds", "params_digest"] {
        assert!(one.get(field).is_some(), "missing {field}: {one}");
    }
    assert_eq!(one["epochs"], 30);
    let three = json(&iris_train(&["--threads", "3"]));
    assert_eq!(one["params_digest"], three["params_digest"]);
    let other_seed = json(&iris_train(&["--seed", "9"]));
    assert_ne!(one["params_digest"], other_seed["params_digest"]);
}

#[test]
fn train_out_then_evaluate_and_predict_with_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris.ckpt");
    let iris = datasets().join("iris.csv");
    let t = json(&iris_train(&["--out", model.to_str().unwrap(), "--test", iris.to_str().unwrap(), "--epochs", "200"]));
    assert!(t["test_accuracy"].as_f64().unwrap() > 0.9, "{t}");
    let e =
        json(&shardprop(&["evaluate", "--model", model.to_str().unwrap(), "--data", iris.to_str().unwrap(), "--json"]));
    assert_eq!(e["accuracy"], t["test_accuracy"]);
    assert_eq!(e["params_digest"], t["params_digest"]);
    let confusion: u64 = e["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(confusion, 150);

    let preds = dir.path().join("preds.csv");
    let p = shardprop(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        iris.to_str().unwrap(),
        "--output",
        preds.to_str().unwrap(),
    ]);
    assert!(p.status.success(), "{}", stderr(&p));
    let text = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 151);
    assert_eq!(lines[0], "prediction");
    // iris.csv is sorted by species: mostly 0s first, 2s last.
    assert_eq!(lines[1], "0");
    assert_eq!(lines[150], "2");
}

#[test]
fn converting_to_binary_then_training_gives_the_same_model_as_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("iris.bin");
    let iris = datasets().join("iris.csv");
    let c = shardprop(&["convert", iris.to_str().unwrap(), bin.to_str().unwrap()]);
    assert!(c.status.success(), "{}", stderr(&c));
    let from_csv = json(&iris_train(&["--scale", "standard"]));
    let from_bin = json(&shardprop(&[
        "train",
        "--data",
        bin.to_str().unwrap(),
        "--hidden",
        "6",
        "--epochs",
        "30",
        "--batch-size",
        "16",
        "--scale",
        "standard",
        "--json",
    ]));
    assert_eq!(from_csv["params_digest"], from_bin["params_digest"]);
}

#[test]
fn bad_input_exits_2_with_a_message_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    // (Two classes remain after the bad row is skipped: a single class is refused for training.)
    std::fs::write(&bad, "a,b,label\n1,2,0\n1,zz,1\n3,4,1\n").unwrap();
    let o = shardprop(&["train", "--data", bad.to_str().unwrap(), "--epochs", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.csv:3:3: column 2 (b): cannot parse \"zz\" as a number"), "{}", stderr(&o));

    let o = shardprop(&["train", "--data", bad.to_str().unwrap(), "--epochs", "1", "--skip-bad-rows", "--hidden", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped 1 bad rows (lines 3)"), "{}", stderr(&o));

    let missing = shardprop(&[
        "evaluate",
        "--model",
        dir.path().join("none.ckpt").to_str().unwrap(),
        "--data",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("none.ckpt"), "{}", stderr(&missing));

    let usage = shardprop(&["train", "--epochs", "many"]);
    assert_eq!(usage.status.code(), Some(2));

    let iris = datasets().join("iris.csv");
    let o = shardprop(&["train", "--data", iris.to_str().unwrap(), "--target", "colour"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown target column \"colour\""), "{}", stderr(&o));
}

#[test]
fn a_model_refuses_data_with_another_feature_count() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.ckpt");
    let t = iris_train(&["--out", model.to_str().unwrap(), "--epochs", "1"]);
    assert!(t.status.success(), "{}", stderr(&t));
    let narrow = dir.path().join("narrow.csv");
    std::fs::write(&narrow, "a,b,label\n1,2,0\n").unwrap();
    let o = shardprop(&["evaluate", "--model", model.to_str().unwrap(), "--data", narrow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("narrow.csv: has 2 features per row, but the model takes 4"), "{}", stderr(&o));
    let iris = datasets().join("iris.csv");
    let o =
        shardprop(&["train", "--data", iris.to_str().unwrap(), "--test", narrow.to_str().unwrap(), "--epochs", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("narrow.csv: has 2 features per row, but the model takes 4"), "{}", stderr(&o));
    let damaged = dir.path().join("damaged.ckpt");
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let o = shardprop(&["evaluate", "--model", damaged.to_str().unwrap(), "--data", narrow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
}

#[test]
fn regression_with_two_targets_trains_evaluates_and_predicts_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("reg.csv");
    let mut text = String::from("a,t1,b,t2\n");
    for i in 0..200 {
        let (a, b) = ((i % 20) as f32 / 10.0 - 1.0, (i / 20) as f32 / 5.0 - 1.0);
        text += &format!("{a},{},{b},{}\n", a + b, a - 0.5 * b);
    }
    std::fs::write(&data, text).unwrap();
    let model = dir.path().join("reg.ckpt");
    let d = data.to_str().unwrap();
    let t = json(&shardprop(&[
        "train",
        "--data",
        d,
        "--task",
        "regression",
        "--target",
        "t1,t2",
        "--hidden",
        "8",
        "--activation",
        "tanh",
        "--epochs",
        "300",
        "--batch-size",
        "20",
        "--lr",
        "0.05",
        "--out",
        model.to_str().unwrap(),
        "--json",
        "--quiet",
    ]));
    assert!(t.get("train_accuracy").is_none(), "no accuracy for regression: {t}");
    assert!(t["train_loss"].as_f64().unwrap() < 0.01, "{t}");
    let e = json(&shardprop(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        d,
        "--task",
        "regression",
        "--target",
        "t1,t2",
        "--json",
    ]));
    assert!(e["loss"].as_f64().unwrap() < 0.01 && e.get("accuracy").is_none(), "{e}");
    let p = shardprop(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        d,
        "--task",
        "regression",
        "--target",
        "t1,t2",
    ]);
    assert!(p.status.success(), "{}", stderr(&p));
    let out = String::from_utf8(p.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "t1,t2");
    assert_eq!(lines.len(), 201);
    // Row 1: a = -1, b = -1 → t1 = -2, t2 = -0.5.
    let v: Vec<f64> = lines[1].split(',').map(|x| x.parse().unwrap()).collect();
    assert!((v[0] + 2.0).abs() < 0.3 && (v[1] + 0.5).abs() < 0.3, "{v:?}");
}

#[test]
fn predict_takes_rows_without_a_target_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris.ckpt");
    let t = iris_train(&["--out", model.to_str().unwrap(), "--epochs", "200"]);
    assert!(t.status.success(), "{}", stderr(&t));
    // The first and last iris rows, features only (with and without a header).
    for (name, text) in [
        ("unlabeled.csv", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n5.9,3.0,5.1,1.8\n"),
        ("bare.csv", "5.1,3.5,1.4,0.2\n5.9,3.0,5.1,1.8\n"),
    ] {
        let rows = dir.path().join(name);
        std::fs::write(&rows, text).unwrap();
        let p = shardprop(&["predict", "--model", model.to_str().unwrap(), "--data", rows.to_str().unwrap()]);
        assert!(p.status.success(), "{name}: {}", stderr(&p));
        assert_eq!(String::from_utf8(p.stdout).unwrap(), "prediction\n0\n2\n", "{name}");
    }
    // Evaluation needs labels: with names, the missing target column is named as such; without,
    // the last column is read as the label, and refused.
    let rows = dir.path().join("unlabeled.csv");
    let e = shardprop(&["evaluate", "--model", model.to_str().unwrap(), "--data", rows.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(2));
    assert!(
        stderr(&e).contains("unlabeled.csv: its columns are the model's features and no target column"),
        "{}",
        stderr(&e)
    );
    let rows = dir.path().join("bare.csv");
    let e = shardprop(&["evaluate", "--model", model.to_str().unwrap(), "--data", rows.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(2));
    assert!(stderr(&e).contains("bare.csv:1:13: label \"0.2\" was never seen in training"), "{}", stderr(&e));
}

/// Issue 10: `bench` on the user's own network and data, with the JSON fields scripts read.
#[test]
fn bench_runs_your_own_network_and_refuses_w1_w3_on_other_data() {
    let digits = datasets().join("digits.csv");
    let d = digits.to_str().unwrap();
    let o = shardprop(&[
        "bench",
        "--data",
        d,
        "--hidden",
        "40,20",
        "--batch-size",
        "300",
        "--activation",
        "relu",
        "--loss",
        "cross-entropy",
        "--threads",
        "1,2",
        "--epochs",
        "1",
        "--json",
    ]);
    let v = json(&o);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r["workload"], "custom");
        // 64-40-20-10 with bias columns.
        assert_eq!(r["params"], 65 * 40 + 41 * 20 + 21 * 10);
        assert_eq!((r["shard_rows"].as_u64(), r["shards"].as_u64()), (Some(256), Some(2)), "{r}");
        assert_eq!(r["comm_bytes"], 0.0);
        for field in ["busy_forward", "busy_backprop", "busy_reduce_step", "examples_per_sec", "forward"] {
            let x = r[field].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&x) || (field == "examples_per_sec" && x > 0.0), "{field} = {x}");
        }
    }
    assert_eq!(results[0]["params_digest"], results[1]["params_digest"], "thread counts must not change the bits");
    assert!(results[0]["busy_forward"].as_f64().unwrap() > 0.0, "tile time was counted");

    let o = shardprop(&["bench", "--data", d, "--epochs", "1", "--threads", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("digits.csv: has 64 features and 10 outputs, but W1 is [784, 128, 10]") && e.contains("--hidden"),
        "{e}"
    );
}

/// Issue 11: numeric flags that would train on nonsense are refused up front, each naming
/// itself; a thread count that would only hang is refused; NaN never passes a gradient check.
/// Every enumerated flag refuses a value it does not know with one message: the flag, the value and
/// the choices (clap's `ValueEnum`), exit 2, before any data is read.
#[test]
fn unknown_choices_are_refused_with_the_flag_the_value_and_the_choices() {
    for (args, flag, choices) in [
        (&["train", "--activation", "soft"][..], "--activation <ACTIVATION>", "sigmoid, tanh, relu, identity"),
        (&["train", "--optimizer", "lbfgs"][..], "--optimizer <OPTIMIZER>", "sgd, momentum, nesterov, adam, rprop"),
        (&["train", "--scale", "robust"][..], "--scale <SCALE>", "none, minmax, standard"),
        (&["train", "--loss", "hinge"][..], "--loss <LOSS>", "mse, cross-entropy"),
        (&["train", "--lr-schedule", "cyclic"][..], "--lr-schedule <LR_SCHEDULE>", "constant, step, cosine"),
        (&["bench", "--kernel", "blas"][..], "--kernel <KERNEL>", "gemm, matrixmultiply"),
        (
            &["evaluate", "--model", "m.ckpt", "--data", "d.csv", "--task", "ranking"][..],
            "--task <TASK>",
            "classification, regression",
        ),
    ] {
        let o = shardprop(args);
        let err = stderr(&o);
        let value = args[args.len() - 1];
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("invalid value '{value}' for '{flag}'")), "{args:?}: {err}");
        assert!(err.contains(&format!("[possible values: {choices}]")), "{args:?}: {err}");
    }
}

#[test]
fn nonsense_numeric_flags_are_refused_with_their_name() {
    let iris = datasets().join("iris.csv");
    let i = iris.to_str().unwrap();
    for (flag, value, want) in [
        ("--lr", "nan", "--lr NaN: expected a positive learning rate"),
        ("--lr", "1e300", "--lr 1e300"),
        ("--lr", "0", "--lr 0.0"),
        ("--momentum", "1.5", "--momentum 1.5: expected a momentum in [0, 1)"),
        ("--l2", "inf", "--l2 inf"),
        ("--lr-gamma", "0", "--lr-gamma 0.0"),
        ("--lr-min", "nan", "--lr-min NaN"),
        ("--validation", "1", "--validation 1.0: expected a fraction in [0, 1)"),
        ("--keep", "0", "--keep 0"),
        ("--threads", "100000", "--threads 100000: at most 1024"),
    ] {
        let o = shardprop(&["train", "--data", i, "--hidden", "3", "--epochs", "1", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{flag} {value}: {}", stderr(&o));
    }
    let o = shardprop(&["train", "--data", i, "--lr-schedule", "step", "--lr-step", "0"]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("--lr-step 0"), "{}", stderr(&o));
    let o = shardprop(&["gradcheck", "--layers", "3,2", "--step", "0"]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("--step 0"), "{}", stderr(&o));
    let o = shardprop(&["bench", "--roof", "nan", "--data", i, "--hidden", "3", "--epochs", "1"]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("--roof NaN"), "{}", stderr(&o));
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.ckpt");
    // A model whose weights as JSON (about 0.5 MB) overflow the pipe's buffer.
    let digits = datasets().join("digits.csv");
    json(&shardprop(&[
        "train",
        "--data",
        digits.to_str().unwrap(),
        "--hidden",
        "300",
        "--epochs",
        "1",
        "--json",
        "--out",
        model.to_str().unwrap(),
    ]));
    // The reader goes away after one byte; the writer must not panic.
    let mut child = Command::new(crate::common::bin())
        .args(["inspect", model.to_str().unwrap(), "--json", "--weights"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    std::io::Read::read_exact(&mut out, &mut one).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked") && o.status.code() != Some(101), "{:?}: {err}", o.status);
}

/// Issue 11: sizes that would exhaust memory or overflow are refused before allocating, and a
/// config file is read with a bound.
#[test]
fn huge_networks_and_endless_config_files_are_refused_before_allocating() {
    let iris = datasets().join("iris.csv");
    let i = iris.to_str().unwrap();
    for (hidden, want) in [
        ("1000000000", "a 4-1000000000-3 network (8000000003 parameters) needs about"),
        ("18446744073709551615", "a 4-18446744073709551615-3 network is too large to represent"),
        ("4294967296,4294967296", "is too large to represent"),
    ] {
        for cmd in [
            &["train", "--data", i, "--epochs", "1", "--hidden", hidden][..],
            &["bench", "--data", i, "--epochs", "1", "--threads", "1", "--hidden", hidden][..],
        ] {
            let o = shardprop(cmd);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
            assert!(stderr(&o).contains(want), "{cmd:?}: {}", stderr(&o));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 3 << 20]).unwrap();
    let o = shardprop(&["train", "--config", big.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("big.toml: longer than 1048576 bytes; refusing to read more"), "{}", stderr(&o));
}

/// Issue 11: an endless input (`/dev/zero`, read only) as data, model, metrics log or config
/// ends in exit 2 with a message naming it, never a memory blow-up (the smoke check once saw
/// `train --data /dev/zero` abort with 134). Outputs go to a temp dir.
#[test]
fn endless_inputs_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("z.bin");
    let svg = dir.path().join("z.svg");
    let iris = datasets().join("iris.csv");
    let models = tempfile::tempdir().unwrap();
    let model = models.path().join("m.ckpt");
    crate::common::train_model(&iris, "2", "1", &model);
    let m = model.to_str().unwrap();
    for (args, want) in [
        (vec!["train", "--data", "/dev/zero", "--epochs", "1"], "/dev/zero:1:1: line is longer than"),
        // Streamed, not read whole into memory first (that once held half the RAM, then copied it).
        (vec!["evaluate", "--model", m, "--data", "/dev/zero"], "/dev/zero:1:1: line is longer than"),
        (vec!["predict", "--model", m, "--data", "/dev/zero"], "/dev/zero:1:1: line is longer than"),
        (vec!["convert", "/dev/zero", out.to_str().unwrap()], "/dev/zero:1:1: line is longer than"),
        (vec!["evaluate", "--model", "/dev/zero", "--data", iris.to_str().unwrap()], "/dev/zero: byte 0: bad magic"),
        (vec!["inspect", "/dev/zero"], "/dev/zero: byte 0: bad magic"),
        (vec!["resume", "/dev/zero"], "/dev/zero: byte 0: bad magic"),
        (vec!["plot", "/dev/zero", "-o", svg.to_str().unwrap()], "/dev/zero: longer than"),
        (vec!["train", "--config", "/dev/zero"], "/dev/zero: longer than 1048576 bytes"),
    ] {
        let o = shardprop(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
}

#[test]
fn hidden_empty_means_no_hidden_layer_as_documented() {
    let iris = datasets().join("iris.csv");
    let run = |hidden: &str| {
        shardprop(&["train", "--data", iris.to_str().unwrap(), "--hidden", hidden, "--epochs", "5", "--json"])
    };
    let none = run("");
    assert!(stderr(&none).contains("training 4-3 on"), "{}", stderr(&none));
    assert_eq!(json(&none)["params_digest"], json(&run("0"))["params_digest"]);
    assert_ne!(json(&none)["params_digest"], json(&run("4"))["params_digest"]);
    let o = run("4,x");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'x' for '--hidden"), "{}", stderr(&o));
}

#[test]
fn an_os_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let o = shardprop(&["train", "--data", missing.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// A repeated list flag replaces the earlier one, as every other flag does (it used to append:
/// `--hidden 4 --hidden 8` trained 4-4-8-3), and the command line's list replaces a config
/// file's.
#[test]
fn a_repeated_list_flag_replaces_the_earlier_one() {
    let iris = datasets().join("iris.csv");
    let i = iris.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "hidden = [8]\n").unwrap();
    let c = cfg.to_str().unwrap();
    for (args, want) in [
        (vec!["--hidden", "4", "--hidden", "8"], "training 4-8-3 on"),
        (vec!["--hidden", "4", "--hidden", ""], "training 4-3 on"),
        (vec!["--hidden", "4", "--hidden", "0"], "training 4-3 on"),
        (vec!["--hidden", "4,5", "--hidden=6"], "training 4-6-3 on"),
        (vec!["--config", c, "--hidden", "4"], "training 4-4-3 on"),
        (vec!["--hidden", "4", "--config", c], "training 4-4-3 on"),
        (vec!["--config", c], "training 4-8-3 on"),
    ] {
        let mut a = vec!["train", "--data", i, "--epochs", "1", "--quiet"];
        a.extend(&args);
        let o = shardprop(&a);
        assert!(o.status.success() && stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let g = json(&shardprop(&["gradcheck", "--layers", "5,4,3", "--layers", "3,2", "--json"]));
    assert_eq!(g["layers"].as_array().unwrap().len(), 1, "--layers 3,2 is one layer: {g}");
    let b = json(&shardprop(&[
        "bench",
        "--data",
        i,
        "--epochs",
        "1",
        "--hidden",
        "5,5",
        "--hidden",
        "2",
        "--threads",
        "1,2",
        "--threads",
        "1",
        "--json",
    ]));
    let results = b["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "--threads 1 is one run: {b}");
    // 4-2-3: (4 + 1) * 2 + (2 + 1) * 3 parameters.
    assert_eq!(results[0]["params"], 19, "{b}");
}

/// Config-file mistakes name the file, the line and column of the key, and what was expected
/// (they used to surface as clap's `unexpected argument '-1' found`, or `help = true` printed
/// help and exited 0); nothing trains.
#[test]
fn config_file_mistakes_name_the_file_line_and_what_was_expected() {
    let iris = datasets().join("iris.csv");
    let i = iris.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let c = cfg.to_str().unwrap();
    for (text, want) in [
        ("epochs = 1\nbogus = 1\n", "c.toml:2:1: unknown key \"bogus\" (expected a train flag: "),
        ("lr = -1.0\n", "c.toml:1:1: lr = -1.0: expected a positive learning rate of at most 1e6"),
        ("epochs = 1\nmomentum = 2\n", "c.toml:2:1: momentum = 2.0: expected a momentum in [0, 1)"),
        ("lr_step = 0\nlr_schedule = \"step\"\n", "c.toml:1:1: lr_step = 0: expected a decay every 1"),
        (
            "activation = \"foo\"\n",
            "c.toml:1:1: key \"activation\": expected one of sigmoid, tanh, relu, identity (a string: activation = \"sigmoid\"), found a string (\"foo\")",
        ),
        (
            "epochs = -1\n",
            "c.toml:1:1: key \"epochs\": expected a non-negative whole number (epochs = 20), found an integer (-1)",
        ),
        ("batch_size = 1.5\n", "c.toml:1:1: key \"batch_size\": expected a non-negative whole number"),
        ("quiet = \"yes\"\n", "c.toml:1:1: key \"quiet\": expected true or false (a TOML boolean"),
        ("quiet = 1\n", "c.toml:1:1: key \"quiet\": expected true or false"),
        ("help = true\n", "c.toml:1:1: key \"help\": not allowed in a config file"),
        ("version = true\n", "c.toml:1:1: key \"version\": not allowed in a config file"),
        ("config = \"c.toml\"\n", "c.toml:1:1: key \"config\": not allowed in a config file"),
        ("lr = \"abc\"\n", "c.toml:1:1: key \"lr\": expected a number (lr = 0.5), found a string (\"abc\")"),
        ("lr = [1, 2]\n", "c.toml:1:1: key \"lr\": expected a number (lr = 0.5), found a list"),
        ("lr.x = 1\n", "c.toml:1:1: key \"lr\": expected a number (lr = 0.5), found a table"),
        ("epochs = 1\n[lr]\nx = 1\n", "c.toml:2:2: key \"lr\": expected a number (lr = 0.5), found a table"),
        ("hidden = [\"8\"]\n", "c.toml:1:1: key \"hidden\": expected a list of non-negative whole numbers"),
        ("hidden = [-8]\n", "c.toml:1:1: key \"hidden\": expected a list of non-negative whole numbers"),
        ("loss = \"hinge\"\n", "c.toml:1:1: key \"loss\": expected one of mse, cross-entropy"),
        ("data = 5\n", "c.toml:1:1: key \"data\": expected a path"),
        ("lr = \n", "c.toml:1:6: string values must be quoted"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = shardprop(&["train", "--data", i, "--epochs", "1", "--config", c]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(want), "{text:?}: {err}");
        assert!(!err.contains("training "), "{text:?} trained: {err}");
    }
    // The command line overrides a bad value in the file, and the file's types that fit work.
    std::fs::write(&cfg, "lr = -1.0\nhidden = 5\nbatch_size = 16\ntarget = 4\nno_header = false\nquiet = true\n")
        .unwrap();
    let o = shardprop(&["train", "--data", i, "--epochs", "1", "--config", c, "--lr", "1"]);
    assert!(o.status.success() && stderr(&o).contains("training 4-5-3 on"), "{}", stderr(&o));
}

/// A negative number on the command line reaches the flag's own check (clap used to call it an
/// unexpected argument `-1`).
#[test]
fn negative_numbers_reach_the_flags_own_check() {
    let iris = datasets().join("iris.csv");
    let i = iris.to_str().unwrap();
    for (flag, value, want) in [
        ("--lr", "-1", "error: --lr -1.0: expected a positive learning rate"),
        ("--l2", "-0.5", "error: --l2 -0.5: expected a non-negative weight decay"),
        ("--epochs", "-1", "error: invalid value '-1' for '--epochs <EPOCHS>'"),
        ("--hidden", "-3", "error: invalid value '-3' for '--hidden <HIDDEN>'"),
    ] {
        let o = shardprop(&["train", "--data", i, "--epochs", "1", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).starts_with(want), "{flag} {value}: {}", stderr(&o));
    }
    let o = shardprop(&["gradcheck", "--layers", "3,2", "--step", "-1"]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("--step -1"), "{}", stderr(&o));
}

#[test]
fn a_config_key_set_under_both_spellings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.toml");
    std::fs::write(&c, "batch-size = 2\nbatch_size = 3\n").unwrap();
    let iris = datasets().join("iris.csv");
    let o = shardprop(&["train", "--data", iris.to_str().unwrap(), "--config", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(":2:1: key \"batch_size\" sets the same flag as \"batch-size\""), "{}", stderr(&o));
}

#[test]
fn bench_flags_are_checked_before_the_data_loads_and_resume_says_when_nothing_is_left() {
    let o = shardprop(&["bench", "--threads", "1025", "--data", "/nonexistent/data.csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--threads 1025: expected 1 to 1024"), "{}", stderr(&o));
    let o = shardprop(&["bench", "--roof", "nan", "--data", "/nonexistent/data.csv"]);
    assert!(stderr(&o).contains("--roof NaN"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.ckpt");
    let iris = datasets().join("iris.csv");
    crate::common::train_model(&iris, "2", "3", &m);
    let o = shardprop(&["resume", m.to_str().unwrap(), "--epochs", "2", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("has done 3 epochs of 2: nothing to train"), "{}", stderr(&o));
}
