//! KServe v1 / TF-Serving REST routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use oxserve_core::{Error, Result, Unit};
use oxserve_protocol::v1;

use super::{error_json, json_response};
use crate::AppState;
use crate::body::{cpu_bound, payload_size, read_body};
use crate::metrics::Protocol;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(model_list))
        .route("/v1/models/{name_verb}", get(model_status).post(call))
        .route("/v1/models/{name}/versions/{version_verb}", get(model_status_versioned).post(call_versioned))
}

fn error_response(error: &Error) -> Response {
    error_json(error, v1::encode_error(&error.message))
}

async fn model_list(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, v1::encode_model_list(&state.registry.names()))
}

async fn model_status(state: State<AppState>, Path(name): Path<String>) -> Response {
    status_of_model(state, &name, None)
}

async fn model_status_versioned(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    status_of_model(state, &name, Some(&version))
}

/// KServe's `{"name": ..., "ready": ...}`, 503 while not ready.
fn status_of_model(State(state): State<AppState>, name: &str, version: Option<&str>) -> Response {
    match state.registry.get(name, version) {
        Ok(unit) => {
            let ready = unit.is_ready();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            json_response(status, v1::encode_model_status(name, ready))
        }
        Err(e) => error_response(&e),
    }
}

async fn call(state: State<AppState>, Path(name_verb): Path<String>, body: Body) -> Response {
    dispatch(state, &name_verb, |name| (name.to_string(), None), body).await
}

async fn call_versioned(
    state: State<AppState>,
    Path((name, version_verb)): Path<(String, String)>,
    body: Body,
) -> Response {
    dispatch(state, &version_verb, |version| (name.clone(), Some(version.to_string())), body).await
}

/// Splits `<target>:<verb>` and runs the verb. Only `predict` exists for plain models.
async fn dispatch(
    State(state): State<AppState>,
    target_verb: &str,
    target: impl FnOnce(&str) -> (String, Option<String>),
    body: Body,
) -> Response {
    let Some((target_part, verb)) = target_verb.rsplit_once(':') else {
        return error_response(&Error::not_found(format!(
            "POST /v1/models/{target_verb}: expected a verb such as ':predict'"
        )));
    };
    let (name, version) = target(target_part);
    match verb {
        "predict" => {
            let unit = state.registry.get(&name, version.as_deref());
            let limit = state.config.max_request_size;
            state
                .observe(Protocol::V1Rest, unit, |unit| predict(unit, limit, body))
                .await
                .map(|body| json_response(StatusCode::OK, body))
                .unwrap_or_else(|e| error_response(&e))
        }
        "explain" => error_response(&Error::unimplemented(format!("model '{name}' has no explainer"))),
        other => error_response(&Error::not_found(format!("unknown verb ':{other}'; expected ':predict'"))),
    }
}

async fn predict(unit: Arc<dyn Unit>, limit: usize, body: Body) -> Result<Vec<u8>> {
    let body = read_body(body, limit, None).await?;
    let (request, form) = cpu_bound(body.len(), || v1::decode_predict(&body, unit.metadata()))?;
    let response = unit.predict(request).await?;
    cpu_bound(payload_size(&response), || v1::encode_predict(&response, form))
}
