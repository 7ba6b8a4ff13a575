//! KServe v1 / TF-Serving REST routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use oxserve_core::{DataType, Error, InferenceResponse, Result, Unit};
use oxserve_protocol::seldon::CONTENT_TYPE_PARAMETER;
use oxserve_protocol::v1;

use super::{error_json, json_response, pass_headers};
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

async fn call(
    state: State<AppState>,
    Path(name_verb): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dispatch(state, &name_verb, |name| (name.to_string(), None), headers, body).await
}

async fn call_versioned(
    state: State<AppState>,
    Path((name, version_verb)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dispatch(state, &version_verb, |version| (name.clone(), Some(version.to_string())), headers, body).await
}

/// The two verbs: `predict`, and `explain` for a model with an explainer (others answer 501, as
/// KServe does for a model without one).
#[derive(Clone, Copy)]
enum Verb {
    Predict,
    Explain,
}

/// Splits `<target>:<verb>` and runs the verb.
async fn dispatch(
    State(state): State<AppState>,
    target_verb: &str,
    target: impl FnOnce(&str) -> (String, Option<String>),
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some((target_part, verb)) = target_verb.rsplit_once(':') else {
        return error_response(&Error::not_found(format!(
            "POST /v1/models/{target_verb}: expected a verb such as ':predict'"
        )));
    };
    let (name, version) = target(target_part);
    let verb = match verb {
        "predict" => Verb::Predict,
        "explain" => Verb::Explain,
        other => {
            return error_response(&Error::not_found(format!(
                "unknown verb ':{other}'; expected ':predict' or ':explain'"
            )));
        }
    };
    let unit = state.registry.get(&name, version.as_deref());
    let limit = state.config.max_request_size;
    state
        .observe(Protocol::V1Rest, unit, |unit| run(unit, verb, limit, headers, body))
        .await
        .map(|body| json_response(StatusCode::OK, body))
        .unwrap_or_else(|e| error_response(&e))
}

async fn run(
    unit: Arc<dyn Unit>,
    verb: Verb,
    limit: usize,
    headers: HeaderMap,
    body: Body,
) -> Result<Vec<u8>> {
    let body = read_body(body, limit, None).await?;
    let (mut request, form) = cpu_bound(body.len(), || v1::decode_predict(&body, unit.metadata()))?;
    pass_headers(unit.as_ref(), &headers, &mut request);
    let response = match verb {
        Verb::Predict => unit.predict(request).await?,
        Verb::Explain => {
            let response = unit.explain(request).await?;
            if let Some(document) = json_document(&response) {
                return Ok(document.to_vec());
            }
            response
        }
    };
    cpu_bound(payload_size(&response), || v1::encode_predict(&response, form))
}

/// The JSON document an explainer answered as is: its one output, a single BYTES element marked
/// `content_type` `json` (explanations are free-form, not tensors).
fn json_document(response: &InferenceResponse) -> Option<&[u8]> {
    let [output] = response.outputs.as_slice() else { return None };
    let marked = output.parameters.get(CONTENT_TYPE_PARAMETER).and_then(|v| v.as_str()) == Some("json");
    if output.datatype != DataType::Bytes || output.element_count() != 1 || !marked {
        return None;
    }
    output.bytes_elements().next()
}
