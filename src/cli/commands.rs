//! The subcommands: read flags, call the library, print.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use shardprop::data::{self, CsvOptions, Examples, Loaded, Scale, Task};
use shardprop::nn::network::class_of;
use shardprop::optim::{Method, Schedule};
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::session::{Architecture, Outcome, Session};
use shardprop::run::spec::RunSpec;
use shardprop::{Activation, Engine, TrainConfig};

use super::progress::Progress;
use super::{
    BenchArgs, ConvertArgs, CsvArgs, Dist, EvaluateArgs, GradcheckArgs, InspectArgs, PlotArgs, PredictArgs, ResumeArgs,
    TrainArgs,
};

/// Writes `text` to stdout and flushes it. A full disk or a closed pipe is an error naming
/// stdout (exit 2), where `println!` would panic. (inspect, evaluate, predict and gradcheck
/// restore SIGPIPE's default in `main`, so a closed pipe ends them quietly before this sees it.)
pub(super) fn print_out(text: std::fmt::Arguments) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text).and_then(|()| out.flush()).context("cannot write to stdout")
}

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
        unlabeled: None,
        model: None,
    }
}

/// CSV options for reading rows with a trained model: its classes fixed, its task (whatever
/// `--task` says), and its columns to match by name ([`data::ModelColumns`]). `need_target`:
/// evaluate reads the target; predict reads past it.
fn model_csv_options(a: &CsvArgs, ckpt: &Checkpoint, need_target: bool) -> CsvOptions {
    let mut opts = csv_options(a, ckpt.task.classes().map(|c| c.to_vec()));
    opts.regression = ckpt.task.classes().is_none();
    opts.model = Some(data::ModelColumns {
        features: ckpt.feature_names.clone(),
        task: ckpt.task.clone(),
        trained_target: ckpt.data.target.clone(),
        need_target,
    });
    if !need_target {
        opts.unlabeled = Some(ckpt.task.clone());
    }
    opts
}

/// `datasets/mnist` under the working directory, else under the crate that built this binary.
fn default_mnist() -> PathBuf {
    let here = PathBuf::from("datasets/mnist");
    if here.is_dir() { here } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist") }
}

/// A binary dataset's columns cannot be reordered: where both it and the model have names from a
/// header (not `col1`, `col2`, ...) and they share any, they must be the model's, in its order.
fn check_binary_names(path: &Path, file: &[String], model: &[String]) -> Result<()> {
    let synthetic = |f: &String| data::csv::is_synthetic_name(f);
    let in_file: std::collections::HashSet<&String> = file.iter().collect();
    if file == model
        || file.iter().all(synthetic)
        || model.iter().all(synthetic)
        || !model.iter().any(|m| in_file.contains(m))
    {
        return Ok(());
    }
    bail!(
        "{}: its features are {}, but the model's are {} (a binary file is read by position: \
         convert it from a CSV with the model's columns, or evaluate the CSV, whose columns are matched by name)",
        path.display(),
        file.join(", "),
        model.join(", ")
    )
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
        note!("{}: skipped {} bad rows (lines {}{more})", path.display(), skipped.len(), shown.join(", "));
    }
}

fn check_features(what: &Path, data: &dyn Examples, n_inputs: usize) -> Result<()> {
    if data.n_features() != n_inputs {
        bail!("{}: has {} features per row, but the model takes {n_inputs}", what.display(), data.n_features());
    }
    Ok(())
}

/// Refuses numeric flags that would train on nonsense (NaN, infinities, out-of-range values)
/// with a message naming the flag (or the config file's line that set it) and what was expected.
fn check_train_flags(a: &TrainArgs) -> Result<()> {
    let flag = |name: &str| a.origins.label(name);
    let finite = |name: &str, v: f64, ok: bool, expected: &str| -> Result<()> {
        if v.is_finite() && ok { Ok(()) } else { bail!("{} {v:?}: expected {expected}", flag(name)) }
    };
    finite("lr", a.lr, a.lr > 0.0 && a.lr <= 1e6, "a positive learning rate of at most 1e6")?;
    finite("momentum", a.momentum, (0.0..1.0).contains(&a.momentum), "a momentum in [0, 1)")?;
    finite("l2", a.l2, a.l2 >= 0.0, "a non-negative weight decay")?;
    finite("lr-gamma", a.lr_gamma, a.lr_gamma > 0.0, "a positive decay factor")?;
    finite("lr-min", a.lr_min, a.lr_min >= 0.0 && a.lr_min <= a.lr, "a final rate between 0 and --lr")?;
    finite("validation", a.validation, (0.0..1.0).contains(&a.validation), "a fraction in [0, 1)")?;
    if a.lr_schedule == "step" && a.lr_step == 0 {
        bail!("{} 0: expected a decay every 1 or more epochs", flag("lr-step"));
    }
    if a.run.keep == 0 {
        bail!("{} 0: expected to keep at least 1 checkpoint", flag("keep"));
    }
    if a.threads > shardprop::engine::MAX_THREADS {
        bail!("{} {}: at most {}", flag("threads"), a.threads, shardprop::engine::MAX_THREADS);
    }
    Ok(())
}

