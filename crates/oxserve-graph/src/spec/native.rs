//! oxserve's short graph form: Seldon's node tree without the Kubernetes wrapping.
//!
//! ```yaml
//! name: iris-ab                  # served model name (default: the file name)
//! graph:
//!   name: ab
//!   implementation: RANDOM_ABTEST   # or AVERAGE_COMBINER, EPSILON_GREEDY, THOMPSON_SAMPLING,
//!                                   # SPLITTER (parameters: {weights: [70, 30]}), ENSEMBLE,
//!                                   # SEQUENCE, SWITCH (children with a `condition` each)
//!   parameters: {ratioA: 0.7}    # a plain map, values typed by YAML
//!   children:
//!     - {name: a, model: ../models/iris/model.onnx}
//!     - name: b
//!       type: MODEL              # the default; TRANSFORMER, OUTPUT_TRANSFORMER, ROUTER, COMBINER
//!       endpoint: {host: 127.0.0.1, port: 9000, transport: grpc, protocol: seldon, timeout_ms: 500}
//!       # V2 units also take `model: NAME` (default: the node's name).
//! ```
//!
//! A child of a SWITCH or a SEQUENCE may have a `condition`, a GJSON path as in a KServe
//! InferenceGraph ([`Condition`](crate::Condition)).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use oxserve_core::{Error, Result};
use serde::Deserialize;

use super::{
    Builtin, Condition, DEFAULT_REMOTE_RETRIES, DEFAULT_REMOTE_TIMEOUT, GraphSpec, NodeSpec, NodeType,
    Parameters, PredictorSpec, Protocol, RemoteSpec, Transport, UnitSpec,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    name: Option<String>,
    graph: Node,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    name: String,
    #[serde(default, rename = "type")]
    node_type: Option<TypeName>,
    #[serde(default)]
    implementation: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    endpoint: Option<Endpoint>,
    #[serde(default)]
    parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    children: Vec<Node>,
    #[serde(default)]
    condition: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum TypeName {
    Model,
    Transformer,
    OutputTransformer,
    Router,
    Combiner,
}

impl From<TypeName> for NodeType {
    fn from(name: TypeName) -> NodeType {
        match name {
            TypeName::Model => NodeType::Model,
            TypeName::Transformer => NodeType::Transformer,
            TypeName::OutputTransformer => NodeType::OutputTransformer,
            TypeName::Router => NodeType::Router,
            TypeName::Combiner => NodeType::Combiner,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoint {
    host: String,
    port: u16,
    #[serde(default)]
    transport: TransportName,
    #[serde(default)]
    protocol: ProtocolName,
    /// The model a V2 unit is asked for; the node's name by default.
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    retries: Option<u32>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TransportName {
    #[default]
    Rest,
    Grpc,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProtocolName {
    #[default]
    Seldon,
    V2,
}

pub(super) fn convert(file: File, folder: &Path, default_name: &str) -> Result<GraphSpec> {
    let root = node(file.graph, "graph".into(), folder)?;
    let name = file.name.unwrap_or_else(|| default_name.to_string());
    let predictor = PredictorSpec { name: name.clone(), traffic: 100, shadow: false, root };
    Ok(GraphSpec { name, predictors: vec![predictor] })
}

fn node(node: Node, at: String, folder: &Path) -> Result<NodeSpec> {
    let builtin = match &node.implementation {
        None => None,
        Some(name) => Some(Builtin::parse(name).ok_or_else(|| {
            Error::invalid(format!(
                "{at}.implementation: '{name}' is not a built-in unit; expected one of {} \
                 (a model is `model: PATH`)",
                Builtin::names()
            ))
        })?),
    };
    let unit = match (builtin, node.model, node.endpoint) {
        (Some(builtin), None, None) => UnitSpec::Builtin(builtin),
        (None, Some(model), None) => {
            UnitSpec::Model(super::model_path(&model, folder, &format!("{at}.model"))?)
        }
        (None, None, Some(endpoint)) => UnitSpec::Remote(remote(endpoint, &node.name)),
        (None, None, None) => {
            return Err(Error::invalid(format!(
                "{at}: node '{}' needs one of implementation, model or endpoint",
                node.name
            )));
        }
        _ => {
            return Err(Error::invalid(format!(
                "{at}: node '{}' gives more than one of implementation, model and endpoint",
                node.name
            )));
        }
    };
    let stages = match (node.node_type, builtin) {
        (Some(node_type), _) => NodeType::from(node_type).stages(),
        (None, Some(builtin)) => builtin.stages(),
        (None, None) => NodeType::Model.stages(),
    };
    let condition = node
        .condition
        .as_deref()
        .map(Condition::parse)
        .transpose()
        .map_err(|e| e.context(format_args!("{at}.condition")))?;
    let children = node
        .children
        .into_iter()
        .enumerate()
        .map(|(i, child)| self::node(child, format!("{at}.children[{i}]"), folder))
        .collect::<Result<Vec<_>>>()?;
    Ok(NodeSpec {
        name: node.name,
        stages,
        unit,
        parameters: Parameters::new(node.parameters, format!("{at}.parameters")),
        children,
        at,
        from_request: false,
        condition,
    })
}

fn remote(endpoint: Endpoint, node: &str) -> RemoteSpec {
    RemoteSpec {
        host: endpoint.host,
        port: endpoint.port,
        model: endpoint.model.unwrap_or_else(|| node.to_string()),
        transport: match endpoint.transport {
            TransportName::Rest => Transport::Rest,
            TransportName::Grpc => Transport::Grpc,
        },
        protocol: match endpoint.protocol {
            ProtocolName::Seldon => Protocol::Seldon,
            ProtocolName::V2 => Protocol::V2,
        },
        timeout: endpoint.timeout_ms.map_or(DEFAULT_REMOTE_TIMEOUT, Duration::from_millis),
        retries: endpoint.retries.unwrap_or(DEFAULT_REMOTE_RETRIES),
    }
}
