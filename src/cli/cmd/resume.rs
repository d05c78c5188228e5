//! `shardprop resume`: continue a run from a checkpoint file or directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use shardprop::data;
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::session::Session;

use crate::cli::Dist;
use crate::cli::args::ResumeArgs;
use crate::cli::load::{is_mnist_dir, load_model, npy_options, report_skipped, test_set};
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
    // The test set: given anew (with its own labels, or none), or, when the run's is not here
    // and --data names an MNIST directory, that directory's t10k files as `train` would take.
    let test = match (&a.test, &a.data) {
        (Some(t), _) => Some(test_set(t)?),
        (None, Some(d)) if spec.test.as_ref().is_some_and(|t| !t.exists()) && is_mnist_dir(d)? => {
            let recorded = spec.test.as_ref().and_then(|t| t.file_name());
            data::idx::images_in(d, "t10k").ok().filter(|t| t.file_name() == recorded)
        }
        _ => None,
    };
    if let Some(t) = test {
        spec.test = Some(t);
        spec.test_labels = None;
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
    if let Some(m) = &a.metrics {
        spec.metrics = Some(absolute(m)?);
    }
    let metrics_flag = if a.metrics.is_some() { "--metrics" } else { "the run's metrics log" };
    // What the run recorded but is not here (another machine, another directory) is refused
    // before anything loads, naming the flag that gives it anew. Rank 0 alone evaluates the test
    // set and writes the log and the checkpoints, so only its machine needs them.
    let lead = dist.as_ref().is_none_or(|d| d.rank() == 0);
    let here = Recorded { ckpt: &path };
    here.input("training data", a.data.is_none().then_some(&spec.train), "--data PATH")?;
    here.input("labels", spec.npy.labels.as_ref().filter(|_| a.npy.labels.is_none()), "--labels PATH")?;
    if lead {
        here.input("test set", spec.test.as_ref().filter(|_| a.test.is_none()), "--test PATH")?;
        let labels = spec.test_labels.as_ref().filter(|_| a.test_labels.is_none());
        here.input("test labels", labels, "--test-labels PATH")?;
        here.output("metrics log", spec.metrics.as_deref(), a.metrics.is_some(), "--metrics FILE")?;
        let dir = spec.checkpoint_dir.as_deref().filter(|d| !d.is_dir());
        here.output("checkpoint directory", dir, a.session.checkpoint_dir.is_some(), "--checkpoint-dir DIR")?;
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

/// The checkpoint a run's recorded paths come from, for refusing those that are not here.
struct Recorded<'a> {
    ckpt: &'a Path,
}

impl Recorded<'_> {
    /// Refuses the run's `what` at `p` (when given: recorded, not given anew) if it does not
    /// exist here.
    fn input(&self, what: &str, p: Option<&PathBuf>, flag: &str) -> Result<()> {
        match p {
            Some(p) if !p.exists() => bail!(
                "cannot find the run's {what} {} (recorded in {}): it is not here; give {flag}, or \
                 resume from the directory the run started in",
                p.display(),
                self.ckpt.display()
            ),
            _ => Ok(()),
        }
    }

    /// Refuses an output `p` (a file, or a directory to be created) whose directory does not
    /// exist; `given`: named on the command line rather than recorded.
    fn output(&self, what: &str, p: Option<&Path>, given: bool, flag: &str) -> Result<()> {
        let Some(p) = p else { return Ok(()) };
        if p.is_dir() {
            // Only the log gets here as a directory (the checkpoint directory only when missing).
            bail!("cannot write the {what} {}: it is a directory; give {flag}", p.display());
        }
        // A bare name (older checkpoints stored the log as given) lives in the current directory.
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match (dir.is_dir(), given) {
            (true, _) => Ok(()),
            (false, true) => bail!("cannot write the {what} {}: there is no directory {}", p.display(), dir.display()),
            (false, false) => bail!(
                "cannot write the run's {what} {} (recorded in {}): there is no directory {} here; give {flag}",
                p.display(),
                self.ckpt.display(),
                dir.display()
            ),
        }
    }
}
