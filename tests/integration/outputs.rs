//! Outputs (from a hostile tester's report): every output can fail, and a failure is an error
//! naming what failed (exit 2), never a panic and never an empty or half-written file reported as
//! written. Stdout on a full device (a private `mknod c 1 7` node in a temp dir, never the real
//! `/dev/full`); SVGs and the metrics log on a full disk (a tmpfs mounted for the test).

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::common::{bin, iris, mknod_char, names, small_tmpfs, stderr};

fn run(args: &[&str], stdout: Stdio) -> Output {
    Command::new(bin()).args(args).stdout(stdout).output().expect("runs")
}

/// Trains a small iris model at `path`.
fn small_model(path: &Path) {
    model(path, "4");
}

/// Trains an iris model with `hidden` units at `path`.
fn model(path: &Path, hidden: &str) {
    let i = iris();
    let args = ["train", "--data", i.to_str().unwrap(), "--hidden", hidden, "--epochs", "2", "--quiet", "--out"];
    let o = run(&[&args[..], &[path.to_str().unwrap()]].concat(), Stdio::null());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Fills the file system at `dir` to the last byte.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.write_all(&[0]); // the last partial page
}

#[test]
fn stdout_on_a_full_device_exits_2_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    // A private node with /dev/full's numbers: every write fails with ENOSPC.
    if !mknod_char(&full, 1, 7) {
        return;
    }
    let model = dir.path().join("m.ckpt");
    small_model(&model);
    let (m, i) = (model.to_str().unwrap(), iris());
    let i = i.to_str().unwrap();
    let out = dir.path().join("again.ckpt");
    let cases: Vec<Vec<&str>> = vec![
        vec!["inspect", m],
        vec!["inspect", m, "--json"],
        vec!["evaluate", "--model", m, "--data", i],
        vec!["evaluate", "--model", m, "--data", i, "--json"],
        vec!["predict", "--model", m, "--data", i],
        vec!["gradcheck", "--layers", "3,2"],
        vec!["gradcheck", "--layers", "3,2", "--json"],
        vec!["bench", "--data", i, "--hidden", "4", "--threads", "1", "--epochs", "1", "--roof", "10"],
        vec!["bench", "--data", i, "--hidden", "4", "--threads", "1", "--epochs", "1", "--roof", "10", "--json"],
        vec!["--help"],
        vec!["--version"],
        vec!["train", "--data", i, "--hidden", "4", "--epochs", "2", "--json", "--out", out.to_str().unwrap()],
    ];
    for args in cases {
        let o = run(&args, Stdio::from(File::create(&full).unwrap()));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error: cannot write to stdout: No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Training finished and wrote its model before stdout failed.
    let o = run(&["inspect", out.to_str().unwrap(), "--json"], Stdio::piped());
    assert!(o.status.success(), "the model of the run whose stdout failed: {}", stderr(&o));
    assert!(std::fs::symlink_metadata(&full).unwrap().file_type().is_char_device(), "still a device");
}

#[test]
fn a_closed_pipe_still_ends_printing_commands_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.ckpt");
    // 16,003 weights: `--weights` prints far more than a pipe holds, so a write meets the
    // closed pipe whenever the reader goes.
    self::model(&model, "2000");
    let mut child = Command::new(bin())
        .args(["inspect", model.to_str().unwrap(), "--weights"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{:?}: {}", o.status, stderr(&o));
    assert!(o.stderr.is_empty(), "quiet: {}", stderr(&o));
}

#[test]
fn svgs_on_a_full_disk_are_errors_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.ckpt");
    small_model(&model);
    let metrics = dir.path().join("run.jsonl");
    let i = iris();
    let o = run(
        &[
            "train",
            "--data",
            i.to_str().unwrap(),
            "--hidden",
            "4",
            "--epochs",
            "3",
            "--quiet",
            "--metrics",
            metrics.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let Some(guard) = small_tmpfs(dir.path(), "64k") else { return };
    fill(&guard.0);
    let svg = guard.0.join("chart.svg");
    let s = svg.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["evaluate", "--model", model.to_str().unwrap(), "--data", i.to_str().unwrap(), "--confusion", s],
        vec!["plot", metrics.to_str().unwrap(), "-o", s],
        vec![
            "bench",
            "--data",
            i.to_str().unwrap(),
            "--hidden",
            "4",
            "--threads",
            "1",
            "--epochs",
            "1",
            "--roof",
            "10",
            "--plot",
            s,
        ],
    ];
    for args in cases {
        let o = run(&args, Stdio::null());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("error: {s}: No space left on device")), "{args:?}: {err}");
        assert!(!err.contains("drawn to") && !err.contains("written to"), "{args:?}: {err}");
        assert_eq!(names(&guard.0), ["filler"], "{args:?}: no SVG, empty or partial, and no temp file");
    }
    // With room, the same SVGs are whole documents.
    let svg = dir.path().join("chart.svg");
    let o = run(&["plot", metrics.to_str().unwrap(), "-o", svg.to_str().unwrap()], Stdio::null());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{text}");
}

