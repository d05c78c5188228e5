//! `shardprop inspect`: what a checkpoint holds, as JSON.

use anyhow::{Context, Result};
use serde_json::json;
use shardprop::run::checkpoint::Checkpoint;

use crate::cli::args::InspectArgs;
use crate::cli::output::print_out;

/// Prints the checkpoint's format version, network, config, progress, data fingerprint, task,
/// scaling and history (and its weights with `--weights`): one line with `--json`, indented
/// otherwise.
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
