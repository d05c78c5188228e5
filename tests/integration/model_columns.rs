//! `evaluate` and `predict` against a trained model: the file's columns matched to the model's
//! features by header name, the target found and checked, and outputs streamed in bounded memory
//! however many classes (issue 11).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{bin, iris, json, limit_address_space, run_bin as shardprop, stderr};

/// Runs the binary with its address space limited to `bytes` (RLIMIT_AS): an allocation past it
/// fails (and aborts) instead of touching gigabytes.
fn shardprop_limited(bytes: u64, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    limit_address_space(&mut cmd, bytes);
    cmd.output().expect("runs")
}

/// A successful run's stdout as text.
fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    String::from_utf8(o.stdout.clone()).expect("UTF-8")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An iris model trained well enough that column mix-ups show in its accuracy.
fn iris_model(dir: &Path) -> PathBuf {
    let model = dir.join("iris.ckpt");
    let args = ["--hidden", "8", "--epochs", "300", "--batch-size", "16", "--lr", "0.5", "--quiet"];
    let o = shardprop(&[&["train", "--data", s(&iris()), "--out", s(&model)][..], &args].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    model
}

/// iris.csv with its columns in `order` (indices into sepal_length, sepal_width, petal_length,
/// petal_width, species); `extra` adds a leading `id` column.
fn iris_columns(order: &[usize], extra: bool) -> String {
    let text = std::fs::read_to_string(iris()).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let mut row: Vec<String> = order.iter().map(|&j| cells[j].to_string()).collect();
        if extra {
            row.insert(0, if i == 0 { "id".into() } else { format!("{}", 1000 + i) });
        }
        out += &row.join(",");
        out.push('\n');
    }
    out
}

#[test]
fn evaluate_and_predict_match_reordered_columns_by_header_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris_model(dir.path());
    let base = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&iris()), "--json"]));
    assert!(base["accuracy"].as_f64().unwrap() > 0.9, "{base}");
    let base_pred = stdout(&shardprop(&["predict", "--model", s(&model), "--data", s(&iris())]));
    // Features shuffled with the species last (read by position, this gave 18.67% silently),
    // the species first, and an extra id column.
    for (name, order, extra) in [
        ("shuffled.csv", &[3, 2, 1, 0, 4][..], false),
        ("species_first.csv", &[4, 2, 0, 3, 1][..], false),
        ("with_id.csv", &[1, 0, 3, 2, 4][..], true),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, iris_columns(order, extra)).unwrap();
        let e = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&path), "--json"]));
        for field in ["examples", "loss", "accuracy", "confusion"] {
            assert_eq!(e[field], base[field], "{name}: {field}");
        }
        let p = shardprop(&["predict", "--model", s(&model), "--data", s(&path)]);
        assert_eq!(stdout(&p), base_pred, "{name}");
        if extra {
            assert!(stderr(&p).contains("not read: id, species"), "{name}: {}", stderr(&p));
        }
    }
    // A binary file is read by position: its features in another order are refused, in the
    // model's order accepted.
    let reordered = dir.path().join("shuffled.csv");
    for (csv, ok) in [(&reordered, false), (&iris(), true)] {
        let bin = dir.path().join("rows.bin");
        let c = shardprop(&["convert", s(csv), s(&bin)]);
        assert!(c.status.success(), "{}", stderr(&c));
        let o = shardprop(&["evaluate", "--model", s(&model), "--data", s(&bin), "--json"]);
        if ok {
            assert_eq!(json(&o)["accuracy"], base["accuracy"]);
        } else {
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(stderr(&o).contains("rows.bin: its features are petal_width, petal_length, sepal_width, sepal_length, but the model's are sepal_length"), "{}", stderr(&o));
        }
    }
    // A headerless file has no names to match: by position, as before.
    let bare = dir.path().join("bare.csv");
    let text = std::fs::read_to_string(iris()).unwrap();
    std::fs::write(&bare, text.split_once('\n').unwrap().1).unwrap();
    let e = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&bare), "--json"]));
    assert_eq!(e["accuracy"], base["accuracy"]);
}

#[test]
fn a_feature_missing_from_the_header_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris_model(dir.path());
    let path = dir.path().join("renamed.csv");
    let text = std::fs::read_to_string(iris()).unwrap().replacen("petal_width", "petal_w", 1);
    std::fs::write(&path, text).unwrap();
    for cmd in ["evaluate", "predict"] {
        let o = shardprop(&[cmd, "--model", s(&model), "--data", s(&path)]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("renamed.csv: no column named \"petal_width\" in the header"), "{}", stderr(&o));
    }
    // Two columns left over and neither is last: which is the target must be said.
    let path = dir.path().join("two_extra.csv");
    let mut text = String::from("species,id,sepal_length,sepal_width,petal_length,petal_width\n");
    text += "0,7,5.1,3.5,1.4,0.2\n";
    std::fs::write(&path, text).unwrap();
    let o = shardprop(&["evaluate", "--model", s(&model), "--data", s(&path)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("the columns species, id are not the model's features; name the target column with --target"),
        "{}",
        stderr(&o)
    );
    let e = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&path), "--target", "species", "--json"]));
    assert_eq!(e["examples"], 1);
}

