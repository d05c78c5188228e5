//! Checkpoints never lose work and resume is exact to the bit: resume equivalence (at epoch
//! boundaries, mid-epoch, with other thread counts, with every optimiser), SIGKILL at random
//! moments (including mid-write), signals, damaged files, full disks and unwritable directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{bin, digest, digits, json, owned, run_bin_env as run};

/// The training command of these tests: digits, 64-40-10, small batches (many steps).
fn train_args(extra: &[&str]) -> Vec<String> {
    let digits = digits();
    let base = ["train", "--data", digits.to_str().unwrap(), "--hidden", "40", "--batch-size", "32", "--lr", "0.5"];
    owned(&[&base[..], &["--json", "--quiet"], extra].concat())
}

fn train(extra: &[&str]) -> Output {
    let a = train_args(extra);
    run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("ckpt-e"))
        .collect();
    v.sort();
    v
}

#[test]
fn four_epochs_equal_two_then_resume_to_four_at_boundaries_mid_epoch_and_other_threads() {
    let dir = tempfile::tempdir().unwrap();
    let straight = digest(&train(&["--epochs", "4", "--threads", "2"]));

    // Stopped after 2 epochs (its own run of --epochs 2), then resumed to 4 in a new process.
    let half = dir.path().join("half.ckpt");
    digest(&train(&["--epochs", "2", "--out", half.to_str().unwrap()]));
    let resumed = run(&["resume", half.to_str().unwrap(), "--epochs", "4", "--json", "--quiet"], &[]);
    assert_eq!(digest(&resumed), straight);

    // Checkpoints written during a 4-epoch run, every 13 steps: resume from one mid-epoch, with
    // another thread count.
    let ck = dir.path().join("ck");
    let with_ckpts = train(&[
        "--epochs",
        "4",
        "--checkpoint-dir",
        ck.to_str().unwrap(),
        "--checkpoint-every-steps",
        "13",
        "--keep",
        "100",
    ]);
    assert_eq!(digest(&with_ckpts), straight, "checkpointing must not change the result");
    let all = checkpoints(&ck);
    assert!(all.len() > 20, "{} checkpoints", all.len());
    // 1797 rows / 32 = 57 steps per epoch: step 65 is inside epoch 2.
    let mid = all.iter().find(|p| p.to_str().unwrap().contains("-e00001-s0000000065")).expect("a mid-epoch checkpoint");
    for threads in ["1", "3"] {
        let o = run(&["resume", mid.to_str().unwrap(), "--threads", threads, "--json", "--quiet"], &[]);
        assert_eq!(digest(&o), straight, "resumed mid-epoch with {threads} threads");
    }
    // The weights themselves, not only the digest.
    let a = run(&["inspect", "--weights", "--json", all.last().unwrap().to_str().unwrap()], &[]);
    let b = run(&["inspect", "--weights", "--json", half.to_str().unwrap()], &[]);
    let wa: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let wb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(wa["sizes"], serde_json::json!([64, 40, 10]));
    assert_eq!(wa["weights"][0].as_array().unwrap().len(), 40);
    assert_eq!(wa["weights"][0][0].as_array().unwrap().len(), 65, "S_(l+1) x (S_l + 1), column 0 the bias");
    assert_ne!(wa["weights"], wb["weights"]);
}

