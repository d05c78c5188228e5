//! `shardprop resume`: continue a run from a checkpoint file or directory.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::session::Session;

use crate::cli::Dist;
use crate::cli::args::ResumeArgs;
use crate::cli::load::{load_model, npy_options, report_skipped};
use crate::cli::output::{absolute, refuse_overwriting_inputs, refuse_same_outputs};
use crate::cli::run_session::{Start, run_to_end};

/// Resumes the run in `a.checkpoint` (a directory: its newest loadable checkpoint), with the
/// overrides the flags give; see [`run_to_end`] for the exit status.
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
    match &a.test {
        Some(t) => spec.test = Some(crate::cli::cmd::train::test_set(t)?),
        None => {
            if let Some(t) = spec.test.as_ref().filter(|t| !t.exists()) {
                bail!(
                    "the run's test set {} (recorded in {}) is not here; give --test PATH (the \
                     same data, or any: the weights do not depend on it), or resume from the \
                     directory the run started in",
                    t.display(),
                    path.display()
                );
            }
        }
    }
    // NumPy labels and arrays: the run's own (stored), unless given again.
    let npy = npy_options(&a.npy);
    spec.npy.labels = npy.labels.or(spec.npy.labels);
    spec.npy.x_key = npy.x_key.or(spec.npy.x_key);
    spec.npy.y_key = npy.y_key.or(spec.npy.y_key);
    spec.test_labels = a.test_labels.clone().or(spec.test_labels);
    if let Some(d) = &a.session.checkpoint_dir {
        spec.checkpoint_dir = Some(absolute(d)?);
    }
    // The metrics log: the run's own (stored absolute), unless given anew.
    let metrics_flag = match &a.metrics {
        Some(m) => {
            spec.metrics = Some(absolute(m)?);
            "--metrics"
        }
        None => "the run's metrics log",
    };
    if let Some(m) = spec.metrics.as_ref().filter(|_| a.metrics.is_none())
        && let Some(dir) = m.parent().filter(|d| !d.is_dir())
    {
        bail!(
            "the run's metrics log {} (recorded in {}) cannot be appended here: there is no \
             directory {}; give --metrics FILE to log elsewhere",
            m.display(),
            path.display(),
            dir.display()
        );
    }
    let t0 = Instant::now();
    let inputs =
        [Some(&spec.train), spec.test.as_ref(), Some(&path), spec.npy.labels.as_ref(), spec.test_labels.as_ref()];
    for (flag, out) in [("--out", a.out.as_ref()), (metrics_flag, spec.metrics.as_ref())] {
        refuse_overwriting_inputs(flag, out, &inputs)?;
    }
    refuse_same_outputs(&[("--out", a.out.as_ref()), (metrics_flag, spec.metrics.as_ref())])?;
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
    let start = Start { load_seconds: t0.elapsed().as_secs_f64(), resumed_from: Some(&path) };
    run_to_end(session, &a.session, a.out.as_deref(), start, dist)
}
