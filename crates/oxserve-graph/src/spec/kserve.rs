//! KServe InferenceGraph manifests (`serving.kserve.io/v1alpha1`, kind `InferenceGraph`).
//!
//! Each named node is a router: `Sequence` (steps in turn), `Splitter` (one step by `weight`),
//! `Ensemble` (every step, answers side by side) or `Switch` (the first step whose `condition`
//! finds something in the request). A step is another node (`nodeName`) or a model server
//! (`serviceUrl`, spoken to in V2 over REST). `serviceName` alone names an InferenceService of a
//! cluster, which cannot be reached from here.
//!
//! As in KServe's router, a sequence step gets the sequence's own request unless it says
//! `data: $response` (the previous step's answer), and a sequence step's `condition` reads the
//! previous step's answer: when it finds nothing the sequence stops and answers with it.
//! Conditions are GJSON paths ([`Condition`](crate::Condition)) on the message as a V2 JSON body; one this
//! version cannot read stops the start, naming the step. A Switch with no matching step answers
//! 404, as KServe's does. A step is a soft dependency unless it says `dependency: Hard`, as in
//! KServe: what a soft step's failure does is [`NodeSpec::soft`]'s to say.

use std::collections::BTreeMap;
use std::time::Duration;

use oxserve_core::{Error, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::{
    Builtin, Condition, DEFAULT_REMOTE_RETRIES, DEFAULT_REMOTE_TIMEOUT, GraphSpec, NodeSpec, NodeType,
    Parameters, PredictorSpec, Protocol, RemoteSpec, Transport, UnitSpec,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Manifest {
    /// Read by the format probe.
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
    spec: Spec,
    /// What a cluster wrote back, so that a manifest read back from one loads.
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    nodes: BTreeMap<String, Router>,
    /// Seconds a request may take, applied to each model server call.
    #[serde(default)]
    timeout: Option<u64>,
    // Scaling and placement: accepted, meaningless in one process.
    #[serde(rename = "resources")]
    _resources: Option<IgnoredAny>,
    #[serde(rename = "affinity")]
    _affinity: Option<IgnoredAny>,
    #[serde(rename = "minReplicas")]
    _min_replicas: Option<IgnoredAny>,
    #[serde(rename = "maxReplicas")]
    _max_replicas: Option<IgnoredAny>,
    #[serde(rename = "scaleTarget")]
    _scale_target: Option<IgnoredAny>,
    #[serde(rename = "scaleMetric")]
    _scale_metric: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Router {
    router_type: RouterType,
    #[serde(default)]
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum RouterType {
    Sequence,
    Splitter,
    Ensemble,
    Switch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Step {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    service_url: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    weight: Option<u64>,
    #[serde(default)]
    condition: Option<String>,
    /// `Soft` when left out, as in KServe.
    #[serde(default)]
    dependency: Option<Dependency>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Dependency {
    Soft,
    Hard,
}

/// The node every InferenceGraph starts from.
const ROOT: &str = "root";

pub(super) fn convert(manifest: Manifest, default_name: &str) -> Result<GraphSpec> {
    let name = manifest.metadata.get("name").and_then(Value::as_str).unwrap_or(default_name).to_string();
    let timeout = manifest.spec.timeout.map_or(DEFAULT_REMOTE_TIMEOUT, Duration::from_secs);
    let nodes = &manifest.spec.nodes;
    if !nodes.contains_key(ROOT) {
        return Err(Error::invalid("spec.nodes: an InferenceGraph needs a node named 'root'"));
    }
    let root = router(ROOT, nodes, timeout, &mut Vec::new())?;
    let predictor = PredictorSpec { name: name.clone(), traffic: 100, shadow: false, root };
    Ok(GraphSpec { name, predictors: vec![predictor] })
}

/// The node `name`; `path` holds the nodes being converted above it, to refuse cycles.
fn router(
    name: &str,
    nodes: &BTreeMap<String, Router>,
    timeout: Duration,
    path: &mut Vec<String>,
) -> Result<NodeSpec> {
    let at = format!("spec.nodes.{name}");
    let router = &nodes[name];
    let builtin = match router.router_type {
        RouterType::Sequence => Builtin::Sequence,
        RouterType::Splitter => Builtin::Splitter,
        RouterType::Ensemble => Builtin::Ensemble,
        RouterType::Switch => Builtin::Switch,
    };
    path.push(name.to_string());
    let mut children = Vec::new();
    let mut weights = Vec::new();
    for (i, step) in router.steps.iter().enumerate() {
        let at = format!("{at}.steps[{i}]");
        match (step.weight, builtin) {
            (Some(weight), Builtin::Splitter) => weights.push(weight),
            (None, Builtin::Splitter) => {
                return Err(Error::invalid(format!("{at}.weight: a Splitter step needs one")));
            }
            (Some(_), _) => {
                return Err(Error::invalid(format!("{at}.weight: only Splitter steps have weights")));
            }
            (None, _) => {}
        }
        let mut child = self::step(step, i, &at, nodes, timeout, path)?;
        child.from_request = match step.data.as_deref() {
            None | Some("$request") => true,
            Some("$response") => false,
            Some(other) => {
                return Err(Error::invalid(format!("{at}.data: '{other}' is not $request or $response")));
            }
        };
        child.condition = step
            .condition
            .as_deref()
            .map(Condition::parse)
            .transpose()
            .map_err(|e| e.context(format_args!("{at}.condition")))?;
        child.soft = step.dependency != Some(Dependency::Hard);
        children.push(child);
    }
    path.pop();
    let mut parameters = BTreeMap::new();
    if builtin == Builtin::Splitter {
        parameters.insert("weights".to_string(), Value::from(weights));
    }
    Ok(NodeSpec {
        name: name.to_string(),
        stages: builtin.stages(),
        unit: UnitSpec::Builtin(builtin),
        parameters: Parameters::new(parameters, format!("{at}.steps[].weight")),
        children,
        from_request: false,
        soft: false,
        condition: None,
        at,
    })
}

fn step(
    step: &Step,
    index: usize,
    at: &str,
    nodes: &BTreeMap<String, Router>,
    timeout: Duration,
    path: &mut Vec<String>,
) -> Result<NodeSpec> {
    match (&step.node_name, &step.service_url) {
        (Some(node), None) => {
            if path.contains(node) {
                return Err(Error::invalid(format!("{at}.nodeName: '{node}' leads back to itself")));
            }
            if !nodes.contains_key(node) {
                return Err(Error::invalid(format!("{at}.nodeName: no node is named '{node}'")));
            }
            router(node, nodes, timeout, path)
        }
        (None, Some(url)) => {
            let name =
                step.name.clone().or(step.service_name.clone()).unwrap_or_else(|| format!("step-{index}"));
            let remote = service(url, timeout).map_err(|e| e.context(format_args!("{at}.serviceUrl")))?;
            Ok(NodeSpec {
                name,
                at: at.to_string(),
                stages: NodeType::Model.stages(),
                unit: UnitSpec::Remote(remote),
                parameters: Parameters::default(),
                children: Vec::new(),
                from_request: false,
                soft: false,
                condition: None,
            })
        }
        (None, None) if step.service_name.is_some() => Err(Error::invalid(format!(
            "{at}.serviceName: an InferenceService of a cluster cannot be reached from here; \
             give serviceUrl: http://HOST:PORT/v2/models/MODEL/infer"
        ))),
        _ => Err(Error::invalid(format!("{at}: a step needs exactly one of nodeName and serviceUrl"))),
    }
}

/// A V2 model server from its URL: `http://host[:port]/v2/models/{model}[/infer]`.
fn service(url: &str, timeout: Duration) -> Result<RemoteSpec> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::invalid(format!("'{url}': only http:// URLs are supported")))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            (host, port.parse().map_err(|_| Error::invalid(format!("'{url}': '{port}' is not a port")))?)
        }
        None => (authority, 80),
    };
    let model = path
        .strip_prefix("v2/models/")
        .map(|m| m.strip_suffix("/infer").unwrap_or(m).trim_end_matches('/'))
        .filter(|m| !m.is_empty() && !m.contains('/'))
        .ok_or_else(|| {
            Error::invalid(format!(
                "'{url}': expected a V2 model URL, http://HOST:PORT/v2/models/MODEL/infer (KServe v1 \
                 `:predict` URLs are not supported)"
            ))
        })?;
    Ok(RemoteSpec {
        host: host.to_string(),
        port,
        model: model.to_string(),
        transport: Transport::Rest,
        protocol: Protocol::V2,
        timeout,
        retries: DEFAULT_REMOTE_RETRIES,
    })
}
