//! CSV text that was once silently misread (issue 11): a UTF-8 byte-order mark, invalid UTF-8,
//! NUL bytes, duplicate header names, string labels without a header. Each is read correctly or
//! refused with its line, column and byte offset, by the parallel loader (an uncompressed file
//! without quotes), the sequential one (quotes) and through gzip alike.

use std::path::{Path, PathBuf};

use shardprop::data::{CsvOptions, Dataset, Examples, csv};

use crate::common::{gzip, temp_path};

/// `bytes` written as `data.csv` (the parallel loader when it has no quote), as `quoted.csv`
/// with a quoted last field on its last line, which sends it to the sequential loader (the
/// quote changes no value), and gzipped.
fn three_ways(dir: &Path, bytes: &[u8]) -> Vec<PathBuf> {
    let plain = dir.join("data.csv");
    std::fs::write(&plain, bytes).unwrap();
    let quoted = dir.join("quoted.csv");
    let mut q = bytes.to_vec();
    let end = q.len() - 1;
    let last = q[..end].iter().rposition(|&b| b == b',').unwrap() + 1;
    q.insert(end, b'"');
    q.insert(last, b'"');
    std::fs::write(&quoted, &q).unwrap();
    let gz = dir.join("data.csv.gz");
    std::fs::write(&gz, gzip(bytes)).unwrap();
    vec![plain, quoted, gz]
}

fn load(p: &Path) -> Dataset {
    csv::load(p, &CsvOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display())).0
}

fn load_err(p: &Path) -> String {
    match csv::load(p, &CsvOptions::default()) {
        Ok(_) => panic!("{} loaded", p.display()),
        Err(e) => e.to_string().replace(&format!("{}/", p.parent().unwrap().display()), ""),
    }
}

/// Issue 11: a byte-order mark before the first field once made `1` read as `\u{feff}1`, not a
/// number, so a headerless file lost its first row as a "header" (and here became one class).
#[test]
fn a_utf8_bom_is_skipped_with_or_without_a_header() {
    let dir = tempfile::tempdir().unwrap();
    for p in three_ways(dir.path(), b"\xef\xbb\xbf1,2,0\n3,4,1\n5,6,1\n") {
        let d = load(&p);
        assert_eq!(d.x(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "{}", p.display());
        assert_eq!(d.task.classes().unwrap(), ["0", "1"], "{}", p.display());
    }
    for p in three_ways(dir.path(), b"\xef\xbb\xbfa,b,label\n1,2,0\n3,4,1\n") {
        let d = load(&p);
        assert_eq!(d.feature_names, ["a", "b"], "{}", p.display());
        assert_eq!(d.x(), &[1.0, 2.0, 3.0, 4.0], "{}", p.display());
    }
    // Byte offsets still count the mark: the bad byte is byte 11 of the file.
    for p in three_ways(dir.path(), b"\xef\xbb\xbf1,2,0\n3,\xff,1\n") {
        let e = load_err(&p);
        assert!(e.contains(":2:3: invalid UTF-8 (byte 0xff) at byte 11 of the file"), "{e}");
    }
}

/// Issue 11: every label that was not UTF-8 became the one class "\u{fffd}".
#[test]
fn invalid_utf8_is_refused_with_line_column_and_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    for p in three_ways(dir.path(), b"a,b,label\n1,2,caf\xe9\n3,4,\xff\xfe\n") {
        let e = load_err(&p);
        let name = p.file_name().unwrap().to_str().unwrap();
        let want = format!("{name}:2:8: invalid UTF-8 (byte 0xe9) at byte 17 of the file: expected UTF-8 text");
        assert!(e.starts_with(&want), "{e}\nwant: {want}");
    }
    let p = dir.path().join("header.csv");
    std::fs::write(&p, b"a,\xc3(b,label\n1,2,0\n3,4,1\n").unwrap();
    assert!(load_err(&p).starts_with("header.csv:1:3: invalid UTF-8 (byte 0xc3) at byte 2 of the file"));
    // Inside a quoted field that spans lines: the line and column of the byte itself.
    let p = dir.path().join("multi.csv");
    std::fs::write(&p, b"a,b,label\n1,2,\"x\ny\xffz\"\n3,4,x\n").unwrap();
    assert!(load_err(&p).starts_with("multi.csv:3:2: invalid UTF-8 (byte 0xff) at byte 18 of the file"));
    // Valid UTF-8 labels are kept apart, as before.
    let p = dir.path().join("utf8.csv");
    std::fs::write(&p, "a,b,label\n1,2,café\n3,4,naïve\n5,6,café\n").unwrap();
    assert_eq!(load(&p).task.classes().unwrap(), ["café", "naïve"]);
}

