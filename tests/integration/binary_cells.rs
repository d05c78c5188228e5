//! Issue 11: everything a binary dataset file carries is validated before use. Each hostile file
//! here has both checksums recomputed, so the validation, not the CRC, is what must catch it.

use std::path::{Path, PathBuf};

use shardprop::data::binary::{self, BinaryWriter, MappedDataset};
use shardprop::data::{self, Examples, Target, Task};

use crate::common::{Meta, reseal_binary};

const ROWS: usize = 6;
const NF: usize = 3;

/// A valid classification file: 6 rows of 3 features, classes 0..3; its bytes.
fn classification(dir: &Path) -> (PathBuf, Vec<u8>) {
    let task = Task::Classification { classes: vec!["a".into(), "b".into(), "c".into()] };
    let names: Vec<String> = ["f1", "f2", "f3"].iter().map(|s| s.to_string()).collect();
    let p = dir.join("good.bin");
    let mut w = BinaryWriter::create(&p, NF, &task).unwrap();
    for i in 0..ROWS {
        let x = [i as f32, 0.5 * i as f32 - 1.0, 2.0];
        w.push(&x, Target::Class(i % 3)).unwrap();
    }
    w.finish(&task, &names).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    (p, bytes)
}

/// A valid regression file with 2 targets.
fn regression(dir: &Path) -> Vec<u8> {
    let task = Task::Regression { targets: vec!["y1".into(), "y2".into()] };
    let names: Vec<String> = ["f1", "f2", "f3"].iter().map(|s| s.to_string()).collect();
    let p = dir.join("reg.bin");
    let mut w = BinaryWriter::create(&p, NF, &task).unwrap();
    for i in 0..ROWS {
        w.push(&[i as f32, 1.0, -1.0], Target::Values(&[i as f32, 3.0])).unwrap();
    }
    w.finish(&task, &names).unwrap();
    std::fs::read(&p).unwrap()
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// `b` with its checksums recomputed.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    reseal_binary(&mut b);
    b
}

/// Sets the f32 cell `cell` (0-based, counted over all rows) to `v`.
fn set_cell(b: &[u8], cell: usize, v: f32) -> Vec<u8> {
    let mut b = b.to_vec();
    let at = binary::HEADER_LEN + 4 * cell;
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    reseal(b)
}

/// Replaces the metadata with `edit` applied to it, and appends `extra` bytes after it.
fn set_meta(b: &[u8], edit: impl Fn(&mut Meta), extra: &[u8]) -> Vec<u8> {
    let meta_len = u64_at(b, 40) as usize;
    let start = b.len() - meta_len;
    let (mut meta, _): (Meta, usize) =
        bincode::serde::decode_from_slice(&b[start..], bincode::config::standard()).unwrap();
    edit(&mut meta);
    let mut enc = bincode::serde::encode_to_vec(&meta, bincode::config::standard()).unwrap();
    enc.extend_from_slice(extra);
    let mut out = b[..start].to_vec();
    out[40..48].copy_from_slice(&(enc.len() as u64).to_le_bytes());
    out.extend_from_slice(&enc);
    reseal(out)
}

/// What opening `bytes` says: `Ok(None)` when it opens and every row passes the checks that run
/// at use, else the first error.
fn verdict(p: &Path, bytes: &[u8], verify: bool) -> Result<(), String> {
    std::fs::write(p, bytes).unwrap();
    let m = MappedDataset::open_with(p, verify).map_err(|e| e.to_string())?;
    data::check_rows(&m, 0..m.len()).map_err(|e| e.to_string())
}