/// The scaling of a run without `--scale`: none for MNIST (pixels load as `[0, 1]`), what a
/// binary file's header records (its source's default), standard otherwise.
fn default_scale(data: &Path) -> Result<Scale> {
    if data.is_dir() || data::idx::is_idx_path(data) {
        return Ok(Scale::None);
    }
    Ok(data::binary::default_scale_of(data)?.unwrap_or(Scale::Standard))
}

pub fn train(a: TrainArgs, dist: Option<Dist>) -> Result<ExitCode> {
    check_train_flags(&a)?;
    let data_path = a.data.clone().unwrap_or_else(default_mnist);
    let scale = match &a.scale {
        Some(s) => Scale::parse(s)
            .with_context(|| format!("{} {s:?}: expected none, minmax or standard", a.origins.label("scale")))?,
        None => default_scale(&data_path)?,
    };
    let test = match &a.test {
        // An MNIST directory as the test set means its test split.
        Some(p) if p.is_dir() => Some(data::idx::images_in(p, "t10k")?),
        Some(p) => Some(p.clone()),
        None if data_path.is_dir() => data::idx::images_in(&data_path, "t10k").ok(),
        None => None,
    };
    let inputs = [Some(&data_path), test.as_ref(), a.config.as_ref()];
    for (flag, out) in [("--out", a.out.as_ref()), ("--metrics", a.run.metrics.as_ref())] {
        refuse_overwriting_inputs(flag, out, &inputs)?;
    }
    refuse_same_outputs(&[("--out", a.out.as_ref()), ("--metrics", a.run.metrics.as_ref())])?;
    let csv = csv_options(&a.csv, None);
    let spec = RunSpec {
        train: data_path,
        test,
        target: csv.target,
        header: csv.header,
        regression: csv.regression,
        skip_bad_rows: csv.skip_bad_rows,
        verify: !a.csv.no_verify,
        scale,
        validation: a.validation,
        patience: a.early_stopping,
        // Stored absolute: a resume from another directory writes where this run did.
        checkpoint_dir: a.run.checkpoint_dir.as_deref().map(absolute).transpose()?,
        checkpoint_every: a.run.checkpoint_every,
        checkpoint_every_steps: a.run.checkpoint_every_steps,
        keep: a.run.keep,
        metrics: a.run.metrics.as_deref().map(absolute).transpose()?,
    };
    let activation = Activation::parse(&a.activation).with_context(|| {
        format!("{} {:?}: expected sigmoid, tanh, relu or identity", a.origins.label("activation"), a.activation)
    })?;
    let optimizer = Method::parse(&a.optimizer, a.momentum).with_context(|| {
        format!("{} {:?}: expected sgd, momentum, nesterov, adam or rprop", a.origins.label("optimizer"), a.optimizer)
    })?;
    let schedule = match a.lr_schedule.as_str() {
        "step" => Schedule::Step { every: a.lr_step, gamma: a.lr_gamma },
        "cosine" => Schedule::Cosine { epochs: a.epochs, min_lr: a.lr_min },
        _ => Schedule::Constant,
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        shard_size: a.shard_size,
        optimizer,
        l2: a.l2,
        schedule,
    };
    let arch = Architecture { hidden: a.hidden.clone(), activation, cross_entropy: a.loss == "cross-entropy" };
    let t0 = Instant::now();
    let (session, skipped) = Session::start(spec, &arch, cfg, a.threads).with_context(|| {
        format!("cannot start training on {}", a.data.as_deref().unwrap_or(&default_mnist()).display())
    })?;
    let load_seconds = t0.elapsed().as_secs_f64();
    report_skipped(&session.spec.train, &skipped);
    drive(session, a.run.json, a.run.quiet, a.out.as_deref(), load_seconds, None, dist)
}

