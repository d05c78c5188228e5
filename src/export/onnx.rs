//! The ONNX messages `export` writes, encoded with the field numbers of onnx/onnx's
//! `onnx/onnx.proto` (the same numbers as `onnx.proto3`; checked against the prost bindings
//! tract-onnx generates from it). Only the fields used are listed:
//!
//! | message | fields |
//! | --- | --- |
//! | `ModelProto` | `ir_version` 1, `producer_name` 2, `producer_version` 3, `doc_string` 6, `graph` 7, `opset_import` 8, `metadata_props` 14 |
//! | `OperatorSetIdProto` | `domain` 1, `version` 2 |
//! | `StringStringEntryProto` | `key` 1, `value` 2 |
//! | `GraphProto` | `node` 1, `name` 2, `initializer` 5, `doc_string` 10, `input` 11, `output` 12 |
//! | `NodeProto` | `input` 1, `output` 2, `name` 3, `op_type` 4, `attribute` 5 |
//! | `AttributeProto` | `name` 1, `i` 3, `type` 20 (`INT` = 2) |
//! | `TensorProto` | `dims` 1, `data_type` 2 (`FLOAT` = 1, `INT64` = 7), `name` 8, `raw_data` 9 (little-endian) |
//! | `ValueInfoProto` | `name` 1, `type` 2 |
//! | `TypeProto` | `tensor_type` 1 → `Tensor`: `elem_type` 1, `shape` 2 |
//! | `TensorShapeProto` | `dim` 1 → `Dimension`: `dim_value` 1 or `dim_param` 2 |

use super::proto::Message;
use crate::error::Result;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i64 = 1;
/// `TensorProto.DataType.INT64`.
const INT64: i64 = 7;
/// `AttributeProto.AttributeType.INT`.
const ATTR_INT: i64 = 2;

/// A constant tensor (a graph initializer): its name, shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The name nodes refer to it by.
    pub name: String,
    /// Its shape; empty for a scalar.
    pub dims: Vec<usize>,
    /// Its values, row-major.
    pub data: TensorData,
}

/// The values of a [`Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `float32` values.
    F32(Vec<f32>),
    /// `int64` values.
    I64(Vec<i64>),
}

impl Tensor {
    fn encode(&self) -> Message {
        debug_assert_eq!(
            self.dims.iter().product::<usize>(),
            match &self.data {
                TensorData::F32(v) => v.len(),
                TensorData::I64(v) => v.len(),
            },
            "tensor {} has the wrong number of values for its shape",
            self.name
        );
        let mut m = Message::new();
        for &d in &self.dims {
            m.int(1, d as i64);
        }
        let raw: Vec<u8> = match &self.data {
            TensorData::F32(v) => {
                m.int(2, FLOAT);
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            TensorData::I64(v) => {
                m.int(2, INT64);
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
        };
        m.string(8, &self.name).bytes(9, &raw);
        m
    }
}

/// One operator application: `outputs = op_type(inputs)` with integer attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operator, from the default (`ai.onnx`) domain.
    pub op_type: &'static str,
    /// The names of its inputs, in the operator's order.
    pub inputs: Vec<String>,
    /// The names of its outputs.
    pub outputs: Vec<String>,
    /// Integer attributes, `(name, value)`.
    pub attributes: Vec<(&'static str, i64)>,
}

impl Node {
    fn encode(&self) -> Message {
        let mut m = Message::new();
        for i in &self.inputs {
            m.string(1, i);
        }
        for o in &self.outputs {
            m.string(2, o);
        }
        // Named after its first output, which is unique in the graph.
        m.string(3, &self.outputs[0]).string(4, self.op_type);
        for &(name, v) in &self.attributes {
            let mut a = Message::new();
            a.string(1, name).int(3, v).int(20, ATTR_INT);
            m.message(5, &a);
        }
        m
    }
}

/// A graph input or output: a `float32` tensor with named dimensions, such as `[N, 4]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    /// The name.
    pub name: String,
    /// Each dimension: a fixed size, or a symbolic name (such as the batch size `N`).
    pub dims: Vec<Dim>,
}

/// One dimension of a [`ValueInfo`].
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size chosen by the caller, named.
    Symbolic(&'static str),
}

impl ValueInfo {
    fn encode(&self) -> Message {
        let mut shape = Message::new();
        for d in &self.dims {
            let mut dim = Message::new();
            match d {
                Dim::Fixed(n) => dim.int(1, *n as i64),
                Dim::Symbolic(s) => dim.string(2, s),
            };
            shape.message(1, &dim);
        }
        let mut tensor = Message::new();
        tensor.int(1, FLOAT).message(2, &shape);
        let mut ty = Message::new();
        ty.message(1, &tensor);
        let mut m = Message::new();
        m.string(1, &self.name).message(2, &ty);
        m
    }
}

/// A whole model: one graph, its opset, and string metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// `ModelProto.ir_version`.
    pub ir_version: i64,
    /// The version of the default operator set (`ai.onnx`).
    pub opset: i64,
    /// The graph's name.
    pub graph_name: String,
    /// A description of the model.
    pub doc: String,
    /// The nodes, in an order where each input is computed before it is used.
    pub nodes: Vec<Node>,
    /// The constants.
    pub initializers: Vec<Tensor>,
    /// The graph's inputs (initializers are not listed here).
    pub inputs: Vec<ValueInfo>,
    /// The graph's outputs.
    pub outputs: Vec<ValueInfo>,
    /// `metadata_props`: `(key, value)` pairs.
    pub metadata: Vec<(String, String)>,
}

impl Model {
    /// The `ModelProto` bytes of an ONNX file; an error when it exceeds protobuf's 2 GiB.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut g = Message::new();
        for n in &self.nodes {
            g.message(1, &n.encode());
        }
        g.string(2, &self.graph_name);
        for t in &self.initializers {
            g.message(5, &t.encode());
        }
        g.string(10, &self.doc);
        for v in &self.inputs {
            g.message(11, &v.encode());
        }
        for v in &self.outputs {
            g.message(12, &v.encode());
        }
        let mut opset = Message::new();
        opset.string(1, "").int(2, self.opset);
        let mut m = Message::new();
        m.int(1, self.ir_version)
            .string(2, "shardprop")
            .string(3, env!("CARGO_PKG_VERSION"))
            .string(6, &self.doc)
            .message(7, &g)
            .message(8, &opset);
        for (k, v) in &self.metadata {
            let mut e = Message::new();
            e.string(1, k).string(2, v);
            m.message(14, &e);
        }
        m.finish("the ONNX model")
    }
}
