//! Seldon protocol REST routes, as the Seldon Core Python wrapper and executor expose them.
//!
//! The component endpoints (`/predict`, `/transform-input`, `/transform-output`, `/route`,
//! `/aggregate`, `/send-feedback` and their aliases) share one handler: read the body in any
//! encoding the wrapper accepts, decode it into a [`Call`], let the unit answer
//! ([`AppState::seldon_call`], shared with gRPC), encode the answer in the request's form.

mod forms;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use oxserve_core::{Error, ErrorKind, InferenceRequest, ModelMetadata, Result, Unit};
use oxserve_protocol::seldon::PayloadKind;
use oxserve_protocol::seldon::component::{Answer, Call};
use oxserve_protocol::seldon::json as seldon;

use super::{error_json, json_response};
use crate::AppState;
use crate::body::{cpu_bound, payload_size, read_body};
use crate::metrics::Protocol;

pub fn routes() -> Router<AppState> {
    let predict = Endpoint::One(Call::Predict);
    Router::new()
        .route("/api/v1.0/predictions", component(predict))
        .route("/api/v0.1/predictions", component(predict))
        .route("/predict", component(predict))
        .route("/seldon/{namespace}/{model}/api/v1.0/predictions", named(Endpoint::One(Call::Predict)))
        .route("/seldon/{namespace}/{model}/api/v1.0/feedback", named(Endpoint::Feedback))
        .route("/transform-input", component(Endpoint::One(Call::TransformInput)))
        .route("/transform-output", component(Endpoint::One(Call::TransformOutput)))
        .route("/route", component(Endpoint::One(Call::Route)))
        .route("/aggregate", component(Endpoint::Aggregate))
        .route("/send-feedback", component(Endpoint::Feedback))
        .route("/api/v1.0/feedback", component(Endpoint::Feedback))
        .route("/api/v0.1/feedback", component(Endpoint::Feedback))
        .route("/api/v1.0/metadata", get(executor_metadata))
        .route("/api/v1.0/metadata/{node}", get(node_metadata))
        .route("/metadata", get(metadata))
        .route("/health/ping", get(|| async { "pong" }))
        .route("/health/status", get(health_status))
        .route("/api/v1.0/health/status", get(health_status))
}

fn error_response(error: &Error) -> Response {
    error_json(error, seldon::encode_error(error))
}

/// How a component endpoint reads its body.
#[derive(Clone, Copy)]
enum Endpoint {
    /// One message, for the unit method the [`Call`] variant names.
    One(fn(InferenceRequest) -> Call),
    /// A combiner's list of messages.
    Aggregate,
    /// A `Feedback`.
    Feedback,
}

impl Endpoint {
    fn decode(self, message: &[u8], metadata: &ModelMetadata) -> Result<(Call, PayloadKind)> {
        match self {
            Endpoint::One(call) => seldon::decode_message(message, metadata).map(|(r, kind)| (call(r), kind)),
            Endpoint::Aggregate => seldon::decode_aggregate(message, metadata),
            Endpoint::Feedback => seldon::decode_feedback(message, metadata),
        }
    }
}

/// GET and POST of a component endpoint, served by the default model.
fn component(endpoint: Endpoint) -> MethodRouter<AppState> {
    let handler = move |state: State<AppState>, headers: HeaderMap, query: RawQuery, body: Body| async move {
        let unit = state.registry.default_unit();
        answer(state, unit, endpoint, headers, query, body).await
    };
    get(handler).post(handler)
}

/// GET and POST of Seldon's ingress path for a deployment, `/seldon/<namespace>/<deployment>/...`,
/// served by the model the deployment name names.
fn named(endpoint: Endpoint) -> MethodRouter<AppState> {
    let handler = move |state: State<AppState>,
                        Path((_namespace, model)): Path<(String, String)>,
                        headers: HeaderMap,
                        query: RawQuery,
                        body: Body| async move {
        let unit = state.registry.get(&model, None);
        answer(state, unit, endpoint, headers, query, body).await
    };
    get(handler).post(handler)
}