/// Refuses an output that is one of the run's inputs (the same file, by device and inode, under
/// any name): `convert x.csv x.csv` or `train --data x.csv --out x.csv` would replace the data.
fn refuse_overwriting_inputs(flag: &str, out: Option<&PathBuf>, inputs: &[Option<&PathBuf>]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(out) = out else { return Ok(()) };
    let Ok(o) = std::fs::metadata(out) else { return Ok(()) }; // a new file is nobody's input
    if !o.is_file() {
        return Ok(()); // devices and FIFOs are written in place, never replaced
    }
    // A directory input (MNIST's) stands for the files in it.
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs.iter().flatten() {
        match std::fs::read_dir(input) {
            Ok(dir) => files.extend(dir.flatten().map(|e| e.path())),
            Err(_) => files.push(input.to_path_buf()),
        }
    }
    for input in &files {
        if std::fs::metadata(input).is_ok_and(|i| (i.dev(), i.ino()) == (o.dev(), o.ino())) {
            bail!(
                "{flag} {} is the input {}: writing it would destroy the data; choose another output file",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// `path` made absolute against the working directory (lexically: links are not followed).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: cannot make the path absolute", path.display()))
}

/// Refuses two outputs that are one file (`--out x --metrics x`: one would replace the other).
/// Compared by name (absolute, lexically) and, for files that exist, by device and inode.
fn refuse_same_outputs(outs: &[(&str, Option<&PathBuf>)]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).ok().filter(|m| m.is_file()).map(|m| (m.dev(), m.ino()));
    let outs: Vec<(&str, &PathBuf)> = outs.iter().filter_map(|(f, p)| p.map(|p| (*f, p))).collect();
    for (i, (fa, a)) in outs.iter().enumerate() {
        for (fb, b) in &outs[i + 1..] {
            let same_name = std::path::absolute(a).ok().zip(std::path::absolute(b).ok()).is_some_and(|(x, y)| x == y);
            if same_name || id(a).is_some_and(|x| id(b) == Some(x)) {
                bail!("{fa} {} and {fb} {} are the same file: one would replace the other", a.display(), b.display());
            }
        }
    }
    Ok(())
}

/// Runs a session to its end (or a signal) and reports: shared by `train` and `resume`.
fn drive(
    mut session: Session,
    json_out: bool,
    quiet: bool,
    out: Option<&Path>,
    load_seconds: f64,
    resumed_from: Option<&Path>,
    dist: Option<Dist>,
) -> Result<ExitCode> {
    let started = Instant::now();
    let (stop, signal_seen) = install_signal_flags()?;
    let ranks = dist.as_ref().map_or(1, |c| c.size());
    if let Some(c) = dist {
        session.set_collective(c)?;
    }
    // Rank 0 alone prints, logs metrics and writes files.
    let lead = session.rank() == 0;
    if !lead {
        session.spec.metrics = None;
    }
    // Every input is checked before the first step: a bad --test or an --out in a missing
    // directory must not cost a training run.
    // Rank 0 alone evaluates and writes; its error aborts every rank.
    let test_set = match session.spec.test.clone().filter(|_| session.rank() == 0) {
        Some(tp) => {
            let (test, skipped) =
                session.load_test(&tp).with_context(|| format!("cannot use {} as the test set", tp.display()))?;
            report_skipped(&tp, &skipped);
            Some((tp, test))
        }
        None => None,
    };
    if let Some(o) = out.filter(|_| session.rank() == 0) {
        let dir = o.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("--out {}: the directory {} does not exist", o.display(), dir.display());
        }
        if o.is_dir() {
            bail!("--out {}: is a directory, not a file", o.display());
        }
        shardprop::io::atomic::AtomicFile::probe(o)
            .with_context(|| format!("--out {}: cannot be written", o.display()))?;
    }
    let n_train = session.train_examples().len();
    let net = session.network();
    let mut say = String::new();
    if ranks > 1 {
        say = format!(", {ranks} MPI ranks");
    }
    if lead {
        note!(
            "{} {} on {} ({} training rows, {} features, loaded in {load_seconds:.3}s), {} params, {} threads{say}, {}",
            if resumed_from.is_some() { "resuming" } else { "training" },
            net.sizes().iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"),
            session.spec.train.display(),
            n_train,
            net.n_inputs(),
            net.n_params(),
            session.trainer.engine_mut().threads(),
            session.trainer.config().optimizer.name(),
        );
    }
    let epochs = session.trainer.config().epochs;
    let mut progress = Progress::new(quiet || !lead, epochs, session.spec.metrics.as_deref())?;
    let first_new = session.history.len();
    let outcome = session.run(Some(&stop), &mut progress)?;
    if let Outcome::Stopped { checkpoint } = &outcome {
        // The last signal that arrived names the stop and sets the status (128 + its number).
        let signo = signal_seen.load(Ordering::SeqCst);
        let name = match signo as i32 {
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            _ => "SIGINT",
        };
        let code = ExitCode::from(128 + if signo == 0 { libc::SIGINT as u8 } else { signo as u8 });
        if !lead {
            return Ok(code);
        }
        note!(
            "{name}: stopped after step {}; checkpoint written to {}",
            session.state().global_step,
            checkpoint.display()
        );
        note!("resume with: shardprop resume {}", checkpoint.display());
        if let Some(m) = progress.metrics_failed.take() {
            note!("error: {m}");
        }
        return Ok(code);
    }
    if !lead {
        return Ok(ExitCode::SUCCESS);
    }
    if let Outcome::EarlyStopped { best_epoch } = &outcome {
        note!("early stopping: validation loss last improved at epoch {best_epoch}; keeping that epoch's weights");
    }
    // The trained model is written first (both the model and the final checkpoint are tried
    // whatever happens to the other); anything after it cannot lose it.
    if session.network().weights().iter().any(|w| w.iter().any(|v| !v.is_finite())) {
        // A cost can stay finite over non-finite weights (ReLU turns NaN into 0).
        bail!("training diverged: the final weights are not finite; nothing was written (try a smaller --lr)");
    }
    let digest = session.network().params_digest();
    let ckpt = session.checkpoint();
    let mut failed = Vec::new();
    if let Some(out) = out {
        match ckpt.save(out) {
            Ok(()) => note!("model written to {}", out.display()),
            Err(e) => failed.push(format!("cannot write the model to {}: {e}", out.display())),
        }
    }
    if let Some(dir) = session.spec.checkpoint_dir.as_ref().filter(|d| !d.join(ckpt.file_name()).exists()) {
        match ckpt.save_in_dir(dir, session.spec.keep) {
            Ok(p) => note!("final checkpoint {}", p.display()),
            Err(e) => failed.push(format!("final checkpoint not written: {e}")),
        }
    }
    let test_eval = test_set.map(|(tp, test)| {
        let ev = session.evaluate_loaded(&test);
        note!(
            "test on {}: loss {:.6}, accuracy {:.2}% ({} rows)",
            tp.display(),
            ev.loss(),
            100.0 * ev.accuracy(),
            ev.m
        );
        ev
    });
    let history = &session.history;
    let new = &history[first_new.min(history.len())..];
    let train_seconds: f64 = new.iter().map(|r| r.seconds).sum();
    let seconds = started.elapsed().as_secs_f64();
    // What went wrong after the model was safe (stdout, the metrics log): reported, then exit 2.
    let mut late = Vec::new();
    if json_out {
        // The top-level figures describe the model written: with early stopping, the kept epoch's.
        let last = match &outcome {
            Outcome::EarlyStopped { best_epoch } => history.iter().rev().find(|r| r.epoch == *best_epoch),
            _ => history.last(),
        };
        let classes = session.task.classes().is_some();
        let mut obj = json!({
            "epochs": history.len(),
            "train_loss": last.map(|r| r.train_loss),
            "examples_per_sec": (n_train * new.len()) as f64 / train_seconds.max(1e-9),
            "seconds": seconds,
            "params_digest": digest,
            "threads": session.trainer.engine_mut().threads(),
            "ranks": ranks,
            "load_seconds": load_seconds,
            "global_step": session.state().global_step,
            "history": history,
        });
        if classes {
            obj["train_accuracy"] = json!(last.map(|r| r.train_accuracy));
        }
        if let Some(r) = last.filter(|r| r.val_loss.is_some()) {
            obj["val_loss"] = json!(r.val_loss);
            obj["val_accuracy"] = json!(r.val_accuracy);
        }
        if let Outcome::EarlyStopped { best_epoch } = outcome {
            obj["best_epoch"] = json!(best_epoch);
        }
        if let Some(ev) = &test_eval {
            obj["test_loss"] = json!(ev.loss());
            if classes {
                obj["test_accuracy"] = json!(ev.accuracy());
            }
        }
        if let Some(p) = resumed_from {
            obj["resumed_from"] = json!(p);
        }
        if let Err(e) = print_out(format_args!("{obj}\n")) {
            late.push(format!("{e:#}"));
        }
    } else {
        note!("params_digest {digest}  ({seconds:.1}s)");
    }
    late.extend(progress.metrics_failed.take());
    if !failed.is_empty() {
        for f in &failed {
            note!("error: {f}");
        }
        let newest = match session.spec.checkpoint_dir.as_ref() {
            Some(dir) => match Checkpoint::newest_in_dir(dir) {
                Ok((p, c, _)) => {
                    format!("the newest good checkpoint is {} (step {})", p.display(), c.state.global_step)
                }
                Err(_) => format!("no good checkpoint in {}", dir.display()),
            },
            None => "no checkpoint directory was given (--checkpoint-dir)".to_string(),
        };
        note!("error: not everything was saved; {newest}");
    }
    for e in &late {
        note!("error: {e}");
    }
    Ok(if failed.is_empty() && late.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// SIGINT and SIGTERM raise the stop flag (the run finishes its step and checkpoints); a second
/// SIGINT exits at once.
fn install_signal_flags() -> Result<(Arc<AtomicBool>, Arc<AtomicUsize>)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    // A second SIGINT ends the process at once (exit 130), as a user pressing Ctrl-C twice means.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&stop))
        .context("cannot install a SIGINT handler")?;
    // SIGHUP (the terminal or ssh session went away) stops like SIGTERM: the step ends and a
    // checkpoint is written.
    for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .with_context(|| format!("cannot install a {name} handler"))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&seen), sig as usize)
            .with_context(|| format!("cannot install a {name} handler"))?;
    }
    Ok((stop, seen))
}

