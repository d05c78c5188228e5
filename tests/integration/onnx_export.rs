//! `export` (issue 13): a model as ONNX, run by an independent runtime (tract-onnx, pure Rust,
//! a dev-dependency), gives `predict --proba`'s probabilities (and regression models `predict`'s
//! values) within 1e-5 on iris, digits and the MNIST test set, for every hidden activation and
//! head; the file declares its opset, names its input and output and carries the class and
//! feature names; bad models and unwritable outputs are refused naming the file.

use std::path::{Path, PathBuf};
use std::process::Output;

use shardprop::data::idx;
use shardprop::run::checkpoint::Checkpoint;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::prelude::*;

use crate::common::{datasets, digits, iris, names, run_bin as shardprop, stderr};

/// The agreement asked of the exported graph with `predict`.
const TOL: f32 = 1e-5;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mnist_test() -> PathBuf {
    datasets().join("mnist/t10k-images-idx3-ubyte.gz")
}

fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "{what} failed ({:?}): {}", o.status, stderr(&o));
    String::from_utf8(o.stdout).expect("UTF-8")
}

/// The raw (unscaled) feature rows of `data` as the model reads them, row-major: an IDX file's
/// pixels in [0, 1] (as its loader gives them); a CSV's columns named by the model, by header.
fn features(data: &Path, names: &[String]) -> Vec<f32> {
    if idx::is_idx_path(data) {
        return idx::load_mnist(data).unwrap().x().to_vec();
    }
    let text = std::fs::read_to_string(data).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cols: Vec<usize> = names.iter().map(|n| header.iter().position(|h| h == n).unwrap()).collect();
    lines
        .flat_map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            cols.iter().map(|&c| cells[c].parse::<f32>().unwrap()).collect::<Vec<_>>()
        })
        .collect()
}

/// Runs the ONNX file at `path` on `x` (`rows` × its width) with tract, the batch size left
/// symbolic as the file declares it; the output's shape and values.
fn run_onnx(path: &Path, x: Vec<f32>, rows: usize) -> (Vec<usize>, Vec<f32>) {
    let model = tract_onnx::onnx().model_for_path(path).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let width = x.len() / rows;
    let input = Tensor::from_shape(&[rows, width], &x).unwrap();
    let out = model.run(tvec!(input.into())).unwrap();
    (out[0].shape().to_vec(), out[0].as_slice::<f32>().unwrap().to_vec())
}

/// `predict`'s CSV (header, then one row of numbers per input row), row-major.
fn parse_predictions(csv: &str) -> Vec<f32> {
    csv.lines().skip(1).flat_map(|l| l.split(',').map(|c| c.parse::<f32>().unwrap()).collect::<Vec<_>>()).collect()
}

/// The largest `|a − b|`; NaN when any entry is NaN or the lengths differ (so `<= tol` fails).
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::NAN;
    }
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, |m, d| if m.is_nan() || d.is_nan() { f32::NAN } else { m.max(d) })
}

/// Exports `model` and checks tract's outputs on `data` against `predict` (with `--proba` for a
/// classifier): same shape, every value within [`TOL`].
fn check_against_predict(case: &str, model: &Path, data: &Path) {
    let onnx = model.with_extension("onnx");
    ok(shardprop(&["export", s(model), s(&onnx)]), &format!("{case}: export"));
    let ckpt = Checkpoint::load(model).unwrap();
    let x = features(data, &ckpt.feature_names);
    let rows = x.len() / ckpt.feature_names.len();
    let (shape, got) = run_onnx(&onnx, x, rows);
    let mut args = vec!["predict", "--model", s(model), "--data", s(data)];
    if ckpt.task.classes().is_some() {
        args.push("--proba");
    }
    let want = parse_predictions(&ok(shardprop(&args), &format!("{case}: predict")));
    assert_eq!(shape, [rows, ckpt.task.n_outputs()], "{case}: output shape");
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= TOL, "{case}: ONNX outputs differ from predict's by {diff} (over {TOL})");
}

/// Trains a tiny model: 1 epoch, `hidden` units, with `flags`.
fn train(data: &Path, out: &Path, hidden: &str, flags: &[&str]) {
    let args = ["train", "--data", s(data), "--hidden", hidden, "--epochs", "1", "--quiet", "--out", s(out)];
    ok(shardprop(&[&args[..], flags].concat()), &format!("train {}", out.display()));
}

const ACTIVATIONS: [&str; 4] = ["sigmoid", "tanh", "relu", "identity"];
/// Each activation is paired with a scaling, so each dataset sees every scaling.
const SCALES: [&str; 4] = ["standard", "minmax", "none", "standard"];

