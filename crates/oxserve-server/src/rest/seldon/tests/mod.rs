//! The Seldon component surface (predict, transforms, route, aggregate, their custom metrics) on
//! both transports, through the router `serve` builds: REST driven in process, gRPC through a
//! tonic client on a real listener. Two units: [`Full`] implements every operation, [`Plain`]
//! only predicts, so the defaults answer.

mod grpc;
mod rest;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use bytes::Bytes;
use oxserve_core::{
    DataType, Error, Feedback, InferenceRequest, InferenceResponse, Metric, MetricKind, ModelMetadata,
    Result, Tensor, Unit,
};

use crate::{AppState, Metrics, Registry, ServerConfig};

/// The meta tag whose value (a Seldon metric dict, or a list of them) a unit reports as its own
/// metrics, so that each test chooses what the unit reports.
const REPORT_TAG: &str = "report";

/// Every operation, each leaving a trace:
/// - `predict`, `transform_input` and `transform_output` echo the message and its meta, adding
///   the tag `stage` and the metrics asked for in the request's [`REPORT_TAG`];
/// - `route` answers the number of rows minus one, and fails for a `strData` message;
/// - `aggregate` answers an INT64 list of its children's element counts, with only its own meta:
///   the tag `stage` and a 12.5 ms TIMER;
/// - `send_feedback` answers the reward as a one-element FP64 array, with the tag `routed`: the
///   routing the feedback's response recorded for this unit (as a router learns from it), and a
///   `rewards` COUNTER.
struct Full {
    metadata: ModelMetadata,
}

/// Only `predict` (an echo), so the other operations keep the trait's defaults: identity
/// transforms, and route, aggregate and feedback unimplemented.
struct Plain {
    metadata: ModelMetadata,
}

fn metadata(name: &str) -> ModelMetadata {
    ModelMetadata { name: name.into(), ..ModelMetadata::default() }
}

/// `response` with the tag `stage` and the metrics the request asked the unit to report.
fn traced(mut response: InferenceResponse, stage: &str) -> Result<InferenceResponse> {
    if let Some(report) = response.meta.tags.get(REPORT_TAG) {
        let metrics: Vec<Metric> = match report {
            serde_json::Value::Array(_) => serde_json::from_value(report.clone()),
            _ => serde_json::from_value(report.clone()).map(|m| vec![m]),
        }
        .map_err(|e| Error::internal(format!("test unit: {e}")))?;
        response.meta.metrics.extend(metrics);
    }
    response.meta.tags.insert("stage".into(), stage.into());
    Ok(response)
}

fn echo(request: InferenceRequest) -> InferenceResponse {
    InferenceResponse {
        id: request.id,
        model_name: request.model_name,
        outputs: request.inputs,
        meta: request.meta,
        ..InferenceResponse::default()
    }
}

#[async_trait]
impl Unit for Full {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        traced(echo(request), "predict")
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        let traced = traced(echo(request), "input")?;
        Ok(InferenceRequest { inputs: traced.outputs, meta: traced.meta, ..InferenceRequest::default() })
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        traced(response, "output")
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        let input = &request.inputs[0];
        if input.name == "strData" {
            return Err(Error::internal("the router failed"));
        }
        Ok(input.shape.first().map_or(0, |&rows| rows as i32) - 1)
    }

    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        let counts: Vec<u8> =
            responses.iter().flat_map(|r| (r.outputs[0].element_count() as i64).to_le_bytes()).collect();
        let output = Tensor::new("counts", DataType::Int64, vec![responses.len()], Bytes::from(counts))?;
        let mut response = InferenceResponse { outputs: vec![output], ..InferenceResponse::default() };
        response.meta.tags.insert("stage".into(), "aggregate".into());
        response.meta.metrics.push(Metric {
            key: "aggregate_ms".into(),
            kind: MetricKind::Timer,
            value: 12.5,
            tags: Default::default(),
        });
        Ok(response)
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let reward = Bytes::copy_from_slice(&feedback.reward.to_le_bytes());
        let mut response = InferenceResponse {
            outputs: vec![Tensor::new("reward", DataType::Fp64, vec![1], reward)?],
            ..InferenceResponse::default()
        };
        let routed = feedback.response.and_then(|r| r.meta.routing.get(&self.metadata.name).copied());
        response.meta.tags.insert("routed".into(), routed.into());
        response.meta.metrics.push(Metric {
            key: "rewards".into(),
            kind: MetricKind::Counter,
            value: feedback.reward,
            tags: Default::default(),
        });
        Ok(response)
    }
}

#[async_trait]
impl Unit for Plain {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        Ok(echo(request))
    }
}

/// The whole router (REST and gRPC) serving `unit`, and its state.
async fn app_with(unit: Arc<dyn Unit>, metrics: Metrics) -> (Router, AppState) {
    let state = AppState {
        registry: Arc::new(Registry::new(vec![unit], None).unwrap()),
        metrics: Arc::new(metrics),
        config: Arc::new(ServerConfig::default()),
    };
    let (grpc, _health) = crate::grpc::router(state.clone()).await;
    (crate::rest::router(state.clone()).merge(grpc), state)
}

async fn full() -> (Router, AppState) {
    app_with(Arc::new(Full { metadata: metadata("full") }), Metrics::with_unit_metrics_in_answers(true)).await
}

async fn plain() -> (Router, AppState) {
    app_with(Arc::new(Plain { metadata: metadata("plain") }), Metrics::with_unit_metrics_in_answers(true))
        .await
}
