//! SeldonDeployment manifests (`machinelearning.seldon.io/v1`), read for their graph.
//!
//! Locally there is no cluster to start containers, so each node must say how it runs without
//! one: a built-in `implementation`, a `modelUri` on this machine (a model, a prepackaged server's
//! model folder such as `SKLEARN_SERVER`'s, or the source folder of a Seldon Python class), an
//! `endpoint` of a server that already runs, or a container image of Seldon's bandit routers
//! (`seldonio/mab_epsilon_greedy`, `seldonio/mab_thompson_sampling`), which oxserve has built in.
//! Kubernetes-only fields
//! (`componentSpecs`, `replicas`, `hpaSpec`, `svcOrchSpec`, …) are accepted and not acted on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxserve_core::{Error, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::{
    Builtin, ClassSpec, DEFAULT_REMOTE_RETRIES, DEFAULT_REMOTE_TIMEOUT, GraphSpec, InputStage, Language,
    NodeSpec, NodeType, Parameters, PredictorSpec, Protocol, RemoteSpec, Stages, Transport, UnitSpec,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Manifest {
    /// Read by the format probe.
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Spec,
    /// What a cluster wrote back, so that a manifest read back from one loads.
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

/// Only the name: namespace, labels and annotations mean nothing without a cluster.
#[derive(Debug, Default, Deserialize)]
struct ObjectMeta {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    transport: Option<EndpointType>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    predictors: Vec<Predictor>,
    // Fields that size or place pods: accepted, meaningless in one process.
    #[serde(rename = "serverType")]
    _server_type: Option<IgnoredAny>,
    #[serde(rename = "replicas")]
    _replicas: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Predictor {
    #[serde(default)]
    name: Option<String>,
    graph: Node,
    #[serde(default)]
    component_specs: Vec<Value>,
    #[serde(default)]
    traffic: Option<u32>,
    #[serde(default)]
    shadow: bool,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    // Kubernetes-only fields: accepted, not acted on.
    #[serde(rename = "replicas")]
    _replicas: Option<IgnoredAny>,
    #[serde(rename = "labels")]
    _labels: Option<IgnoredAny>,
    #[serde(rename = "svcOrchSpec")]
    _svc_orch_spec: Option<IgnoredAny>,
    #[serde(rename = "engineResources")]
    _engine_resources: Option<IgnoredAny>,
    #[serde(rename = "explainer")]
    _explainer: Option<IgnoredAny>,
    #[serde(rename = "ssl")]
    _ssl: Option<IgnoredAny>,
    #[serde(rename = "progressDeadlineSeconds")]
    _progress_deadline_seconds: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Node {
    name: String,
    #[serde(default)]
    children: Vec<Node>,
    #[serde(default, rename = "type")]
    node_type: Option<SeldonType>,
    #[serde(default)]
    implementation: Option<String>,
    #[serde(default)]
    methods: Vec<Method>,
    #[serde(default)]
    endpoint: Option<Endpoint>,
    #[serde(default)]
    parameters: Vec<Parameter>,
    #[serde(default)]
    model_uri: Option<String>,
    // A cluster's model download and payload logging: accepted, not acted on.
    #[serde(rename = "serviceAccountName")]
    _service_account_name: Option<IgnoredAny>,
    #[serde(rename = "envSecretRefName")]
    _env_secret_ref_name: Option<IgnoredAny>,
    #[serde(rename = "storageInitializerImage")]
    _storage_initializer_image: Option<IgnoredAny>,
    #[serde(rename = "logger")]
    _logger: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum SeldonType {
    Model,
    Transformer,
    OutputTransformer,
    Router,
    Combiner,
    UnknownType,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Method {
    TransformInput,
    TransformOutput,
    Route,
    Aggregate,
    SendFeedback,
}

/// Seldon spells the first two in snake case and the ports in camel case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoint {
    #[serde(default)]
    service_host: Option<String>,
    #[serde(default)]
    service_port: Option<u16>,
    #[serde(default, rename = "type")]
    endpoint_type: Option<EndpointType>,
    #[serde(default, rename = "httpPort")]
    http_port: Option<u16>,
    #[serde(default, rename = "grpcPort")]
    grpc_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum EndpointType {
    #[serde(rename = "REST", alias = "rest")]
    Rest,
    #[serde(rename = "GRPC", alias = "grpc")]
    Grpc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameter {
    name: String,
    value: String,
    #[serde(rename = "type")]
    kind: ParameterType,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum ParameterType {
    Int,
    Float,
    Double,
    String,
    Bool,
}

/// Settings shared by every node of the predictor.
struct Context<'a> {
    folder: &'a Path,
    protocol: Protocol,
    transport: Option<EndpointType>,
    annotations: BTreeMap<String, String>,
    /// Container images by container name, from `componentSpecs`.
    images: BTreeMap<String, String>,
}

pub(super) fn convert(manifest: Manifest, folder: &Path) -> Result<GraphSpec> {
    let spec = manifest.spec;
    let protocol = match spec.protocol.as_deref() {
        None | Some("seldon") => Protocol::Seldon,
        Some("v2" | "kfserving") => Protocol::V2,
        Some(other) => {
            return Err(Error::invalid(format!(
                "spec.protocol: '{other}' is not supported; expected seldon, v2 or kfserving"
            )));
        }
    };
    check_traffic(&spec.predictors)?;
    let name = manifest
        .metadata
        .name
        .or(spec.name)
        .or_else(|| spec.predictors.first().and_then(|p| p.name.clone()))
        .unwrap_or_else(|| "graph".into());
    let predictors = spec
        .predictors
        .into_iter()
        .enumerate()
        .map(|(i, predictor)| {
            let mut annotations = spec.annotations.clone();
            annotations.extend(predictor.annotations);
            let context = Context {
                folder,
                protocol,
                transport: spec.transport,
                annotations,
                images: images(&predictor.component_specs),
            };
            let root = node(predictor.graph, format!("spec.predictors[{i}].graph"), &context)?;
            Ok(PredictorSpec {
                name: predictor.name.unwrap_or_else(|| format!("predictor-{i}")),
                // A lone predictor takes all traffic whatever it says, as in Seldon.
                traffic: predictor.traffic.unwrap_or(100),
                shadow: predictor.shadow,
                root,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(GraphSpec { name, predictors })
}

/// Seldon's rules: at least one predictor that is not a shadow, at most one shadow, and when
/// several predictors share the traffic their `traffic` adds up to 100.
fn check_traffic(predictors: &[Predictor]) -> Result<()> {
    let serving: Vec<&Predictor> = predictors.iter().filter(|p| !p.shadow).collect();
    if serving.is_empty() {
        return Err(Error::invalid("spec.predictors: needs a predictor that is not a shadow"));
    }
    if predictors.iter().filter(|p| p.shadow).count() > 1 {
        return Err(Error::invalid("spec.predictors: at most one predictor may be a shadow"));
    }
    if serving.len() > 1 {
        let total: u32 = serving.iter().map(|p| p.traffic.unwrap_or(0)).sum();
        if total != 100 {
            return Err(Error::invalid(format!(
                "spec.predictors[].traffic: the predictors that are not shadows share {total}%; they must share 100%"
            )));
        }
    }
    Ok(())
}

/// `componentSpecs[].spec.containers[]` as name → image.
fn images(component_specs: &[Value]) -> BTreeMap<String, String> {
    let containers = component_specs
        .iter()
        .filter_map(|c| c.pointer("/spec/containers").and_then(Value::as_array))
        .flatten();
    containers
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_string(), c.get("image")?.as_str()?.to_string())))
        .collect()
}

fn node(node: Node, at: String, context: &Context<'_>) -> Result<NodeSpec> {
    let parameters = parameters(&node.parameters, &at)?;
    let builtin = match node.implementation.as_deref() {
        Some(name) => match Builtin::parse(name) {
            Some(builtin) => Some(builtin),
            None if node.model_uri.is_some() || node.endpoint.is_some() => None,
            None => {
                return Err(Error::invalid(format!(
                    "{at}.implementation: '{name}' is not built into oxserve ({}); \
                     give a local modelUri or an endpoint",
                    Builtin::names()
                )));
            }
        },
        None if node.model_uri.is_none() && node.endpoint.is_none() => {
            bandit_image(context.images.get(&node.name).map(String::as_str))
        }
        None => None,
    };
    let unit = match (builtin, &node.model_uri, &node.endpoint) {
        (Some(builtin), _, _) => UnitSpec::Builtin(builtin),
        (None, _, Some(endpoint)) => {
            UnitSpec::Remote(remote(endpoint, &node.name, &format!("{at}.endpoint"), context)?)
        }
        (None, Some(uri), None) => {
            let path = super::model_path(uri, context.folder, &format!("{at}.modelUri"))?;
            local_unit(node.implementation.as_deref(), path, &at)?
        }
        (None, None, None) => {
            let image = context.images.get(&node.name).map_or(String::new(), |i| format!(" (image {i})"));
            return Err(Error::invalid(format!(
                "{at}: node '{}'{image} runs in a container, which `oxserve run` cannot start; \
                 give it a local modelUri (a model, or the source folder of a Seldon Python class \
                 with its .s2i/environment), an endpoint of a running server, or a built-in implementation",
                node.name
            )));
        }
    };
    let mut stages = match node.node_type {
        Some(SeldonType::UnknownType) | None if !node.methods.is_empty() => Stages::default(),
        Some(SeldonType::UnknownType) => {
            return Err(Error::invalid(format!("{at}.type: UNKNOWN_TYPE needs methods")));
        }
        Some(t) => node_type(t).stages(),
        None => builtin.map_or(NodeType::Model.stages(), Builtin::stages),
    };
    for method in &node.methods {
        match method {
            Method::TransformInput => stages.input = Some(InputStage::TransformInput),
            Method::TransformOutput => stages.output = true,
            Method::Route => stages.route = true,
            Method::Aggregate => stages.aggregate = true,
            Method::SendFeedback => stages.feedback = true,
        }
    }
    let children = node
        .children
        .into_iter()
        .enumerate()
        .map(|(i, child)| self::node(child, format!("{at}.children[{i}]"), context))
        .collect::<Result<Vec<_>>>()?;
    Ok(NodeSpec {
        name: node.name,
        at,
        stages,
        unit,
        parameters,
        children,
        from_request: false,
        soft: false,
        condition: None,
    })
}

/// What runs a node with a local `modelUri`: a model read by the repository loader (Seldon's
/// `TRITON_SERVER` reads Triton's layout, which that loader reads too), a prepackaged server named
/// by `implementation`, or, in a folder built for Seldon's Python wrapper (`.s2i/environment`
/// naming `MODEL_NAME`), the user's class, imported from that folder.
fn local_unit(implementation: Option<&str>, path: PathBuf, at: &str) -> Result<UnitSpec> {
    match implementation {
        None | Some("UNKNOWN_IMPLEMENTATION" | "TRITON_SERVER") => {
            let environment = path.join(".s2i/environment");
            if implementation.is_none() && environment.is_file() {
                let class =
                    s2i_model_name(&environment).map_err(|e| e.context(format_args!("{at}.modelUri")))?;
                return Ok(UnitSpec::Class(ClassSpec {
                    language: Language::Python,
                    class,
                    classpath: vec![path],
                }));
            }
            Ok(UnitSpec::Model(path))
        }
        Some(server) => Ok(UnitSpec::Server { implementation: server.to_string(), folder: path }),
    }
}

/// `MODEL_NAME` of an s2i environment file (`KEY=VALUE` lines, `#` comments).
fn s2i_model_name(environment: &Path) -> Result<String> {
    let text = std::fs::read_to_string(environment)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", environment.display())))?;
    text.lines()
        .filter_map(|line| line.trim().split_once('='))
        .find(|(key, _)| key.trim() == "MODEL_NAME")
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{} names no MODEL_NAME, the class Seldon's Python wrapper serves",
                environment.display()
            ))
        })
}

fn node_type(t: SeldonType) -> NodeType {
    match t {
        SeldonType::Model | SeldonType::UnknownType => NodeType::Model,
        SeldonType::Transformer => NodeType::Transformer,
        SeldonType::OutputTransformer => NodeType::OutputTransformer,
        SeldonType::Router => NodeType::Router,
        SeldonType::Combiner => NodeType::Combiner,
    }
}

/// Seldon's bandit router images, which oxserve runs as built-in units.
fn bandit_image(image: Option<&str>) -> Option<Builtin> {
    let repository = image?.rsplit('/').next()?.split(':').next()?;
    match repository {
        "mab_epsilon_greedy" => Some(Builtin::EpsilonGreedy),
        "mab_thompson_sampling" => Some(Builtin::ThompsonSampling),
        _ => None,
    }
}

fn remote(endpoint: &Endpoint, node: &str, at: &str, context: &Context<'_>) -> Result<RemoteSpec> {
    let transport = match endpoint.endpoint_type.or(context.transport) {
        Some(EndpointType::Grpc) => Transport::Grpc,
        Some(EndpointType::Rest) | None => Transport::Rest,
    };
    let port = endpoint
        .service_port
        .or(match transport {
            Transport::Rest => endpoint.http_port,
            Transport::Grpc => endpoint.grpc_port,
        })
        .ok_or_else(|| Error::invalid(format!("{at}.service_port: needed to reach the unit")))?;
    let host = endpoint.service_host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let annotation = match transport {
        Transport::Rest => "seldon.io/rest-timeout",
        Transport::Grpc => "seldon.io/grpc-timeout",
    };
    let timeout = match context.annotations.get(annotation) {
        None => DEFAULT_REMOTE_TIMEOUT,
        Some(ms) => Duration::from_millis(ms.parse().map_err(|_| {
            Error::invalid(format!("annotations.{annotation}: '{ms}' is not a number of milliseconds"))
        })?),
    };
    Ok(RemoteSpec {
        host,
        port,
        model: node.to_string(),
        transport,
        protocol: context.protocol,
        timeout,
        retries: DEFAULT_REMOTE_RETRIES,
    })
}

/// Seldon's `{name, value, type}` list, each value parsed as its type says.
fn parameters(list: &[Parameter], at: &str) -> Result<Parameters> {
    let mut values = BTreeMap::new();
    for (i, p) in list.iter().enumerate() {
        let bad =
            |what: &str| Error::invalid(format!("{at}.parameters[{i}].value: '{}' is not {what}", p.value));
        let value = match p.kind {
            ParameterType::Int => Value::from(p.value.trim().parse::<i64>().map_err(|_| bad("an INT"))?),
            ParameterType::Float | ParameterType::Double => {
                Value::from(p.value.trim().parse::<f64>().map_err(|_| bad("a number"))?)
            }
            ParameterType::Bool => {
                Value::from(p.value.trim().parse::<bool>().map_err(|_| bad("true or false"))?)
            }
            ParameterType::String => Value::from(p.value.clone()),
        };
        values.insert(p.name.clone(), value);
    }
    Ok(Parameters::new(values, format!("{at}.parameters")))
}
