//! Helpers shared by the test modules: the binary and how to run it, the datasets, reading the
//! CLI's output, file and directory helpers, synthetic data and networks, and error measures
//! that fail on NaN.
//!
//! Also compiled into `tests/mpi.rs` (`#[path]`), which uses only a few of these.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};
use shardprop::data::binary::HEADER_LEN;
use shardprop::data::{Dataset, ScalerFit, Targets, Task};
use shardprop::run::session::Observer;
use shardprop::tools::gradcheck::max_or_nan;
use shardprop::{Activation, Head, Network, rng};

/// A seeded random matrix with entries uniform in [-1, 1].
pub fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut r = rng::seeded(seed, 99);
    Array2::from_shape_fn((rows, cols), |_| r.gen_range(-1.0..1.0))
}

/// Targets fitting a head: one-hot rows for classifiers, real values for regression.
pub fn random_targets(head: Head, rows: usize, k: usize, seed: u64) -> Array2<f64> {
    let mut r = rng::seeded(seed, 98);
    match head {
        Head::IdentityMse => Array2::from_shape_fn((rows, k), |_| r.gen_range(-1.0..1.0)),
        _ => {
            let mut y = Array2::zeros((rows, k));
            for i in 0..rows {
                y[[i, r.gen_range(0..k)]] = 1.0;
            }
            y
        }
    }
}

/// A seeded network.
pub fn network(sizes: &[usize], hidden: Activation, head: Head, seed: u64) -> Network<f64> {
    Network::new(sizes, hidden, head, &mut rng::seeded(seed, rng::STREAM_INIT)).expect("valid sizes")
}

/// A synthetic classification dataset whose features are f32 values (exact in f64 too).
pub fn classification_data(rows: usize, features: usize, classes: usize, seed: u64) -> Dataset {
    let mut r = rng::seeded(seed, 97);
    let x: Vec<f32> = (0..rows * features).map(|_| r.gen_range(-1.0f32..1.0)).collect();
    // Labels depend on the features, so there is something to learn.
    let labels: Vec<u32> = (0..rows)
        .map(|i| {
            let s: f32 =
                x[i * features..(i + 1) * features].iter().enumerate().map(|(j, v)| v * (j as f32 + 1.0)).sum();
            ((s.abs() * 3.0) as usize % classes) as u32
        })
        .collect();
    let names = (0..classes).map(|c| c.to_string()).collect();
    Dataset::from_labels(x, labels, features, names, "synthetic").expect("consistent")
}

/// A synthetic regression dataset with `k` targets.
pub fn regression_data(rows: usize, features: usize, k: usize, seed: u64) -> Dataset {
    let mut r = rng::seeded(seed, 96);
    let x: Vec<f32> = (0..rows * features).map(|_| r.gen_range(-1.0f32..1.0)).collect();
    let y: Vec<f32> = (0..rows * k).map(|_| r.gen_range(-1.0f32..1.0)).collect();
    let task = Task::Regression { targets: (0..k).map(|t| format!("t{t}")).collect() };
    Dataset::new(x, Targets::Values(y), features, task, "synthetic").expect("consistent")
}

/// Largest elementwise relative error `|a − b| / max(|a|, |b|, floor)`; NaN if any entry is NaN
/// (so `err <= tol` fails), and infinite if the shapes differ.
pub fn max_rel_err(a: &Array2<f64>, b: &Array2<f64>, floor: f64) -> f64 {
    if a.dim() != b.dim() {
        return f64::INFINITY;
    }
    a.iter().zip(b.iter()).map(|(&a, &b)| (a - b).abs() / a.abs().max(b.abs()).max(floor)).fold(0.0, max_or_nan)
}

/// Largest `|a − b|` over the entries relative to `b`'s largest magnitude; NaN-proof as above.
pub fn max_err_of_largest(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    if a.dim() != b.dim() {
        return f64::INFINITY;
    }
    let scale = b.iter().fold(0.0, |s, v| max_or_nan(s, v.abs())).max(1e-300);
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, max_or_nan) / scale
}

#[test]
fn error_helpers_fail_on_nan_and_on_shape_mismatch() {
    let a = Array2::from_elem((2, 2), 1.0);
    let mut b = a.clone();
    assert_eq!(max_rel_err(&a, &b, 1e-12), 0.0);
    b[[1, 0]] = f64::NAN;
    // NaN fails any `err <= tol`.
    assert!(max_rel_err(&a, &b, 1e-12).is_nan());
    assert!(max_err_of_largest(&a, &b).is_nan());
    let c = Array2::from_elem((2, 3), 1.0);
    assert_eq!(max_rel_err(&a, &c, 1e-12), f64::INFINITY);
}

