//! Parquet input (feature `parquet`): files written here with the parquet crate's own writer,
//! read back as the same rows a CSV file gives, trained to the same weights, converted, and
//! refused with a clear error (exit 2) when damaged.

mod write;

use std::path::Path;

use shardprop::data::{self, CsvOptions, Examples};
use write::{Col, csv_columns, slice, write};

use crate::common::{digest, digits, iris, run_bin, stderr};

/// `train --json` on `data` with `extra` flags; its params_digest.
fn trained(data: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--data", data.to_str().unwrap(), "--hidden", "8", "--epochs", "3", "--quiet"];
    args.extend_from_slice(extra);
    args.push("--json");
    digest(&run_bin(&args))
}

/// `parquet` and `csv` load to the same task (class names in unit order), feature names and rows.
fn same_rows(parquet: &Path, csv: &Path) {
    let (a, _) = data::load(parquet, &CsvOptions::default(), true).unwrap();
    let (b, _) = data::load(csv, &CsvOptions::default(), true).unwrap();
    assert_eq!((a.task(), a.feature_names()), (b.task(), b.feature_names()));
    let (a, b) = (a.examples(), b.examples());
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() {
        assert_eq!((a.features(i), a.target(i)), (b.features(i), b.target(i)), "row {i}");
    }
}

