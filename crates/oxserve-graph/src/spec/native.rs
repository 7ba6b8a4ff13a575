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
//! Units in this process besides model files: a user's class (`implementation: PYTHON` or
//! `JAVA`, with `class` and an optional `classpath`; its `parameters` are the constructor's, as
//! Seldon passes them) and a prepackaged server on a model folder (`implementation:
//! SKLEARN_SERVER` or `sklearn`, … with `model: FOLDER`):
//!
//! ```yaml
//!     - {name: scale, type: TRANSFORMER, implementation: PYTHON, class: Scaler, classpath: [scaler]}
//!     - {name: lr, implementation: JAVA, class: com.example.Logistic, classpath: [lr/target/classes]}
//!     - {name: forest, implementation: SKLEARN_SERVER, model: models/forest}
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
    Builtin, ClassSpec, Condition, DEFAULT_REMOTE_RETRIES, DEFAULT_REMOTE_TIMEOUT, GraphSpec, Language,
    NodeSpec, NodeType, Parameters, PredictorSpec, Protocol, RemoteSpec, Transport, UnitSpec,
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
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    classpath: Option<Paths>,
}

/// One path or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    fn into_vec(self) -> Vec<String> {
        match self {
            Paths::One(path) => vec![path],
            Paths::Many(paths) => paths,
        }
    }
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
    let implementation = node.implementation.as_deref();
    let builtin = implementation.and_then(Builtin::parse);
    let language = implementation.and_then(Language::parse);
    if language.is_none() && (node.class.is_some() || node.classpath.is_some()) {
        let field = if node.class.is_some() { "class" } else { "classpath" };
        return Err(Error::invalid(format!(
            "{at}.{field}: only a class unit has one; give `implementation: PYTHON` or `JAVA`"
        )));
    }
    let unit = match (implementation, builtin, language, node.model, node.endpoint) {
        (_, Some(builtin), _, None, None) => UnitSpec::Builtin(builtin),
        (_, _, Some(language), None, None) => {
            let class = node.class.ok_or_else(|| {
                Error::invalid(format!("{at}.class: a {} unit needs the class to build", language.name()))
            })?;
            let classpath = match (node.classpath, language) {
                (Some(paths), _) => paths.into_vec(),
                // Seldon's Python wrapper imports the class from its working folder.
                (None, Language::Python) => vec![".".into()],
                (None, Language::Java) => Vec::new(),
            };
            let classpath = classpath
                .iter()
                .map(|path| super::model_path(path, folder, &format!("{at}.classpath")))
                .collect::<Result<Vec<_>>>()?;
            UnitSpec::Class(ClassSpec { language, class, classpath })
        }
        (Some(server), None, None, Some(model), None) => UnitSpec::Server {
            implementation: server.to_string(),
            folder: super::model_path(&model, folder, &format!("{at}.model"))?,
        },
        (Some(name), None, None, None, None) => {
            return Err(Error::invalid(format!(
                "{at}.implementation: '{name}' is not a built-in unit ({}) nor PYTHON or JAVA; a \
                 prepackaged server such as SKLEARN_SERVER needs `model: FOLDER`",
                Builtin::names()
            )));
        }
        (None, _, _, Some(model), None) => {
            UnitSpec::Model(super::model_path(&model, folder, &format!("{at}.model"))?)
        }
        (None, _, _, None, Some(endpoint)) => UnitSpec::Remote(remote(endpoint, &node.name)),
        (None, _, _, None, None) => {
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
        soft: false,
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