/// A path in a fresh temp dir (kept alive by the returned guard).
pub fn temp_path(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join(name);
    (dir, p)
}

/// Limits the address space (RLIMIT_AS) of the process `cmd` starts to `bytes`: an allocation
/// past it fails instead of touching gigabytes.
pub fn limit_address_space(cmd: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Unmounts on drop, so a failing assertion never leaves a tmpfs mounted.
pub struct Mounted(pub PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tmpfs of `size` mounted at `dir/small` (a full disk on demand), or `None`, with the reason
/// printed, where this test cannot mount one.
pub fn small_tmpfs(dir: &Path, size: &str) -> Option<Mounted> {
    let mnt = dir.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted =
        Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&mnt).output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (needs root): {mounted:?}");
        return None;
    }
    Some(Mounted(mnt))
}

// ---------------------------------------------------------------------------------------------
// The binary and its output

/// The path of the `shardprop` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shardprop")
}

/// Runs the `shardprop` binary with `args`; its status, stdout and stderr.
pub fn run_bin(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("the binary runs")
}

/// [`run_bin`] with the variables `env` added to its environment.
pub fn run_bin_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin()).args(args).envs(env.iter().copied()).output().expect("the binary runs")
}

/// Trains a model on `data` with `hidden` units for `epochs` epochs (`--quiet`), written to `out`;
/// fails the test, showing stderr, unless the run exited 0.
pub fn train_model(data: &Path, hidden: &str, epochs: &str, out: &Path) {
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let run = run_bin(&["train", "--data", d, "--hidden", hidden, "--epochs", epochs, "--quiet", "--out", o]);
    assert!(run.status.success(), "training {d}: {}", stderr(&run));
}

/// A run's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A run's stdout parsed as one JSON object (`--json`); fails the test, showing stderr, unless
/// the run exited 0.
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "failed ({:?}): {}", o.status, stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

/// Runs the binary with `args` and parses its stdout with [`json`], naming `args` if it fails.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let o = run_bin(args);
    assert!(o.status.success(), "{args:?} failed ({:?}): {}", o.status, stderr(&o));
    json(&o)
}

/// `args` as owned strings, for argument lists that hold a built path.
pub fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The `params_digest` of a run's `--json` output: equal digests, equal weights to the bit.
pub fn digest(o: &Output) -> String {
    json(o)["params_digest"].as_str().expect("params_digest").to_string()
}

// ---------------------------------------------------------------------------------------------
// Files

/// The repository's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets")
}

/// `datasets/iris.csv`: 150 rows, 4 features, 3 classes, with a header.
pub fn iris() -> PathBuf {
    datasets().join("iris.csv")
}

/// `datasets/digits.csv`: 8×8 digits, 64 features, 10 classes.
pub fn digits() -> PathBuf {
    datasets().join("digits.csv")
}

/// A file of `tests/fixtures/` (see its README).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The names of the entries of `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Makes a character device node at `path`, a private stand-in for a system device inside a
/// temp dir (`1, 3` is a null device, `1, 7` one that is always full), never the real one: a
/// path outside the temp dir fails the test. `false`, with the reason printed, where this test
/// cannot make one (it needs root or CAP_MKNOD).
pub fn mknod_char(path: &Path, major: u32, minor: u32) -> bool {
    assert!(path.starts_with(std::env::temp_dir()), "{}: device nodes belong in a temp dir", path.display());
    let made = Command::new("mknod").arg(path).args(["c", &major.to_string(), &minor.to_string()]).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot mknod here (needs root or CAP_MKNOD)");
        return false;
    }
    true
}

/// `bytes` gzipped (fast compression).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The metadata block of a binary dataset (docs/FORMAT.md), to decode, alter and re-encode.
#[derive(Serialize, Deserialize)]
pub struct Meta {
    pub task: Task,
    pub feature_names: Vec<String>,
    pub stats: ScalerFit,
}

/// Recomputes a binary dataset's checksums, the rows-and-metadata one then the header's, so an
/// altered file is caught by its validation, not its CRC. Shorter than a header: left alone.
pub fn reseal_binary(b: &mut [u8]) {
    if b.len() >= HEADER_LEN {
        let crc = crc32fast::hash(&b[HEADER_LEN..]);
        b[48..52].copy_from_slice(&crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
    }
}

/// An observer of a training session that reports nothing.
pub struct Quiet;
impl Observer for Quiet {}
