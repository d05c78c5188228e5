//! Running a training session to its end (or a signal), shared by `train` and `resume`: every
//! output checked before the first step, the model written before anything that could fail
//! after it, then the report.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::session::{Outcome, Session};

use super::Dist;
use super::args::SessionArgs;
use super::load::report_skipped;
use super::output::{check_writable_out, print_out};
use super::progress::Progress;
use super::report::{Timing, final_report};
use super::signals::Signals;

/// Where a run came from, for its messages and report.
pub struct Start<'a> {
    /// Seconds spent loading the data.
    pub load_seconds: f64,
    /// The checkpoint a resumed run started from.
    pub resumed_from: Option<&'a Path>,
}

/// Runs `session` to its end (or a signal), writes the model to `out` and the final checkpoint,
/// and reports. Exit status: 0; 128 + the signal's number when one stopped the run; 2 when
/// something after training (the model, stdout, the metrics log) could not be written.
pub fn run_to_end(
    mut session: Session,
    flags: &SessionArgs,
    out: Option<&Path>,
    start: Start,
    dist: Option<Dist>,
) -> Result<ExitCode> {
    let started = Instant::now();
    let signals = Signals::install()?;
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
    // The test set is evaluated after every epoch (rank 0 only) and once more at the end.
    let test_path = session.spec.test.clone().filter(|_| lead);
    if let Some(tp) = &test_path {
        let (test, skipped) =
            session.load_test(tp).with_context(|| format!("cannot use {} as the test set", tp.display()))?;
        report_skipped(tp, &skipped);
        session.set_test(test);
    }
    if let Some(o) = out.filter(|_| lead) {
        check_writable_out(o)?;
    }
    let n_train = session.train_examples().len();
    if lead {
        announce(&mut session, n_train, ranks, &start);
    }
    let epochs = session.trainer.config().epochs;
    let mut progress = Progress::new(flags.quiet || !lead, epochs, session.spec.metrics.as_deref())?;
    let first_new = session.history.len();
    let outcome = session.run(Some(&signals.stop), &mut progress)?;
    if let Outcome::Stopped { checkpoint } = &outcome {
        // The last signal that arrived names the stop and sets the status (128 + its number).
        let (name, code) = signals.stopped_by();
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
    let failed = save(&session, out)?;
    let test_eval = session.evaluate_test()?;
    if let (Some(tp), Some(ev)) = (&test_path, &test_eval) {
        note!(
            "test on {}: loss {:.6}, accuracy {:.2}% ({} rows)",
            tp.display(),
            ev.loss(),
            100.0 * ev.accuracy(),
            ev.m
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    // What went wrong after the model was safe (stdout, the metrics log): reported, then exit 2.
    let mut late = Vec::new();
    if flags.json {
        let t = Timing { n_train, first_new, seconds, load_seconds: start.load_seconds, ranks };
        let obj = final_report(&mut session, &outcome, test_eval.as_ref(), &t, start.resumed_from);
        if let Err(e) = print_out(format_args!("{obj}\n")) {
            late.push(format!("{e:#}"));
        }
    } else {
        note!("params_digest {}  ({seconds:.1}s)", session.network().params_digest());
    }
    late.extend(progress.metrics_failed.take());
    if !failed.is_empty() {
        for f in &failed {
            note!("error: {f}");
        }
        note!("error: not everything was saved; {}", newest_checkpoint(&session));
    }
    for e in &late {
        note!("error: {e}");
    }
    Ok(if failed.is_empty() && late.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// The line that starts a run: sizes, data, threads, ranks and optimiser.
fn announce(session: &mut Session, n_train: usize, ranks: usize, start: &Start) {
    let net = session.network();
    let say = if ranks > 1 { format!(", {ranks} MPI ranks") } else { String::new() };
    let (sizes, inputs, params) =
        (net.sizes().iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"), net.n_inputs(), net.n_params());
    let cfg = session.trainer.config();
    let lr = if cfg.optimizer.uses_lr() { format!(" at lr {}", cfg.lr) } else { String::new() };
    let (optimizer, init) = (cfg.optimizer.name(), cfg.init.name());
    let mut regularised = String::new();
    if !cfg.dropout.is_empty() {
        let rates: Vec<String> = cfg.dropout.iter().map(f64::to_string).collect();
        regularised += &format!(", dropout {}", rates.join(","));
    }
    if let Some(c) = cfg.max_norm {
        regularised += &format!(", max-norm {c}");
    }
    note!(
        "{} {sizes} on {} ({n_train} training rows, {inputs} features, loaded in {:.3}s), {params} params, {} threads{say}, {optimizer}{lr}, init {init}{regularised}",
        if start.resumed_from.is_some() { "resuming" } else { "training" },
        session.spec.train.display(),
        start.load_seconds,
        session.trainer.engine_mut().threads(),
    );
}

/// Writes the trained model to `out` and the final checkpoint, trying both whatever happens to
/// the other; returns what could not be written. Non-finite weights are an error: nothing is
/// written.
fn save(session: &Session, out: Option<&Path>) -> Result<Vec<String>> {
    if session.network().first_non_finite().is_some() {
        bail!("training diverged: the final weights are not finite; nothing was written (try a smaller --lr)");
    }
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
    Ok(failed)
}

/// Where to resume from when the model could not be written.
fn newest_checkpoint(session: &Session) -> String {
    match session.spec.checkpoint_dir.as_ref() {
        Some(dir) => match Checkpoint::newest_in_dir(dir) {
            Ok((p, c, _)) => format!("the newest good checkpoint is {} (step {})", p.display(), c.state.global_step),
            Err(_) => format!("no good checkpoint in {}", dir.display()),
        },
        None => "no checkpoint directory was given (--checkpoint-dir)".to_string(),
    }
}
