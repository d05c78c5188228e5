//! A trained network as an ONNX graph of standard operators (opset [`OPSET`]), computing what
//! `predict` prints: class probabilities (as `predict --proba`) or regression values.
//!
//! For input rows `x` (`[N, S_1]`, float32), the graph computes
//!
//! 1. the scaling, when the model has one: `a^(0) = (x − shift) · mul` (`Sub`, `Mul`; the
//!    [`Scaler`]'s constants `scale_shift`, `scale_mul`, shape `[S_1]`);
//! 2. per layer `l`: `z^(l+1) = a^(l) W^(l)[:, 1..]ᵀ + W^(l)[:, 0]` (`Gemm` with `transB = 1`;
//!    the constants `W{l}`, `[S_{l+1}, S_l]`, and `b{l}`, `[S_{l+1}]`) and, for hidden layers,
//!    `a^(l+1) = g(z^(l+1))` (`Sigmoid`, `Tanh`, `Relu`; no node for the identity);
//! 3. the head: `Softmax` over axis 1 for cross-entropy; for squared error, the sigmoid
//!    `h = 1 / (1 + e^clip(−z))` (`Neg`, `Clip` to [`EXP_RANGE`], `Exp`, `Add`, `Reciprocal`:
//!    as the trainer computes it, accurate far below 0) and then each row divided by its sum
//!    (`ReduceSum`, `Div`), or `1/K` each where the sum is 0 (`Equal`, `Where`), as
//!    [`crate::nn::predict::class_probabilities`] does; nothing for regression.

use super::onnx::{Dim, Model, Node, Tensor, TensorData, ValueInfo};
use crate::data::{Scale, Scaler, Task};
use crate::error::{Error, Result};
use crate::kernel::fastmath::EXP_RANGE;
use crate::nn::network::Network;
use crate::{Activation, Head};

/// The `ai.onnx` operator-set version the graph uses (Softmax over one axis, `ReduceSum` with
/// its axes as an input: both as opset 13 defines them).
pub const OPSET: i64 = 13;
/// The ONNX IR version written: 7, the one released with opset 13 (ONNX 1.8).
pub const IR_VERSION: i64 = 7;
/// The graph input's name: float32 `[N, n_features]`, `N` symbolic.
pub const INPUT: &str = "input";
/// A classifier's output: float32 `[N, n_classes]`, one probability per class.
pub const PROBABILITIES: &str = "probabilities";
/// A regression model's output: float32 `[N, n_targets]`.
pub const OUTPUT: &str = "output";

/// The graph output's name for a network with `head`: [`OUTPUT`] for regression,
/// [`PROBABILITIES`] otherwise.
pub fn output_name(head: Head) -> &'static str {
    if head == Head::IdentityMse { OUTPUT } else { PROBABILITIES }
}

/// The parts of a trained model that go into its ONNX file.
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo<'a> {
    /// The network.
    pub network: &'a Network<f32>,
    /// The scaling fitted on its training data.
    pub scaler: &'a Scaler,
    /// Its classes or regression targets.
    pub task: &'a Task,
    /// Its feature names, in input order.
    pub feature_names: &'a [String],
}

