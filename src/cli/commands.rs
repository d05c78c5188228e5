//! The subcommands: read flags, call the library, print.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use shardprop::checkpoint::Checkpoint;
use shardprop::data::{self, CsvOptions, Examples, Fingerprint, Loaded, Scale, Task};
use shardprop::engine::Evaluation;
use shardprop::metrics::Confusion;
use shardprop::network::class_of;
use shardprop::{Activation, Engine, Head, Network, TrainConfig, Trainer, rng};

use super::{BenchArgs, ConvertArgs, CsvArgs, EvaluateArgs, PredictArgs, TrainArgs};

fn csv_options(a: &CsvArgs, classes: Option<Vec<String>>) -> CsvOptions {
    CsvOptions {
        target: a.target.clone(),
        header: if a.no_header {
            Some(false)
        } else if a.header {
            Some(true)
        } else {
            None
        },
        regression: a.task == "regression",
        skip_bad_rows: a.skip_bad_rows,
        classes,
    }
}

/// `datasets/mnist` under the working directory, else under the crate that built this binary.
fn default_mnist() -> PathBuf {
    let here = PathBuf::from("datasets/mnist");
    if here.is_dir() { here } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist") }
}

/// Loads a dataset, reporting any rows dropped by `--skip-bad-rows`.
fn load(path: &Path, csv: &CsvOptions, verify: bool) -> Result<Loaded> {
    let (loaded, skipped) = data::load(path, csv, verify).with_context(|| format!("cannot load {}", path.display()))?;
    report_skipped(path, &skipped);
    Ok(loaded)
}

fn report_skipped(path: &Path, skipped: &[u64]) {
    if !skipped.is_empty() {
        let shown: Vec<String> = skipped.iter().take(20).map(|l| l.to_string()).collect();
        let more = if skipped.len() > 20 { ", ..." } else { "" };
        eprintln!("{}: skipped {} bad rows (lines {}{more})", path.display(), skipped.len(), shown.join(", "));
    }
}

fn check_features(what: &Path, data: &dyn Examples, n_inputs: usize) -> Result<()> {
    if data.n_features() != n_inputs {
        bail!("{}: has {} features per row, but the model takes {n_inputs}", what.display(), data.n_features());
    }
    Ok(())
}

