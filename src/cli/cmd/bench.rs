//! `shardprop bench`: throughput of the reference workloads (or your own network) across thread
//! counts, as a table, JSON and an SVG of speedup and efficiency.

use anyhow::{Result, bail};
use serde_json::json;
use shardprop::Activation;
use shardprop::data::{AnyDataset, CsvOptions, Task};
use shardprop::kernel::matmul;
use shardprop::report::plot::{Series, line_panels};
use shardprop::tools::bench::{self, BenchResult, Workload};

use crate::cli::Dist;
use crate::cli::args::BenchArgs;
use crate::cli::choices::Loss;
use crate::cli::load::{default_mnist, default_scale, load};
use crate::cli::output::print_out;

/// Runs every workload at every thread count (across all ranks with `--distributed`); rank 0
/// prints the table, or it on stderr and JSON on stdout.
pub fn bench(a: BenchArgs, dist: Option<Dist>) -> Result<()> {
    let kernel = a.kernel;
    matmul::set_kernel(kernel);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ranks = dist.as_ref().map_or(1, |c| c.size());
    let lead = dist.as_ref().is_none_or(|c| c.rank() == 0);
    // Flags first: a bad one must not wait for the data to load.
    if let Some(&t) = a.threads.iter().find(|&&t| t == 0 || t > shardprop::engine::MAX_THREADS) {
        bail!("--threads {t}: expected 1 to {}", shardprop::engine::MAX_THREADS);
    }
    if let Some(r) = a.roof.filter(|r| !(r.is_finite() && *r > 0.0)) {
        bail!("--roof {r}: expected a positive GEMM rate in GFLOP/s");
    }
    let data_path = a.data.clone().unwrap_or_else(default_mnist);
    let train = load(&data_path, &CsvOptions::default(), true)?;
    let scaler = train.fit_scaler(default_scale(&data_path)?);
    let rows = train.examples().len();
    let workloads = workloads(&a, &train)?;
    let (inputs, outputs) = (train.examples().n_features(), train.task().n_outputs());
    if let Some(w) = workloads.iter().find(|w| w.sizes[0] != inputs || w.sizes[w.sizes.len() - 1] != outputs) {
        bail!(
            "{}: has {inputs} features and {outputs} outputs, but {} is {:?} (MNIST-shaped); \
             benchmark your own network on it with --hidden (and --batch-size, --activation, --loss)",
            data_path.display(),
            w.name,
            w.sizes
        );
    }
    if a.shards == Some(0) {
        bail!("--shards: at least 1");
    }
    let workloads: Vec<_> = workloads.into_iter().map(|w| w.with_shards(a.shards, rows)).collect();
    let threads = if a.threads.is_empty() {
        let mut t: Vec<usize> =
            std::iter::successors(Some(1usize), |&t| Some(t * 2)).take_while(|&t| t <= cores).collect();
        if t.last() != Some(&cores) {
            t.push(cores);
        }
        t
    } else {
        a.threads.clone()
    };
    if threads.contains(&0) {
        bail!("--threads: thread counts must be at least 1");
    }
    let roofs: Vec<f64> =
        threads.iter().map(|&t| a.roof.map_or_else(|| bench::measure_roof(t, 0.5), |r| r * t as f64)).collect();
    note!("kernel {}, {} cores, data {}", kernel.name(), cores, data_path.display());
    for w in &workloads {
        let m = if w.batch_size == 0 { rows } else { w.batch_size.min(rows) };
        let len = shardprop::engine::shard_len(m, w.shard_size);
        note!(
            "  {}: {:?} {} {}, batch {m}, {} shard(s) of {len} rows",
            w.name,
            w.sizes,
            w.activation.name(),
            w.head.name(),
            m.div_ceil(len)
        );
    }
    let mut results = Vec::new();
    for w in &workloads {
        for (&t, &roof) in threads.iter().zip(&roofs) {
            let r = bench::run(w, train.examples(), &scaler, t, a.epochs.max(1), roof * ranks as f64, dist.clone())?;
            if lead {
                note!("  {} at {t} threads x {ranks} ranks: {:.0} examples/s", w.name, r.examples_per_sec);
            }
            results.push(r);
        }
    }
    bench::fill_speedups(&mut results);
    if !lead {
        return Ok(());
    }
    let table = table(&results);
    if let Some(p) = &a.plot {
        plot(p, &workloads, &results)?;
        note!("plot written to {}", p.display());
    }
    if a.json {
        note_inline!("{table}");
        print_out(format_args!(
            "{}\n",
            json!({ "kernel": kernel.name(), "cores": cores, "ranks": ranks, "results": results })
        ))?;
    } else {
        print_out(format_args!("{table}"))?;
    }
    Ok(())
}