#[test]
fn resume_is_exact_with_every_optimiser_validation_and_early_stopping() {
    let dir = tempfile::tempdir().unwrap();
    for opt in [
        &["--epochs", "3", "--optimizer", "momentum"][..],
        &["--epochs", "3", "--optimizer", "nesterov", "--l2", "0.5"],
        &["--epochs", "3", "--optimizer", "adam", "--lr", "0.01", "--lr-schedule", "cosine"],
        &["--epochs", "3", "--optimizer", "rprop", "--batch-size", "0"],
        // Stops early (validation loss last improves at epoch 21 of 40), so the resumed run must
        // carry the patience counter and the best epoch's weights across the checkpoint.
        &[
            "--epochs",
            "40",
            "--lr",
            "8",
            "--validation",
            "0.2",
            "--early-stopping",
            "2",
            "--lr-schedule",
            "step",
            "--lr-step",
            "10",
        ],
    ] {
        let straight_out = train(opt);
        let straight = digest(&straight_out);
        let early = opt.contains(&"--early-stopping");
        if early {
            let v: serde_json::Value = serde_json::from_slice(&straight_out.stdout).unwrap();
            let best = v["best_epoch"].as_u64().expect("the early-stopping case stops early");
            assert!(v["epochs"].as_u64().unwrap() < 40 && best < v["epochs"].as_u64().unwrap(), "{v}");
        }
        let ck = dir.path().join(format!("ck-{}", opt.join("")));
        let mut args =
            vec!["--checkpoint-dir", ck.to_str().unwrap(), "--checkpoint-every-steps", "20", "--keep", "100"];
        args.extend_from_slice(opt);
        assert_eq!(digest(&train(&args)), straight, "{opt:?}");
        let all = checkpoints(&ck);
        // For the early-stopping case, a checkpoint after the best epoch and before the stop:
        // resuming must not forget the best weights it holds.
        let mid = if early { &all[all.len() - 3] } else { &all[all.len() / 2] };
        let o = run(&["resume", mid.to_str().unwrap(), "--threads", "1", "--json", "--quiet"], &[]);
        assert_eq!(digest(&o), straight, "{opt:?} resumed from {}", mid.display());
    }
}

#[test]
fn sigkill_at_random_moments_never_costs_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // 64-40-200-10: the full list replaces train_args' --hidden 40.
    let base = ["--epochs", "6", "--hidden", "40,200"];
    let straight = digest(&train(&base));
    let mut r = shardprop::rng::seeded(2026, 9);
    let mut killed_mid_write = 0;
    for trial in 0..10 {
        let ck = dir.path().join(format!("ck{trial}"));
        let mut a = train_args(&base);
        a.extend(["--checkpoint-dir", ck.to_str().unwrap(), "--checkpoint-every-steps", "5"].map(String::from));
        let mut child = Command::new(bin())
            .args(&a)
            // A slow writer: each 4 KiB of a checkpoint takes 2 ms, so most kills land mid-write.
            .env("SHARDPROP_SLOW_WRITE_US", "2000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + shardprop::rng::below(&mut r, 900) as u64));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if !ck.exists() || checkpoints(&ck).is_empty() {
            assert!(status.success() || !ck.exists(), "no checkpoint after the run finished");
            continue;
        }
        if std::fs::read_dir(&ck).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp.")) {
            killed_mid_write += 1;
        }
        // Every checkpoint file on disk is complete; the newest resumes to the same weights.
        for p in checkpoints(&ck) {
            let o = run(&["inspect", "--json", p.to_str().unwrap()], &[]);
            assert!(
                o.status.success(),
                "trial {trial}: {} does not load: {}",
                p.display(),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let o = run(&["resume", ck.to_str().unwrap(), "--json", "--quiet"], &[]);
        assert_eq!(digest(&o), straight, "trial {trial}");
    }
    eprintln!("{killed_mid_write} of 10 kills landed while a checkpoint was being written");
    assert!(
        killed_mid_write >= 3,
        "only {killed_mid_write} kills landed mid-write: the test did not exercise torn writes"
    );
}

#[test]
fn sigterm_sigint_and_sighup_checkpoint_print_the_resume_command_and_exit_143_130_or_129() {
    let dir = tempfile::tempdir().unwrap();
    // 64-40-300-10: the full list replaces train_args' --hidden 40.
    let base = ["--epochs", "500", "--hidden", "40,300"];
    let straight = digest(&train(&base));
    for (signal, code) in [("-TERM", 143), ("-INT", 130), ("-HUP", 129)] {
        let ck = dir.path().join(format!("ck{signal}"));
        let mut a = train_args(&base);
        a.extend(["--checkpoint-dir", ck.to_str().unwrap(), "--checkpoint-every", "1000"].map(String::from));
        let mut child = Command::new(bin()).args(&a).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // No fixed sleep racing start-up: the "training ..." line is printed after the signal
        // handlers are installed, so the signal is sent once it has been read.
        let mut stdout = child.stdout.take().unwrap();
        let drain = std::thread::spawn(move || std::io::Read::read_to_end(&mut stdout, &mut Vec::new()));
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut err = String::new();
        while !err.contains("training 64-40-300-10 on") {
            assert!(std::io::BufRead::read_line(&mut stderr, &mut err).unwrap() > 0, "ended early: {err}");
        }
        let k = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(k.success());
        std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
        drain.join().unwrap().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{err}");
        let line = err.lines().find(|l| l.starts_with("resume with: shardprop resume ")).expect(&err);
        let path = line.trim_start_matches("resume with: shardprop resume ");
        assert!(Path::new(path).exists(), "{path}");
        let o = run(&["resume", path, "--json", "--quiet"], &[]);
        assert_eq!(digest(&o), straight, "after {signal}");
    }
}

