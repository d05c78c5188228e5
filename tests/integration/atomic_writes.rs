//! Issue 11, "destructive": outputs are replaced atomically only when they are regular files (or
//! missing); a symbolic link's target is replaced and the link kept; a device or FIFO is written
//! in place, never renamed over; a write that fails at any point (write, fsync, rename, a real
//! full disk) leaves no temp file behind. Devices are private nodes made with mknod in a temp
//! dir, never a real system path.

use std::os::unix::fs::FileTypeExt;
use std::process::Command;

use shardprop::io::atomic;

use super::common::{digits, iris, mknod_char, names, run_bin_env as shardprop, small_tmpfs};

#[test]
fn a_symlink_is_followed_and_kept_and_a_regular_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.txt");
    std::fs::write(&real, "old").unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink("real.txt", &link).unwrap();
    atomic::write(&link, b"new").unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link must stay a link");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    // A dangling link: its target is created.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("made.txt", &dangling).unwrap();
    atomic::write(&dangling, b"made").unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("made.txt")).unwrap(), "made");
    // A directory is refused, not replaced.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let err = atomic::write(&sub, b"x").unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    assert!(sub.is_dir());
    assert_eq!(names(dir.path()), ["dangling", "link.txt", "made.txt", "real.txt", "sub"], "no temp files");
}

#[test]
fn a_fifo_is_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available here");
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    atomic::write(&fifo, b"through the pipe").unwrap();
    // Checked before joining the reader: a FIFO renamed over would leave it waiting forever.
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO must stay a FIFO");
    assert_eq!(reader.join().unwrap(), b"through the pipe");
    // `convert` needs a seekable file: refused at once, without waiting for a reader.
    let i = iris();
    let o = shardprop(&["convert", i.to_str().unwrap(), fifo.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("not a regular file"), "{err}");
    assert_eq!(names(dir.path()), ["pipe"]);
}

#[test]
fn a_device_node_stays_a_device_through_train_out_and_convert() {
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    // A private null device (major 1, minor 3), never the system's /dev/null.
    if !mknod_char(&null, 1, 3) {
        return;
    }
    if let Err(e) = std::fs::OpenOptions::new().write(true).open(&null) {
        eprintln!("skipped: the private device cannot be opened here (a nodev mount?): {e}");
        return;
    }
    let n = null.to_str().unwrap();
    let i = iris();
    let o = shardprop(
        &["train", "--data", i.to_str().unwrap(), "--hidden", "4", "--epochs", "2", "--quiet", "--out", n],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // `convert` needs a seekable regular file: refused, and the device left alone.
    let o = shardprop(&["convert", i.to_str().unwrap(), n], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("not a regular file"), "{err}");
    atomic::write(&null, b"discarded").unwrap();
    assert!(std::fs::symlink_metadata(&null).unwrap().file_type().is_char_device(), "the device must stay a device");
    assert_eq!(names(dir.path()), ["null"], "no temp file beside the device");
}

#[test]
fn a_write_failing_at_write_fsync_or_rename_leaves_no_temp_file_and_no_output() {
    for env in [("SHARDPROP_FAIL_WRITES_AFTER", "100"), ("SHARDPROP_FAIL_AT", "fsync"), ("SHARDPROP_FAIL_AT", "rename")]
    {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("iris.bin");
        let i = iris();
        let o = shardprop(&["convert", i.to_str().unwrap(), out.to_str().unwrap()], &[env]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{env:?}: {err}");
        assert!(err.contains("No space left on device") && err.contains("iris.bin"), "{env:?}: {err}");
        assert!(names(dir.path()).is_empty(), "{env:?}: left behind {:?}", names(dir.path()));
    }
}

#[test]
fn a_real_full_disk_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some(guard) = small_tmpfs(dir.path(), "16k") else { return };
    let mnt = guard.0.clone();
    // `convert` fails while writing (its buffer spills); `train --out` fails when the buffered
    // checkpoint is flushed at commit, the path that once left its temp file on the full disk.
    let d = digits();
    let out = mnt.join("digits.bin");
    let converted = shardprop(&["convert", d.to_str().unwrap(), out.to_str().unwrap()], &[]);
    let model = mnt.join("model.ckpt");
    let trained = shardprop(
        &[
            "train",
            "--data",
            d.to_str().unwrap(),
            "--hidden",
            "64",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            model.to_str().unwrap(),
        ],
        &[],
    );
    let left = names(&mnt);
    drop(guard);
    for (o, file) in [(converted, "digits.bin"), (trained, "model.ckpt")] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(file), "{err}");
    }
    assert!(left.is_empty(), "left behind on the full disk: {left:?}");
}