/// Builds the ONNX model of `m` (see the module's doc for the graph).
pub fn build(m: &ModelInfo) -> Result<Model> {
    let net = m.network;
    check_size(net)?;
    let (n_in, n_out) = (net.n_inputs(), net.n_outputs());
    let mut g = Builder::default();
    let mut x = INPUT.to_string();
    if m.scaler.kind != Scale::None {
        g.constant("scale_shift", vec![n_in], m.scaler.shift().to_vec());
        g.constant("scale_mul", vec![n_in], m.scaler.mul().to_vec());
        x = g.node("Sub", &[&x, "scale_shift"], "centred", &[]);
        x = g.node("Mul", &[&x, "scale_mul"], "scaled", &[]);
    }
    let last = net.weights().len() - 1;
    let out_name = output_name(net.head());
    for (l, w) in net.weights().iter().enumerate() {
        let (rows, cols) = w.dim();
        g.constant(&format!("W{l}"), vec![rows, cols - 1], w.slice(ndarray::s![.., 1..]).iter().copied().collect());
        g.constant(&format!("b{l}"), vec![rows], w.column(0).to_vec());
        let z = if l == last && net.head() == Head::IdentityMse { out_name.to_string() } else { format!("z{}", l + 1) };
        x = g.node("Gemm", &[&x, &format!("W{l}"), &format!("b{l}")], &z, &[("transB", 1)]);
        if l < last {
            x = match net.hidden() {
                Activation::Identity => x,
                Activation::Sigmoid => g.node("Sigmoid", &[&x], &format!("a{}", l + 1), &[]),
                Activation::Tanh => g.node("Tanh", &[&x], &format!("a{}", l + 1), &[]),
                Activation::Relu => g.node("Relu", &[&x], &format!("a{}", l + 1), &[]),
            };
        }
    }
    match net.head() {
        Head::IdentityMse => {}
        Head::SoftmaxCrossEntropy => {
            g.node("Softmax", &[&x], PROBABILITIES, &[("axis", 1)]);
        }
        Head::SigmoidMse => {
            // σ(z) = 1 / (1 + e^clip(−z)), clipped as the trainer's own sigmoid clips: a runtime's
            // Sigmoid operator is usually an approximation clamped near ±18 (tract's at ±18.6),
            // equal for every z below that, which is no help when the outputs are divided by
            // their sum and all of them are tiny.
            let (lo, hi) = EXP_RANGE;
            g.constant("exp_lo", vec![], vec![lo]);
            g.constant("exp_hi", vec![], vec![hi]);
            g.constant("one", vec![], vec![1.0]);
            let neg = g.node("Neg", &[&x], "neg_z", &[]);
            let clipped = g.node("Clip", &[&neg, "exp_lo", "exp_hi"], "neg_z_clipped", &[]);
            let e = g.node("Exp", &[&clipped], "exp_neg_z", &[]);
            let denom = g.node("Add", &["one", &e], "one_plus_exp", &[]);
            let h = g.node("Reciprocal", &[&denom], "scores", &[]);
            g.initializers.push(Tensor { name: "sum_axes".into(), dims: vec![1], data: TensorData::I64(vec![1]) });
            let sum = g.node("ReduceSum", &[&h, "sum_axes"], "score_sum", &[("keepdims", 1)]);
            let normalised = g.node("Div", &[&h, &sum], "normalised", &[]);
            // A sum of 0 (only where a runtime flushes subnormal outputs to zero): 1/K each, as
            // class_probabilities gives, worked out in f64 and rounded once.
            g.constant("zero", vec![], vec![0.0]);
            g.constant("uniform", vec![], vec![(1.0 / n_out as f64) as f32]);
            let all_zero = g.node("Equal", &[&sum, "zero"], "all_zero", &[]);
            g.node("Where", &[&all_zero, "uniform", &normalised], PROBABILITIES, &[]);
        }
    }
    Ok(Model {
        ir_version: IR_VERSION,
        opset: OPSET,
        graph_name: "shardprop".into(),
        doc: describe(net, m.scaler.kind),
        nodes: g.nodes,
        initializers: g.initializers,
        inputs: vec![ValueInfo { name: INPUT.into(), dims: vec![Dim::Symbolic("N"), Dim::Fixed(n_in)] }],
        outputs: vec![ValueInfo { name: out_name.into(), dims: vec![Dim::Symbolic("N"), Dim::Fixed(n_out)] }],
        metadata: metadata(m),
    })
}

/// `metadata_props`: `classes` or `targets`, `feature_names`, `sizes` (JSON arrays);
/// `hidden_activation`, `head`, `scaling`, `input`, `output` (plain strings).
fn metadata(m: &ModelInfo) -> Vec<(String, String)> {
    let mut meta = match m.task {
        Task::Classification { classes } => vec![("classes", json_list(classes))],
        Task::Regression { targets } => vec![("targets", json_list(targets))],
    };
    meta.extend([
        ("feature_names", json_list(m.feature_names)),
        ("sizes", json_list(m.network.sizes())),
        ("hidden_activation", m.network.hidden().name().to_string()),
        ("head", m.network.head().name().to_string()),
        ("scaling", scale_name(m.scaler.kind).to_string()),
        ("input", INPUT.to_string()),
        ("output", output_name(m.network.head()).to_string()),
    ]);
    meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A list of strings or integers as JSON text.
fn json_list<T: serde::Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).expect("a list of strings or integers is always valid JSON")
}

/// The `--scale` spelling of `s`.
fn scale_name(s: Scale) -> &'static str {
    match s {
        Scale::None => "none",
        Scale::MinMax => "minmax",
        Scale::Standard => "standard",
    }
}

/// The graph's `doc_string`, e.g. `shardprop network 4-3-3, tanh hidden units, softmax+cross-entropy head, standard scaling`.
fn describe(net: &Network<f32>, scale: Scale) -> String {
    let sizes: Vec<String> = net.sizes().iter().map(|s| s.to_string()).collect();
    format!(
        "shardprop network {}, {} hidden units, {} head, {} input scaling",
        sizes.join("-"),
        net.hidden().name(),
        net.head().name(),
        scale_name(scale)
    )
}

/// Refuses a network whose weights alone exceed what one protobuf message may hold, before any
/// of it is copied.
fn check_size(net: &Network<f32>) -> Result<()> {
    let bytes = net.n_params().saturating_mul(4);
    if bytes > super::proto::MAX_MESSAGE {
        return Err(Error::Config(format!(
            "the network has {} parameters ({bytes} bytes of float32), over the 2 GiB a single ONNX file can hold \
             (protobuf's limit; ONNX's external-data form is not written)",
            net.n_params()
        )));
    }
    Ok(())
}

/// The nodes and constants of a graph under construction.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    initializers: Vec<Tensor>,
}

impl Builder {
    /// Adds a float32 constant.
    fn constant(&mut self, name: &str, dims: Vec<usize>, values: Vec<f32>) {
        self.initializers.push(Tensor { name: name.into(), dims, data: TensorData::F32(values) });
    }

    /// Adds `output = op(inputs)` and returns `output`.
    fn node(&mut self, op: &'static str, inputs: &[&str], output: &str, attributes: &[(&'static str, i64)]) -> String {
        self.nodes.push(Node {
            op_type: op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.to_string()],
            attributes: attributes.to_vec(),
        });
        output.to_string()
    }
}