pub fn resume(a: ResumeArgs, dist: Option<Dist>) -> Result<ExitCode> {
    let (path, ckpt) = if a.checkpoint.is_dir() {
        let (p, c, skipped) = Checkpoint::newest_in_dir(&a.checkpoint)?;
        for s in skipped {
            note!("warning: skipping a damaged checkpoint: {s}");
        }
        (p, c)
    } else {
        (a.checkpoint.clone(), load_model(&a.checkpoint)?)
    };
    let mut spec = ckpt.data.clone();
    if let Some(d) = &a.data {
        spec.train = d.clone();
    }
    if let Some(d) = &a.checkpoint_dir {
        spec.checkpoint_dir = Some(absolute(d)?);
    }
    let t0 = Instant::now();
    let inputs = [Some(&spec.train), spec.test.as_ref(), Some(&path)];
    refuse_overwriting_inputs("--out", a.out.as_ref(), &inputs)?;
    refuse_same_outputs(&[("--out", a.out.as_ref()), ("the run's metrics log", spec.metrics.as_ref())])?;
    let (mut session, skipped) = Session::resume(ckpt, Some(spec), a.threads, a.force)
        .with_context(|| format!("cannot resume from {}", path.display()))?;
    report_skipped(&session.spec.train, &skipped);
    if let Some(e) = a.epochs {
        session.trainer.set_epochs(e);
    }
    let (done, total) = (session.state().epoch, session.trainer.config().epochs);
    if done >= total && session.state().step == 0 {
        note!(
            "note: {} has done {done} epochs of {total}: nothing to train; its model is reported as it is",
            path.display()
        );
    }
    drive(session, a.json, a.quiet, a.out.as_deref(), t0.elapsed().as_secs_f64(), Some(&path), dist)
}

