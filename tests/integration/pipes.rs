//! Pipes and FIFOs as inputs (issue 11): `--data <(cat f)`, `--data /dev/stdin`, a FIFO made
//! with mkfifo. They can be read only once, so they used to hang or lose their first bytes (the
//! input was opened to sniff a magic number, again to sniff gzip, then again to parse). Now each
//! is opened once and gives the same result as the file itself; a binary dataset, which must be
//! memory-mapped, is refused with a message. Every child runs under a timeout and is killed, so
//! a hang fails the test instead of stalling the suite.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, gzip, iris, json as ok_json, stderr};

/// How long one child may run: far beyond what these small inputs need.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs shardprop with `args`, feeding `stdin` through a pipe when given; kills it and fails
/// the test if it runs past [`LIMIT`].
fn run(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let (Some(bytes), Some(mut w)) = (stdin, child.stdin.take()) {
        // (A child that stops reading early makes this write fail; that is its business.)
        std::thread::spawn(move || w.write_all(&bytes));
    }
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shardprop {args:?} still running after {LIMIT:?} (hung on a pipe?); killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// A FIFO at `dir/name`, fed `bytes` by a writer thread once a reader opens it. The thread is
/// not joined: if the reader never comes, it stays blocked in `open` until the tests end.
fn fifo(dir: &Path, name: &str, bytes: Vec<u8>) -> PathBuf {
    let p = dir.join(name);
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", p.display());
    let w = p.clone();
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&w) {
            let _ = f.write_all(&bytes);
        }
    });
    p
}

fn train_args(data: &str) -> Vec<&str> {
    vec!["train", "--data", data, "--hidden", "4", "--epochs", "3", "--json"]
}

#[test]
fn training_reads_a_pipe_or_fifo_once_and_gets_the_files_model() {
    let iris = iris();
    let bytes = std::fs::read(&iris).unwrap();
    let want = ok_json(&run(&train_args(iris.to_str().unwrap()), None))["params_digest"].clone();

    let o = run(&train_args("/dev/stdin"), Some(bytes.clone()));
    assert_eq!(ok_json(&o)["params_digest"], want, "/dev/stdin: {}", stderr(&o));

    let o = run(&train_args("/dev/stdin"), Some(gzip(&bytes)));
    assert_eq!(ok_json(&o)["params_digest"], want, "gzipped /dev/stdin: {}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let data = fifo(dir.path(), "train.fifo", bytes.clone());
    let test = fifo(dir.path(), "test.fifo", bytes.clone());
    let mut args = train_args(data.to_str().unwrap());
    args.extend(["--test", test.to_str().unwrap()]);
    let o = run(&args, None);
    let v = ok_json(&o);
    assert_eq!(v["params_digest"], want, "FIFO: {}", stderr(&o));
    assert!(v["test_accuracy"].is_number(), "{v}");
}

#[test]
fn evaluate_predict_and_convert_read_a_pipe_or_fifo_once() {
    let dir = tempfile::tempdir().unwrap();
    let iris = iris();
    let bytes = std::fs::read(&iris).unwrap();
    let model = dir.path().join("iris.ckpt");
    let mut args = train_args(iris.to_str().unwrap());
    args.extend(["--out", model.to_str().unwrap()]);
    ok_json(&run(&args, None));
    let m = model.to_str().unwrap();

    let from_file = run(&["evaluate", "--model", m, "--data", iris.to_str().unwrap(), "--json"], None);
    let data = fifo(dir.path(), "eval.fifo", bytes.clone());
    let from_fifo = run(&["evaluate", "--model", m, "--data", data.to_str().unwrap(), "--json"], None);
    assert_eq!(ok_json(&from_fifo), ok_json(&from_file));

    // Rows without the target column: predict reads them a second time, from memory.
    let unlabeled: String = String::from_utf8(bytes.clone())
        .unwrap()
        .lines()
        .map(|l| format!("{}\n", l.rsplit_once(',').unwrap().0))
        .collect();
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, &unlabeled).unwrap();
    let from_file = run(&["predict", "--model", m, "--data", rows.to_str().unwrap()], None);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    let from_pipe = run(&["predict", "--model", m, "--data", "/dev/stdin"], Some(unlabeled.into_bytes()));
    assert!(from_pipe.status.success(), "{}", stderr(&from_pipe));
    assert_eq!(from_pipe.stdout, from_file.stdout);
    assert_eq!(String::from_utf8_lossy(&from_pipe.stdout).lines().count(), 151);

    let out_file = dir.path().join("file.bin");
    let o = run(&["convert", iris.to_str().unwrap(), out_file.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out_fifo = dir.path().join("fifo.bin");
    let data = fifo(dir.path(), "convert.fifo", bytes.clone());
    let o = run(&["convert", data.to_str().unwrap(), out_fifo.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&out_fifo).unwrap() == std::fs::read(&out_file).unwrap(), "same binary file");

    // A binary dataset is memory-mapped: from a pipe it is refused, with the reason.
    let bin = std::fs::read(&out_file).unwrap();
    let o = run(&train_args("/dev/stdin"), Some(bin.clone()));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/dev/stdin: byte 0: a shardprop binary dataset, but not a regular file"),
        "{}",
        stderr(&o)
    );
    let data = fifo(dir.path(), "bin.fifo", bin);
    let o = run(&["evaluate", "--model", m, "--data", data.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bin.fifo: byte 0: a shardprop binary dataset, but not a regular file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_endless_pipe_that_outgrows_memory_ends_in_exit_2_not_an_abort() {
    // `yes 1,0` into --data under a 1 GiB address space: the rows' buffers cannot grow past it.
    // Before, the failed allocation aborted (134); now it is an error naming the input.
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["train", "--data", "/dev/stdin", "--hidden", "2", "--epochs", "1", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    crate::common::limit_address_space(&mut cmd, 1 << 30);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let block = "1,0\n2,1\n".repeat(1 << 16);
        // Ends when the child exits (EPIPE) or after 4 GiB, far past the limit.
        for _ in 0..(4usize << 30) / block.len() {
            if std::io::Write::write_all(&mut stdin, block.as_bytes()).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/stdin") && err.contains("does not fit in memory"), "{err}");
}
