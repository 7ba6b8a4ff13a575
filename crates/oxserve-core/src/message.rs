use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Parameters, Tensor};

/// One inference call, whatever protocol it arrived in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferenceRequest {
    /// Caller's request id, echoed in the response.
    pub id: Option<String>,
    pub model_name: String,
    /// `None` lets the server pick the version.
    pub model_version: Option<String>,
    pub parameters: Parameters,
    pub inputs: Vec<Tensor>,
    /// Outputs the caller asked for; empty means all of them with default settings.
    pub outputs: Vec<RequestedOutput>,
    /// Seldon metadata carried along a graph (empty for other protocols).
    pub meta: Meta,
}

impl InferenceRequest {
    /// The input called `name`, if the request has one.
    pub fn input(&self, name: &str) -> Option<&Tensor> {
        self.inputs.iter().find(|t| t.name == name)
    }
}

/// An output the caller asked for, with its per-output parameters (`binary_data`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestedOutput {
    pub name: String,
    pub parameters: Parameters,
}

/// The answer to an [`InferenceRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferenceResponse {
    pub id: Option<String>,
    pub model_name: String,
    pub model_version: Option<String>,
    pub parameters: Parameters,
    pub outputs: Vec<Tensor>,
    pub meta: Meta,
}

impl InferenceResponse {
    /// The output called `name`, if the response has one.
    pub fn output(&self, name: &str) -> Option<&Tensor> {
        self.outputs.iter().find(|t| t.name == name)
    }
}

/// Seldon's `meta`: a request id constant along a graph, tags, routing decisions, the path of
/// visited units and custom metrics. Field names serialise as Seldon's JSON spells them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Meta {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub puid: String,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub tags: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub routing: BTreeMap<String, i32>,
    #[serde(rename = "requestPath", skip_serializing_if = "BTreeMap::is_empty")]
    pub request_path: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
}

impl Meta {
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }
}

/// A custom metric reported by a unit (Seldon's metric dict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub key: String,
    #[serde(rename = "type", default)]
    pub kind: MetricKind,
    pub value: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// How a [`Metric`] value is recorded: added, set, or observed as milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MetricKind {
    #[default]
    Counter,
    Gauge,
    Timer,
}

/// A reward for an earlier prediction, used by routers that learn (multi-armed bandits).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feedback {
    pub request: Option<InferenceRequest>,
    pub response: Option<InferenceResponse>,
    pub reward: f64,
    pub truth: Option<InferenceRequest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_uses_seldon_json_names() {
        let json = r#"{"puid":"p1","tags":{"a":1},"routing":{"r":2},"requestPath":{"m":"img:1"},
                       "metrics":[{"key":"k","type":"TIMER","value":3.5,"tags":{"x":"y"}}]}"#;
        let meta: Meta = serde_json::from_str(json).unwrap();
        assert_eq!(meta.puid, "p1");
        assert_eq!(meta.routing["r"], 2);
        assert_eq!(meta.request_path["m"], "img:1");
        assert_eq!(meta.metrics[0].kind, MetricKind::Timer);
        let back: Meta = serde_json::from_str(&serde_json::to_string(&meta).unwrap()).unwrap();
        assert_eq!(back, meta);
        assert_eq!(serde_json::to_string(&Meta::default()).unwrap(), "{}");
    }

    #[test]
    fn unknown_meta_fields_are_rejected() {
        assert!(serde_json::from_str::<Meta>(r#"{"pid":"x"}"#).is_err());
    }
}
