//! Argument parsing and dispatch. No maths here.

mod commands;
pub mod config;
#[cfg(feature = "mpi")]
mod mpi;
mod progress;

use std::any::TypeId;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// shardprop: a deterministic, data-parallel trainer for fully connected networks.
#[derive(Parser, Debug)]
#[command(name = "shardprop", version, about, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a network (default: MNIST from datasets/mnist, evaluated on its t10k set).
    Train(Box<TrainArgs>),
    /// Loss, accuracy and confusion matrix of a model on a dataset.
    Evaluate(EvaluateArgs),
    /// One prediction per row, in input order.
    Predict(PredictArgs),
    /// Convert a CSV (or IDX) dataset to the binary format, streaming.
    Convert(ConvertArgs),
    /// Throughput of the reference workloads across thread counts.
    Bench(BenchArgs),
    /// Continue a run from a checkpoint (or the newest good one in a checkpoint directory).
    Resume(ResumeArgs),
    /// Print a checkpoint's format version, config, progress, data fingerprint and digest.
    Inspect(InspectArgs),
    /// Draw loss and accuracy per epoch from a metrics log (JSON lines) as SVG.
    Plot(PlotArgs),
    /// Check backprop against finite differences on a small random network, per layer.
    Gradcheck(GradcheckArgs),
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A metrics log written by `train --metrics`.
    pub metrics: PathBuf,
    /// The SVG file to write.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// Layer sizes, input to output, e.g. 5,4,3.
    #[arg(long, value_delimiter = ',', default_value = "5,4,3", action = ArgAction::Set)]
    pub layers: Vec<usize>,
    /// Hidden activation: sigmoid, tanh, relu or identity.
    #[arg(long, default_value = "sigmoid")]
    pub activation: String,
    /// Cost: mse (sigmoid outputs), cross-entropy (softmax outputs) or regression (identity
    /// outputs, squared error).
    #[arg(long, default_value = "mse", value_parser = ["mse", "cross-entropy", "regression"])]
    pub loss: String,
    /// Random examples in the check.
    #[arg(long, default_value_t = 7)]
    pub examples: usize,
    /// Seed for the network and the examples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Finite-difference step h.
    #[arg(long, default_value_t = 1e-5)]
    pub step: f64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// A checkpoint file, or a checkpoint directory (its newest loadable checkpoint).
    pub checkpoint: PathBuf,
    /// Total epochs to reach (default: the run's configured epochs).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Worker threads (default: every core). Never changes the result.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Train on this data instead of the checkpoint's (refused if its fingerprint differs,
    /// unless --force).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Resume even if the data's fingerprint differs from the checkpoint's.
    #[arg(long)]
    pub force: bool,
    /// Write the final model here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the run's checkpoint directory.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Run as one rank of an MPI job (build with --features mpi; launch with mpirun).
    #[arg(long)]
    pub distributed: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The checkpoint or model file.
    pub checkpoint: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Include every W^(l) as nested arrays, S_(l+1) x (S_l + 1), column 0 the bias weights.
    #[arg(long)]
    pub weights: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// W1 (784-128-10, batch 256), W2 (784-800-10, batch 1024), W3 (784-128-10, full batch) or all
    /// (ignored when --hidden, --batch-size, --activation or --loss describe your own network).
    #[arg(long, default_value = "all")]
    pub workload: String,
    /// Thread counts (default: 1, 2, 4, ... up to the core count).
    #[arg(long, value_delimiter = ',', action = ArgAction::Set)]
    pub threads: Vec<usize>,
    /// Timed epochs per run, after one warm-up epoch; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// GEMM roof in GFLOP/s per thread count, e.g. 159 (default: measured here for each thread
    /// count with the chosen kernel).
    #[arg(long)]
    pub roof: Option<f64>,
    /// Shards per step (default: the automatic shard size `train` uses, from the batch size
    /// alone). Fixed for all thread counts of a run.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Benchmark your own network instead of W1-W3: hidden layer sizes, e.g. 512,256 (the
    /// input and output sizes come from --data).
    #[arg(long, value_delimiter = ',', action = ArgAction::Set)]
    pub hidden: Option<Vec<usize>>,
    /// Examples per step of your own network (0: full batch; default 256). Implies --hidden
    /// 300 when --hidden is not given.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Hidden activation of your own network: sigmoid (default), tanh, relu or identity.
    #[arg(long)]
    pub activation: Option<String>,
    /// Cost of your own network: mse (default) or cross-entropy.
    #[arg(long, value_parser = ["mse", "cross-entropy"])]
    pub loss: Option<String>,
    /// Matrix-multiply kernel: gemm (default) or matrixmultiply.
    #[arg(long, default_value = "gemm")]
    pub kernel: String,
    /// MNIST directory or training data (default: datasets/mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print one JSON object ({"results": [...]}) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Draw speedup and efficiency against thread count (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Run as one rank of an MPI job: the workloads train across all ranks, and the time split
    /// gains a communication column.
    #[arg(long)]
    pub distributed: bool,
}