/// Reads and decodes one component call for `unit`, lets the unit answer, and encodes the
/// answer; the outcome is recorded as every protocol's is.
async fn answer(
    State(state): State<AppState>,
    unit: Result<Arc<dyn Unit>>,
    endpoint: Endpoint,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let limit = state.config.max_request_size;
    let app = state.clone();
    state
        .observe(Protocol::SeldonRest, unit, |unit| async move {
            let body = read_body(body, limit, None).await?;
            let message = forms::message_text(&headers, query.as_deref(), body).await?;
            let (mut call, kind) = cpu_bound(message.len(), || endpoint.decode(&message, unit.metadata()))?;
            mark_data_form(&mut call, kind);
            let response = app.seldon_call(unit.as_ref(), call).await.map_err(lacking_is_bad_data)?;
            cpu_bound(payload_size(&response), || seldon::encode_message(&response, kind))
        })
        .await
        .map(|body| json_response(StatusCode::OK, body))
        .unwrap_or_else(|e| error_response(&e))
}

/// Marks the input of a one-message call (predict, the transforms, route) with its `data` form
/// (aggregate and feedback messages are marked as they are decoded).
pub(crate) fn mark_data_form(call: &mut Call, kind: PayloadKind) {
    if let Call::Predict(request)
    | Call::TransformInput(request)
    | Call::TransformOutput(request)
    | Call::Route(request) = call
    {
        oxserve_protocol::seldon::mark_data_form(request, kind);
    }
}

/// Seldon's wrapper answers a call to a method the unit lacks (`/route` to a plain model:
/// "Route not defined") as the caller's mistake, 400 `MICROSERVICE_BAD_DATA`; clients and the
/// executor expect that rather than HTTP's 501.
fn lacking_is_bad_data(error: Error) -> Error {
    match error.kind {
        ErrorKind::Unimplemented => Error::invalid(error.message),
        _ => error,
    }
}

/// The executor's `/api/v1.0/metadata`: a graph's metadata (`name`, `models`, `graphinputs`,
/// `graphoutputs`) when the default model is a graph, else the model's own.
async fn executor_metadata(State(state): State<AppState>) -> Response {
    match state.registry.default_unit() {
        Ok(unit) => match unit.graph_metadata() {
            Some(graph) => json_response(StatusCode::OK, seldon::encode_graph_metadata(&graph)),
            None => json_response(StatusCode::OK, seldon::encode_metadata(unit.metadata())),
        },
        Err(e) => error_response(&e),
    }
}

/// The executor's `/api/v1.0/metadata/{node}`: one unit of the graph (a plain model is a graph
/// of one unit, itself).
async fn node_metadata(State(state): State<AppState>, Path(node): Path<String>) -> Response {
    let found = state.registry.default_unit().and_then(|unit| {
        let metadata = match unit.graph_metadata() {
            Some(graph) => graph.units.get(&node).cloned(),
            None => (unit.metadata().name == node).then(|| unit.metadata().clone()),
        };
        metadata.ok_or_else(|| Error::not_found(format!("no unit is named '{node}'")))
    });
    match found {
        Ok(metadata) => json_response(StatusCode::OK, seldon::encode_metadata(&metadata)),
        Err(e) => error_response(&e),
    }
}

async fn metadata(State(state): State<AppState>) -> Response {
    match state.registry.default_unit() {
        Ok(unit) => json_response(StatusCode::OK, seldon::encode_metadata(unit.metadata())),
        Err(e) => error_response(&e),
    }
}

/// Seldon's `/health/status`: 503 while a model is not ready, else the default model's own check
/// ([`Unit::health_status`], the user's `health_status()`) as a message, answering as a request
/// without a payload form would (numbers as `data.tensor`), with the check's custom metrics
/// published under Seldon's `health` method. A unit without a check, or a server with several
/// models and no default, gets the wrapper's default `{"strData":"healthy"}`; a failing check
/// answers its error.
async fn health_status(State(state): State<AppState>) -> Response {
    if !state.registry.all_ready() {
        return error_response(&Error::unavailable("not every model is ready"));
    }
    let Ok(unit) = state.registry.default_unit() else {
        return json_response(StatusCode::OK, br#"{"strData":"healthy"}"#.to_vec());
    };
    let checked = async {
        let Some(response) = unit.health_status().await? else { return Ok(None) };
        let mut answer = Answer { response, own_metrics_from: 0 };
        state.metrics.publish_unit_metrics(&unit.metadata().name, "health", &mut answer)?;
        seldon::encode_message(&answer.response, PayloadKind::Tensor).map(Some)
    };
    match checked.await {
        Ok(Some(body)) => json_response(StatusCode::OK, body),
        Ok(None) => json_response(StatusCode::OK, br#"{"strData":"healthy"}"#.to_vec()),
        Err(e) => error_response(&e),
    }
}
