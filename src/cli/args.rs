//! Every flag of every subcommand, as clap reads them. Flag names, subcommand names and their
//! spellings are a contract (scripts and `--config` files use them): rename nothing here. One
//! file of about 480 lines (over the usual 400 on purpose), not one per subcommand: the whole
//! contract reads in one place, and the shared groups ([`CsvArgs`], [`SessionArgs`]) sit beside
//! the structs that flatten them.
//!
//! Enumerated values are `clap::ValueEnum`s (see [`super::choices`]), so `--help` lists them and
//! a bad value gets clap's one message naming the flag, the value and the choices; `--config`
//! reads the same lists from the parsers (see [`super::config`]).

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{ArgAction, Args, Parser, Subcommand};
use shardprop::data::Scale;
use shardprop::kernel::matmul::Kernel;
use shardprop::{Activation, Head};

use super::choices::{Loss, LrSchedule, Optimizer, TaskKind};
use super::config;

/// shardprop: a deterministic, data-parallel trainer for fully connected networks.
#[derive(Parser, Debug)]
#[command(name = "shardprop", version, about, args_override_self = true)]
pub struct Cli {
    /// The subcommand and its flags.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, in `--help` order.
#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Write a model as ONNX (opset 13): scaling, layers and head as standard operators.
    Export(ExportArgs),
}

/// `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: CSV (.csv/.csv.gz), shardprop binary, NumPy (.npy with --labels, or
    /// .npz), an IDX images file or an MNIST directory. Default: datasets/mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test data, evaluated after training (default with MNIST: its t10k set).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// How to read the data.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Where NumPy data's labels are.
    #[command(flatten)]
    pub npy: NpyArgs,
    /// The labels of a .npy --test set (a second .npy, as --labels).
    #[arg(long)]
    pub test_labels: Option<PathBuf>,
    /// Read flags from a TOML file (keys as the flag names, e.g. lr = 0.5, hidden = [256, 128]);
    /// flags on the command line override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Hidden layer sizes, e.g. 300 or 256,128 (0 or empty: no hidden layer).
    #[arg(long, default_value = "300", value_delimiter = ',', value_parser = layer_width, action = ArgAction::Set)]
    pub hidden: Vec<usize>,
    /// Hidden activation.
    #[arg(long, value_enum, default_value_t)]
    pub activation: Activation,
    /// Cost; the output layer follows from it and the data's task.
    #[arg(long, value_enum, default_value_t)]
    pub loss: Loss,
    /// Passes over the training data.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Examples per step; 0 means the full batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate (default: the optimiser's own: sgd 1, momentum and nesterov 1 - momentum,
    /// adam 0.001; rprop sizes its own steps).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Initial weights: auto (He for relu layers, Glorot otherwise), glorot (alias xavier) or
    /// he for every hidden layer; the output layer always Glorot.
    #[arg(long, value_enum, default_value_t)]
    pub init: shardprop::Init,
    /// Dropout rates: the input layer's, then the hidden layers' (one for all, or one each),
    /// e.g. 0.2,0.5. Masks are keyed by (seed, step, row, layer, unit): same bits for any
    /// --threads or rank count.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set)]
    pub dropout: Vec<f64>,
    /// Max-norm: after each step, each unit's incoming weights (bias excluded) are scaled back
    /// onto the ball of this radius when longer.
    #[arg(long)]
    pub max_norm: Option<f64>,
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
    /// Feature scaling fitted on the training data (default: standard for CSV, none for
    /// MNIST/IDX whose pixels load as [0, 1]).
    #[arg(long, value_enum)]
    pub scale: Option<Scale>,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t)]
    pub optimizer: Optimizer,
    /// Momentum coefficient for momentum and nesterov.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay lambda: adds (lambda/2m) * sum of squared non-bias weights to the cost.
    #[arg(long, default_value_t = 0.0)]
    pub l2: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t)]
    pub lr_schedule: LrSchedule,
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
    /// Checkpoints, the metrics log and output.
    #[command(flatten)]
    pub run: RunArgs,
    /// Where `--config` set flags that the command line did not (for messages about them).
    #[arg(skip)]
    pub origins: config::Origins,
}

/// `train`'s checkpoint schedule and metrics log (a resumed run keeps the ones it was given).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
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
    /// Where checkpoints go, output and MPI.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// Flags shared by `train` and `resume`: both run a session to its end the same way.
