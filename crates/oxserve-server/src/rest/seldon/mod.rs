//! Seldon protocol REST routes, as the Seldon Core Python wrapper and executor expose them.

mod forms;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_core::{Error, Result, Unit};
use oxserve_protocol::seldon::json as seldon;

use super::{error_json, json_response};
use crate::AppState;
use crate::body::{cpu_bound, payload_size, read_body};
use crate::metrics::Protocol;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1.0/predictions", get(predict_default).post(predict_default))
        .route("/api/v0.1/predictions", get(predict_default).post(predict_default))
        .route("/predict", get(predict_default).post(predict_default))
        .route("/seldon/{namespace}/{model}/api/v1.0/predictions", get(predict_named).post(predict_named))
        .route("/send-feedback", get(feedback).post(feedback))
        .route("/api/v1.0/feedback", post(feedback))
        .route("/api/v0.1/feedback", post(feedback))
        .route("/api/v1.0/metadata", get(metadata))
        .route("/metadata", get(metadata))
        .route("/health/ping", get(|| async { "pong" }))
        .route("/health/status", get(health_status))
        .route("/api/v1.0/health/status", get(health_status))
}

fn error_response(error: &Error) -> Response {
    error_json(error, seldon::encode_error(error))
}

async fn predict_default(
    state: State<AppState>,
    headers: HeaderMap,
    query: RawQuery,
    body: Body,
) -> Response {
    let unit = state.registry.default_unit();
    predict(state, unit, headers, query, body).await
}

async fn predict_named(
    state: State<AppState>,
    Path((_namespace, model)): Path<(String, String)>,
    headers: HeaderMap,
    query: RawQuery,
    body: Body,
) -> Response {
    let unit = state.registry.get(&model, None);
    predict(state, unit, headers, query, body).await
}

async fn predict(
    State(state): State<AppState>,
    unit: Result<Arc<dyn Unit>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let limit = state.config.max_request_size;
    let state_for_path = state.clone();
    state
        .observe(Protocol::SeldonRest, unit, |unit| async move {
            let body = read_body(body, limit, None).await?;
            let message = forms::message_text(&headers, query.as_deref(), body).await?;
            let (request, kind) =
                cpu_bound(message.len(), || seldon::decode_message(&message, unit.metadata()))?;
            let mut response = unit.predict(request).await?;
            state_for_path.add_seldon_request_path(&mut response, unit.as_ref());
            cpu_bound(payload_size(&response), || seldon::encode_message(&response, kind))
        })
        .await
        .map(|body| json_response(StatusCode::OK, body))
        .unwrap_or_else(|e| error_response(&e))
}

/// Feedback to a plain model: accepted and answered with an empty message, as the Seldon
/// wrapper answers for a model class without `send_feedback`. Routers that learn from rewards
/// are units of inference graphs.
async fn feedback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let accepted = async {
        let body = read_body(body, state.config.max_request_size, None).await?;
        let message = forms::message_text(&headers, query.as_deref(), body).await?;
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&message)
            .map_err(|e| Error::invalid(format!("invalid Feedback JSON: {e}")))?;
        match fields.keys().find(|k| !FEEDBACK_FIELDS.contains(&k.as_str())) {
            Some(unknown) => Err(Error::invalid(format!(
                "{unknown}: unknown Feedback field; expected {}",
                FEEDBACK_FIELDS.join(", ")
            ))),
            None => Ok(()),
        }
    };
    match accepted.await {
        Ok(()) => json_response(StatusCode::OK, br#"{"data":{"names":[],"ndarray":[]},"meta":{}}"#.to_vec()),
        Err(e) => error_response(&e),
    }
}

/// The fields of Seldon's `Feedback` message.
const FEEDBACK_FIELDS: [&str; 4] = ["request", "response", "reward", "truth"];

async fn metadata(State(state): State<AppState>) -> Response {
    match state.registry.default_unit() {
        Ok(unit) => json_response(StatusCode::OK, seldon::encode_metadata(unit.metadata())),
        Err(e) => error_response(&e),
    }
}

/// The wrapper's default `health_status()` answer, as a SeldonMessage.
async fn health_status(State(state): State<AppState>) -> Response {
    if state.registry.all_ready() {
        json_response(StatusCode::OK, br#"{"strData":"healthy"}"#.to_vec())
    } else {
        error_response(&Error::unavailable("not every model is ready"))
    }
    .into_response()
}