#[test]
fn a_bad_test_set_or_out_path_is_found_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let i = iris();
    let model = dir.path().join("m.ckpt");
    let missing = dir.path().join("missing.csv");
    let digits = digits();
    let no_dir = dir.path().join("no/such/dir/m.ckpt");
    for (extra, want) in [
        (vec!["--test", missing.to_str().unwrap(), "--out", model.to_str().unwrap()], "missing.csv"),
        (vec!["--test", digits.to_str().unwrap()], "digits.csv:5:143: label \"3\" was never seen in training"),
        (vec!["--out", no_dir.to_str().unwrap()], "does not exist"),
        (vec!["--out", dir.path().to_str().unwrap()], "is a directory"),
    ] {
        let mut args = vec!["train", "--data", i.to_str().unwrap(), "--hidden", "4", "--epochs", "50000"];
        args.extend(extra);
        let started = std::time::Instant::now();
        let o = shardprop(&args, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{want}: {err}");
        // 50,000 epochs would take minutes: the error came before the first step.
        assert!(!err.contains("training 4-4-3"), "training started: {err}");
        assert!(started.elapsed().as_secs() < 60);
    }
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn a_model_that_cannot_be_written_exits_2_and_names_the_newest_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let Some(guard) = small_tmpfs(dir.path(), "4k") else { return };
    let mnt = guard.0.clone();
    let ck = dir.path().join("ck");
    let model = mnt.join("model.ckpt");
    let d = digits();
    let o = shardprop(
        &[
            "train",
            "--data",
            d.to_str().unwrap(),
            "--hidden",
            "64",
            "--epochs",
            "2",
            "--quiet",
            "--json",
            "--checkpoint-dir",
            ck.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ],
        &[],
    );
    let left = names(&mnt);
    drop(guard);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the model to") && err.contains("model.ckpt"), "{err}");
    // The checkpoint of the last epoch holds the trained weights, and the message says where.
    assert!(err.contains("the newest good checkpoint is"), "{err}");
    assert!(err.contains("ckpt-e00002"), "{err}");
    // The run's JSON still comes out: the training itself succeeded.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["epochs"], 2);
    assert!(left.is_empty(), "left behind on the full disk: {left:?}");
}

#[test]
fn stdout_through_a_link_to_a_pipe_is_written_in_place() {
    // A private link to this process's stdout (as /dev/stdout is), never the system's own path:
    // the child's stdout is a pipe, which must be written in place, not replaced.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let i = iris();
    let o = shardprop(
        &[
            "train",
            "--data",
            i.to_str().unwrap(),
            "--hidden",
            "3",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            link.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.starts_with(shardprop::run::checkpoint::MAGIC), "the checkpoint went to stdout");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(names(dir.path()), ["stdout"]);
}

#[test]
fn an_out_that_fails_at_the_end_exits_2_and_names_the_newest_good_checkpoint() {
    // --out passes the up-front probe, then its rename fails (the hook, for model.ckpt only,
    // so the checkpoints still write).
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("model.ckpt");
    let ck = dir.path().join("ck");
    let i = iris();
    let o = shardprop(
        &[
            "train",
            "--data",
            i.to_str().unwrap(),
            "--hidden",
            "3",
            "--epochs",
            "3",
            "--quiet",
            "--checkpoint-dir",
            ck.to_str().unwrap(),
            "--out",
            link.to_str().unwrap(),
        ],
        &[("SHARDPROP_FAIL_AT", "rename:model.ckpt")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!link.exists(), "the failed --out left nothing behind");
    assert!(err.contains("cannot write the model to") && err.contains("the newest good checkpoint is"), "{err}");
    assert!(err.contains("ckpt-e00003"), "{err}");
}

#[test]
fn an_out_that_cannot_be_written_is_refused_before_training_and_long_names_work() {
    let dir = tempfile::tempdir().unwrap();
    // A 250-byte name: its temp file's name must still fit the 255-byte limit.
    let long = dir.path().join("m".repeat(245) + ".ckpt");
    let o = shardprop(
        &[
            "train",
            "--data",
            iris().to_str().unwrap(),
            "--hidden",
            "4",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            long.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(long.is_file());
    // A read-only file system: found before the first step, not after training.
    let Some(guard) = small_tmpfs(dir.path(), "64k") else { return };
    let ro = Command::new("mount").args(["-o", "remount,ro"]).arg(&guard.0).status().unwrap();
    assert!(ro.success());
    let out = guard.0.join("model.ckpt");
    let o = shardprop(
        &[
            "train",
            "--data",
            iris().to_str().unwrap(),
            "--hidden",
            "4",
            "--epochs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--out") && err.contains("Read-only file system"), "{err}");
    assert!(!err.contains("training 4-4-3"), "refused before training: {err}");
}
