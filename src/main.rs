//! The `shardprop` command: a thin layer of argument parsing and output over the library.

/// `eprintln!` that cannot panic: messages on stderr are for people, and a closed or full stderr
/// (`2>&1 | head`, a full disk) must not end a run or lose a model. A lost message is dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that cannot panic (see [`note!`]).
macro_rules! note_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed pipe (`shardprop inspect m.ckpt --weights | head`) ends a command that only
    // prints quietly, as for other command-line tools, instead of a panic in `println!`. Not for
    // commands that train or write files: a reader going away must not kill them mid-write.
    let prints = ["inspect", "evaluate", "predict", "gradcheck"];
    #[cfg(unix)]
    if std::env::args().nth(1).is_some_and(|c| prints.contains(&c.as_str())) {
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // A memory-mapped dataset truncated by another program mid-run ends with a message naming
    // the file and exit 2, not a silent SIGBUS (see `data::sigbus`).
    if let Err(e) = shardprop::data::sigbus::install() {
        note!("warning: cannot install the SIGBUS handler: {e}");
    }
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            note!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