/// A two-target regression model (t1 = a + b, t2 = a − b/2), trained on `a,t1,b,t2`.
fn regression_model(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("reg.csv");
    let mut text = String::from("a,t1,b,t2\n");
    for i in 0..100 {
        let (a, b) = ((i % 10) as f32 / 5.0 - 1.0, (i / 10) as f32 / 5.0 - 1.0);
        text += &format!("{a},{},{b},{}\n", a + b, a - 0.5 * b);
    }
    std::fs::write(&data, text).unwrap();
    let model = dir.join("reg.ckpt");
    let o = shardprop(&[
        "train",
        "--data",
        s(&data),
        "--task",
        "regression",
        "--target",
        "t1,t2",
        "--hidden",
        "4",
        "--epochs",
        "5",
        "--out",
        s(&model),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (model, data)
}

#[test]
fn regression_models_check_the_target_count() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = regression_model(dir.path());
    let full = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&data), "--json"]));
    // The targets are found by the model's names (no --target, no --task needed), in any order.
    let swapped = dir.path().join("swapped.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let rows: Vec<String> = text
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{},{},{}", c[3], c[2], c[1], c[0])
        })
        .collect();
    std::fs::write(&swapped, rows.join("\n") + "\n").unwrap();
    let e = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&swapped), "--json"]));
    assert_eq!(e["loss"], full["loss"]);
    // One target column where the model predicts two: refused, by name and by position.
    let one = dir.path().join("one.csv");
    std::fs::write(&one, "a,t1,b\n0.5,1,0.5\n").unwrap();
    let o = shardprop(&["evaluate", "--model", s(&model), "--data", s(&one), "--target", "t1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("one.csv: 1 target column(s) (t1), but the model predicts 2 target column(s) (t1, t2)"),
        "{}",
        stderr(&o)
    );
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, "0.5,0.5,1\n").unwrap();
    let o = shardprop(&["evaluate", "--model", s(&model), "--data", s(&bare), "--target", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bare.csv: 1 target column(s) (col3), but the model predicts 2"), "{}", stderr(&o));
}

#[test]
fn predict_ignores_the_target_column_and_evaluate_refuses_bad_labels_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris_model(dir.path());
    // The first and last iris rows; their labels unknown, empty or `?`.
    for (label, col) in [("virginica", 17), ("", 17), ("?", 17)] {
        for header in [true, false] {
            let path = dir.path().join(format!("rows{}.csv", header as u8));
            let mut text = String::new();
            if header {
                text += "sepal_length,sepal_width,petal_length,petal_width,species\n";
            }
            text += &format!("5.1,3.5,1.4,0.2,{label}\n5.9,3.0,5.1,1.8,{label}\n");
            std::fs::write(&path, text).unwrap();
            let p = shardprop(&["predict", "--model", s(&model), "--data", s(&path)]);
            assert_eq!(stdout(&p), "prediction\n0\n2\n", "label {label:?}, header {header}");
            let e = shardprop(&["evaluate", "--model", s(&model), "--data", s(&path)]);
            assert_eq!(e.status.code(), Some(2), "label {label:?}: {}", stderr(&e));
            let line = 1 + header as usize;
            let at = format!("rows{}.csv:{line}:{col}: ", header as u8);
            assert!(stderr(&e).contains(&at), "label {label:?}, header {header}: {}", stderr(&e));
        }
    }
    // A regression model's target cells too.
    let (model, _) = regression_model(dir.path());
    let path = dir.path().join("reg_rows.csv");
    std::fs::write(&path, "a,t1,b,t2\n0.5,?,0.5,\n").unwrap();
    let p = shardprop(&["predict", "--model", s(&model), "--data", s(&path)]);
    assert_eq!(stdout(&p).lines().count(), 2);
    let e = shardprop(&["evaluate", "--model", s(&model), "--data", s(&path)]);
    assert_eq!(e.status.code(), Some(2));
    assert!(stderr(&e).contains("reg_rows.csv:2:5: column 2 (t1): cannot parse \"?\""), "{}", stderr(&e));
}

