//! Live progress: an indicatif bar per epoch on a terminal, a plain line per epoch otherwise,
//! nothing with `--quiet`; the metrics log; checkpoint notes and warnings.
//!
//! The metrics log gets whole lines only: a line that cannot be appended (a full disk) is cut
//! back off, logging stops with one warning, and [`Progress::metrics_failed`] says so, for the
//! run to end with exit 2 once the model is written.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use shardprop::Trainer;
use shardprop::run::session::Observer;
use shardprop::run::trainer::EpochReport;

/// What a run shows and logs per epoch: an [`Observer`] of the session.
pub struct Progress {
    quiet: bool,
    bar: Option<ProgressBar>,
    terminal: bool,
    epochs: usize,
    metrics: Option<MetricsLog>,
    /// Why the metrics log is incomplete, naming it, once an append has failed.
    pub metrics_failed: Option<String>,
    /// Warnings printed so far.
    pub warnings: usize,
}

/// The `--metrics` JSONL log, opened for appending.
struct MetricsLog {
    file: File,
    name: String,
}

impl MetricsLog {
    /// Appends `line` and a newline, all or nothing: a write that fails part-way (a full disk)
    /// is cut back to the file's length before it, so the log never ends in half a line.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        let before = self.file.metadata()?.len();
        // One buffer, one `write_all`: no line is split over two writes but by the OS.
        let bytes = format!("{line}\n");
        let Err(e) = self.file.write_all(bytes.as_bytes()) else { return Ok(()) };
        match self.file.set_len(before) {
            Ok(()) => Err(e),
            Err(cut) => {
                Err(std::io::Error::new(e.kind(), format!("{e}; and the partial line could not be cut off: {cut}")))
            }
        }
    }
}

impl Progress {
    /// Progress for a run of `epochs` epochs (silent with `quiet`), appending to the metrics
    /// log `metrics` if given (opened here: a log that cannot be opened fails before training).
    pub fn new(quiet: bool, epochs: usize, metrics: Option<&Path>) -> Result<Self> {
        let metrics = match metrics {
            Some(p) => Some(MetricsLog {
                file: OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("cannot open {}", p.display()))?,
                name: p.display().to_string(),
            }),
            None => None,
        };
        Ok(Self {
            quiet,
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            epochs,
            metrics,
            metrics_failed: None,
            warnings: 0,
        })
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn step(&mut self, epoch: usize, step: usize, steps: usize, t: &Trainer<f32>) {
        if self.quiet || !self.terminal {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        bar.set_prefix(format!("{}/{}", epoch + 1, self.epochs));
        let s = t.state();
        if s.epoch_examples > 0 && step.is_multiple_of(8) {
            let loss = s.epoch_loss_sum / s.epoch_examples as f64;
            let acc = 100.0 * s.epoch_correct as f64 / s.epoch_examples as f64;
            let rate = bar.per_sec() * (s.epoch_examples as f64 / step.max(1) as f64);
            bar.set_message(format!("loss {loss:.5} acc {acc:.2}% {rate:.0} ex/s"));
        }
        bar.set_position(step as u64);
    }

    fn epoch(&mut self, r: &EpochReport) {
        self.finish_bar();
        if !self.quiet {
            let figures = |name: &str, loss: Option<f64>, acc: Option<f64>| match (loss, acc) {
                (Some(l), Some(a)) => format!("  {name} loss {l:.6}  {name} accuracy {:6.2}%", 100.0 * a),
                (Some(l), None) => format!("  {name} loss {l:.6}"),
                _ => String::new(),
            };
            let val = figures("val", r.val_loss, r.val_accuracy) + &figures("test", r.test_loss, r.test_accuracy);
            note!(
                "epoch {:>3}/{}  loss {:.6}  accuracy {:6.2}%{val}  {:>9.0} examples/s  {:.2}s",
                r.epoch,
                self.epochs,
                r.train_loss,
                100.0 * r.train_accuracy,
                r.examples_per_sec,
                r.seconds
            );
        }
        if let Some(log) = &mut self.metrics {
            let line = serde_json::json!({
                "epoch": r.epoch,
                "step": r.global_step,
                "train_loss": r.train_loss,
                "train_accuracy": r.train_accuracy,
                "val_loss": r.val_loss,
                "val_accuracy": r.val_accuracy,
                "test_loss": r.test_loss,
                "test_accuracy": r.test_accuracy,
                "lr": r.lr,
                "examples_per_sec": r.examples_per_sec,
                "seconds": r.seconds,
            });
            if let Err(e) = log.append(&line.to_string()) {
                let msg = format!("{}: incomplete: epochs from {} on are not logged ({e})", log.name, r.epoch);
                note!("warning: {msg}; logging stops here");
                self.metrics = None;
                self.metrics_failed = Some(msg);
            }
        }
    }

    fn checkpoint(&mut self, path: &Path) {
        if !self.quiet && !self.terminal {
            note!("checkpoint {}", path.display());
        }
    }

    fn warning(&mut self, msg: &str) {
        self.finish_bar();
        self.warnings += 1;
        note!("warning: {msg}");
    }
}