/// Issue 11: the offsets of later blocks and waves of the parallel loader are right too.
#[test]
fn positions_are_exact_in_later_waves_of_the_parallel_loader() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.csv");
    let row = b"1,2,0\n3,4,1\n";
    let mut bytes = b"a,b,label\n".to_vec();
    while bytes.len() < 9 << 20 {
        bytes.extend_from_slice(row);
    }
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    let at = bytes.len();
    bytes.extend_from_slice(b"5,6,\x00\n");
    std::fs::write(&p, &bytes).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let e = one.install(|| load_err(&p));
    let want = format!("big.csv:{}:5: NUL byte at byte {} of the file", lines + 1, at + 4);
    assert!(e.starts_with(&want), "{e}\nwant: {want}");
}

/// Issue 11: NUL bytes (the mark of a binary file given as CSV) are refused where they are.
#[test]
fn nul_bytes_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    for p in three_ways(dir.path(), b"a,b,label\n1,2,0\n3,4\x00,1\n") {
        let e = load_err(&p);
        let name = p.file_name().unwrap().to_str().unwrap();
        let want = format!("{name}:3:4: NUL byte at byte 19 of the file: expected CSV text (is this a binary file?)");
        assert!(e.starts_with(&want), "{e}\nwant: {want}");
    }
    let p = dir.path().join("zeros.csv");
    std::fs::write(&p, vec![0u8; 4096]).unwrap();
    assert!(load_err(&p).starts_with("zeros.csv:1:1: NUL byte at byte 0 of the file"));
}

/// Issue 11: two columns of one name made `--target NAME` and evaluate's matching ambiguous.
#[test]
fn duplicate_header_names_are_refused_naming_both_columns() {
    let dir = tempfile::tempdir().unwrap();
    for p in three_ways(dir.path(), b"x,y,x,label\n1,2,3,0\n4,5,6,1\n") {
        let e = load_err(&p);
        let name = p.file_name().unwrap().to_str().unwrap();
        let want = format!("{name}:1:5: column 3 has the same name \"x\" as column 1: expected unique column names");
        assert!(e.starts_with(&want), "{e}\nwant: {want}");
    }
}

/// Issue 11: iris with string labels and its header line removed lost its first row, which was
/// taken for a header (and the columns were named after its numbers).
#[test]
fn string_labels_without_a_header_keep_the_first_row() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,setosa\n7.0,3.2,4.7,1.4,versicolor\n";
    for p in three_ways(dir.path(), text) {
        let d = load(&p);
        assert_eq!(d.len(), 3, "{}", p.display());
        assert_eq!(d.features(0), &[5.1, 3.5, 1.4, 0.2], "{}", p.display());
        assert_eq!(d.feature_names, ["col1", "col2", "col3", "col4"], "{}", p.display());
        assert_eq!(d.task.classes().unwrap(), ["setosa", "versicolor"], "{}", p.display());
    }
    // A header is still a header: names over numbers, or text with nothing after it.
    for p in three_ways(dir.path(), b"sl,sw,pl,pw,species\n5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,virginica\n") {
        let d = load(&p);
        assert_eq!((d.len(), d.feature_names[0].as_str()), (2, "sl"), "{}", p.display());
    }
    let p = dir.path().join("only.csv");
    std::fs::write(&p, b"a,b,label\n").unwrap();
    assert!(load_err(&p).starts_with("only.csv: header only: no data rows"));
    // Forced either way, the flags win.
    let p = dir.path().join("forced.csv");
    std::fs::write(&p, text).unwrap();
    let d = csv::load(&p, &CsvOptions { header: Some(true), ..CsvOptions::default() }).unwrap().0;
    assert_eq!(d.len(), 2);
}