#[test]
fn many_classes_train_evaluate_and_predict_in_bounded_memory() {
    // 20,000 classes: rows × classes outputs would be 1.6 GB, the dense confusion matrix 3.2 GB.
    let dir = tempfile::tempdir().unwrap();
    let k = 20_000;
    let data = dir.path().join("many.csv");
    let mut text = String::from("x,label\n");
    for i in 0..k {
        text += &format!("{},c{i}\n", i as f32 / k as f32);
    }
    std::fs::write(&data, text).unwrap();
    let model = dir.path().join("many.ckpt");
    let limit = 1 << 30;
    let t = shardprop_limited(
        limit,
        &["train", "--data", s(&data), "--hidden", "2", "--epochs", "1", "--batch-size", "256", "--threads", "2"],
    );
    assert!(t.status.success(), "{}", stderr(&t));
    let t = shardprop_limited(
        limit,
        &[
            "train",
            "--data",
            s(&data),
            "--hidden",
            "2",
            "--epochs",
            "1",
            "--batch-size",
            "256",
            "--threads",
            "2",
            "--test",
            s(&data),
            "--out",
            s(&model),
            "--quiet",
        ],
    );
    assert!(t.status.success(), "{}", stderr(&t));
    let e = json(&shardprop_limited(
        limit,
        &["evaluate", "--model", s(&model), "--data", s(&data), "--threads", "2", "--json"],
    ));
    assert_eq!(e["examples"], k);
    assert!(e.get("confusion").is_none(), "no dense matrix for {k} classes");
    let pairs = e["confusion_pairs"].as_array().unwrap();
    let classes = e["classes"].as_array().unwrap();
    assert_eq!(classes.len(), k);
    let total: u64 = pairs.iter().map(|p| p[2].as_u64().unwrap()).sum();
    let diag: u64 = pairs.iter().filter(|p| p[0] == p[1]).map(|p| p[2].as_u64().unwrap()).sum();
    assert_eq!(total, k as u64);
    // The accuracy is the rows predict gets right.
    let p = shardprop_limited(limit, &["predict", "--model", s(&model), "--data", s(&data), "--threads", "2"]);
    let right = stdout(&p).lines().skip(1).enumerate().filter(|(i, l)| *l == format!("c{i}")).count();
    assert_eq!(e["accuracy"].as_f64().unwrap(), right as f64 / k as f64);
    assert_eq!(diag, right as u64);
    let text =
        stdout(&shardprop_limited(limit, &["evaluate", "--model", s(&model), "--data", s(&data), "--threads", "2"]));
    assert!(text.contains(&format!("confusion matrix: {k} classes, more than 50: not shown in full")), "{text}");
    // The heat map is refused before any work.
    let svg = dir.path().join("c.svg");
    let o = shardprop(&["evaluate", "--model", s(&model), "--data", s(&data), "--confusion", s(&svg)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("the heat map is drawn for at most 50"), "{}", stderr(&o));
    assert!(!svg.exists());
}

#[test]
fn train_test_set_columns_are_matched_by_header_name_too() {
    let dir = tempfile::tempdir().unwrap();
    let reordered = dir.path().join("reordered.csv");
    std::fs::write(&reordered, iris_columns(&[4, 2, 0, 3, 1], false)).unwrap();
    let run = |test: &Path| {
        let args = ["--hidden", "6", "--epochs", "50", "--batch-size", "16", "--json", "--quiet"];
        json(&shardprop(&[&["train", "--data", s(&iris()), "--test", s(test)][..], &args].concat()))
    };
    let (a, b) = (run(&iris()), run(&reordered));
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(a["test_loss"], b["test_loss"]);
    assert!(a["test_accuracy"].as_f64().unwrap() > 0.9, "{a}");
}

#[test]
fn a_headerless_file_cannot_find_a_target_the_model_named() {
    // Trained with --target by name: a headerless file gives no name to find it by, and the
    // last column is not it. Refused, unless --target gives the index.
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("reg.csv");
    let without = dir.path().join("reg_nh.csv");
    let mut text = String::from("a,b,t1,c,t2\n");
    for i in 0..60 {
        let (a, b, c) = ((i % 7) as f32 / 7.0, (i % 5) as f32 / 5.0, (i % 3) as f32 / 3.0);
        text += &format!("{a},{b},{},{c},{}\n", a + b, a - c);
    }
    std::fs::write(&with, &text).unwrap();
    std::fs::write(&without, text.split_once('\n').unwrap().1).unwrap();
    let model = dir.path().join("reg.ckpt");
    let args = ["--task", "regression", "--target", "t1,t2", "--hidden", "4", "--epochs", "5", "--quiet"];
    let o = shardprop(&[&["train", "--data", s(&with), "--out", s(&model)][..], &args].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = shardprop(&["evaluate", "--model", s(&model), "--data", s(&without)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("has no header, and the model's target was named \"t1,t2\""), "{}", stderr(&o));
    let named = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&with), "--json"]));
    let indexed =
        json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&without), "--target", "2,4", "--json"]));
    assert_eq!(named["loss"], indexed["loss"]);
}

#[test]
fn a_file_with_a_hundred_thousand_columns_is_matched_by_name() {
    // Column matching by name once took time quadratic in the columns (minutes here).
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("w.csv");
    let n = 100_000;
    let mut text: String = (0..n).map(|i| format!("f{i},")).collect::<String>() + "y\n";
    for r in 0..4 {
        text += &(0..n).map(|i| if (i + r) % 3 == 0 { "1," } else { "0.5," }).collect::<String>();
        text += &format!("{}\n", r % 2);
    }
    std::fs::write(&wide, &text).unwrap();
    let model = dir.path().join("w.ckpt");
    let o = shardprop(&["train", "--data", s(&wide), "--hidden", "1", "--epochs", "1", "--quiet", "--out", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = shardprop(&["predict", "--model", s(&model), "--data", s(&wide)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 5, "a header and four predictions");
    let e = json(&shardprop(&["evaluate", "--model", s(&model), "--data", s(&wide), "--json"]));
    assert_eq!(e["examples"], 4);
}