#[test]
fn damaged_checkpoints_and_other_data_are_refused_with_their_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ckpt");
    digest(&train(&["--epochs", "1", "--out", good.to_str().unwrap()]));
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.ckpt");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    let mut magic = bytes.clone();
    magic[0] = b'Z';
    let mut future = bytes.clone();
    future[8] = 7;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty file, not a checkpoint"),
        (bytes[..bytes.len() / 3].to_vec(), "(file is truncated or damaged)"),
        (flipped, "checksum mismatch (file is damaged or truncated)"),
        (magic, "bad magic, not a shardprop checkpoint"),
        (future, "format version 7, this build reads versions 1 to 3 (written by a newer shardprop"),
    ];
    for (b, want) in cases {
        std::fs::write(&bad, &b).unwrap();
        for cmd in [
            &["resume", bad.to_str().unwrap()][..],
            &["inspect", bad.to_str().unwrap()],
            &["evaluate", "--model", bad.to_str().unwrap(), "--data", digits().to_str().unwrap()],
        ] {
            let o = run(cmd, &[]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}: {err}");
            assert!(err.contains(want) && err.contains("bad.ckpt"), "{cmd:?}: want {want:?} in {err}");
        }
    }
    // A checkpoint resumed on other data is refused unless --force.
    let iris_like = dir.path().join("other.csv");
    let text = std::fs::read_to_string(digits()).unwrap();
    std::fs::write(&iris_like, text.lines().take(500).collect::<Vec<_>>().join("\n")).unwrap();
    let o = run(&["resume", good.to_str().unwrap(), "--data", iris_like.to_str().unwrap(), "--epochs", "2"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("this is not the data the checkpoint was trained on"), "{err}");
    // One line: the two fingerprints side by side, no stray backslash or line break between them.
    assert!(err.contains(" features, hash ") && err.contains("; this file: ") && !err.contains('\\'), "{err}");
    let o = run(
        &[
            "resume",
            good.to_str().unwrap(),
            "--data",
            iris_like.to_str().unwrap(),
            "--epochs",
            "2",
            "--force",
            "--json",
            "--quiet",
        ],
        &[],
    );
    digest(&o);
}

#[test]
fn a_full_disk_or_unwritable_directory_is_reported_and_the_previous_checkpoint_stays() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    // Room for a little more than one checkpoint: the first is written, later ones fail.
    let probe = dir.path().join("probe.ckpt");
    digest(&train(&["--epochs", "0", "--out", probe.to_str().unwrap()]));
    let size = std::fs::metadata(&probe).unwrap().len();
    let limit = (size * 3 / 2).to_string();
    let mut a = train_args(&["--epochs", "3", "--checkpoint-dir", ck.to_str().unwrap()]);
    a.retain(|s| s != "--json");
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[("SHARDPROP_FAIL_WRITES_AFTER", &limit)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: checkpoint not written, the previous one is kept")
            && err.contains("No space left on device"),
        "{err}"
    );
    let left = checkpoints(&ck);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].to_str().unwrap().contains("ckpt-e00001"), "{left:?}");
    let o = run(&["inspect", "--json", left[0].to_str().unwrap()], &[]);
    assert!(o.status.success());
    let no_temp = std::fs::read_dir(&ck).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp."));
    assert!(no_temp, "a failed write must not leave its temp file");

    // A directory that cannot be created (its parent is a file): reported, training finishes.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let unwritable = file.join("ck");
    let o = train(&["--epochs", "1", "--checkpoint-dir", unwritable.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("checkpoint not written") && err.contains("plain-file/ck"), "{err}");
}

