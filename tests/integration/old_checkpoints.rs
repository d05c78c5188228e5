//! Checkpoints written by an earlier build keep working: the files in `tests/fixtures/` (see its
//! README for the command that wrote each, and at which commit) load, evaluate and resume to the
//! same bits as a run of this build that was never stopped. When the format version is bumped,
//! these files are the previous version's reader's test.

use std::path::Path;

use crate::common::{digest, fixture, iris, json, run_bin, run_json};

/// The command that wrote the fixtures, to `--epochs`.
fn train_args(epochs: &str) -> Vec<String> {
    let iris = iris();
    let args = [
        "train",
        "--data",
        iris.to_str().unwrap(),
        "--hidden",
        "8",
        "--epochs",
        epochs,
        "--batch-size",
        "16",
        "--optimizer",
        "momentum",
        "--momentum",
        "0.9",
        "--lr",
        "0.3",
        "--seed",
        "7",
        "--scale",
        "standard",
        "--json",
        "--quiet",
    ];
    args.iter().map(|s| s.to_string()).collect()
}

/// The format version in a checkpoint's header (bytes 8..12, little-endian).
fn file_version(path: &Path) -> u32 {
    let bytes = std::fs::read(path).unwrap();
    u32::from_le_bytes(bytes[8..12].try_into().unwrap())
}

fn train(epochs: &str, out: &Path) -> String {
    let mut args = train_args(epochs);
    args.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
    digest(&run_bin(&args.iter().map(String::as_str).collect::<Vec<_>>()))
}

#[test]
fn a_version_2_checkpoint_holds_what_this_build_trains_and_evaluates_the_same() {
    let old = fixture("v2-iris-momentum.ckpt");
    assert_eq!(file_version(&old), 2, "the fixture is a version-2 file");
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.ckpt");
    let fresh_digest = train("2", &fresh);

    let inspect = run_json(&["inspect", old.to_str().unwrap()]);
    assert_eq!(inspect["params_digest"].as_str().unwrap(), fresh_digest, "the old file's weights");
    assert_eq!(inspect["format_version"], 2);

    let eval = |model: &Path| {
        let o =
            run_bin(&["evaluate", "--model", model.to_str().unwrap(), "--data", iris().to_str().unwrap(), "--json"]);
        json(&o)
    };
    let (then, now) = (eval(&old), eval(&fresh));
    for key in ["accuracy", "loss", "confusion", "examples", "classes", "params_digest"] {
        assert_eq!(then[key], now[key], "evaluate's {key}");
    }
}

#[test]
fn version_2_checkpoints_resume_to_the_bits_of_a_run_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let straight = train("4", &dir.path().join("straight.ckpt"));
    for name in ["v2-iris-momentum.ckpt", "v2-iris-momentum-step14.ckpt"] {
        let old = fixture(name);
        assert_eq!(file_version(&old), 2, "{name} is a version-2 file");
        for threads in ["1", "2"] {
            let resumed = run_bin(&[
                "resume",
                old.to_str().unwrap(),
                "--data",
                iris().to_str().unwrap(),
                "--epochs",
                "4",
                "--threads",
                threads,
                "--json",
                "--quiet",
            ]);
            assert_eq!(digest(&resumed), straight, "{name} resumed at {threads} threads");
        }
    }
}
