//! `predict --proba` (issue 13): a column per class named by the class, a row per input row, each
//! row summing to 1 with its largest value at the class `predict` gives; per head, the softmax
//! outputs or the sigmoid outputs divided by their sum; regression models refused.

use std::path::Path;
use std::process::Output;

use ndarray::Array2;
use shardprop::run::checkpoint::Checkpoint;

use crate::common::{digits, iris, run_bin as shardprop, stderr};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A successful run's stdout as text.
fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "failed ({:?}): {}", o.status, stderr(o));
    String::from_utf8(o.stdout.clone()).expect("UTF-8")
}

/// Trains a small model on `data` with `extra` flags, written to `model`.
fn train(data: &Path, model: &Path, extra: &[&str]) {
    let args = ["train", "--data", s(data), "--hidden", "12", "--epochs", "4", "--quiet", "--out", s(model)];
    let o = shardprop(&[&args[..], extra].concat());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The first largest entry, as `predict` breaks ties.
fn first_max(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, k| if v[k] > v[best] { k } else { best })
}

/// The outputs `h` of `model` for the rows of `data` (every column but the last is a feature,
/// the last the label), through the library: the oracle the CLI's probabilities are held to.
fn outputs(model: &Checkpoint, data: &Path) -> Array2<f64> {
    let text = std::fs::read_to_string(data).unwrap();
    let n = model.feature_names.len();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let mut x = Array2::<f32>::zeros((rows.len(), n));
    for (i, line) in rows.iter().enumerate() {
        let raw: Vec<f32> = line.split(',').take(n).map(|c| c.parse().unwrap()).collect();
        model.scaler.apply_row(&raw, x.row_mut(i));
    }
    model.network.predict(x.view()).mapv(f64::from)
}

#[test]
fn probabilities_sum_to_one_follow_the_head_and_pick_the_predicted_class() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in [("iris", iris()), ("digits", digits())] {
        for (loss, flags) in [("mse", &[][..]), ("cross-entropy", &["--loss", "cross-entropy"][..])] {
            let case = format!("{name}, {loss}");
            let model = dir.path().join(format!("{name}-{loss}.ckpt"));
            train(&data, &model, flags);
            let ckpt = Checkpoint::load(&model).unwrap();
            let classes = ckpt.task.classes().unwrap().to_vec();
            let h = outputs(&ckpt, &data);
            let m = h.nrows();

            let predicted = stdout(&shardprop(&["predict", "--model", s(&model), "--data", s(&data)]));
            let predicted: Vec<&str> = predicted.lines().skip(1).collect();
            assert_eq!(predicted.len(), m, "{case}");
            let proba = stdout(&shardprop(&["predict", "--model", s(&model), "--data", s(&data), "--proba"]));
            // The same text through --output.
            let file = dir.path().join(format!("{name}-{loss}.csv"));
            let o = shardprop(&["predict", "--model", s(&model), "--data", s(&data), "--proba", "--output", s(&file)]);
            assert!(o.status.success() && o.stdout.is_empty(), "{case}: {}", stderr(&o));
            assert_eq!(std::fs::read_to_string(&file).unwrap(), proba, "{case}: --output and stdout differ");

            let lines: Vec<&str> = proba.lines().collect();
            assert_eq!(lines[0], classes.join(","), "{case}: the header names the classes");
            assert_eq!(lines.len(), m + 1, "{case}: a row per input row");
            for (i, line) in lines[1..].iter().enumerate() {
                let cells: Vec<&str> = line.split(',').collect();
                assert_eq!(cells.len(), classes.len(), "{case}, row {i}: {line}");
                // Printed as the shortest text that reads back as the same f32, in exponent form
                // below 1e-4 (no runs of zeros).
                for c in &cells {
                    let v = c.parse::<f32>().unwrap();
                    let shortest = [v.to_string(), format!("{v:e}")];
                    assert!(shortest.iter().any(|t| t == c), "{case}, row {i}: {c} is not {shortest:?}");
                    assert!(v == 0.0 || v >= 1e-4 || c.contains('e'), "{case}, row {i}: {c}");
                }
                let p: Vec<f64> = cells.iter().map(|c| c.parse().unwrap()).collect();
                let sum: f64 = p.iter().sum();
                // Written so that NaN fails.
                assert!((sum - 1.0).abs() <= 1e-6, "{case}, row {i}: sums to {sum}: {line}");
                assert_eq!(classes[first_max(&p)], predicted[i], "{case}, row {i}: {line}");
                // What the numbers are: softmax outputs as they are, sigmoid outputs over their sum.
                let h = h.row(i);
                let expected: Vec<f64> = match loss {
                    "mse" => h.iter().map(|v| v / h.sum()).collect(),
                    _ => h.to_vec(),
                };
                let err = p.iter().zip(&expected).map(|(p, e)| (p - e).abs()).fold(0.0, f64::max);
                assert!(err <= 1e-5, "{case}, row {i}: {line}, expected {expected:?}");
            }
        }
    }
}

#[test]
fn class_names_that_need_quotes_are_quoted_by_predict_with_and_without_proba() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("labels.csv");
    let labels = ["\"a,b\"", "plain", "\"say \"\"hi\"\"\"", "\"two\nlines\""];
    let mut text = String::from("x,y,label\n");
    for i in 0..40 {
        text += &format!("{},{},{}\n", i % 7, i % 5, labels[i % labels.len()]);
    }
    std::fs::write(&data, text).unwrap();
    let model = dir.path().join("labels.ckpt");
    train(&data, &model, &[]);
    let classes = Checkpoint::load(&model).unwrap().task.classes().unwrap().to_vec();
    assert_eq!(classes, ["a,b", "plain", "say \"hi\"", "two\nlines"], "the labels as the reader gives them");
    let out = dir.path().join("p.csv");
    let o = shardprop(&["predict", "--model", s(&model), "--data", s(&data), "--proba", "--output", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let header = "\"a,b\",plain,\"say \"\"hi\"\"\",\"two\nlines\"\n";
    assert!(text.starts_with(header), "{text}");
    let rows: Vec<&str> = text[header.len()..].lines().collect();
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r.split(',').count() == 4), "{text}");
    // Plain predict quotes the names the same way: the header, then one CSV field per row, the
    // class of that row's largest probability.
    let quoted = ["\"a,b\"", "plain", "\"say \"\"hi\"\"\"", "\"two\nlines\""];
    let o = shardprop(&["predict", "--model", s(&model), "--data", s(&data)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut want = String::from("prediction\n");
    for r in &rows {
        let p: Vec<f64> = r.split(',').map(|v| v.parse().unwrap()).collect();
        want += quoted[first_max(&p)];
        want.push('\n');
    }
    assert_eq!(stdout(&o), want);
}

#[test]
fn a_regression_model_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("reg.ckpt");
    let data = iris();
    train(&data, &model, &["--task", "regression", "--target", "petal_width"]);
    let out = dir.path().join("p.csv");
    for output in [None, Some(&out)] {
        let mut args = vec!["predict", "--model", s(&model), "--data", s(&data), "--proba"];
        args.extend(output.iter().flat_map(|o| ["--output", s(o)]));
        let o = shardprop(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
        assert!(
            err.contains(&format!("--proba: {} is a regression model", model.display()))
                && err.contains("no class probabilities"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }
    // Without --proba it predicts values as before.
    let o = shardprop(&["predict", "--model", s(&model), "--data", s(&data)]);
    assert!(stdout(&o).starts_with("petal_width\n"));
}