/// The workloads to run: your own network when `--hidden`, `--batch-size`, `--activation` or
/// `--loss` describe one (its input and output sizes from the data), else `--workload`'s.
fn workloads(a: &BenchArgs, train: &AnyDataset) -> Result<Vec<Workload>> {
    let custom = a.hidden.is_some() || a.batch_size.is_some() || a.activation.is_some() || a.loss.is_some();
    if !custom {
        let workloads: Vec<Workload> = bench::workloads()
            .into_iter()
            .filter(|w| a.workload.eq_ignore_ascii_case("all") || w.name.eq_ignore_ascii_case(&a.workload))
            .collect();
        if workloads.is_empty() {
            bail!("--workload {:?}: expected W1, W2, W3 or all", a.workload);
        }
        return Ok(workloads);
    }
    let activation = a.activation.unwrap_or(Activation::Sigmoid);
    let cross_entropy = a.loss == Some(Loss::CrossEntropy);
    let head = match (train.task(), cross_entropy) {
        (Task::Regression { .. }, true) => bail!("--loss cross-entropy needs classification data"),
        (Task::Regression { .. }, false) => shardprop::Head::IdentityMse,
        (_, true) => shardprop::Head::SoftmaxCrossEntropy,
        _ => shardprop::Head::SigmoidMse,
    };
    let mut sizes = vec![train.examples().n_features()];
    sizes.extend(a.hidden.clone().unwrap_or_else(|| vec![300]).into_iter().filter(|&h| h > 0));
    sizes.push(train.task().n_outputs());
    let batch_size = a.batch_size.unwrap_or(256);
    Ok(vec![Workload { name: "custom".into(), sizes, activation, head, batch_size, shard_size: 0 }])
}

/// The results as a fixed-width table, one row per workload and thread count.
fn table(results: &[BenchResult]) -> String {
    let mut table = String::from(
        "workload ranks threads  examples/s speedup efficiency  GFLOP/s  roof  %roof  forward backprop reduction   step    comm  busy:fwd   bwd red+step\n",
    );
    for r in results {
        table += &format!(
            "{:>8} {:>5} {:>7} {:>11.0} {:>7.2} {:>9.0}% {:>8.1} {:>5.0} {:>5.1}% {:>7.1}% {:>7.1}% {:>8.2}% {:>5.2}% {:>6.2}% {:>8.0}% {:>4.0}% {:>7.0}%\n",
            r.workload,
            r.ranks,
            r.threads,
            r.examples_per_sec,
            r.speedup,
            100.0 * r.efficiency,
            r.gflops,
            r.roof_gflops,
            100.0 * r.roof_fraction,
            100.0 * r.forward,
            100.0 * r.backprop,
            100.0 * r.reduction,
            100.0 * r.step,
            100.0 * r.communication,
            100.0 * r.busy_forward,
            100.0 * r.busy_backprop,
            100.0 * r.busy_reduce_step
        );
    }
    table
}

/// Speedup and efficiency against thread count, a line per workload, with the ideal (linear
/// speedup, efficiency 1) as a grey reference line (SVG; whole thread counts on the axis).
fn plot(path: &std::path::Path, workloads: &[Workload], results: &[BenchResult]) -> Result<()> {
    let per_workload = |f: fn(&BenchResult) -> f64, ideal: fn(f64) -> f64| -> Vec<Series> {
        let mut threads: Vec<f64> = results.iter().map(|r| r.threads as f64).collect();
        threads.sort_by(f64::total_cmp);
        threads.dedup();
        let mut series: Vec<Series> = workloads
            .iter()
            .map(|w| {
                let points = results.iter().filter(|r| r.workload == w.name).map(|r| (r.threads as f64, f(r)));
                Series::new(w.name.clone(), points.collect())
            })
            .collect();
        series.push(Series::reference("ideal", threads.iter().map(|&t| (t, ideal(t))).collect()));
        series
    };
    line_panels(
        path,
        "threads",
        &[
            ("Speedup over 1 thread", "speedup", per_workload(|r| r.speedup, |t| t)),
            ("Parallel efficiency", "efficiency", per_workload(|r| r.efficiency, |_| 1.0)),
        ],
    )?;
    Ok(())
}