#[test]
fn exported_classifiers_match_predict_proba_on_iris_and_digits() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in [("iris", iris()), ("digits", digits())] {
        for (act, scale) in ACTIVATIONS.iter().zip(SCALES) {
            for loss in ["mse", "cross-entropy"] {
                let model = dir.path().join(format!("{name}-{act}-{loss}.ckpt"));
                let flags = ["--activation", act, "--loss", loss, "--scale", scale, "--lr", "0.5"];
                train(&data, &model, "5,4", &flags);
                check_against_predict(&format!("{name}, {act}, {loss}, {scale}"), &model, &data);
            }
        }
    }
}

#[test]
fn exported_regression_models_match_predict_on_iris_and_digits() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data, target) in [("iris", iris(), "petal_width"), ("digits", digits(), "digit")] {
        for (act, scale) in ACTIVATIONS.iter().zip(SCALES) {
            let model = dir.path().join(format!("{name}-{act}-regression.ckpt"));
            let flags =
                ["--activation", act, "--task", "regression", "--target", target, "--scale", scale, "--lr", "0.01"];
            train(&data, &model, "3", &flags);
            check_against_predict(&format!("{name}, {act}, regression, {scale}"), &model, &data);
        }
    }
}

#[test]
fn exported_classifiers_match_predict_proba_on_the_mnist_test_set() {
    // Trained on the 10,000 test images themselves (one epoch, 6 units): the model only has to
    // be some trained network; the comparison is over all 10,000 rows.
    let dir = tempfile::tempdir().unwrap();
    let data = mnist_test();
    for (act, scale) in ACTIVATIONS.iter().zip(["none", "minmax", "standard", "none"]) {
        for loss in ["mse", "cross-entropy"] {
            let model = dir.path().join(format!("mnist-{act}-{loss}.ckpt"));
            train(&data, &model, "6", &["--activation", act, "--loss", loss, "--scale", scale, "--lr", "0.1"]);
            check_against_predict(&format!("mnist t10k, {act}, {loss}, {scale}"), &model, &data);
        }
    }
}

#[test]
fn sigmoid_outputs_far_below_zero_keep_their_ratios_as_in_predict() {
    // Output biases of −40, −50, −60: every sigmoid output is tiny, and after division by their
    // sum class 0 takes almost all (e^−40 : e^−50 : e^−60). A Sigmoid operator clamped near −18
    // (tract's is) would make them equal, 1/3 each. Biases of −200: the trainer's sigmoid clips
    // e^−z at e^88.7, so all three are the same tiny value and predict gives 1/3 each.
    let dir = tempfile::tempdir().unwrap();
    for (biases, class0) in [([-40.0f32, -50.0, -60.0], 0.99f32), ([-200.0, -200.0, -200.0], (1.0f64 / 3.0) as f32)] {
        let model = dir.path().join("far.ckpt");
        train(&iris(), &model, "4", &["--lr", "0.1"]);
        let mut ckpt = Checkpoint::load(&model).unwrap();
        let last = ckpt.network.weights().len() - 1;
        for (k, b) in biases.iter().enumerate() {
            ckpt.network.weights_mut()[last][[k, 0]] = *b;
        }
        ckpt.save(&model).unwrap();
        let proba = ok(shardprop(&["predict", "--model", s(&model), "--data", s(&iris()), "--proba"]), "predict");
        let want = parse_predictions(&proba);
        assert!(want.chunks(3).all(|p| p[0] >= class0), "{biases:?}: predict gives {:?}", &want[..3]);
        check_against_predict(&format!("output biases {biases:?}"), &model, &iris());
    }
}