pub fn train(a: TrainArgs) -> Result<()> {
    let started = Instant::now();
    let data_path = a.data.clone().unwrap_or_else(default_mnist);
    let csv = csv_options(&a.csv, None);
    let t0 = Instant::now();
    let train = load(&data_path, &csv, !a.csv.no_verify)?;
    let load_seconds = t0.elapsed().as_secs_f64();
    let test_path = match &a.test {
        Some(p) => Some(p.clone()),
        None if data_path.is_dir() => data::idx::images_in(&data_path, "t10k").ok(),
        None => None,
    };
    let task = train.task().clone();
    let is_idx = data_path.is_dir() || data::idx::is_idx_path(&data_path);
    let scale = match &a.scale {
        Some(s) => Scale::parse(s).with_context(|| format!("--scale {s:?}: expected none, minmax or standard"))?,
        None if is_idx => Scale::None,
        None => Scale::Standard,
    };
    let scaler = train.fit_scaler(scale);
    let examples = train.examples();
    let hidden = Activation::parse(&a.activation)
        .with_context(|| format!("--activation {:?}: expected sigmoid, tanh, relu or identity", a.activation))?;
    let head = match (&task, a.loss.as_str()) {
        (Task::Regression { .. }, "cross-entropy") => {
            bail!("--loss cross-entropy needs classification, not --task regression")
        }
        (Task::Regression { .. }, _) => Head::IdentityMse,
        (_, "cross-entropy") => Head::SoftmaxCrossEntropy,
        _ => Head::SigmoidMse,
    };
    let mut sizes = vec![examples.n_features()];
    sizes.extend(a.hidden.iter().copied().filter(|&h| h > 0));
    sizes.push(task.n_outputs());
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        shard_size: a.shard_size,
        ..TrainConfig::default()
    };
    let net = Network::<f32>::new(&sizes, hidden, head, &mut rng::seeded(a.seed, rng::STREAM_INIT))?;
    let mut trainer = Trainer::new(net, cfg.clone(), a.threads)?;
    let threads = trainer.engine_mut().threads();
    eprintln!(
        "training {} on {} ({} rows, {} features, loaded in {load_seconds:.3}s), {} params, {} threads",
        sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"),
        data_path.display(),
        examples.len(),
        examples.n_features(),
        trainer.network().n_params(),
        threads
    );
    let quiet = a.quiet;
    let history = trainer.train(examples, &scaler, |r| {
        if !quiet {
            eprintln!(
                "epoch {:>3}/{}  loss {:.6}  accuracy {:6.2}%  {:>9.0} examples/s  {:.2}s",
                r.epoch,
                a.epochs,
                r.train_loss,
                100.0 * r.train_accuracy,
                r.examples_per_sec,
                r.seconds
            );
        }
    })?;

    let mut test_eval: Option<Evaluation> = None;
    if let Some(tp) = &test_path {
        let test_csv = csv_options(&a.csv, task.classes().map(|c| c.to_vec()));
        let test = load(tp, &test_csv, !a.csv.no_verify)?;
        check_features(tp, test.examples(), examples.n_features())?;
        if test.task() != &task {
            bail!("{}: its classes or targets differ from the training data's", tp.display());
        }
        let net = trainer.network().clone();
        let ev = trainer.engine_mut().evaluate(&net, test.examples(), &scaler);
        eprintln!(
            "test on {}: loss {:.6}, accuracy {:.2}% ({} rows)",
            tp.display(),
            ev.loss(),
            100.0 * ev.accuracy(),
            ev.m
        );
        test_eval = Some(ev);
    }

    let state = trainer.state().clone();
    let net = trainer.into_network();
    let digest = net.params_digest();
    if let Some(out) = &a.out {
        let ckpt = Checkpoint {
            network: net,
            scaler,
            task: task.clone(),
            feature_names: feature_names(&train),
            config: cfg,
            state,
            fingerprint: Fingerprint::of(examples),
            history: history.clone(),
        };
        ckpt.save(out).with_context(|| format!("cannot write the model to {}", out.display()))?;
        eprintln!("model written to {}", out.display());
    }
    let seconds = started.elapsed().as_secs_f64();
    let last = history.last();
    let train_seconds: f64 = history.iter().map(|r| r.seconds).sum();
    let examples_seen = (examples.len() * history.len()) as f64;
    if a.json {
        let mut obj = json!({
            "epochs": history.len(),
            "train_loss": last.map(|r| r.train_loss),
            "examples_per_sec": examples_seen / train_seconds.max(1e-9),
            "seconds": seconds,
            "params_digest": digest,
            "threads": threads,
            "load_seconds": load_seconds,
            "history": history,
        });
        if task.classes().is_some() {
            obj["train_accuracy"] = json!(last.map(|r| r.train_accuracy));
        }
        if let Some(ev) = &test_eval {
            obj["test_loss"] = json!(ev.loss());
            if task.classes().is_some() {
                obj["test_accuracy"] = json!(ev.accuracy());
            }
        }
        println!("{obj}");
    } else {
        eprintln!("params_digest {digest}  ({seconds:.1}s in all)");
    }
    Ok(())
}

fn feature_names(loaded: &Loaded) -> Vec<String> {
    match loaded {
        Loaded::Memory(d) => d.feature_names.clone(),
        Loaded::Mapped(d) => d.feature_names.clone(),
    }
}

fn load_for_model(ckpt: &Checkpoint, path: &Path, csv: &CsvArgs) -> Result<Loaded> {
    let opts = csv_options(csv, ckpt.task.classes().map(|c| c.to_vec()));
    let data = load(path, &opts, !csv.no_verify)?;
    check_features(path, data.examples(), ckpt.network.n_inputs())?;
    if let (Some(model), Some(found)) = (ckpt.task.classes(), data.task().classes())
        && model != found
    {
        bail!("{}: its classes ({}) differ from the model's ({})", path.display(), found.join(", "), model.join(", "));
    }
    Ok(data)
}

fn load_model(path: &Path) -> Result<Checkpoint> {
    Checkpoint::load(path).with_context(|| format!("cannot load the model {}", path.display()))
}

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let ckpt = load_model(&a.model)?;
    let data = load_for_model(&ckpt, &a.data, &a.csv)?;
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let ev = engine.evaluate(&ckpt.network, data.examples(), &ckpt.scaler);
    let confusion = ckpt.task.classes().map(|classes| {
        let ex = data.examples();
        let pairs = (0..ex.len()).map(|i| (ex.target(i).class().unwrap_or(0), class_of(ev.outputs.row(i))));
        (classes, Confusion::new(classes.len(), pairs))
    });
    if a.json {
        let mut obj = json!({ "examples": ev.m, "loss": ev.loss(), "params_digest": ckpt.network.params_digest() });
        if let Some((classes, c)) = &confusion {
            obj["accuracy"] = json!(ev.accuracy());
            obj["classes"] = json!(classes);
            obj["confusion"] = json!(c.counts);
        }
        println!("{obj}");
    } else {
        println!("examples {}\nloss {:.6}", ev.m, ev.loss());
        if let Some((classes, c)) = &confusion {
            println!("accuracy {:.2}%\n{}", 100.0 * ev.accuracy(), c.to_text(classes));
        }
    }
    Ok(())
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let ckpt = load_model(&a.model)?;
    let data = load_for_model(&ckpt, &a.data, &a.csv)?;
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let ev = engine.evaluate(&ckpt.network, data.examples(), &ckpt.scaler);
    let mut text = String::new();
    match &ckpt.task {
        Task::Classification { classes } => {
            text += "prediction\n";
            for row in ev.outputs.rows() {
                let c = if classes.len() > 1 && row.len() == 1 {
                    class_of(row)
                } else {
                    class_of(row).min(classes.len() - 1)
                };
                text += &classes[c];
                text.push('\n');
            }
        }
        Task::Regression { targets } => {
            text += &targets.join(",");
            text.push('\n');
            for row in ev.outputs.rows() {
                let vals: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                text += &vals.join(",");
                text.push('\n');
            }
        }
    }
    match &a.output {
        Some(p) => {
            shardprop::atomic::write(p, text.as_bytes()).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => std::io::stdout().write_all(text.as_bytes()).context("cannot write to stdout")?,
    }
    Ok(())
}