/// The whole iris file, with string labels and no header, through the binary: every row is
/// read, so the model is the one trained on the same rows with a header.
#[test]
fn iris_without_its_header_trains_on_every_row() {
    let iris = std::fs::read_to_string(crate::common::iris()).unwrap();
    let names = ["setosa", "versicolor", "virginica"];
    let named: String = iris
        .lines()
        .map(|l| match l.rsplit_once(',') {
            Some((x, c)) if c.len() == 1 => format!("{x},{}\n", names[c.parse::<usize>().unwrap()]),
            _ => format!("{l}\n"),
        })
        .collect();
    let (dir, with) = temp_path("with.csv");
    std::fs::write(&with, &named).unwrap();
    let without = dir.path().join("without.csv");
    std::fs::write(&without, named.split_once('\n').unwrap().1).unwrap();
    let digest = |p: &Path| {
        let o = crate::common::run_bin(&[
            "train",
            "--data",
            p.to_str().unwrap(),
            "--hidden",
            "4",
            "--epochs",
            "3",
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v["params_digest"].clone(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (a, _) = digest(&with);
    let (b, log) = digest(&without);
    assert!(log.contains("150 training rows"), "{log}");
    assert_eq!(a, b);
}

/// Issue 11: a training set whose every label is the same trained a one-output "classifier"
/// that can only ever answer that label. A test set of one class is fine: it is read against the
/// model's classes.
#[test]
fn a_single_class_training_set_is_refused_but_a_single_class_test_set_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.csv");
    std::fs::write(&one, "a,b,label\n1,2,yes\n3,4,yes\n5,6,yes\n").unwrap();
    let o = crate::common::run_bin(&["train", "--data", one.to_str().unwrap(), "--epochs", "1", "--hidden", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("one.csv: every row has the label \"yes\": a classifier needs at least 2 classes"), "{err}");

    let iris = std::fs::read_to_string(crate::common::iris()).unwrap();
    let model = dir.path().join("iris.ckpt");
    let iris_path = dir.path().join("iris.csv");
    std::fs::write(&iris_path, &iris).unwrap();
    crate::common::train_model(&iris_path, "3", "2", &model);
    let setosa: String = iris.lines().take(51).map(|l| format!("{l}\n")).collect();
    let test = dir.path().join("setosa.csv");
    std::fs::write(&test, setosa).unwrap();
    for cmd in ["evaluate", "predict"] {
        let o = crate::common::run_bin(&[cmd, "--model", model.to_str().unwrap(), "--data", test.to_str().unwrap()]);
        assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = crate::common::run_bin(&[
        "train",
        "--data",
        iris_path.to_str().unwrap(),
        "--epochs",
        "1",
        "--hidden",
        "3",
        "--quiet",
        "--test",
        test.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "--test: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_single_label_idx_training_set_is_refused_like_a_csv_one() {
    // MNIST's task names ten classes whatever the labels hold: the labels themselves are looked at.
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("train-images-idx3-ubyte");
    let mut img = vec![0u8, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 4];
    img.extend((0..320).map(|i| (i * 7 % 256) as u8));
    std::fs::write(&images, img).unwrap();
    let mut labels = vec![0u8, 0, 8, 1, 0, 0, 0, 20];
    labels.extend([3u8; 20]);
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &labels).unwrap();
    let o = crate::common::run_bin(&["train", "--data", images.to_str().unwrap(), "--hidden", "2", "--epochs", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("every row has the label \"3\": a classifier needs at least 2 classes"), "{err}");
    // One different label is enough.
    labels[8 + 19] = 4;
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &labels).unwrap();
    let o = crate::common::run_bin(&[
        "train",
        "--data",
        images.to_str().unwrap(),
        "--hidden",
        "2",
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn one_number_written_two_ways_is_one_class() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("l.csv");
    std::fs::write(&train, "a,b,y\n1,2,0.0\n3,4,1.0\n5,6,0\n7,8,1\n9,1,01\n2,2,1e0\n").unwrap();
    let (d, _) = shardprop::data::csv::load(&train, &shardprop::data::CsvOptions::default()).unwrap();
    assert_eq!(d.task.classes().unwrap(), ["0.0", "1.0"], "named as first seen, ordered by value");
    let labels: Vec<_> = (0..d.len()).map(|i| shardprop::data::Examples::target(&d, i).class()).collect();
    assert_eq!(labels, [Some(0), Some(1), Some(0), Some(1), Some(1), Some(1)]);
    // A model's numeric classes accept the same numbers written otherwise.
    let model = dir.path().join("m.ckpt");
    crate::common::train_model(&train, "2", "1", &model);
    let test = dir.path().join("t.csv");
    std::fs::write(&test, "a,b,y\n1,2,1e0\n3,4,0\n5,6,1\n").unwrap();
    let o = crate::common::run_bin(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["examples"], 3);
}

#[test]
fn numbers_that_differ_only_past_f64_precision_stay_two_classes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ids.csv");
    std::fs::write(
        &p,
        "a,y\n1,9007199254740992\n2,9007199254740993\n3,7\n4,0.1\n5,0.10000000000000001\n6,-0\n7,0.0\n8,+7\n9,70e-1\n",
    )
    .unwrap();
    let (d, _) = shardprop::data::csv::load(&p, &shardprop::data::CsvOptions::default()).unwrap();
    assert_eq!(
        d.task.classes().unwrap(),
        ["-0", "0.1", "0.10000000000000001", "7", "9007199254740992", "9007199254740993"],
        "exact decimal values: -0 = 0.0, 7 = +7 = 70e-1; 2^53 and 2^53 + 1 apart"
    );
}

#[test]
fn a_header_of_numeric_names_over_string_labels_is_not_trained_on_as_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("spectra.csv");
    let mut text = String::from("400,410,420,class\n");
    for i in 0..30 {
        text += &format!("{},{},{},{}\n", i % 7, i % 5, i % 3, if i % 2 == 0 { "a" } else { "b" });
    }
    std::fs::write(&p, &text).unwrap();
    let opts = shardprop::data::CsvOptions::default();
    let err = shardprop::data::csv::load(&p, &opts).unwrap_err().to_string();
    assert!(err.contains("spectra.csv:1:1: the first line was read as data, but its label \"class\""), "{err}");
    let header = shardprop::data::CsvOptions { header: Some(true), ..Default::default() };
    let (d, _) = shardprop::data::csv::load(&p, &header).unwrap();
    assert_eq!((d.len(), d.task.classes().unwrap().len()), (30, 2));
    assert_eq!(d.feature_names, ["400", "410", "420"]);
    // A headerless file whose first label recurs is still read as data.
    std::fs::write(&p, text.split_once('\n').unwrap().1).unwrap();
    assert_eq!(shardprop::data::csv::load(&p, &opts).unwrap().0.len(), 30);
}

#[test]
fn cr_only_line_ends_are_named_not_read_as_one_long_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cr.csv");
    let text = std::fs::read_to_string(crate::common::iris()).unwrap();
    std::fs::write(&p, text.replace('\n', "\r")).unwrap();
    let err = shardprop::data::csv::load(&p, &shardprop::data::CsvOptions::default()).unwrap_err().to_string();
    assert!(err.contains("cr.csv:1:") && err.contains("line ends of CR alone are not supported"), "{err}");
    // CRLF is fine.
    std::fs::write(&p, text.replace('\n', "\r\n")).unwrap();
    assert_eq!(shardprop::data::csv::load(&p, &shardprop::data::CsvOptions::default()).unwrap().0.len(), 150);
}
