//! Issue 11: a memory-mapped dataset truncated by another program while it is in use ends the
//! run with a message naming the file and exit 2, never a silent SIGBUS (exit 135).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shardprop::data::binary::MappedDataset;
use shardprop::data::{self, CsvOptions, Examples};

/// A binary dataset of `rows` rows of 8 features in `dir` (a few pages at least).
fn binary_file(dir: &Path, rows: usize) -> std::path::PathBuf {
    let csv = dir.join("rows.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(f, "a,b,c,d,e,f,g,h,label").unwrap();
    for i in 0..rows {
        let v: Vec<String> = (0..8).map(|j| ((i * 7 + j * 13) % 101).to_string()).collect();
        writeln!(f, "{},{}", v.join(","), i % 3).unwrap();
    }
    drop(f);
    let bin = dir.join("data.bin");
    data::convert(&csv, &bin, &CsvOptions::default()).unwrap();
    bin
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

#[test]
fn a_mapped_dataset_truncated_after_opening_is_refused_before_its_rows_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let bin = binary_file(dir.path(), 2000);
    let m = MappedDataset::open(&bin).unwrap();
    assert!(data::check_rows(&m, 0..m.len()).is_ok());
    truncate(&bin, 100);
    let e = data::check_rows(&m, 0..1).unwrap_err().to_string();
    assert!(e.contains("data.bin: byte 100: the file is now 100 bytes, but it was") && e.contains("truncated"), "{e}");
}

/// The fault itself, deterministically, in a child process (this test binary, re-run with
/// `SHARDPROP_TEST_SIGBUS_FILE` set): it installs the handler, maps a file, truncates it and
/// reads a row that is gone. The handler must name the file and the byte and exit with 2.
#[test]
fn a_read_fault_in_a_truncated_mapped_dataset_exits_2_naming_the_file() {
    if let Some(file) = std::env::var_os("SHARDPROP_TEST_SIGBUS_FILE") {
        let file = Path::new(&file);
        shardprop::data::sigbus::install().unwrap();
        let m = MappedDataset::open_with(file, false).unwrap();
        truncate(file, 64);
        let last = m.features(m.len() - 1);
        let sum: f32 = std::hint::black_box(last).iter().sum();
        panic!("read {sum} from a truncated file without a fault");
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = binary_file(dir.path(), 2000);
    let o = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "truncation::a_read_fault_in_a_truncated_mapped_dataset_exits_2_naming_the_file"])
        .args(["--nocapture", "--test-threads", "1"])
        .env("SHARDPROP_TEST_SIGBUS_FILE", &bin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{:?}: {err}", o.status);
    let want = format!("error: {}: byte ", bin.display());
    assert!(err.contains(&want) && err.contains("truncated while in use"), "{err}");
}

/// End to end: `train` on a binary file that the test truncates once the run has started (the
/// metrics log shows its first epoch), whichever of the length check before each step or the
/// fault handler catches it.
#[test]
fn truncating_the_dataset_during_training_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let bin = binary_file(dir.path(), 20_000);
    let metrics = dir.path().join("metrics.jsonl");
    let mut child = Command::new(crate::common::bin())
        .args(["train", "--data", bin.to_str().unwrap(), "--hidden", "16", "--epochs", "100000"])
        .args(["--batch-size", "64", "--threads", "1", "--quiet", "--metrics", metrics.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read(&metrics).map_or(true, |m| m.is_empty()) {
        assert!(child.try_wait().unwrap().is_none(), "training ended before its first epoch");
        assert!(started.elapsed() < Duration::from_secs(120), "no epoch in 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    truncate(&bin, 4096 + 100);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("training went on for 60 s on a truncated file");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{:?}: {err}", o.status);
    assert!(err.contains(&format!("{}: byte ", bin.display())) && err.contains("truncated"), "{err}");
}