pub fn convert(a: ConvertArgs) -> Result<()> {
    let t = Instant::now();
    let csv = csv_options(&a.csv, None);
    let (rows, skipped) = data::convert(&a.input, &a.output, &csv)
        .with_context(|| format!("cannot convert {} to {}", a.input.display(), a.output.display()))?;
    report_skipped(&a.input, &skipped);
    eprintln!("wrote {rows} rows to {} in {:.2}s", a.output.display(), t.elapsed().as_secs_f64());
    Ok(())
}

pub fn bench(a: BenchArgs) -> Result<()> {
    use shardprop::bench;
    use shardprop::linalg::{self, Kernel};
    use shardprop::plot::{Series, line_panels};

    let kernel = Kernel::parse(&a.kernel)
        .with_context(|| format!("--kernel {:?}: expected gemm or matrixmultiply", a.kernel))?;
    linalg::set_kernel(kernel);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workloads: Vec<_> = bench::workloads(a.shards.unwrap_or(cores))
        .into_iter()
        .filter(|w| a.workload.eq_ignore_ascii_case("all") || w.name.eq_ignore_ascii_case(&a.workload))
        .collect();
    if workloads.is_empty() {
        bail!("--workload {:?}: expected W1, W2, W3 or all", a.workload);
    }
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
    let data_path = a.data.clone().unwrap_or_else(default_mnist);
    let train = load(&data_path, &CsvOptions::default(), true)?;
    let scaler = train.fit_scaler(Scale::None);
    let roofs: Vec<f64> =
        threads.iter().map(|&t| a.roof.map_or_else(|| bench::measure_roof(t, 0.5), |r| r * t as f64)).collect();
    eprintln!("kernel {}, {} cores, data {}", kernel.name(), cores, data_path.display());
    for w in &workloads {
        eprintln!("  {}: {:?}, batch {}, shard size {}", w.name, w.sizes, w.batch_size, w.shard_size);
    }
    let mut results = Vec::new();
    for w in &workloads {
        for (&t, &roof) in threads.iter().zip(&roofs) {
            let r = bench::run(w, train.examples(), &scaler, t, a.epochs.max(1), roof)?;
            eprintln!("  {} at {t} threads: {:.0} examples/s", w.name, r.examples_per_sec);
            results.push(r);
        }
    }
    bench::fill_speedups(&mut results);
    let mut table = String::from(
        "workload threads  examples/s speedup efficiency  GFLOP/s  roof  %roof  forward backprop reduction   step\n",
    );
    for r in &results {
        table += &format!(
            "{:>8} {:>7} {:>11.0} {:>7.2} {:>9.0}% {:>8.1} {:>5.0} {:>5.1}% {:>7.1}% {:>7.1}% {:>8.2}% {:>5.2}%\n",
            r.workload,
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
            100.0 * r.step
        );
    }
    if let Some(p) = &a.plot {
        let per_workload = |f: fn(&bench::BenchResult) -> f64| -> Vec<Series> {
            workloads
                .iter()
                .map(|w| Series {
                    label: w.name.to_string(),
                    points: results.iter().filter(|r| r.workload == w.name).map(|r| (r.threads as f64, f(r))).collect(),
                })
                .collect()
        };
        line_panels(
            p,
            "threads",
            &[
                ("Speedup over 1 thread", "speedup", per_workload(|r| r.speedup)),
                ("Parallel efficiency", "efficiency", per_workload(|r| r.efficiency)),
            ],
        )?;
        eprintln!("plot written to {}", p.display());
    }
    if a.json {
        eprint!("{table}");
        println!("{}", json!({ "kernel": kernel.name(), "cores": cores, "results": results }));
    } else {
        print!("{table}");
    }
    Ok(())
}
