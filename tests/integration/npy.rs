//! NumPy input (issue 13): `.npy` features with `--labels`, `.npz` arrays chosen by key. The
//! files are written here by a tiny writer of the format (independent of the reader; checked
//! once by hand against files numpy 2.4 wrote). Training on the same rows from CSV, the binary
//! format and every dtype and order gives the same weights; bad files exit 2 naming the file and
//! the array; no byte flip or truncation makes the reader panic.
//!
//! Longer than most test files: the writer of both formats is shared by the five concerns below.

use std::io::Write;
use std::path::{Path, PathBuf};

use shardprop::data::{self, CsvOptions, Examples, Fingerprint, Target};

use crate::common::{digits, iris, run_bin, stderr};

// ---------------------------------------------------------------------------------------------
// A writer of .npy and .npz, and the cells of each dtype

/// A `.npy` file: version 1.0, the header padded with spaces to a multiple of 64 bytes.
fn npy(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let order = if fortran { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A zip file of `members` (name, bytes), each stored or deflated.
fn npz(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, bytes) in members {
        let body = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        } else {
            bytes.clone()
        };
        let fixed = |sig: u32| {
            let mut h = sig.to_le_bytes().to_vec();
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&(if deflate { 8u16 } else { 0 }).to_le_bytes());
            h.extend_from_slice(&[0; 4]);
            h.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h
        };
        let offset = out.len() as u32;
        out.extend_from_slice(&fixed(0x0403_4b50));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        let mut c = fixed(0x0201_4b50);
        c.splice(4..4, 20u16.to_le_bytes()); // version made by
        c.extend_from_slice(&[0; 14]); // comment length, disk, attributes, offset
        c[42..46].copy_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        central.extend_from_slice(&c);
    }
    let cd_start = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// How a column of decimal text is written as cells.
#[derive(Clone, Copy, Debug)]
enum Cell {
    F32,
    F64,
    F64Be,
    I64,
    I32Be,
    I16,
    U8,
}

impl Cell {
    fn descr(self) -> &'static str {
        match self {
            Cell::F32 => "<f4",
            Cell::F64 => "<f8",
            Cell::F64Be => ">f8",
            Cell::I64 => "<i8",
            Cell::I32Be => ">i4",
            Cell::I16 => "<i2",
            Cell::U8 => "|u1",
        }
    }
    fn bytes(self, text: &str) -> Vec<u8> {
        match self {
            Cell::F32 => text.parse::<f32>().unwrap().to_le_bytes().to_vec(),
            Cell::F64 => text.parse::<f64>().unwrap().to_le_bytes().to_vec(),
            Cell::F64Be => text.parse::<f64>().unwrap().to_be_bytes().to_vec(),
            Cell::I64 => text.parse::<i64>().unwrap().to_le_bytes().to_vec(),
            Cell::I32Be => text.parse::<i32>().unwrap().to_be_bytes().to_vec(),
            Cell::I16 => text.parse::<i16>().unwrap().to_le_bytes().to_vec(),
            Cell::U8 => vec![text.parse::<u8>().unwrap()],
        }
    }
}

/// Features written as a dtype, in Fortran order or not, and labels written as a dtype.
type Variant = (Cell, bool, Cell);

/// A bad-input case: what it is, the features' and labels' bytes, more flags, the message.
type BadCase<'a> = (&'a str, Vec<u8>, Vec<u8>, &'a [&'a str], &'a str);

/// A matrix of decimal text as a `.npy` of `cell`s, in C or Fortran order.
fn matrix(rows: &[Vec<String>], cell: Cell, fortran: bool) -> Vec<u8> {
    let (n, k) = (rows.len(), rows[0].len());
    let mut data = Vec::new();
    if fortran {
        (0..k).for_each(|j| rows.iter().for_each(|r| data.extend(cell.bytes(&r[j]))));
    } else {
        rows.iter().flatten().for_each(|t| data.extend(cell.bytes(t)));
    }
    npy(cell.descr(), fortran, &[n, k], &data)
}

/// A column of decimal text as a 1-D `.npy`.
fn column(values: &[String], cell: Cell) -> Vec<u8> {
    npy(cell.descr(), false, &[values.len()], &values.iter().flat_map(|t| cell.bytes(t)).collect::<Vec<_>>())
}

