//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array2;
use rand::Rng;
use shardprop::data::{Dataset, Targets, Task};
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

/// Runs the `shardprop` binary with `args`; its status, stdout and stderr.
pub fn run_bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shardprop")).args(args).output().expect("the binary runs")
}