pub fn inspect(a: InspectArgs) -> Result<()> {
    let (c, version) = Checkpoint::load_with_version(&a.checkpoint)
        .with_context(|| format!("cannot load the model {}", a.checkpoint.display()))?;
    let net = &c.network;
    let mut obj = json!({
        "format_version": version,
        "sizes": net.sizes(),
        "activation": net.hidden().name(),
        "head": net.head().name(),
        "params": net.n_params(),
        "params_digest": net.params_digest(),
        "config": c.config,
        "epoch": c.state.epoch,
        "step_in_epoch": c.state.step,
        "global_step": c.state.global_step,
        "data": c.data,
        "fingerprint": {
            "rows": c.fingerprint.rows,
            "features": c.fingerprint.features,
            "targets": c.fingerprint.targets,
            "hash": format!("{:016x}", c.fingerprint.hash),
        },
        "task": c.task,
        "scale": c.scaler.kind,
        "optimizer_steps": c.optimizer.t,
        "history": c.history,
    });
    if a.weights {
        obj["weights"] = json!(
            net.weights().iter().map(|w| w.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>()).collect::<Vec<_>>()
        );
    }
    if a.json {
        print_out(format_args!("{obj}\n"))?;
    } else {
        print_out(format_args!("{}\n", serde_json::to_string_pretty(&obj).context("cannot format")?))?;
    }
    Ok(())
}

