//! SIGINT, SIGTERM and SIGHUP during training: the run finishes its step, checkpoints and exits
//! with 128 + the signal's number; a second SIGINT exits at once.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};

/// The flags a training loop watches: `stop` once any handled signal arrives, and which signal
/// came last.
pub struct Signals {
    /// Raised by SIGINT, SIGTERM or SIGHUP.
    pub stop: Arc<AtomicBool>,
    /// The number of the last signal that arrived (0: none).
    seen: Arc<AtomicUsize>,
}

impl Signals {
    /// Installs the handlers. SIGINT and SIGTERM raise the stop flag (the run finishes its step
    /// and checkpoints); a second SIGINT exits at once.
    pub fn install() -> Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        // A second SIGINT ends the process at once (exit 130), as a user pressing Ctrl-C twice
        // means.
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
        Ok(Signals { stop, seen })
    }

    /// The name of the signal that stopped the run (the last that arrived) and the exit status
    /// it sets, 128 + its number.
    pub fn stopped_by(&self) -> (&'static str, ExitCode) {
        let signo = self.seen.load(Ordering::SeqCst);
        let name = match signo as i32 {
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            _ => "SIGINT",
        };
        (name, ExitCode::from(128 + if signo == 0 { libc::SIGINT as u8 } else { signo as u8 }))
    }
}
