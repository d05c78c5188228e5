//! The JSON object `train --json` and `resume --json` print at the end of a run. Its field names
//! are a contract: scripts read them.

use std::path::Path;

use serde_json::{Value, json};
use shardprop::engine::Evaluation;
use shardprop::run::session::{Outcome, Session};

/// Figures of the run that the session does not keep.
pub struct Timing {
    /// Training rows.
    pub n_train: usize,
    /// Epochs in the history before this process started (a resumed run's).
    pub first_new: usize,
    /// Seconds from the start of the run to now.
    pub seconds: f64,
    /// Seconds spent loading the data.
    pub load_seconds: f64,
    /// MPI ranks (1 without MPI).
    pub ranks: usize,
}

/// The report of a finished run. The top-level figures describe the model written: with early
/// stopping, the kept epoch's.
pub fn final_report(
    session: &mut Session,
    outcome: &Outcome,
    test: Option<&Evaluation>,
    t: &Timing,
    resumed_from: Option<&Path>,
) -> Value {
    let threads = session.trainer.engine_mut().threads();
    let history = &session.history;
    let new = &history[t.first_new.min(history.len())..];
    let train_seconds: f64 = new.iter().map(|r| r.seconds).sum();
    let last = match outcome {
        Outcome::EarlyStopped { best_epoch } => history.iter().rev().find(|r| r.epoch == *best_epoch),
        _ => history.last(),
    };
    let classes = session.task.classes().is_some();
    let mut obj = json!({
        "epochs": history.len(),
        "train_loss": last.map(|r| r.train_loss),
        "examples_per_sec": (t.n_train * new.len()) as f64 / train_seconds.max(1e-9),
        "seconds": t.seconds,
        "params_digest": session.network().params_digest(),
        "threads": threads,
        "ranks": t.ranks,
        "load_seconds": t.load_seconds,
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
    if let Some(ev) = test {
        obj["test_loss"] = json!(ev.loss());
        if classes {
            obj["test_accuracy"] = json!(ev.accuracy());
        }
    }
    if let Some(p) = resumed_from {
        obj["resumed_from"] = json!(p);
    }
    obj
}