/// A run that must fail as bad input: exit 2, no panic, and stderr containing each of `wants`.
fn refused(args: &[&str], wants: &[&str]) -> String {
    let o = run_bin(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for w in wants {
        assert!(err.contains(w), "{args:?}: expected {w:?} in: {err}");
    }
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn iris_and_digits_from_parquet_train_to_the_csv_digest_in_one_file_or_several() {
    for (csv, group) in [(iris(), 16), (digits(), 500)] {
        let want = trained(&csv, &[]);
        let dir = tempfile::tempdir().unwrap();
        for double in [false, true] {
            let cols = csv_columns(&csv, double);
            let one = dir.path().join(format!("one-{double}.parquet"));
            write(&one, &cols, group);
            assert_eq!(trained(&one, &[]), want, "{} as one file, double {double}", csv.display());
            same_rows(&one, &csv);
            // A directory of three files, read in file-name order (b, c, then d: not creation order).
            let parts = dir.path().join(format!("parts-{double}"));
            std::fs::create_dir(&parts).unwrap();
            let n = cols[0].1.len();
            for (name, a, b) in [("c.parquet", n / 3, n / 2), ("b.parquet", 0, n / 3), ("d.parquet", n / 2, n)] {
                write(&parts.join(name), &slice(&cols, a, b), group / 3);
            }
            std::fs::write(parts.join("notes.txt"), "not data").unwrap();
            assert_eq!(trained(&parts, &[]), want, "{} as a directory, double {double}", csv.display());
            same_rows(&parts, &csv);
        }
    }
}

#[test]
fn string_labels_and_a_named_target_among_the_columns_give_the_csv_classes_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["setosa", "versicolor", "virginica"];
    let text = std::fs::read_to_string(iris()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut csv = format!("species,{}\n", header.rsplit_once(',').unwrap().0);
    let mut cols = csv_columns(&iris(), false);
    let (_, Col::I32(ids)) = cols.pop().unwrap() else { panic!("labels") };
    let labels: Vec<String> = ids.iter().map(|&i| names[i as usize].to_string()).collect();
    for (line, label) in lines.zip(&labels) {
        csv += &format!("{label},{}\n", line.rsplit_once(',').unwrap().0);
    }
    cols.insert(0, ("species".into(), Col::Text(labels)));
    let (c, p) = (dir.path().join("iris.csv"), dir.path().join("iris.parquet"));
    std::fs::write(&c, csv).unwrap();
    write(&p, &cols, 40);
    let flags = ["--target", "species"];
    assert_eq!(trained(&p, &flags), trained(&c, &flags));
    let opts = CsvOptions { target: Some("species".into()), ..CsvOptions::default() };
    let (a, b) = (data::parquet::load(&p, &opts).unwrap(), data::csv::load(&c, &opts).unwrap().0);
    assert_eq!(a.task, b.task);
    assert_eq!(a.feature_names, b.feature_names);
    for i in 0..a.len() {
        assert_eq!((a.features(i), a.target(i)), (b.features(i), b.target(i)), "row {i}");
    }
}

#[test]
fn features_by_name_integer_columns_and_regression() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.parquet");
    let cols = vec![
        ("id".to_string(), Col::I64(vec![10, 11, 12, 13])),
        ("a".to_string(), Col::I32(vec![1, -2, 3, 16_777_217])),
        ("b".to_string(), Col::F64(vec![0.5, 1.5, 2.5, 0.1])),
        ("y".to_string(), Col::F32(vec![1.0, 2.0, 3.0, 4.0])),
    ];
    write(&p, &cols, 3);
    let opts = CsvOptions { features: Some(vec!["b".into(), "a".into()]), regression: true, ..CsvOptions::default() };
    let d = data::parquet::load(&p, &opts).unwrap();
    assert_eq!(d.feature_names, ["b", "a"]);
    assert_eq!(d.features(3), [0.1f64 as f32, 16_777_216.0]);
    assert_eq!(d.target(2), data::Target::Values(&[3.0]));
    assert_eq!(d.ignored_columns, ["id"]);
    // The same through the CLI: --features and --task regression.
    let o = run_bin(&[
        "train",
        "--data",
        s(&p),
        "--features",
        "b,a",
        "--task",
        "regression",
        "--hidden",
        "2",
        "--epochs",
        "1",
        "--quiet",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn convert_streams_to_a_binary_file_that_trains_to_the_same_digest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("digits.parquet");
    write(&p, &csv_columns(&digits(), false), 200);
    let (bin, csv_bin) = (dir.path().join("p.bin"), dir.path().join("c.bin"));
    let o = run_bin(&["convert", s(&p), s(&bin)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_bin(&["convert", s(&digits()), s(&csv_bin)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&csv_bin).unwrap(), "the same bytes as from CSV");
    assert_eq!(trained(&bin, &[]), trained(&p, &[]));
}

#[test]
fn evaluate_and_predict_read_a_models_columns_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("iris.parquet");
    let mut cols = csv_columns(&iris(), false);
    write(&p, &cols, 50);
    let model = dir.path().join("m.model");
    crate::common::train_model(&p, "4", "2", &model);
    // Columns in another order, with an extra one: matched by name.
    cols.reverse();
    cols.push(("extra".into(), Col::I32(vec![7; 150])));
    let q = dir.path().join("shuffled.parquet");
    write(&q, &cols, 64);
    let a = crate::common::run_json(&["evaluate", "--model", s(&model), "--data", s(&p), "--json"]);
    let b =
        crate::common::run_json(&["evaluate", "--model", s(&model), "--data", s(&q), "--target", "species", "--json"]);
    assert_eq!(a["accuracy"], b["accuracy"]);
    let pa = run_bin(&["predict", "--model", s(&model), "--data", s(&p)]);
    let pb = run_bin(&["predict", "--model", s(&model), "--data", s(&q)]);
    assert!(pa.status.success() && pb.status.success(), "{}{}", stderr(&pa), stderr(&pb));
    assert_eq!(pa.stdout, pb.stdout);
}

#[test]
fn bad_columns_nulls_and_non_finite_cells_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let base = || vec![("a".to_string(), Col::F64(vec![1.0, 2.0, 3.0])), ("y".to_string(), Col::I32(vec![0, 1, 0]))];
    write(&p("ok.parquet"), &base(), 2);
    refused(
        &["train", "--data", s(&p("ok.parquet")), "--target", "label"],
        &["no target column \"label\"", "the columns are a, y"],
    );
    refused(&["train", "--data", s(&p("ok.parquet")), "--features", "a,b"], &["no feature column \"b\"", "a, y"]);
    refused(&["train", "--data", s(&crate::common::iris()), "--features", "a"], &["--features applies to Parquet"]);
    let mut cols = base();
    cols[0].1 = Col::OptF64(vec![Some(1.0), Some(2.0), None]);
    write(&p("null.parquet"), &cols, 2);
    refused(
        &["train", "--data", s(&p("null.parquet"))],
        &["null.parquet", "row group 2, row 1 (row 3 of the file), column \"a\": null"],
    );
    cols[0].1 = Col::F64(vec![1.0, f64::NAN, 3.0]);
    write(&p("nan.parquet"), &cols, 2);
    refused(
        &["train", "--data", s(&p("nan.parquet"))],
        &["row 2 of the file), column \"a\": NaN is not a finite number"],
    );
    cols[0].1 = Col::F64(vec![1.0, 2.0, 1e300]);
    write(&p("big.parquet"), &cols, 2);
    refused(&["train", "--data", s(&p("big.parquet"))], &["column \"a\": 1000", "beyond f32's range"]);
    cols[0].1 = Col::Date(vec![1, 2, 3]);
    write(&p("date.parquet"), &cols, 2);
    refused(&["train", "--data", s(&p("date.parquet"))], &["column \"a\" is INT32 (Date", "not supported"]);
    let mut cols = base();
    cols[1].1 = Col::F32(vec![0.0, 1.0, 0.0]);
    write(&p("float-class.parquet"), &cols, 2);
    refused(
        &["train", "--data", s(&p("float-class.parquet"))],
        &["a class column must be integers", "--task regression"],
    );
    // A directory whose files do not share the chosen columns.
    let mixed = p("mixed");
    std::fs::create_dir(&mixed).unwrap();
    write(&mixed.join("1.parquet"), &base(), 2);
    write(&mixed.join("2.parquet"), &[("b".to_string(), Col::F32(vec![1.0])), ("y".to_string(), Col::I32(vec![1]))], 2);
    refused(
        &["train", "--data", s(&mixed)],
        &["2.parquet: its features (b) and target (y) are not those of", "1.parquet (a; target y)"],
    );
    let empty = p("empty-dir");
    std::fs::create_dir(&empty).unwrap();
    refused(&["train", "--data", s(&empty)], &["neither Parquet data", "nor MNIST"]);
}

#[test]
fn flipped_and_truncated_bytes_give_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    let mut cols = csv_columns(&iris(), true);
    cols.push(("name".into(), Col::Text((0..150).map(|i| format!("r{i}")).collect())));
    write(&good, &cols, 40);
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.parquet");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refusals = 0;
    for trial in 0..60 {
        let mut b = bytes.clone();
        if trial % 4 == 0 {
            b.truncate(next() as usize % b.len());
        } else {
            for _ in 0..1 + trial % 3 {
                let i = next() as usize % b.len();
                b[i] ^= 1 << (next() % 8);
            }
        }
        std::fs::write(&bad, &b).unwrap();
        let o = run_bin(&[
            "train",
            "--data",
            s(&bad),
            "--target",
            "species",
            "--features",
            "sepal_length,petal_width",
            "--hidden",
            "2",
            "--epochs",
            "1",
            "--quiet",
        ]);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "trial {trial}: {err}");
        assert!(matches!(o.status.code(), Some(0 | 2)), "trial {trial}: {:?} {err}", o.status);
        if o.status.code() == Some(2) {
            refusals += 1;
            assert!(err.contains("bad.parquet"), "trial {trial}: the error names the file: {err}");
        }
    }
    // Truncation always breaks the footer; most flips land in values and still decode.
    assert!(refusals >= 15, "{refusals} refusals");
}

#[test]
fn features_and_a_parquet_test_directory_survive_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut cols = csv_columns(&iris(), true);
    cols.insert(0, ("id".into(), Col::I64((0..150).collect())));
    let p = dir.path().join("iris.parquet");
    write(&p, &cols, 32);
    let test = dir.path().join("test");
    std::fs::create_dir(&test).unwrap();
    write(&test.join("a.parquet"), &slice(&cols, 0, 70), 30);
    write(&test.join("b.parquet"), &slice(&cols, 70, 150), 30);
    let half = dir.path().join("half.model");
    let run = |epochs: &str, out: Option<&Path>| {
        let mut a =
            vec!["train", "--data", s(&p), "--test", s(&test), "--features", "petal_width,sepal_length,petal_length"];
        a.extend(["--hidden", "5", "--epochs", epochs, "--quiet", "--json"]);
        if let Some(o) = out {
            a.extend(["--out", s(o)]);
        }
        crate::common::run_json(&a)
    };
    let full = dir.path().join("full.model");
    let straight = run("4", Some(&full));
    // The test directory holds the training rows: its score is the model's on the training file.
    let e = crate::common::run_json(&["evaluate", "--model", s(&full), "--data", s(&p), "--json"]);
    assert_eq!((&straight["test_accuracy"], &straight["test_loss"]), (&e["accuracy"], &e["loss"]), "{straight} {e}");
    run("2", Some(&half));
    let resumed = crate::common::run_json(&["resume", s(&half), "--epochs", "4", "--json", "--quiet"]);
    assert_eq!(resumed["params_digest"], straight["params_digest"]);
    // A CSV test set for a Parquet run with --features: its columns are found by the model's
    // feature names (the --features list names Parquet columns and does not apply to it).
    let with_csv = crate::common::run_json(&[
        "train",
        "--data",
        s(&p),
        "--test",
        s(&iris()),
        "--features",
        "petal_width,sepal_length,petal_length",
        "--hidden",
        "5",
        "--epochs",
        "4",
        "--quiet",
        "--json",
    ]);
    assert_eq!(with_csv["params_digest"], straight["params_digest"]);
    assert_eq!((&with_csv["test_accuracy"], &with_csv["test_loss"]), (&e["accuracy"], &e["loss"]));
}