/// How to read a CSV file.
#[derive(Args, Debug, Clone, Default)]
pub struct CsvArgs {
    /// Target column by name or 0-based index (default: the last); comma-separated for several
    /// regression targets.
    #[arg(long)]
    pub target: Option<String>,
    /// The first row is data, not a header.
    #[arg(long, conflicts_with = "header")]
    pub no_header: bool,
    /// The first row is a header (default: detected).
    #[arg(long)]
    pub header: bool,
    /// `classification` (default) or `regression`.
    #[arg(long, default_value = "classification", value_parser = ["classification", "regression"])]
    pub task: String,
    /// Drop rows that do not parse, and report how many and which lines.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Do not verify a binary dataset's checksum and cells over all rows when opening it
    /// (opening a multi-GB file then takes milliseconds; header, sizes and metadata are still
    /// checked, and each batch's rows just before they are used).
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: CSV (.csv/.csv.gz), shardprop binary, an IDX images file or an MNIST
    /// directory. Default: datasets/mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test data, evaluated after training (default with MNIST: its t10k set).
    #[arg(long)]
    pub test: Option<PathBuf>,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Read flags from a TOML file (keys as the flag names, e.g. lr = 0.5, hidden = [256, 128]);
    /// flags on the command line override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Hidden layer sizes, e.g. 300 or 256,128 (0 or empty: no hidden layer).
    #[arg(long, default_value = "300", value_delimiter = ',', value_parser = layer_width, action = ArgAction::Set)]
    pub hidden: Vec<usize>,
    /// Hidden activation: sigmoid, tanh, relu or identity.
    #[arg(long, default_value = "sigmoid")]
    pub activation: String,
    /// Cost: mse (sigmoid outputs, the derivation's J) or cross-entropy (softmax outputs).
    #[arg(long, default_value = "mse", value_parser = ["mse", "cross-entropy"])]
    pub loss: String,
    /// Passes over the training data.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Examples per step; 0 means the full batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1.0)]
    pub lr: f64,
    /// Worker threads (default: every core). Never changes the result.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Rows per shard; part of the result (fixes the summation order). 0 (the default): chosen
    /// from the batch size alone for speed, the same on every machine: 256 rows (a step of up to
    /// 256 examples is one shard), more when a step would have over 64 shards.
    #[arg(long, default_value_t = 0)]
    pub shard_size: usize,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Feature scaling fitted on the training data: none, minmax or standard (default: standard
    /// for CSV, none for MNIST/IDX whose pixels load as [0, 1]).
    #[arg(long)]
    pub scale: Option<String>,
    /// Optimiser: sgd (plain gradient descent, the default), momentum, nesterov, adam or rprop
    /// (iRPROP-, FANN's batch default; ignores --lr).
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// Momentum coefficient for momentum and nesterov.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay lambda: adds (lambda/2m) * sum of squared non-bias weights to the cost.
    #[arg(long, default_value_t = 0.0)]
    pub l2: f64,
    /// Learning-rate schedule: constant, step or cosine.
    #[arg(long, default_value = "constant", value_parser = ["constant", "step", "cosine"])]
    pub lr_schedule: String,
    /// Step schedule: decay every this many epochs.
    #[arg(long, default_value_t = 10)]
    pub lr_step: usize,
    /// Step schedule: multiply the rate by this at each decay.
    #[arg(long, default_value_t = 0.5)]
    pub lr_gamma: f64,
    /// Cosine schedule: the final learning rate.
    #[arg(long, default_value_t = 0.0)]
    pub lr_min: f64,
    /// Hold out this fraction of the training rows (seeded) for validation.
    #[arg(long, default_value_t = 0.0)]
    pub validation: f64,
    /// Stop when validation loss has not improved for this many epochs, keeping the best model.
    #[arg(long, default_value_t = 0)]
    pub early_stopping: usize,
    /// Write the final model (a checkpoint) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Where `--config` set flags that the command line did not (for messages about them).
    #[arg(skip)]
    pub origins: config::Origins,
}

/// Options shared by `train` and `resume`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Write checkpoints into this directory (atomically; the newest --keep are kept).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint every this many epochs (with --checkpoint-dir).
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Also checkpoint every this many steps (with --checkpoint-dir; 0: never).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every_steps: u64,
    /// Checkpoints kept in --checkpoint-dir.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    /// Append one JSON object per epoch to this file (JSON lines).
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Print one JSON object on stdout (human text goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Run as one rank of an MPI job (build with --features mpi; launch with mpirun).
    #[arg(long)]
    pub distributed: bool,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A model or checkpoint file.
    #[arg(long)]
    pub model: PathBuf,
    /// The data to evaluate on.
    #[arg(long)]
    pub data: PathBuf,
    /// Also draw the confusion matrix here (SVG).
    #[arg(long)]
    pub confusion: Option<PathBuf>,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Worker threads (default: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model or checkpoint file.
    #[arg(long)]
    pub model: PathBuf,
    /// The rows to predict.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Write predictions here as CSV (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// A CSV file (.csv or .csv.gz), an IDX images file or an MNIST directory.
    pub input: PathBuf,
    /// The binary dataset to write.
    pub output: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
}

/// Parses the command line and runs the command.
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
        Command::Train(a) => a.run.distributed,
        Command::Resume(a) => a.distributed,
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

fn dispatch(command: Command, dist: Option<Dist>) -> anyhow::Result<ExitCode> {
    match command {
        Command::Train(a) => commands::train(*a, dist),
        Command::Evaluate(a) => commands::evaluate(a).map(|()| ExitCode::SUCCESS),
        Command::Predict(a) => commands::predict(a).map(|()| ExitCode::SUCCESS),
        Command::Convert(a) => commands::convert(a).map(|()| ExitCode::SUCCESS),
        Command::Bench(a) => commands::bench(a, dist).map(|()| ExitCode::SUCCESS),
        Command::Resume(a) => commands::resume(a, dist),
        Command::Inspect(a) => commands::inspect(a).map(|()| ExitCode::SUCCESS),
        Command::Plot(a) => commands::plot(a).map(|()| ExitCode::SUCCESS),
        Command::Gradcheck(a) => commands::gradcheck(a),
    }
}

/// The collective of a distributed run.
pub type Dist = std::sync::Arc<dyn shardprop::engine::exchange::Collective>;

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
            // One rank's error must stop every rank, never leave them waiting in a collective.
            note!("error: rank {} of {}: {err:#}", world.rank(), world.size());
            world.abort(2)
        }
    }
}

#[cfg(not(feature = "mpi"))]
fn run_distributed(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("--distributed needs MPI: this shardprop was built without it (cargo build --release --features mpi)")
}

/// One `--hidden` width: a non-negative integer; an empty value (`--hidden ''`) is 0, no layer.
fn layer_width(s: &str) -> Result<usize, String> {
    if s.trim().is_empty() {
        return Ok(0);
    }
    s.trim().parse().map_err(|e| format!("{e} (expected a layer width such as 300, or 0 for none)"))
}
