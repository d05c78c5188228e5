//! The `shardprop` command: a thin layer of argument parsing and output over the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed pipe (`shardprop inspect m.ckpt --weights | head`) ends the process quietly, as
    // for other command-line tools, instead of a panic in `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