/// Loads the rows `evaluate` and `predict` read with a model. A pipe or FIFO is read once, as it
/// streams (never buffered whole first: an endless one stops at the first bad line).
fn load_for_model(ckpt: &Checkpoint, path: &Path, csv: &CsvArgs, need_target: bool) -> Result<Loaded> {
    let opts = model_csv_options(csv, ckpt, need_target);
    let (data, skipped) =
        data::load(path, &opts, !csv.no_verify).with_context(|| format!("cannot load {}", path.display()))?;
    report_skipped(path, &skipped);
    if let Loaded::Memory(d) = &data
        && !d.ignored_columns.is_empty()
    {
        let what = if need_target { "neither the model's features nor the target" } else { "not the model's features" };
        note!("note: {}: columns {what}, not read: {}", path.display(), d.ignored_columns.join(", "));
    }
    if let Loaded::Mapped(d) = &data {
        check_binary_names(path, &d.feature_names, &ckpt.feature_names)?;
    }
    // Evaluation reads every row: with --no-verify they are checked first, in one cheap pass.
    data::check_rows(data.examples(), 0..data.examples().len())?;
    check_features(path, data.examples(), ckpt.network.n_inputs())?;
    if need_target {
        if let (Some(model), Some(found)) = (ckpt.task.classes(), data.task().classes())
            && model != found
        {
            bail!(
                "{}: its classes ({}) differ from the model's ({})",
                path.display(),
                found.join(", "),
                model.join(", ")
            );
        }
        if data.task().classes().is_some() != ckpt.task.classes().is_some()
            || data.task().n_outputs() != ckpt.task.n_outputs()
        {
            bail!(
                "{}: has {} target(s) per row, but the model predicts {}",
                path.display(),
                data.examples().n_targets(),
                ckpt.task.n_outputs()
            );
        }
    }
    Ok(data)
}

fn load_model(path: &Path) -> Result<Checkpoint> {
    Checkpoint::load(path).with_context(|| format!("cannot load the model {}", path.display()))
}

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    use shardprop::report::metrics::{ConfusionPairs, MAX_DENSE_CLASSES};
    refuse_overwriting_inputs("--confusion", a.confusion.as_ref(), &[Some(&a.model), Some(&a.data)])?;
    let ckpt = load_model(&a.model)?;
    if let (Some(p), Some(classes)) = (&a.confusion, ckpt.task.classes())
        && classes.len() > MAX_DENSE_CLASSES
    {
        bail!(
            "--confusion {}: the model has {} classes; the heat map is drawn for at most {MAX_DENSE_CLASSES} \
             (--json lists every non-zero pair as confusion_pairs)",
            p.display(),
            classes.len()
        );
    }
    if a.confusion.is_some() && ckpt.task.classes().is_none() {
        bail!("--confusion needs a classification model");
    }
    let data = load_for_model(&ckpt, &a.data, &a.csv, true)?;
    if data.examples().is_empty() {
        bail!(
            "{}: holds no rows, so there is nothing to evaluate (loss and accuracy need at least one)",
            a.data.display()
        );
    }
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let ex = data.examples();
    // The outputs stream by in batches: memory stays bounded whatever rows × classes.
    let mut pairs = ckpt.task.classes().map(|c| ConfusionPairs::new(c.len()));
    let ev = engine.evaluate_streamed(&ckpt.network, ex, &ckpt.scaler, |first, outputs| {
        if let Some(pairs) = pairs.as_mut() {
            for (i, row) in outputs.rows().into_iter().enumerate() {
                pairs.add(ex.target(first + i).class().unwrap_or(0), class_of(row));
            }
        }
    });
    let confusion = ckpt.task.classes().zip(pairs);
    if let (Some(p), Some((classes, c))) = (&a.confusion, &confusion) {
        let dense = c.dense().context("a confusion matrix of few classes")?;
        shardprop::report::plot::confusion(p, classes, &dense.counts)?;
        note!("confusion matrix drawn to {}", p.display());
    }
    if a.json {
        let mut obj = json!({ "examples": ev.m, "loss": ev.loss(), "params_digest": ckpt.network.params_digest() });
        if let Some((classes, c)) = &confusion {
            obj["accuracy"] = json!(ev.accuracy());
            obj["classes"] = json!(classes);
            if let Some(dense) = c.dense() {
                obj["confusion"] = json!(dense.counts);
            }
            obj["confusion_pairs"] = json!(c.pairs().map(|(t, p, n)| [t as u64, p as u64, n]).collect::<Vec<_>>());
        }
        print_out(format_args!("{obj}\n"))?;
    } else {
        print_out(format_args!("examples {}\nloss {:.6}\n", ev.m, ev.loss()))?;
        if let Some((classes, c)) = &confusion {
            print_out(format_args!("accuracy {:.2}%\n{}\n", 100.0 * ev.accuracy(), c.to_text(classes)))?;
        }
    }
    Ok(())
}