#[test]
fn binary_dataset_cells_statistics_reserved_and_trailing_bytes_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let (good_path, good) = classification(dir.path());
    let reg = regression(dir.path());
    assert!(verdict(&good_path, &good, true).is_ok());
    let p = dir.path().join("bad.bin");
    assert!(verdict(&p, &reg, true).is_ok());
    let w = NF + 1; // classification row width
    let rw = NF + 2; // regression row width
    let meta_at = good.len() - u64_at(&good, 40) as usize;

    // (name, bytes, whether the check needs the pass over the rows, expected message)
    let cases: Vec<(&str, Vec<u8>, bool, String)> = vec![
        (
            "class cell 1.5",
            set_cell(&good, 2 * w + NF, 1.5),
            true,
            format!(
                "byte {}: row 3, class cell 1.5: expected an integer class index from 0 to 2",
                64 + 4 * (2 * w + NF)
            ),
        ),
        (
            "class cell 3",
            set_cell(&good, NF, 3.0),
            true,
            "row 1, class cell 3: expected an integer class index from 0 to 2".into(),
        ),
        ("class cell -1", set_cell(&good, NF, -1.0), true, "row 1, class cell -1: expected an integer".into()),
        (
            "class cell NaN",
            set_cell(&good, 5 * w + NF, f32::NAN),
            true,
            "row 6, class cell NaN: expected an integer".into(),
        ),
        ("class cell 2^40", set_cell(&good, NF, 1.1e12), true, "row 1, class cell 1100000000000: expected".into()),
        (
            "feature NaN",
            set_cell(&good, w + 1, f32::NAN),
            true,
            format!("byte {}: row 2, feature 2 (f2): NaN is not a finite number", 64 + 4 * (w + 1)),
        ),
        (
            "feature inf",
            set_cell(&good, 0, f32::INFINITY),
            true,
            "byte 64: row 1, feature 1 (f1): inf is not a finite number".into(),
        ),
        (
            "regression target -inf",
            set_cell(&reg, 3 * rw + NF + 1, f32::NEG_INFINITY),
            true,
            "row 4, target 2: -inf is not a finite number".into(),
        ),
        (
            "reserved byte",
            {
                let mut b = good.clone();
                b[57] = 1;
                reseal(b)
            },
            false,
            "byte 57: reserved header bytes 56..60 must be zero, found 0x01".into(),
        ),
        (
            "default scaling code",
            {
                let mut b = good.clone();
                b[52] = 3;
                reseal(b)
            },
            false,
            "byte 52: default scaling code 3, expected 0 (standard), 1 (none) or 2 (minmax)".into(),
        ),
        (
            "trailing bytes after the metadata",
            set_meta(&good, |_| {}, &[0, 0, 7]),
            false,
            "3 trailing bytes after the metadata".into(),
        ),
        (
            "stats length",
            set_meta(
                &good,
                |m| {
                    m.stats.sumsq.pop();
                },
                &[],
            ),
            false,
            format!("byte {meta_at}: metadata statistics: 2 sum of squares values for 3 features"),
        ),
        (
            "stats row count",
            set_meta(&good, |m| m.stats.n = 7, &[]),
            false,
            "metadata statistics: row count 7 but the file holds 6 rows".into(),
        ),
        (
            "duplicate class name",
            set_meta(
                &good,
                |m| m.task = Task::Classification { classes: vec!["a".into(), "b".into(), "a".into()] },
                &[],
            ),
            false,
            "metadata: the class name \"a\" appears twice; names must be distinct".into(),
        ),
        (
            "duplicate feature name",
            set_meta(&good, |m| m.feature_names[2] = "f1".into(), &[]),
            false,
            "metadata: the feature name \"f1\" appears twice; names must be distinct".into(),
        ),
        (
            "stats beyond f32",
            set_meta(&good, |m| m.stats.max[0] = 1e300, &[]),
            false,
            "feature 1: min 0e0, max 1e300: expected values an f32 can hold".into(),
        ),
        (
            "stats NaN",
            set_meta(&good, |m| m.stats.sum[1] = f64::NAN, &[]),
            false,
            "metadata statistics: feature 2: sum NaN".into(),
        ),
        (
            "stats infinite max",
            set_meta(&good, |m| m.stats.max[0] = f64::INFINITY, &[]),
            false,
            "feature 1: sum 15, sum of squares 55, min 0, max inf: expected finite values".into(),
        ),
        (
            "stats min > max",
            set_meta(&good, |m| m.stats.min[2] = 3.0, &[]),
            false,
            "feature 3: min 3, mean 2, max 2: expected min <= mean <= max".into(),
        ),
        (
            "stats mean outside the range",
            set_meta(&good, |m| m.stats.sum[0] = 100.0, &[]),
            false,
            "feature 1: min 0, mean 16.666666666666668, max 5: expected min <= mean".into(),
        ),
        (
            "stats negative variance (std)",
            set_meta(&good, |m| m.stats.sumsq[0] = 1.0, &[]),
            false,
            "feature 1: sum of squares 1 (variance -6.0".into(),
        ),
        (
            "stats negative sum of squares",
            set_meta(&good, |m| m.stats.sumsq[1] = -1.0, &[]),
            false,
            "feature 2: sum of squares -1".into(),
        ),
        (
            "stats plausible but not the rows'",
            set_meta(&good, |m| m.stats.sum[0] = 14.0, &[]),
            true,
            "metadata statistics of feature 1 (f1) disagree with its rows (stored sum 14".into(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, needs_pass, want) in &cases {
        // Opened with `verify` (the default), the file is refused at open.
        match verdict(&p, bytes, true) {
            Ok(()) => failures.push(format!("{name}: opened with verify")),
            Err(e) if !e.contains(want.as_str()) || !e.contains("bad.bin") => {
                failures.push(format!("{name}: with verify\n  got:  {e}\n  want: {want}"))
            }
            Err(_) => {}
        }
        // Without it, header, metadata and statistics are still checked at open; the cells are
        // checked before use. Only the exact statistics need the pass over the rows.
        let plausible_stats = name.starts_with("stats plausible");
        match verdict(&p, bytes, false) {
            Ok(()) if plausible_stats => {}
            Ok(()) => failures.push(format!("{name}: passed without verify")),
            Err(e) if plausible_stats || !e.contains(want.as_str()) => {
                failures.push(format!("{name}: without verify\n  got:  {e}\n  want: {want}"))
            }
            Err(e) => {
                if *needs_pass && MappedDataset::open_with(&p, false).is_err() {
                    failures.push(format!("{name}: refused at open without verify, expected at use: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn training_on_an_unverified_binary_file_stops_at_a_bad_cell_before_using_it() {
    use shardprop::run::session::{Architecture, Session};
    use shardprop::run::spec::RunSpec;
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = classification(dir.path());
    let p = dir.path().join("cells.bin");
    std::fs::write(&p, set_cell(&good, 4 * (NF + 1) + NF, 7.0)).unwrap();
    let spec = RunSpec { verify: false, ..RunSpec::new(p.clone()) };
    let arch = Architecture { hidden: vec![2], activation: shardprop::Activation::Sigmoid, cross_entropy: false };
    let cfg = shardprop::TrainConfig { epochs: 1, batch_size: 0, ..Default::default() };
    let (mut s, _) = Session::start(spec, &arch, cfg, 1).unwrap();
    let e = s.run(None, &mut crate::common::Quiet).unwrap_err().to_string();
    assert!(e.contains("cells.bin: byte") && e.contains("row 5, class cell 7: expected an integer class index"), "{e}");
    assert_eq!(s.state().global_step, 0, "the step that would read the cell never ran");
}

#[test]
fn the_binary_writer_refuses_cells_no_reader_would_accept() {
    let dir = tempfile::tempdir().unwrap();
    let task = Task::Classification { classes: vec!["a".into(), "b".into()] };
    let mut w = BinaryWriter::create(&dir.path().join("w.bin"), 2, &task).unwrap();
    w.push(&[1.0, 2.0], Target::Class(1)).unwrap();
    let e = w.push(&[1.0, f32::NAN], Target::Class(0)).unwrap_err().to_string();
    assert!(e.contains("w.bin: row 2, feature 2: NaN is not a finite number"), "{e}");
    let e = w.push(&[1.0, 2.0], Target::Class(2)).unwrap_err().to_string();
    assert!(e.contains("row 2: class 2 is not one of the task's 2 classes"), "{e}");
}

#[test]
fn an_empty_binary_dataset_is_not_evaluated_as_accuracy_zero() {
    let dir = tempfile::tempdir().unwrap();
    let task = Task::Classification { classes: vec!["0".into(), "1".into(), "2".into()] };
    let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let empty = dir.path().join("empty.bin");
    BinaryWriter::create(&empty, 4, &task).unwrap().finish(&task, &names).unwrap();
    let model = dir.path().join("m.ckpt");
    let iris = crate::common::iris();
    crate::common::train_model(&iris, "2", "1", &model);
    let o = crate::common::run_bin(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        empty.to_str().unwrap(),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("holds no rows, so there is nothing to evaluate"), "{err}");
}

#[test]
fn resuming_on_an_unverified_binary_file_checks_the_training_rows_a_scaler_reads_before_any_step() {
    use shardprop::data::Scale;
    use shardprop::run::session::{Architecture, Session};
    use shardprop::run::spec::RunSpec;
    let dir = tempfile::tempdir().unwrap();
    let (p, good) = classification(dir.path());
    let spec = RunSpec { verify: false, validation: 0.34, scale: Scale::Standard, ..RunSpec::new(p.clone()) };
    let arch = Architecture { hidden: vec![2], activation: shardprop::Activation::Sigmoid, cross_entropy: false };
    let cfg = shardprop::TrainConfig { epochs: 2, batch_size: 0, ..Default::default() };
    let (s, _) = Session::start(spec, &arch, cfg, 1).unwrap();
    let row = s.train_examples().row(0);
    let ckpt = s.checkpoint();
    drop(s);
    // A training row's feature made NaN with the stored checksums left as they were: the
    // fingerprint (the stored CRC) still matches, and only a check of the row finds it.
    let mut bad = good.clone();
    let at = binary::HEADER_LEN + 4 * row * (NF + 1);
    bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&p, bad).unwrap();
    match Session::resume(ckpt, None, 1, false) {
        Ok(_) => panic!("resumed on a file whose training row {} is NaN", row + 1),
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("good.bin: byte") && e.contains(&format!("row {}", row + 1)), "{e}");
        }
    }
}
