//! Criterion benches of data loading: a wide numeric CSV (MNIST-like: 784 integer pixels and a
//! label per row, generated here) parsed with 1 and 2 threads, the same file gzipped (the
//! sequential parser against the pipeline; issue 13), and the shipped MNIST IDX files.
//! Run: `cargo bench --bench ingest`.

use std::io::Write;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shardprop::data::open::Input;
use shardprop::data::{CsvOptions, csv, idx};

fn wide_csv(path: &Path, rows: usize) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let header: Vec<String> = (0..784).map(|j| format!("pixel{j}")).collect();
    writeln!(f, "{},label", header.join(",")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..rows {
        let mut line = String::with_capacity(3200);
        for _ in 0..784 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Mostly zeros, like MNIST, else a value up to 255.
            let v = if state % 5 < 3 { 0 } else { state % 256 };
            line.push_str(&v.to_string());
            line.push(',');
        }
        line.push_str(&(i % 10).to_string());
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn csv_parse(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.csv");
    let bytes = wide_csv(&path, 20_000);
    let mut g = c.benchmark_group("csv_wide_784");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, 2, cores].into_iter().filter(|&t| t <= cores).collect::<std::collections::BTreeSet<_>>() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        g.bench_with_input(BenchmarkId::new("load", threads), &threads, |b, _| {
            b.iter(|| pool.install(|| csv::load(&path, &CsvOptions::default()).unwrap().0))
        });
    }
    g.finish();
}

fn csv_gzip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.csv");
    let bytes = wide_csv(&path, 20_000);
    let gz = dir.path().join("wide.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&path).unwrap()).unwrap();
    enc.finish().unwrap();
    let mut g = c.benchmark_group("csv_wide_784_gz");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    let opts = CsvOptions::default();
    g.bench_function("sequential", |b| {
        b.iter(|| csv::load_sequential_input(Input::open(&gz).unwrap(), &opts).unwrap().0)
    });
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        g.bench_with_input(BenchmarkId::new("pipeline", threads), &threads, |b, _| {
            b.iter(|| pool.install(|| csv::load(&gz, &opts).unwrap().0))
        });
    }
    g.finish();
}

fn mnist_idx(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist");
    let mut g = c.benchmark_group("mnist_idx");
    g.sample_size(10);
    g.bench_function("load_train_60000", |b| b.iter(|| idx::load_mnist(&dir).unwrap()));
    g.finish();
}

criterion_group!(benches, csv_parse, csv_gzip, mnist_idx);
criterion_main!(benches);