pub fn predict(a: PredictArgs) -> Result<()> {
    refuse_overwriting_inputs("--output", a.output.as_ref(), &[Some(&a.model), Some(&a.data)])?;
    let ckpt = load_model(&a.model)?;
    let data = load_for_model(&ckpt, &a.data, &a.csv, false)?;
    let mut engine = Engine::<f32>::new(a.threads, ckpt.config.shard_size)?;
    let mut text = String::new();
    match &ckpt.task {
        Task::Classification { .. } => text += "prediction\n",
        Task::Regression { targets } => {
            text += &targets.join(",");
            text.push('\n');
        }
    }
    // The outputs stream by in batches: memory stays bounded whatever rows × classes.
    engine.evaluate_streamed(&ckpt.network, data.examples(), &ckpt.scaler, |_, outputs| match &ckpt.task {
        Task::Classification { classes } => {
            for row in outputs.rows() {
                let c = if classes.len() > 1 && row.len() == 1 {
                    class_of(row)
                } else {
                    class_of(row).min(classes.len() - 1)
                };
                text += &classes[c];
                text.push('\n');
            }
        }
        Task::Regression { .. } => {
            for row in outputs.rows() {
                let vals: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                text += &vals.join(",");
                text.push('\n');
            }
        }
    });
    match &a.output {
        Some(p) => {
            shardprop::io::atomic::write(p, text.as_bytes()).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print_out(format_args!("{text}"))?,
    }
    Ok(())
}

pub fn convert(a: ConvertArgs) -> Result<()> {
    refuse_overwriting_inputs("the output", Some(&a.output), &[Some(&a.input)])?;
    let t = Instant::now();
    let csv = csv_options(&a.csv, None);
    let (rows, skipped) = data::convert(&a.input, &a.output, &csv)
        .with_context(|| format!("cannot convert {} to {}", a.input.display(), a.output.display()))?;
    report_skipped(&a.input, &skipped);
    note!("wrote {rows} rows to {} in {:.2}s", a.output.display(), t.elapsed().as_secs_f64());
    Ok(())
}

pub fn bench(a: BenchArgs, dist: Option<Dist>) -> Result<()> {
    use shardprop::kernel::matmul::{self, Kernel};
    use shardprop::report::plot::{Series, line_panels};
    use shardprop::tools::bench;

    let kernel = Kernel::parse(&a.kernel)
        .with_context(|| format!("--kernel {:?}: expected gemm or matrixmultiply", a.kernel))?;
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
    let custom = a.hidden.is_some() || a.batch_size.is_some() || a.activation.is_some() || a.loss.is_some();
    let workloads: Vec<bench::Workload> = if custom {
        let activation = a.activation.as_deref().unwrap_or("sigmoid");
        let activation = Activation::parse(activation)
            .with_context(|| format!("--activation {activation:?}: expected sigmoid, tanh, relu or identity"))?;
        let cross_entropy = a.loss.as_deref() == Some("cross-entropy");
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
        vec![bench::Workload { name: "custom".into(), sizes, activation, head, batch_size, shard_size: 0 }]
    } else {
        bench::workloads()
            .into_iter()
            .filter(|w| a.workload.eq_ignore_ascii_case("all") || w.name.eq_ignore_ascii_case(&a.workload))
            .collect()
    };
    if workloads.is_empty() {
        bail!("--workload {:?}: expected W1, W2, W3 or all", a.workload);
    }
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
    let mut table = String::from(
        "workload ranks threads  examples/s speedup efficiency  GFLOP/s  roof  %roof  forward backprop reduction   step    comm  busy:fwd   bwd red+step\n",
    );
    for r in &results {
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
    if let Some(p) = &a.plot {
        let per_workload = |f: fn(&bench::BenchResult) -> f64| -> Vec<Series> {
            workloads
                .iter()
                .map(|w| Series {
                    label: w.name.clone(),
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

pub fn plot(a: PlotArgs) -> Result<()> {
    use shardprop::report::plot::{Series, line_panels};
    refuse_overwriting_inputs("-o", Some(&a.output), &[Some(&a.metrics)])?;
    // Bounded: a metrics log is a line per epoch; an endless stream must not fill memory.
    let raw = shardprop::memory::read_capped(&a.metrics, 1 << 28)?;
    let text = String::from_utf8(raw).with_context(|| format!("{}: not UTF-8 text", a.metrics.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a JSON object", a.metrics.display(), i + 1))?;
        let epoch =
            v["epoch"].as_f64().with_context(|| format!("{}:{}: no \"epoch\" number", a.metrics.display(), i + 1))?;
        rows.push((epoch, v));
    }
    if rows.is_empty() {
        bail!("{}: no epochs to plot", a.metrics.display());
    }
    let series = |key: &str, label: &str| Series {
        label: label.to_string(),
        points: rows.iter().filter_map(|(e, v)| v[key].as_f64().map(|y| (*e, y))).collect(),
    };
    let keep = |s: Vec<Series>| -> Vec<Series> { s.into_iter().filter(|s| !s.points.is_empty()).collect() };
    let loss = keep(vec![series("train_loss", "train"), series("val_loss", "validation")]);
    let acc = keep(vec![series("train_accuracy", "train"), series("val_accuracy", "validation")]);
    let mut panels = vec![("Loss per epoch", "loss", loss)];
    if !acc.is_empty() {
        panels.push(("Accuracy per epoch", "accuracy", acc));
    }
    line_panels(&a.output, "epoch", &panels)?;
    note!("{} epochs drawn to {}", rows.len(), a.output.display());
    Ok(())
}

pub fn gradcheck(a: GradcheckArgs) -> Result<ExitCode> {
    use shardprop::Head;
    let hidden = Activation::parse(&a.activation)
        .with_context(|| format!("--activation {:?}: expected sigmoid, tanh, relu or identity", a.activation))?;
    let head = match a.loss.as_str() {
        "cross-entropy" => Head::SoftmaxCrossEntropy,
        "regression" => Head::IdentityMse,
        _ => Head::SigmoidMse,
    };
    // Every weight costs two forward passes over the examples: a check must finish in seconds.
    let params = a.layers.windows(2).try_fold(0usize, |n, w| w[0].checked_add(1)?.checked_mul(w[1])?.checked_add(n));
    if a.layers.len() < 2 || a.layers.contains(&0) || params.is_none_or(|p| p > 100_000) {
        bail!(
            "--layers: give at least two non-zero sizes of a small network (at most 100,000 weights: each costs two passes), e.g. 5,4,3"
        );
    }
    if !(a.step.is_finite() && a.step > 0.0 && a.step < 1.0) {
        bail!("--step {}: expected a finite-difference step h in (0, 1)", a.step);
    }
    // Each weight's check runs the network twice over the examples: about 2·P·(P·m) flops.
    let work = params.and_then(|p| p.checked_mul(p)?.checked_mul(a.examples.max(1))?.checked_mul(2));
    if work.is_none_or(|w| w > 20_000_000_000) {
        bail!(
            "--examples {} with {} weights: a check of about 2·P²·m = {} flops would take minutes; \
             use fewer examples or a smaller network",
            a.examples,
            params.map_or("too many".to_string(), |p| p.to_string()),
            work.map_or("over 1.8e19".to_string(), |w| format!("{w:.1e}", w = w as f64))
        );
    }
    let floor = 1e-4;
    let layers = shardprop::tools::gradcheck::check(&a.layers, hidden, head, a.examples.max(1), a.seed, a.step, floor)?;
    // NaN must fail: `f64::max` would drop it.
    let worst = layers.iter().map(|l| l.max_rel_error).fold(0.0f64, shardprop::tools::gradcheck::max_or_nan);
    let pass = worst <= 1e-6;
    if a.json {
        print_out(format_args!(
            "{}\n",
            json!({ "layers": layers, "max_rel_error": worst, "pass": pass, "tolerance": 1e-6, "floor": floor })
        ))?;
    } else {
        print_out(format_args!(
            "gradient check of {} ({} hidden, {}), {} examples, h = {:e}\n",
            a.layers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"),
            hidden.name(),
            head.name(),
            a.examples,
            a.step
        ))?;
        for l in &layers {
            print_out(format_args!(
                "  W^({}) {}x{}: max relative error {:.3e} at ({}, {})\n",
                l.layer, l.shape.0, l.shape.1, l.max_rel_error, l.at.0, l.at.1
            ))?;
        }
        print_out(format_args!(
            "{} (tolerance 1e-6; gradients below {floor:e} compared by absolute error)\n",
            if pass { "PASS" } else { "FAIL" }
        ))?;
    }
    Ok(if pass { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