/// A CSV file with a header: its feature columns' text and its last column.
fn csv_columns(path: &Path) -> (Vec<Vec<String>>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<String>> = text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    let labels = rows.iter().map(|r| r.last().unwrap().clone()).collect();
    (
        rows.into_iter()
            .map(|mut r| {
                r.pop();
                r
            })
            .collect(),
        labels,
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `params_digest` of a short run on `data` with `extra` flags.
fn digest_of(data: &[&str], extra: &[&str]) -> String {
    let mut args =
        vec!["train", "--hidden", "6", "--epochs", "2", "--batch-size", "16", "--seed", "3", "--json", "--quiet"];
    args.extend_from_slice(data);
    args.extend_from_slice(extra);
    crate::common::run_json(&args)["params_digest"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// The same rows from every format give the same model

#[test]
fn the_same_rows_from_csv_binary_npy_and_npz_train_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let variants: [(PathBuf, &[Variant]); 2] = [
        (
            iris(),
            &[
                (Cell::F32, false, Cell::I64),
                (Cell::F64, false, Cell::I32Be),
                (Cell::F64Be, true, Cell::U8),
                (Cell::F32, true, Cell::F64),
            ],
        ),
        (
            digits(),
            &[
                (Cell::U8, false, Cell::I64),
                (Cell::I16, true, Cell::U8),
                (Cell::F32, false, Cell::I32Be),
                (Cell::F64, true, Cell::F64Be),
            ],
        ),
    ];
    for (csv, cases) in variants {
        let (x, y) = csv_columns(&csv);
        let bin = dir.path().join("from-csv.bin");
        let o = run_bin(&["convert", s(&csv), s(&bin)]);
        assert!(o.status.success(), "{}", stderr(&o));
        for extra in [&[][..], &["--validation", "0.2", "--scale", "minmax"][..]] {
            let want = digest_of(&["--data", s(&csv)], extra);
            assert_eq!(digest_of(&["--data", s(&bin)], extra), want, "{} binary", csv.display());
            for (k, &(xc, fortran, yc)) in cases.iter().enumerate() {
                let xp = write(dir.path(), &format!("x{k}.npy"), &matrix(&x, xc, fortran));
                let yp = write(dir.path(), &format!("y{k}.npy"), &column(&y, yc));
                let got = digest_of(&["--data", s(&xp), "--labels", s(&yp)], extra);
                assert_eq!(got, want, "{}: features {xc:?} (Fortran {fortran}), labels {yc:?}", csv.display());
            }
            for deflate in [false, true] {
                let members = [("x.npy", matrix(&x, cases[1].0, false)), ("y.npy", column(&y, Cell::I64))];
                let zp = write(dir.path(), "d.npz", &npz(&members, deflate));
                assert_eq!(digest_of(&["--data", s(&zp)], extra), want, "{}: npz, deflated {deflate}", csv.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn cells_of_every_dtype_and_order_load_as_the_csv_parser_reads_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<Vec<String>> = [["1", "-2"], ["3", "40"], ["-5", "6"], ["7", "100"]]
        .iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect())
        .collect();
    let labels: Vec<String> = ["3", "-1", "10", "3"].iter().map(|v| v.to_string()).collect();
    let want: Vec<f32> = x.iter().flatten().map(|t| t.parse().unwrap()).collect();
    let opts = |labels: &Path| CsvOptions {
        npy: data::npy::NpyOptions { labels: Some(labels.to_path_buf()), ..Default::default() },
        ..CsvOptions::default()
    };
    let mut fingerprints = Vec::new();
    for cell in [Cell::F32, Cell::F64, Cell::F64Be, Cell::I64, Cell::I32Be, Cell::I16] {
        for fortran in [false, true] {
            let xp = write(dir.path(), "x.npy", &matrix(&x, cell, fortran));
            let yp = write(dir.path(), "y.npy", &column(&labels, Cell::I16));
            let (d, _) = data::load(&xp, &opts(&yp), true).unwrap();
            let ex = d.examples();
            assert_eq!((ex.len(), ex.n_features()), (4, 2));
            let got: Vec<f32> = (0..4).flat_map(|i| ex.features(i).to_vec()).collect();
            assert_eq!(got, want, "{cell:?}, Fortran {fortran}");
            // Classes are named and ordered as a CSV column of the same numbers: -1, 3, 10.
            assert_eq!(d.task().classes().unwrap(), ["-1", "3", "10"]);
            let classes: Vec<usize> = (0..4).map(|i| ex.target(i).class().unwrap()).collect();
            assert_eq!(classes, [1, 0, 2, 1]);
            assert_eq!(d.feature_names(), ["col1", "col2"]);
            // Only float32 C order is memory-mapped.
            let mapped = matches!(d, data::AnyDataset::MappedNpy(_));
            assert_eq!(mapped, matches!(cell, Cell::F32) && !fortran, "{cell:?}, Fortran {fortran}");
            fingerprints.push(Fingerprint::of(ex));
        }
    }
    // The mapped file's fingerprint (from its opening pass) is the one of the same rows in memory.
    assert!(fingerprints.windows(2).all(|w| w[0] == w[1]), "{fingerprints:?}");
    // Regression: a 2-D float64 targets array, one column per target.
    let t: Vec<Vec<String>> = (0..4).map(|i| vec![format!("{i}.5"), format!("-{i}")]).collect();
    let xp = write(dir.path(), "x.npy", &matrix(&x, Cell::F32, false));
    let tp = write(dir.path(), "t.npy", &matrix(&t, Cell::F64, true));
    let (d, _) = data::load(&xp, &CsvOptions { regression: true, ..opts(&tp) }, true).unwrap();
    assert_eq!(d.examples().target(2), Target::Values(&[2.5, -2.0]));
    assert_eq!(d.task(), &data::Task::Regression { targets: vec!["col3".into(), "col4".into()] });
}

#[test]
fn convert_evaluate_predict_and_a_piped_npy_agree_with_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = csv_columns(&iris());
    let xp = write(dir.path(), "x.npy", &matrix(&x, Cell::F64, false));
    let yp = write(dir.path(), "y.npy", &column(&y, Cell::I64));
    // convert: the binary file holds the rows the CSV conversion holds.
    let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    assert!(run_bin(&["convert", s(&xp), "--labels", s(&yp), s(&a)]).status.success());
    assert!(run_bin(&["convert", s(&iris()), s(&b)]).status.success());
    let (ma, mb) = (data::binary::MappedDataset::open(&a).unwrap(), data::binary::MappedDataset::open(&b).unwrap());
    for i in 0..150 {
        assert_eq!((ma.features(i), ma.target(i)), (mb.features(i), mb.target(i)), "row {i}");
    }
    // A model trained on the CSV evaluates and predicts the .npy rows as the CSV's.
    let model = dir.path().join("m.ckpt");
    crate::common::train_model(&iris(), "5", "2", &model);
    let m = s(&model);
    let ev = |data: &[&str]| {
        let mut args = vec!["evaluate", "--model", m, "--json"];
        args.extend_from_slice(data);
        crate::common::run_json(&args)
    };
    assert_eq!(ev(&["--data", s(&xp), "--labels", s(&yp)]), ev(&["--data", s(&iris())]));
    let pr = |data: &str| run_bin(&["predict", "--model", m, "--data", data]).stdout;
    let from_csv = pr(s(&iris()));
    assert!(!from_csv.is_empty());
    assert_eq!(pr(s(&xp)), from_csv);
    // Features read from a pipe (not mappable, read once, sniffed by their magic).
    let want = digest_of(&["--data", s(&xp), "--labels", s(&yp)], &[]);
    let x32 = matrix(&x, Cell::F32, false);
    let train = ["train", "--data", "/dev/stdin", "--labels", s(&yp), "--hidden", "6", "--epochs", "2"];
    let o = with_stdin(&[&train[..], &["--batch-size", "16", "--seed", "3", "--json", "--quiet"]].concat(), &x32);
    assert_eq!(crate::common::digest(&o), want);

    // A pipe's header alone sizes nothing: a claim of 2^40 rows to predict (C order) or 2^31
    // rows of 4 columns (Fortran order, transposed once read), followed by 8 bytes, is a short
    // read (exit 2), not an allocation that aborts or a wrapped size that panics.
    for (fortran, shape) in [(false, [1usize << 40, 4]), (true, [1usize << 31, 4])] {
        let claim = npy("<f4", fortran, &shape, &[0u8; 8]);
        let o = with_stdin(&["predict", "--model", m, "--data", "/dev/stdin"], &claim);
        let err = crate::common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "fortran {fortran}: {err}");
        assert!(!err.contains("panicked") && err.contains("/dev/stdin"), "fortran {fortran}: {err}");
    }
}

/// Runs the binary with `args`, `input` written to its standard input (a pipe).
fn with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = std::process::Command::new(crate::common::bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn bad_arrays_exit_2_naming_the_file_the_array_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = |n: usize| -> Vec<Vec<String>> { (0..n).map(|i| vec![format!("{i}"), "1.5".into()]).collect() };
    let labels = |n: usize| -> Vec<String> { (0..n).map(|i| (i % 2).to_string()).collect() };
    let good_x = matrix(&rows(4), Cell::F32, false);
    let one_hot: Vec<Vec<String>> = (0..4).map(|i| vec![(i % 2).to_string(), (1 - i % 2).to_string()]).collect();
    let good_y = column(&labels(4), Cell::I64);
    let nan = |fortran: bool, cell: Cell| {
        let mut r = rows(4);
        r[2][1] = "NaN".into();
        matrix(&r, cell, fortran)
    };
    let mut truncated = good_x.clone();
    truncated.pop();
    let mut trailing = good_x.clone();
    trailing.push(0);
    let mut crc = npz(&[("x.npy", good_x.clone()), ("y.npy", good_y.clone())], false);
    let last_data = 30 + 5 + good_x.len() - 3;
    crc[last_data] ^= 1;
    let mut method = npz(&[("x.npy", good_x.clone()), ("y.npy", good_y.clone())], false);
    let cd = method.len() - 22 - 2 * (46 + 5);
    method[cd + 10] = 12; // bzip2
    let header = |dict: &str| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b
    };
    let cases: Vec<BadCase> = vec![
        (
            "complex",
            npy("<c8", false, &[1, 1], &[0; 8]),
            good_y.clone(),
            &[],
            "x.npy: byte 11: dtype \"<c8\" (complex numbers) is not supported",
        ),
        ("objects", npy("|O", false, &[1, 1], &[0; 8]), good_y.clone(), &[], "(Python objects) is not supported"),
        ("strings", npy("<U3", false, &[1, 1], &[0; 12]), good_y.clone(), &[], "(strings) is not supported"),
        (
            "structured",
            header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}\n"),
            good_y.clone(),
            &[],
            "structured type",
        ),
        (
            "1-D",
            npy("<f4", false, &[4], &[0; 16]),
            good_y.clone(),
            &[],
            "features must be a 2-D array (rows, features), found shape (4,) (one feature per row?",
        ),
        ("3-D", npy("<f4", false, &[1, 2, 2], &[0; 16]), good_y.clone(), &[], "found shape (1, 2, 2)"),
        ("rows", good_x.clone(), column(&labels(3), Cell::I64), &[], "y.npy: holds 3 labels, but"),
        (
            "NaN mapped",
            nan(false, Cell::F32),
            good_y.clone(),
            &[],
            "x.npy: byte 148: row 3, column 2: NaN is not a finite number",
        ),
        (
            "NaN C f64",
            nan(false, Cell::F64),
            good_y.clone(),
            &[],
            "x.npy: byte 168: row 3, column 2: NaN is not a finite number",
        ),
        (
            "NaN Fortran",
            nan(true, Cell::F64),
            good_y.clone(),
            &[],
            "x.npy: byte 176: row 3, column 2: NaN is not a finite number",
        ),
        (
            "truncated",
            truncated,
            good_y.clone(),
            &[],
            "x.npy: truncated: shape (4, 2) of \"<f4\" needs 32 bytes of data after the 128-byte header, but the file is 159 bytes",
        ),
        ("trailing", trailing, good_y.clone(), &[], "bytes after the data"),
        ("magic", b"1,2,3\n".to_vec(), good_y.clone(), &[], "x.npy: byte 0: not a NumPy .npy array"),
        (
            "version",
            [&b"\x93NUMPY\x04\x00"[..], &good_x[8..]].concat(),
            good_y.clone(),
            &[],
            "byte 6: format version 4.0",
        ),
        (
            "junk",
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} x\n"),
            good_y.clone(),
            &[],
            "\"x\" after the header's dict",
        ),
        (
            "one-hot",
            good_x.clone(),
            matrix(&one_hot, Cell::I64, false),
            &[],
            "classification takes one label per row (one-hot labels?",
        ),
        (
            "fraction",
            good_x.clone(),
            column(&["0", "0.5", "1", "0"].map(String::from), Cell::F64),
            &[],
            "y.npy: byte 136: row 2: label 0.5 is not a whole number",
        ),
        (
            "bool",
            good_x.clone(),
            npy("|b1", false, &[4], &[0, 1, 2, 1]),
            &[],
            "y.npy: byte 130: row 3: byte 0x02 is not a bool",
        ),
        ("target", good_x.clone(), good_y.clone(), &["--target", "2"], "--target names a CSV column"),
    ];
    for (what, x, y, extra, want) in cases {
        let (xp, yp) = (write(d, "x.npy", &x), write(d, "y.npy", &y));
        let mut args = vec!["train", "--data", s(&xp), "--labels", s(&yp), "--epochs", "1", "--quiet"];
        args.extend_from_slice(extra);
        let o = run_bin(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(want), "{what}: expected {want:?} in: {err}");
    }
    // .npz: a missing key lists the arrays there are; damage is named with the member.
    let zcases: Vec<(&str, Vec<u8>, &[&str], &str)> = vec![
        (
            "key",
            npz(&[("feats.npy", good_x.clone()), ("y.npy", good_y.clone())], true),
            &[],
            "d.npz: no array \"x\" (the file holds \"feats\", \"y\"); choose the arrays with --x-key",
        ),
        ("crc", crc, &[], "member \"x.npy\": CRC-32 mismatch"),
        ("method", method, &[], "member \"x.npy\": compression method 12"),
        ("not zip", [&b"PK\x03\x04"[..], &[7u8; 40]].concat(), &[], "no zip end-of-central-directory record"),
        (
            "labels",
            npz(&[("x.npy", good_x.clone()), ("y.npy", good_y.clone())], false),
            &["--labels", "y.npy"],
            "--labels goes with .npy features",
        ),
        (
            "y 2-D",
            npz(&[("x.npy", good_x.clone()), ("y.npy", matrix(&one_hot, Cell::U8, false))], false),
            &[],
            "d.npz: array \"y\": shape (4, 2): classification takes one label",
        ),
    ];
    for (what, z, extra, want) in zcases {
        let zp = write(d, "d.npz", &z);
        let mut args = vec!["train", "--data", s(&zp), "--epochs", "1", "--quiet"];
        args.extend_from_slice(extra);
        let o = run_bin(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(want), "{what}: expected {want:?} in: {err}");
    }
    // --labels with CSV data, and .npy features without labels.
    let o = run_bin(&["train", "--data", s(&iris()), "--labels", s(&write(d, "y.npy", &good_y)), "--quiet"]);
    assert!(stderr(&o).contains("labels in a separate file go with .npy features"), "{}", stderr(&o));
    let o = run_bin(&["train", "--data", s(&write(d, "x.npy", &good_x)), "--quiet"]);
    assert!(stderr(&o).contains("need their labels or targets in a second .npy: give --labels"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Fuzz: flipped and truncated bytes never panic

/// SplitMix64, seeded per case.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `base` with a few bytes flipped (mostly in its first 160 bytes: headers, zip records) or cut.
fn mutate(base: &[u8], case: u64) -> Vec<u8> {
    let mut b = base.to_vec();
    let r = |k: u64| mix(case.wrapping_mul(31).wrapping_add(k));
    if r(0) % 5 == 0 {
        b.truncate((r(1) % b.len() as u64) as usize);
        return b;
    }
    for k in 0..1 + r(2) % 3 {
        let span = if r(3 + k) % 3 == 0 { b.len() } else { b.len().min(160) };
        let i = (r(10 + k) % span as u64) as usize;
        b[i] = match r(20 + k) % 4 {
            0 => b[i] ^ (1 << (r(30 + k) % 8)),
            1 => 0xff,
            2 => 0,
            _ => r(40 + k) as u8,
        };
    }
    b
}

#[test]
fn flipped_and_truncated_npy_and_npz_bytes_give_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = csv_columns(&iris());
    let x = &x[..20];
    let y = &y[..20];
    let bases: Vec<(&str, Vec<u8>)> = vec![
        ("x.npy", matrix(x, Cell::F32, false)),
        ("x.npy", matrix(x, Cell::F64Be, true)),
        ("y.npy", column(y, Cell::I64)),
        ("d.npz", npz(&[("x.npy", matrix(x, Cell::F64, false)), ("y.npy", column(y, Cell::U8))], false)),
        ("d.npz", npz(&[("x.npy", matrix(x, Cell::F32, true)), ("y.npy", column(y, Cell::I16))], true)),
    ];
    let good_x = write(dir.path(), "good-x.npy", &bases[0].1);
    let good_y = write(dir.path(), "good-y.npy", &bases[2].1);
    let cases = 3000u64;
    let mut outcomes = [0usize; 2];
    for case in 0..cases {
        let (name, base) = &bases[(case % bases.len() as u64) as usize];
        let bytes = mutate(base, case);
        let p = write(dir.path(), name, &bytes);
        let (data, labels) = match *name {
            "y.npy" => (good_x.clone(), Some(p.clone())),
            "x.npy" => (p.clone(), Some(good_y.clone())),
            _ => (p.clone(), None),
        };
        let opts = CsvOptions { npy: data::npy::NpyOptions { labels, ..Default::default() }, ..CsvOptions::default() };
        let got = std::panic::catch_unwind(|| data::load(&data, &opts, true).map(|(d, _)| d.examples().len()));
        match got {
            Ok(r) => outcomes[r.is_ok() as usize] += 1,
            Err(_) => {
                let keep = dir.keep().join(format!("panic-{case}-{name}"));
                std::fs::write(&keep, &bytes).unwrap();
                panic!("case {case} ({name}) panicked; input kept at {}", keep.display());
            }
        }
    }
    // Most mutations are refused, and some (a changed cell) still load.
    assert!(outcomes[0] > cases as usize / 2 && outcomes[1] > 0, "{outcomes:?}");
    // The binary: exit 0 or 2, never a panic, for a sample of the cases.
    for case in (0..cases).step_by(97) {
        let (name, base) = &bases[(case % bases.len() as u64) as usize];
        let p = write(dir.path(), name, &mutate(base, case));
        let out = dir.path().join("out.bin");
        let mut args = vec!["convert".to_string(), s(&p).to_string(), s(&out).to_string()];
        match *name {
            "y.npy" => args.splice(1..2, [s(&good_x).to_string(), "--labels".into(), s(&p).to_string()]).for_each(drop),
            "x.npy" => args.extend(["--labels".into(), s(&good_y).to_string()]),
            _ => {}
        }
        let o = std::process::Command::new(crate::common::bin()).args(&args).output().unwrap();
        let err = stderr(&o);
        assert!(
            matches!(o.status.code(), Some(0 | 2)) && !err.contains("panicked"),
            "case {case}: {:?} {err}",
            o.status
        );
        if o.status.code() == Some(2) {
            assert!(err.contains(name), "case {case}: the error names the file: {err}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resume

#[test]
fn a_numpy_run_resumes_to_the_straight_runs_weights_with_its_stored_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = csv_columns(&iris());
    let xp = write(dir.path(), "x.npy", &matrix(&x, Cell::F32, false));
    let yp = write(dir.path(), "y.npy", &column(&y, Cell::I64));
    let data = ["--data", s(&xp), "--labels", s(&yp)];
    let straight = digest_of(&data, &["--epochs", "4"]);
    let half = dir.path().join("half.ckpt");
    digest_of(&data, &["--out", s(&half)]);
    // The checkpoint records the labels file (version 3): resume reopens it, or takes it again.
    let resumed = crate::common::run_json(&["resume", s(&half), "--epochs", "4", "--json", "--quiet"]);
    assert_eq!(resumed["params_digest"].as_str().unwrap(), straight);
    let resumed =
        crate::common::run_json(&["resume", s(&half), "--labels", s(&yp), "--epochs", "4", "--json", "--quiet"]);
    assert_eq!(resumed["params_digest"].as_str().unwrap(), straight);
    // Labels that are not the run's: refused by the data's fingerprint, as any other data.
    let other = write(dir.path(), "other.npy", &column(&y.iter().rev().cloned().collect::<Vec<_>>(), Cell::I64));
    let o = run_bin(&["resume", s(&half), "--labels", s(&other), "--epochs", "4", "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
