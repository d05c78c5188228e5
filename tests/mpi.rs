//! Distributed training under real MPI: the built binary launched with `mpirun` (a process can
//! initialise MPI only once). Compiled only with `--features mpi`; needs Open MPI's `mpirun`.

#![cfg(feature = "mpi")]

use std::path::PathBuf;
use std::process::{Command, Output};

// The integration tests' helpers; this binary uses a few of them.
#[allow(dead_code)]
#[path = "integration/common.rs"]
mod common;

use common::{bin, digest, digits, owned};

fn train_args(extra: &[&str]) -> Vec<String> {
    let digits = digits();
    let base = ["train", "--data", digits.to_str().unwrap(), "--hidden", "40", "--batch-size", "64", "--epochs", "4"];
    // 8 shards per step, so that every rank of up to 8 has a block of its own.
    owned(&[&base[..], &["--shard-size", "8", "--json", "--quiet"], extra].concat())
}

/// `mpirun -np ranks` of the binary with `args` (2 cores here: oversubscribe, no binding).
fn mpirun(ranks: usize, args: &[String]) -> Output {
    Command::new("mpirun")
        .args(["-np", &ranks.to_string(), "--bind-to", "none", "--oversubscribe"])
        .arg(bin())
        .args(args)
        .arg("--distributed")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("mpirun runs (install openmpi-bin)")
}

#[test]
fn one_to_four_ranks_give_the_bits_of_one_process() {
    let single = Command::new(bin()).args(train_args(&[])).output().unwrap();
    let want = digest(&single);
    for ranks in [1, 2, 3, 4] {
        assert_eq!(digest(&mpirun(ranks, &train_args(&[]))), want, "{ranks} ranks");
    }
    let adam = train_args(&["--optimizer", "adam", "--lr", "0.01", "--shard-size", "16"]);
    let want = digest(&Command::new(bin()).args(&adam).output().unwrap());
    assert_eq!(digest(&mpirun(2, &adam)), want, "adam on 2 ranks");
}

#[test]
fn a_rank_with_bad_data_stops_the_whole_job_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b,label\n1,2,0\n1,zz,1\n").unwrap();
    let good = train_args(&[]);
    let mut other = good.clone();
    other[2] = bad.to_str().unwrap().to_string();
    // MPMD launch: rank 0 reads the good file, rank 1 a corrupt copy.
    let o = Command::new("mpirun")
        .args(["--bind-to", "none", "--oversubscribe", "-np", "1", bin()])
        .args(&good)
        .args(["--distributed", ":", "-np", "1", bin()])
        .args(&other)
        .arg("--distributed")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("error: rank 1 of 2")
            && err.contains("bad.csv:3:3: column 2 (b): cannot parse \"zz\" as a number"),
        "{err}"
    );
}

#[test]
fn resume_with_another_rank_count_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let want = digest(&Command::new(bin()).args(train_args(&[])).output().unwrap());
    let with_ckpts =
        train_args(&["--checkpoint-dir", ck.to_str().unwrap(), "--checkpoint-every-steps", "11", "--keep", "100"]);
    assert_eq!(digest(&mpirun(2, &with_ckpts)), want);
    let mut all: Vec<PathBuf> = std::fs::read_dir(&ck).unwrap().map(|e| e.unwrap().path()).collect();
    all.sort();
    let mid = all[all.len() / 2].to_str().unwrap().to_string();
    let resume = vec!["resume".to_string(), mid.clone(), "--json".into(), "--quiet".into()];
    assert_eq!(digest(&Command::new(bin()).args(&resume).output().unwrap()), want, "1 process from {mid}");
    for ranks in [3, 4] {
        assert_eq!(digest(&mpirun(ranks, &resume)), want, "{ranks} ranks from {mid}");
    }
}

/// Issue 10: under real MPI a rank receives about `2 (R − 1)/R · 4P` bytes per step (the
/// reduce-scatter along the tree plus the all-gather of finished slices), as `bench` reports.
#[test]
fn bench_reports_comm_bytes_of_a_reduce_scatter_at_four_ranks() {
    let args: Vec<String> = [
        "bench",
        "--data",
        digits().to_str().unwrap(),
        "--hidden",
        "200",
        "--batch-size",
        "256",
        "--shards",
        "8",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = mpirun(4, &args);
    assert!(o.status.success(), "failed ({:?}): {}", o.status, String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let r = &v["results"][0];
    assert_eq!(r["ranks"], 4);
    let (params, bytes) = (r["params"].as_f64().unwrap(), r["comm_bytes"].as_f64().unwrap());
    assert_eq!(params, (65 * 200 + 201 * 10) as f64);
    let ring = 2.0 * 3.0 / 4.0 * 4.0 * params;
    assert!(bytes >= ring && bytes <= 1.05 * ring, "{bytes} bytes per step, expected about {ring}");
}
