//! The command line: parse (with `--config` expanded), pick the subcommand, run it, alone or as
//! one rank of an MPI job. No maths here.

pub mod args;
pub mod choices;
mod cmd;
pub mod config;
mod load;
#[cfg(feature = "mpi")]
mod mpi;
mod output;
mod progress;
mod report;
mod run_session;
mod signals;

use std::any::TypeId;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};

/// The collective of a distributed run.
pub type Dist = std::sync::Arc<dyn shardprop::engine::exchange::Collective>;

/// Parses the command line and runs the command. `--help` and `--version` print and return 0; a
/// usage error prints clap's message and returns 2.
pub fn run() -> anyhow::Result<ExitCode> {
    let cmd = command();
    let (args, origins) = config::expand_args(&cmd, std::env::args_os().collect())?;
    let cli = match cmd.try_get_matches_from(args).and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(mut cli) => {
            if let Command::Train(a) = &mut cli.command {
                a.origins = origins;
            }
            cli
        }
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            // `--help` and `--version` go to stdout: a full disk there is an error; a reader
            // that has gone (`shardprop --help | head -1`) is not.
            if let Err(err) = e.print()
                && !e.use_stderr()
                && err.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(anyhow::Error::new(err).context("cannot write to stdout"));
            }
            return Ok(ExitCode::from(code));
        }
    };
    let distributed = match &cli.command {
        Command::Train(a) => a.run.session.distributed,
        Command::Resume(a) => a.session.distributed,
        Command::Bench(a) => a.distributed,
        _ => false,
    };
    if distributed {
        return run_distributed(cli.command);
    }
    dispatch(cli.command, None)
}

/// The command line's definition. Number-valued flags take values that look like negative
/// numbers (`--lr -1`), so that the flag's own check refuses them by name, not clap as an
/// unknown argument `-1`.
fn command() -> clap::Command {
    Cli::command().mut_subcommands(|sub| {
        sub.mut_args(|arg| {
            let t = arg.get_value_parser().type_id();
            let numeric = [TypeId::of::<f64>(), TypeId::of::<usize>(), TypeId::of::<u64>()].iter().any(|n| t == *n);
            if numeric { arg.allow_negative_numbers(true) } else { arg }
        })
    })
}

/// Runs one subcommand; `dist` is the MPI world of a distributed run.
fn dispatch(command: Command, dist: Option<Dist>) -> anyhow::Result<ExitCode> {
    let done = |()| ExitCode::SUCCESS;
    match command {
        Command::Train(a) => cmd::train::train(*a, dist),
        Command::Evaluate(a) => cmd::evaluate::evaluate(a).map(done),
        Command::Predict(a) => cmd::predict::predict(a).map(done),
        Command::Convert(a) => cmd::convert::convert(a).map(done),
        Command::Bench(a) => cmd::bench::bench(a, dist).map(done),
        Command::Resume(a) => cmd::resume::resume(a, dist),
        Command::Inspect(a) => cmd::inspect::inspect(a).map(done),
        Command::Plot(a) => cmd::plot::plot(a).map(done),
        Command::Gradcheck(a) => cmd::gradcheck::gradcheck(a),
        Command::Export(a) => cmd::export::export(a).map(done),
    }
}

/// Runs `command` as one rank of the MPI job this process belongs to. One rank's error aborts
/// every rank (exit 2), never leaving them waiting in a collective.
#[cfg(feature = "mpi")]
fn run_distributed(command: Command) -> anyhow::Result<ExitCode> {
    let (universe, world) = mpi::init()?;
    let world: Dist = std::sync::Arc::new(world);
    let result = dispatch(command, Some(std::sync::Arc::clone(&world)));
    match result {
        Ok(code) => {
            drop(universe);
            Ok(code)
        }
        Err(err) => {
            note!("error: rank {} of {}: {err:#}", world.rank(), world.size());
            world.abort(2)
        }
    }
}

/// Without the `mpi` feature, `--distributed` is an error saying how to build with it.
#[cfg(not(feature = "mpi"))]
fn run_distributed(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("--distributed needs MPI: this shardprop was built without it (cargo build --release --features mpi)")
}