#[test]
fn metrics_on_a_full_disk_keep_whole_lines_and_exit_2_after_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let Some(guard) = small_tmpfs(dir.path(), "64k") else { return };
    // One 4 KiB page left: about 17 of the 60 lines fit, and the one after is cut mid-line.
    std::fs::write(guard.0.join("filler"), vec![0u8; 60 * 1024]).unwrap();
    let metrics = guard.0.join("run.jsonl");
    let model = dir.path().join("m.ckpt");
    let i = iris();
    let o = run(
        &[
            "train",
            "--data",
            i.to_str().unwrap(),
            "--hidden",
            "4",
            "--epochs",
            "60",
            "--quiet",
            "--metrics",
            metrics.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let m = metrics.display().to_string();
    assert!(err.contains(&format!("error: {m}: incomplete")), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "one warning, then logging stops: {err}");
    // The model was written first.
    assert!(err.contains("model written to"), "{err}");
    let o = run(&["inspect", model.to_str().unwrap(), "--json"], Stdio::piped());
    assert!(o.status.success(), "{}", stderr(&o));
    // Whole lines only, epochs 1, 2, ... in order: `plot` reads it.
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.ends_with('\n'), "no half line at the end: {text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty() && lines.len() < 60, "{} lines", lines.len());
    for (n, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        assert_eq!(v["epoch"], n + 1);
    }
    let svg = dir.path().join("curves.svg");
    let o = run(&["plot", metrics.to_str().unwrap(), "-o", svg.to_str().unwrap()], Stdio::null());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_closed_or_full_stderr_never_costs_the_model() {
    // Progress and notes go to stderr; `2>&1 | head` closes it and a full disk refuses it.
    // Training (which ignores SIGPIPE) must still finish and write its model, exit 0.
    let dir = tempfile::tempdir().unwrap();
    let digits = crate::common::digits();
    let train = |out: &Path, stderr: Stdio| {
        let child = Command::new(bin())
            .args(["train", "--data", digits.to_str().unwrap(), "--hidden", "8", "--epochs", "20"])
            .args(["--out", out.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let closed = dir.path().join("closed.ckpt");
    // A pipe whose reader is gone before the run starts: every write to it fails (EPIPE).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = train(&closed, Stdio::from(writer));
    assert_eq!(o.status.code(), Some(0), "{:?}", o.status);
    assert!(closed.is_file());
    let full = dir.path().join("full");
    if mknod_char(&full, 1, 7) {
        let out = dir.path().join("full.ckpt");
        let o = train(&out, Stdio::from(File::options().write(true).open(&full).unwrap()));
        assert_eq!(o.status.code(), Some(0), "{:?}", o.status);
        assert!(out.is_file());
    } else {
        eprintln!("skipped the full-device half: cannot mknod here");
    }
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("x.csv");
    std::fs::copy(iris(), &data).unwrap();
    let link = dir.path().join("y.csv");
    std::os::unix::fs::symlink("x.csv", &link).unwrap();
    let model = dir.path().join("m.ckpt");
    small_model(&model);
    let (x, y, m) = (data.to_str().unwrap(), link.to_str().unwrap(), model.to_str().unwrap());
    let train = ["train", "--data", x, "--hidden", "2", "--epochs", "1", "--quiet"];
    for args in [
        vec!["convert", x, y],
        [&train[..], &["--out", y]].concat(),
        [&train[..], &["--metrics", x]].concat(),
        vec!["predict", "--model", m, "--data", x, "--output", y],
        vec!["predict", "--model", m, "--data", x, "--output", m],
        vec!["evaluate", "--model", m, "--data", x, "--confusion", y],
        vec!["resume", m, "--epochs", "3", "--data", x, "--out", y],
        vec!["plot", x, "-o", y],
    ] {
        let o = run(&args, Stdio::piped());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("writing it would destroy the data"), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read(&data).unwrap(), std::fs::read(iris()).unwrap(), "the data is intact");
    // Two outputs that are one file: one would replace the other.
    let same = dir.path().join("same");
    let o = run(
        &[&train[..], &["--out", same.to_str().unwrap(), "--metrics", same.to_str().unwrap()]].concat(),
        Stdio::piped(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("are the same file"), "{}", stderr(&o));
    // An MNIST directory stands for its files.
    let mnist = dir.path().join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    let src = crate::common::datasets().join("mnist");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), mnist.join(f.file_name())).unwrap();
    }
    let idx = mnist.join("t10k-labels-idx1-ubyte.gz");
    let o = run(&["convert", mnist.to_str().unwrap(), idx.to_str().unwrap()], Stdio::piped());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("writing it would destroy the data"), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn an_mnist_directory_as_the_test_set_means_its_test_split() {
    let mnist = crate::common::datasets().join("mnist");
    let images = mnist.join("train-images-idx3-ubyte.gz");
    let t10k = mnist.join("t10k-images-idx3-ubyte.gz");
    let run_with = |test: &Path| {
        let args = ["train", "--data", images.to_str().unwrap(), "--test", test.to_str().unwrap()];
        let o = run(&[&args[..], &["--hidden", "4", "--epochs", "1", "--json", "--quiet"]].concat(), Stdio::piped());
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v["test_loss"].clone(), v["test_accuracy"].clone())
    };
    assert_eq!(run_with(&mnist), run_with(&t10k));
}