#[derive(Args, Debug, Clone)]
pub struct SessionArgs {
    /// Write checkpoints into this directory (atomically; the newest --keep are kept). For
    /// resume: instead of the run's own.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
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

/// `resume`.
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
    /// Evaluate on this test set instead of the run's own (an MNIST directory: its t10k
    /// files), e.g. where the run's path does not exist. The weights do not depend on it.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Where NumPy data's labels are (a checkpoint does not record them: give them again).
    #[command(flatten)]
    pub npy: NpyArgs,
    /// The labels of a .npy test set: the run's own, or the one --test gives (which takes none
    /// of the run's).
    #[arg(long)]
    pub test_labels: Option<PathBuf>,
    /// Write the final model here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Append the per-epoch metrics log here instead of the run's own (for a checkpoint moved
    /// to another machine, where the run's path may not exist).
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Where checkpoints go, output and MPI.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// How to read a CSV file (and which checks a binary one gets).
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
    /// Parquet: the feature columns by name, comma-separated (default: every column that is
    /// not a target).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// What the target is.
    #[arg(long, value_enum, default_value_t)]
    pub task: TaskKind,
    /// Drop rows that do not parse, and report how many and which lines.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Do not verify a binary dataset's checksum and cells over all rows when opening it
    /// (opening a multi-GB file then takes milliseconds; header, sizes and metadata are still
    /// checked, and each batch's rows just before they are used).
    #[arg(long)]
    pub no_verify: bool,
}

/// Where a NumPy input's labels are: a second `.npy` beside `.npy` features, or named arrays
/// of an `.npz` file.
#[derive(Args, Debug, Clone, Default)]
pub struct NpyArgs {
    /// The labels (one class per row) or, with --task regression, the targets of .npy features:
    /// a second .npy, 1-D or 2-D, with one row per row of the features.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The features' array in an .npz file (default: x).
    #[arg(long)]
    pub x_key: Option<String>,
    /// The labels' or targets' array in an .npz file (default: y).
    #[arg(long)]
    pub y_key: Option<String>,
}

/// `evaluate`.
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
    /// How to read the data.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Where NumPy data's labels are.
    #[command(flatten)]
    pub npy: NpyArgs,
    /// Worker threads (default: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model or checkpoint file.
    #[arg(long)]
    pub model: PathBuf,
    /// The rows to predict.
    #[arg(long)]
    pub data: PathBuf,
    /// How to read the data.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// The features' array in an .npz file (default: x).
    #[arg(long)]
    pub x_key: Option<String>,
    /// Write predictions here as CSV (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write class probabilities instead of classes: a column per class, named by the class,
    /// each row summing to 1, its largest the predicted class. Cross-entropy models: the softmax
    /// outputs. Default (sigmoid, squared error) models: the outputs divided by their sum
    /// (1/K each if all are 0), normalised scores, not calibrated probabilities. Regression
    /// models are refused.
    #[arg(long)]
    pub proba: bool,
    /// Worker threads (default: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// A CSV file (.csv or .csv.gz), a NumPy .npy (with --labels) or .npz, an IDX images file or
    /// an MNIST directory.
    pub input: PathBuf,
    /// The binary dataset to write.
    pub output: PathBuf,
    /// How to read the input.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Where NumPy data's labels are.
    #[command(flatten)]
    pub npy: NpyArgs,
}

/// `bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// W1 (784-128-10, batch 256), W2 (784-800-10, batch 1024), W3 (784-128-10, full batch) or all
    /// (ignored when --hidden, --batch-size, --activation or --loss describe your own network).
    #[arg(long, default_value = "all", value_parser = workload_names(), ignore_case = true)]
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
    /// Hidden activation of your own network (default: sigmoid).
    #[arg(long, value_enum)]
    pub activation: Option<Activation>,
    /// Cost of your own network (default: mse).
    #[arg(long, value_enum)]
    pub loss: Option<Loss>,
    /// Matrix-multiply kernel.
    #[arg(long, value_enum, default_value = "gemm")]
    pub kernel: Kernel,
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

/// `inspect`.
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

/// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The checkpoint or model file.
    pub model: PathBuf,
    /// The ONNX file to write (replaced atomically).
    pub output: PathBuf,
}

/// `plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A metrics log written by `train --metrics`.
    pub metrics: PathBuf,
    /// The SVG file to write.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

/// `gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// Layer sizes, input to output, e.g. 5,4,3.
    #[arg(long, value_delimiter = ',', default_value = "5,4,3", action = ArgAction::Set)]
    pub layers: Vec<usize>,
    /// Hidden activation.
    #[arg(long, value_enum, default_value_t)]
    pub activation: Activation,
    /// Output layer and cost.
    #[arg(long, value_enum, default_value_t)]
    pub loss: Head,
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

/// `--workload`: the library's reference workloads by name, or `all` (any case). The names come
/// from the library's list, not a copy of it. (clap without its `string` feature takes
/// `&'static str`: three short names, leaked once per process.)
fn workload_names() -> PossibleValuesParser {
    let leak = |name: String| -> &'static str { Box::leak(name.into_boxed_str()) };
    let names = shardprop::tools::bench::workloads().into_iter().map(|w| PossibleValue::new(leak(w.name)));
    PossibleValuesParser::new(names.chain([PossibleValue::new("all")]))
}

/// One `--hidden` width: a non-negative integer; an empty value (`--hidden ''`) is 0, no layer.
fn layer_width(s: &str) -> Result<usize, String> {
    if s.trim().is_empty() {
        return Ok(0);
    }
    s.trim().parse().map_err(|e| format!("{e} (expected a layer width such as 300, or 0 for none)"))
}
