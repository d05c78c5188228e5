//! `shardprop gradcheck`: backprop against central differences on a small random network.

use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::json;
use shardprop::tools::gradcheck::{check, max_or_nan};

use crate::cli::args::GradcheckArgs;
use crate::cli::output::print_out;

/// Relative error above which a layer fails.
const TOLERANCE: f64 = 1e-6;

/// Gradients below this are compared by absolute error.
const FLOOR: f64 = 1e-4;

/// Checks every weight's gradient; prints each layer's worst relative error and PASS or FAIL
/// (or `--json`). Exit 0 on a pass, 1 on a fail.
pub fn gradcheck(a: GradcheckArgs) -> Result<ExitCode> {
    let (hidden, head) = (a.activation, a.loss);
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
    let layers = check(&a.layers, hidden, head, a.examples.max(1), a.seed, a.step, FLOOR)?;
    // NaN must fail: `f64::max` would drop it.
    let worst = layers.iter().map(|l| l.max_rel_error).fold(0.0f64, max_or_nan);
    let pass = worst <= TOLERANCE;
    if a.json {
        print_out(format_args!(
            "{}\n",
            json!({ "layers": layers, "max_rel_error": worst, "pass": pass, "tolerance": TOLERANCE, "floor": FLOOR })
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
            "{} (tolerance 1e-6; gradients below {FLOOR:e} compared by absolute error)\n",
            if pass { "PASS" } else { "FAIL" }
        ))?;
    }
    Ok(if pass { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