#[test]
fn a_signal_after_a_diverged_step_writes_no_checkpoint_that_would_not_load() {
    // ReLU with a huge rate: the weights of step 5 overflow while every cost so far was finite
    // (dead units hide them), and a signal arrives during that step (the test hook stops after
    // it exactly). Its checkpoint would be refused on loading: none is written, exit 2 names
    // the last good one, and every checkpoint left loads.
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let iris = crate::common::iris();
    let o = run(
        &[
            "train",
            "--data",
            iris.to_str().unwrap(),
            "--hidden",
            "8",
            "--activation",
            "relu",
            "--loss",
            "cross-entropy",
            "--lr",
            "1000000",
            "--epochs",
            "50",
            "--quiet",
            "--checkpoint-dir",
            ck.to_str().unwrap(),
            "--checkpoint-every-steps",
            "1",
        ],
        &[("SHARDPROP_STOP_AFTER_STEP", "5")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("stopped by a signal after step 5, whose weights are not finite"), "{err}");
    assert!(err.contains("the last good checkpoint is") && err.contains("(step 4)"), "{err}");
    let all = checkpoints(&ck);
    assert!(!all.is_empty());
    for p in all {
        let o = run(&["inspect", "--json", p.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{} does not load: {}", p.display(), String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn a_resume_from_another_directory_writes_where_the_run_did() {
    // Relative --checkpoint-dir and --metrics are stored absolute, so a resume started from
    // elsewhere neither scatters checkpoints into its own directory nor splits the log.
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("run/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(digits(), sub.join("digits.csv")).unwrap();
    let o = Command::new(bin())
        .current_dir(&sub)
        .args(["train", "--data", "digits.csv", "--hidden", "4", "--epochs", "2", "--quiet"])
        .args(["--checkpoint-dir", "ck", "--metrics", "m.jsonl"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(bin())
        .current_dir(dir.path().join("run"))
        .args(["resume", "sub/ck", "--data", "sub/digits.csv", "--epochs", "4", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(checkpoints(&sub.join("ck")).len(), 3, "the newest 3 of 4 epochs, all in sub/ck");
    assert!(!dir.path().join("run/ck").exists() && !dir.path().join("run/m.jsonl").exists());
    let log = std::fs::read_to_string(sub.join("m.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4, "one log, every epoch");
}

#[test]
fn a_checkpoint_moved_to_another_machine_resumes_with_its_log_and_checkpoints_elsewhere() {
    // The run's paths are stored absolute; on another machine (here: the run's directory
    // renamed away) they do not exist. Without --metrics the resume is refused before training,
    // naming the flag; with --metrics and --checkpoint-dir it ends at the bits of a run never
    // stopped, logging the epochs it trained.
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (dir.path().join("here"), dir.path().join("there"));
    std::fs::create_dir_all(&here).unwrap();
    let (ck, log) = (here.join("ck"), here.join("m.jsonl"));
    let straight = digest(&train(&["--epochs", "4"]));
    let o = train(&["--epochs", "4", "--checkpoint-dir", ck.to_str().unwrap(), "--metrics", log.to_str().unwrap()]);
    assert_eq!(digest(&o), straight);
    let half = checkpoints(&ck).into_iter().find(|p| p.to_str().unwrap().contains("e00002")).expect("epoch 2");
    std::fs::rename(&here, &there).unwrap();
    let moved = there.join("ck").join(half.file_name().unwrap());
    let moved = moved.to_str().unwrap();

    let o = run(&["resume", moved, "--json", "--quiet"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(log.to_str().unwrap()) && err.contains("--metrics"), "{err}");
    assert!(!here.exists(), "nothing written before the refusal");

    // A directory as the log: refused before anything loads, naming the flag.
    let o = run(&["resume", moved, "--quiet", "--metrics", there.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is a directory") && err.contains("--metrics"), "{err}");
    // The log given anew, but the run's checkpoint directory's parent is not here either.
    let log0 = there.join("m0.jsonl");
    let o = run(&["resume", moved, "--json", "--quiet", "--metrics", log0.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(ck.to_str().unwrap()) && err.contains("--checkpoint-dir"), "{err}");
    assert!(!here.exists() && !log0.exists(), "nothing written before the refusal");

    let (ck2, log2) = (there.join("ck2"), there.join("m2.jsonl"));
    let (log2s, ck2s) = (log2.to_str().unwrap(), ck2.to_str().unwrap());
    let o = run(&["resume", moved, "--json", "--quiet", "--metrics", log2s, "--checkpoint-dir", ck2s], &[]);
    assert_eq!(digest(&o), straight, "{}", String::from_utf8_lossy(&o.stderr));
    let epochs: Vec<String> = std::fs::read_to_string(&log2)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"].to_string())
        .collect();
    assert_eq!(epochs, ["3", "4"]);
    assert_eq!(checkpoints(&ck2).len(), 2);
    assert!(!here.exists());
}

#[test]
fn a_run_with_relative_data_and_test_set_resumes_from_elsewhere_with_data_and_test() {
    // Data and test paths are stored as given; resumed from another directory, the test set is
    // not found: refused before training, naming --test; with --data and --test the run ends at
    // the bits of a run never stopped, evaluated on the test set given.
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(digits(), sub.join("digits.csv")).unwrap();
    let run_in = |cwd: &Path, args: &[&str]| Command::new(bin()).current_dir(cwd).args(args).output().unwrap();
    let common = ["--hidden", "8", "--epochs", "3", "--json", "--quiet", "--batch-size", "64"];
    let straight = run_in(&sub, &[&["train", "--data", "digits.csv", "--test", "digits.csv"], &common[..]].concat());
    let o = run_in(
        &sub,
        &[&["train", "--data", "digits.csv", "--test", "digits.csv", "--checkpoint-dir", "ck"], &common[..]].concat(),
    );
    assert_eq!(digest(&o), digest(&straight));
    let first = checkpoints(&sub.join("ck")).into_iter().next().expect("epoch 1");
    let first = first.to_str().unwrap();

    let o = run_in(dir.path(), &["resume", first, "--data", "sub/digits.csv", "--json", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("test set digits.csv") && err.contains("--test"), "{err}");
    assert_eq!(checkpoints(&sub.join("ck")).len(), 3, "nothing trained or written before the refusal");

    let o = run_in(dir.path(), &["resume", first, "--data", "sub/digits.csv", "--test", "sub/digits.csv", "--json"]);
    assert_eq!(digest(&o), digest(&straight), "{}", String::from_utf8_lossy(&o.stderr));
    let (got, want) = (json(&o), json(&straight));
    assert_eq!(got["test_accuracy"], want["test_accuracy"]);
    assert!(got["test_accuracy"].as_f64().is_some_and(|a| a > 0.5), "{got}");
}

#[test]
fn an_mnist_run_resumed_elsewhere_with_data_takes_that_directorys_test_files() {
    // `train --data mnist` records its test set as mnist/t10k-images-idx3-ubyte (relative);
    // resumed from another directory with --data naming the MNIST directory, the run takes that
    // directory's t10k files, as `train` would: same bits, same test accuracy.
    fn idx(path: &Path, dims: &[u32], cells: impl Iterator<Item = u8>) {
        let mut bytes = vec![0u8, 0, 8, dims.len() as u8];
        dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
        bytes.extend(cells);
        std::fs::write(path, bytes).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mnist = dir.path().join("run/mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for (split, n) in [("train", 60u32), ("t10k", 20)] {
        let cells = (0..n * 16).map(|i| ((i * 37 + i / 16 * 11) % 256) as u8);
        idx(&mnist.join(format!("{split}-images-idx3-ubyte")), &[n, 4, 4], cells);
        idx(&mnist.join(format!("{split}-labels-idx1-ubyte")), &[n], (0..n).map(|i| (i * 7 % 10) as u8));
    }
    let run_dir = dir.path().join("run");
    let args = ["--data", "mnist", "--hidden", "6", "--epochs", "3", "--batch-size", "8", "--json", "--quiet"];
    let o = Command::new(bin()).current_dir(&run_dir).args(["train"]).args(args).output().unwrap();
    let straight = json(&o);
    let o = Command::new(bin())
        .current_dir(&run_dir)
        .args(["train"])
        .args(args)
        .args(["--checkpoint-dir", "ck"])
        .output()
        .unwrap();
    assert_eq!(json(&o)["params_digest"], straight["params_digest"], "{}", String::from_utf8_lossy(&o.stderr));
    let first = checkpoints(&run_dir.join("ck")).into_iter().next().expect("epoch 1");
    let o = Command::new(bin())
        .current_dir(dir.path())
        .args(["resume", first.to_str().unwrap(), "--data", "run/mnist", "--json", "--quiet"])
        .output()
        .unwrap();
    let got = json(&o);
    assert_eq!(got["params_digest"], straight["params_digest"], "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(got["test_accuracy"], straight["test_accuracy"]);
    assert!(got["test_accuracy"].as_f64().is_some(), "{got}");
}
