//! Seldon protocol REST routes, as the Seldon Core Python wrapper and executor expose them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use oxserve_core::{Error, InferenceResponse, Result, Unit};
use oxserve_protocol::seldon::json as seldon;

use super::{json_response, status_of};
use crate::AppState;
use crate::body::read_body;
use crate::metrics::Protocol;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1.0/predictions", get(predict_default).post(predict_default))
        .route("/api/v0.1/predictions", get(predict_default).post(predict_default))
        .route("/predict", get(predict_default).post(predict_default))
        .route("/seldon/{namespace}/{model}/api/v1.0/predictions", get(predict_named).post(predict_named))
        .route("/api/v1.0/metadata", get(metadata))
        .route("/metadata", get(metadata))
        .route("/health/ping", get(|| async { "pong" }))
        .route("/health/status", get(health_status))
        .route("/api/v1.0/health/status", get(health_status))
}

fn error_response(error: &Error) -> Response {
    json_response(status_of(error), seldon::encode_error(error))
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
    let request_path = unit_request_path(&state);
    state
        .observe(Protocol::SeldonRest, unit, |unit| async move {
            let body = read_body(body, limit, None).await?;
            let message = message_text(&headers, query.as_deref(), body)?;
            let (request, kind) = seldon::decode_message(&message, unit.metadata())?;
            let mut response = unit.predict(request).await?;
            add_request_path(&mut response, request_path, unit.as_ref());
            seldon::encode_message(&response, kind)
        })
        .await
        .map(|body| json_response(StatusCode::OK, body))
        .unwrap_or_else(|e| error_response(&e))
}

/// The SeldonMessage JSON of a request: the `json` field of a form body or of the query string,
/// which the Seldon wrapper accepts, else the body itself (also when a client such as `curl -d`
/// labels a JSON body as a form).
fn message_text(headers: &HeaderMap, query: Option<&str>, body: Bytes) -> Result<Bytes> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form && let Some(json) = json_field(&body) {
        return Ok(json);
    }
    if body.is_empty() {
        return query.and_then(|q| json_field(q.as_bytes())).ok_or_else(|| {
            Error::invalid("the request has no body and no 'json' query field; send a SeldonMessage")
        });
    }
    Ok(body)
}

fn json_field(urlencoded: &[u8]) -> Option<Bytes> {
    form_urlencoded::parse(urlencoded).find(|(k, _)| k == "json").map(|(_, v)| Bytes::from(v.into_owned()))
}

/// This unit's entry in `meta.requestPath`: `PREDICTIVE_UNIT_ID` (or the model name) mapped to
/// `PREDICTIVE_UNIT_IMAGE` (or `oxserve:<version>`). An entry the caller already sent wins.
fn unit_request_path(state: &AppState) -> (Option<String>, String) {
    let image = state
        .config
        .seldon_unit_image
        .clone()
        .unwrap_or_else(|| format!("oxserve:{}", env!("CARGO_PKG_VERSION")));
    (state.config.seldon_unit_id.clone(), image)
}

fn add_request_path(
    response: &mut InferenceResponse,
    (unit_id, image): (Option<String>, String),
    unit: &dyn Unit,
) {
    let id = unit_id.unwrap_or_else(|| unit.metadata().name.clone());
    response.meta.request_path.entry(id).or_insert(image);
}

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