#[test]
fn the_file_declares_its_opset_names_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris.ckpt");
    train(&iris(), &model, "4", &["--activation", "tanh", "--loss", "cross-entropy", "--scale", "minmax"]);
    let onnx = dir.path().join("iris.onnx");
    let o = shardprop(&["export", s(&model), s(&onnx)]);
    assert!(
        stderr(&o).contains("ONNX opset 13, input \"input\" [N, 4], output \"probabilities\" [N, 3]"),
        "{}",
        stderr(&o)
    );
    ok(o, "export");
    let proto = tract_onnx::onnx().proto_model_for_path(&onnx).unwrap();
    assert_eq!(proto.ir_version, 7);
    assert_eq!(proto.opset_import.len(), 1);
    assert_eq!((proto.opset_import[0].domain.as_str(), proto.opset_import[0].version), ("", 13));
    assert_eq!(proto.producer_name, "shardprop");
    let meta: std::collections::HashMap<&str, &str> =
        proto.metadata_props.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
    let json = |k: &str| serde_json::from_str::<serde_json::Value>(meta[k]).unwrap();
    assert_eq!(json("classes"), serde_json::json!(["0", "1", "2"]));
    assert_eq!(
        json("feature_names"),
        serde_json::json!(["sepal_length", "sepal_width", "petal_length", "petal_width"])
    );
    assert_eq!(json("sizes"), serde_json::json!([4, 4, 3]));
    assert_eq!(meta["hidden_activation"], "tanh");
    assert_eq!(meta["head"], "softmax+cross-entropy");
    assert_eq!(meta["scaling"], "minmax");
    assert_eq!((meta["input"], meta["output"]), ("input", "probabilities"));

    let graph = proto.graph.as_ref().unwrap();
    let dims = |v: &tract_onnx::pb::ValueInfoProto| -> Vec<String> {
        let Some(TypeValue::TensorType(t)) = &v.r#type.as_ref().unwrap().value else { panic!("{}: no type", v.name) };
        assert_eq!(t.elem_type, 1, "{}: float32", v.name);
        let shape = t.shape.as_ref().unwrap();
        shape
            .dim
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                DimValue::DimValue(n) => n.to_string(),
                DimValue::DimParam(p) => p.clone(),
            })
            .collect()
    };
    assert_eq!(graph.input.len(), 1);
    assert_eq!((graph.input[0].name.as_str(), dims(&graph.input[0])), ("input", vec!["N".into(), "4".into()]));
    assert_eq!(graph.output.len(), 1);
    assert_eq!(
        (graph.output[0].name.as_str(), dims(&graph.output[0])),
        ("probabilities", vec!["N".into(), "3".into()])
    );
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Sub", "Mul", "Gemm", "Tanh", "Gemm", "Softmax"]);

    // The other heads, unscaled and scaled: their operators, output and metadata.
    let cases: [(&[&str], &[&str], &str); 2] = [
        (
            &["--activation", "relu", "--scale", "none"],
            &["Gemm", "Relu", "Gemm", "Neg", "Clip", "Exp", "Add", "Reciprocal", "ReduceSum", "Div", "Equal", "Where"],
            "probabilities",
        ),
        (
            &["--activation", "identity", "--task", "regression", "--target", "petal_width", "--lr", "0.01"],
            &["Sub", "Mul", "Gemm", "Gemm"],
            "output",
        ),
    ];
    for (flags, want_ops, output) in cases {
        train(&iris(), &model, "4", flags);
        ok(shardprop(&["export", s(&model), s(&onnx)]), "export");
        let proto = tract_onnx::onnx().proto_model_for_path(&onnx).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, want_ops, "{flags:?}");
        assert_eq!(graph.output[0].name, output, "{flags:?}");
        let meta: std::collections::HashMap<&str, &str> =
            proto.metadata_props.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
        assert_eq!(meta["output"], output, "{flags:?}");
        if output == "output" {
            assert_eq!(meta["targets"], r#"["petal_width"]"#);
            assert!(!meta.contains_key("classes"));
        }
    }
}

#[test]
fn damaged_or_foreign_models_and_unwritable_outputs_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.ckpt");
    train(&iris(), &model, "3", &[]);
    let out = dir.path().join("m.onnx");
    let refused = |args: &[&str], names: &Path| {
        let o = shardprop(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(s(names)), "{args:?}: the error does not name {}: {e}", names.display());
        assert!(!out.exists(), "{args:?}: an output was written");
        e
    };
    // Not a checkpoint at all; missing; damaged (one byte flipped in the payload).
    refused(&["export", s(&iris()), s(&out)], &iris());
    refused(&["export", s(&dir.path().join("missing.ckpt")), s(&out)], &dir.path().join("missing.ckpt"));
    let damaged = dir.path().join("damaged.ckpt");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    let e = refused(&["export", s(&damaged), s(&out)], &damaged);
    assert!(e.contains("checksum"), "{e}");
    // Outputs that cannot be written: a missing directory, a directory, the model itself.
    let nowhere = dir.path().join("no/such/dir/m.onnx");
    refused(&["export", s(&model), s(&nowhere)], &nowhere);
    let a_dir = dir.path().join("a_dir");
    std::fs::create_dir(&a_dir).unwrap();
    refused(&["export", s(&model), s(&a_dir)], &a_dir);
    let before = std::fs::read(&model).unwrap();
    refused(&["export", s(&model), s(&model)], &model);
    assert_eq!(std::fs::read(&model).unwrap(), before, "the model was overwritten");
    // No temp file left behind by any refusal.
    assert_eq!(names(dir.path()), ["a_dir", "damaged.ckpt", "m.ckpt"]);
    ok(shardprop(&["export", s(&model), s(&out)]), "export");
    assert!(out.exists());
}
