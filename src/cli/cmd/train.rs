//! `shardprop train`: a run from flags (and `--config`), to its end.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use shardprop::TrainConfig;
use shardprop::data;
use shardprop::run::session::{Architecture, Session};
use shardprop::run::spec::RunSpec;

use crate::cli::Dist;
use crate::cli::args::TrainArgs;
use crate::cli::choices::{Loss, LrSchedule};
use crate::cli::load::{
    csv_options, default_mnist, default_scale, is_mnist_dir, npy_options, report_skipped, test_set,
};
use crate::cli::output::{absolute, refuse_overwriting_inputs, refuse_same_outputs};
use crate::cli::run_session::{Start, run_to_end};

/// Trains a network as the flags say; see [`run_to_end`] for the exit status.
pub fn train(a: TrainArgs, dist: Option<Dist>) -> Result<ExitCode> {
    let optimizer = a.optimizer.method(a.momentum);
    let lr = a.lr.unwrap_or_else(|| optimizer.default_lr());
    check_train_flags(&a, lr)?;
    let data_path = a.data.clone().unwrap_or_else(default_mnist);
    let scale = match a.scale {
        Some(s) => s,
        None => default_scale(&data_path)?,
    };
    let test = match &a.test {
        Some(p) => Some(test_set(p)?),
        None if is_mnist_dir(&data_path)? => data::idx::images_in(&data_path, "t10k").ok(),
        None => None,
    };
    let inputs = [Some(&data_path), test.as_ref(), a.config.as_ref(), a.npy.labels.as_ref(), a.test_labels.as_ref()];
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
        checkpoint_dir: a.run.session.checkpoint_dir.as_deref().map(absolute).transpose()?,
        checkpoint_every: a.run.checkpoint_every,
        checkpoint_every_steps: a.run.checkpoint_every_steps,
        keep: a.run.keep,
        metrics: a.run.metrics.as_deref().map(absolute).transpose()?,
        npy: npy_options(&a.npy),
        test_labels: a.test_labels.clone(),
        features: csv.features,
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr,
        seed: a.seed,
        shard_size: a.shard_size,
        optimizer,
        l2: a.l2,
        schedule: a.lr_schedule.schedule(a.epochs, a.lr_step, a.lr_gamma, a.lr_min),
        init: a.init,
        dropout: dropout_rates(&a)?,
        max_norm: a.max_norm,
    };
    if a.lr.is_none() && optimizer.uses_lr() && !a.run.session.quiet {
        note!("--lr not given: {} takes its default learning rate, {lr}", optimizer.name());
    }
    let arch = Architecture {
        hidden: a.hidden.clone(),
        activation: a.activation,
        cross_entropy: a.loss == Loss::CrossEntropy,
    };
    let t0 = Instant::now();
    let (session, skipped) = Session::start(spec, &arch, cfg, a.threads).with_context(|| {
        format!("cannot start training on {}", a.data.as_deref().unwrap_or(&default_mnist()).display())
    })?;
    let load_seconds = t0.elapsed().as_secs_f64();
    report_skipped(&session.spec.train, &skipped);
    run_to_end(session, &a.run.session, a.out.as_deref(), Start { load_seconds, resumed_from: None }, dist)
}

/// Refuses numeric flags that would train on nonsense (NaN, infinities, out-of-range values)
/// with a message naming the flag (or the config file's line that set it) and what was expected.
/// `lr` is `--lr`, or the optimiser's default.
fn check_train_flags(a: &TrainArgs, lr: f64) -> Result<()> {
    let flag = |name: &str| a.origins.label(name);
    let finite = |name: &str, v: f64, ok: bool, expected: &str| -> Result<()> {
        if v.is_finite() && ok { Ok(()) } else { bail!("{} {v:?}: expected {expected}", flag(name)) }
    };
    finite("lr", lr, lr > 0.0 && lr <= 1e6, "a positive learning rate of at most 1e6")?;
    finite("momentum", a.momentum, (0.0..1.0).contains(&a.momentum), "a momentum in [0, 1)")?;
    finite("l2", a.l2, a.l2 >= 0.0, "a non-negative weight decay")?;
    finite("lr-gamma", a.lr_gamma, a.lr_gamma > 0.0, "a positive decay factor")?;
    let top = if a.lr.is_some() { "--lr".to_string() } else { format!("the default --lr {lr}") };
    finite("lr-min", a.lr_min, a.lr_min >= 0.0 && a.lr_min <= lr, &format!("a final rate between 0 and {top}"))?;
    finite("validation", a.validation, (0.0..1.0).contains(&a.validation), "a fraction in [0, 1)")?;
    if a.lr_schedule == LrSchedule::Step && a.lr_step == 0 {
        bail!("{} 0: expected a decay every 1 or more epochs", flag("lr-step"));
    }
    if a.run.keep == 0 {
        bail!("{} 0: expected to keep at least 1 checkpoint", flag("keep"));
    }
    for &p in &a.dropout {
        finite("dropout", p, (0.0..1.0).contains(&p), "rates in [0, 1)")?;
    }
    if let Some(c) = a.max_norm {
        finite("max-norm", c, c > 0.0, "a radius > 0")?;
    }
    if a.threads > shardprop::engine::MAX_THREADS {
        bail!("{} {}: at most {}", flag("threads"), a.threads, shardprop::engine::MAX_THREADS);
    }
    Ok(())
}

/// `--dropout` as one rate per layer feeding a weight matrix: the input layer's, then the hidden
/// layers' (one rate for all of them, or one each); empty when no unit is ever dropped.
fn dropout_rates(a: &TrainArgs) -> Result<Vec<f64>> {
    let hidden = a.hidden.iter().filter(|&&h| h > 0).count();
    let rates = match a.dropout.as_slice() {
        [] => return Ok(Vec::new()),
        [input] if hidden == 0 => vec![*input],
        [input, all] if hidden > 0 => std::iter::once(*input).chain(std::iter::repeat_n(*all, hidden)).collect(),
        r if r.len() == hidden + 1 => r.to_vec(),
        r => bail!(
            "{} {}: expected the input layer's rate, then one rate for all {hidden} hidden layers or one each \
             (e.g. --dropout 0.2,0.5)",
            a.origins.label("dropout"),
            r.iter().map(f64::to_string).collect::<Vec<_>>().join(",")
        ),
    };
    Ok(if rates.iter().all(|&p| p == 0.0) { Vec::new() } else { rates })
}
