//! Open Inference Protocol V2 REST routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::stream;
use oxserve_core::{Error, ErrorKind, Result, Unit};
use oxserve_protocol::v2::rest::{self, OutputEncoding};

use super::{error_json, json_response, pass_headers};
use crate::body::{cpu_bound, payload_size, read_body};
use crate::metrics::Protocol;
use crate::{AppState, EXTENSIONS, SERVER_NAME};

/// `Inference-Header-Content-Length` ([`rest::INFERENCE_HEADER_CONTENT_LENGTH`]) as a header
/// name, which must be lower case.
const HEADER_LENGTH: HeaderName = HeaderName::from_static("inference-header-content-length");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(server_ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models", get(model_list))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(model_metadata))
        .route("/v2/models/{name}/config", get(model_config))
        .route("/v2/models/{name}/versions/{version}/config", get(model_config))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer))
        .route("/v2/models/{name}/feedback", post(feedback))
}

fn error_response(error: &Error) -> Response {
    error_json(error, rest::encode_error(&error.message))
}

/// Health "false" is 400, as Triton answers.
fn health(ready: bool) -> StatusCode {
    if ready { StatusCode::OK } else { StatusCode::BAD_REQUEST }
}

async fn server_ready(State(state): State<AppState>) -> StatusCode {
    health(state.registry.all_ready())
}

async fn server_metadata() -> Response {
    json_response(
        StatusCode::OK,
        rest::encode_server_metadata(SERVER_NAME, env!("CARGO_PKG_VERSION"), EXTENSIONS),
    )
}

async fn model_list(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, rest::encode_model_list(&state.registry.names()))
}

/// `{name}` and, on the `/versions/{version}` routes, `{version}`: one handler serves both.
#[derive(serde::Deserialize)]
struct ModelPath {
    name: String,
    version: Option<String>,
}

impl ModelPath {
    fn unit(&self, state: &AppState) -> oxserve_core::Result<Arc<dyn Unit>> {
        state.registry.get(&self.name, self.version.as_deref())
    }
}

async fn model_metadata(State(state): State<AppState>, Path(path): Path<ModelPath>) -> Response {
    match path.unit(&state) {
        Ok(unit) => json_response(StatusCode::OK, rest::encode_model_metadata(unit.metadata())),
        Err(e) => error_response(&e),
    }
}

/// The model's configuration as Triton reports it: with batching, `max_batch_size` and `dims`
/// without the batch dimension; without, 0 and full shapes.
async fn model_config(State(state): State<AppState>, Path(path): Path<ModelPath>) -> Response {
    match path.unit(&state) {
        Ok(unit) => {
            json_response(StatusCode::OK, rest::encode_model_config(unit.metadata(), unit.max_batch_size()))
        }
        Err(e) => error_response(&e),
    }
}

async fn model_ready(State(state): State<AppState>, Path(path): Path<ModelPath>) -> Response {
    match path.unit(&state) {
        Ok(unit) => health(unit.is_ready()).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn infer(
    State(state): State<AppState>,
    Path(path): Path<ModelPath>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let unit = path.unit(&state);
    let max_request_size = state.config.max_request_size;
    state
        .observe(Protocol::V2Rest, unit, |unit| run(max_request_size, unit, path.version, headers, body))
        .await
        .unwrap_or_else(|e| error_response(&e))
}

/// oxserve's `feedback` extension ([`oxserve_protocol::v2::feedback`]): a reward for an earlier
/// prediction, for the model's routers to learn from. A model that takes no feedback accepts it
/// and does nothing, as Seldon's wrapper does; the answer is `{}`.
async fn feedback(State(state): State<AppState>, Path(path): Path<ModelPath>, body: Body) -> Response {
    let unit = path.unit(&state);
    let max_request_size = state.config.max_request_size;
    state
        .observe(Protocol::V2Rest, unit, |unit| async move {
            let body = read_body(body, max_request_size, None).await?;
            let feedback = oxserve_protocol::v2::feedback::decode_feedback(&body, unit.metadata())?;
            match unit.send_feedback(feedback).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind == ErrorKind::Unimplemented => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
        .map(|()| json_response(StatusCode::OK, b"{}".to_vec()))
        .unwrap_or_else(|e| error_response(&e))
}

async fn run(
    max_request_size: usize,
    unit: Arc<dyn Unit>,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let header_length = match headers.get(&HEADER_LENGTH) {
        None => None,
        Some(value) => Some(
            value.to_str().map_err(|_| Error::invalid("Inference-Header-Content-Length: not a number"))?,
        ),
    };
    let body = read_body(body, max_request_size, header_length.and_then(|h| h.trim().parse().ok())).await?;
    let mut request =
        cpu_bound(body.len(), || rest::decode_infer_request(body, header_length, unit.metadata()))?;
    request.model_version = version;
    pass_headers(unit.as_ref(), &headers, &mut request);
    let encoding = OutputEncoding::from_request(&request);
    let response = unit.predict(request).await?;
    let encoded = cpu_bound(payload_size(&response), || rest::encode_infer_response(&response, &encoding))?;
    let length: usize = encoded.chunks.iter().map(|c| c.len()).sum();
    let mut reply = Response::new(Body::from_stream(stream::iter(
        encoded.chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
    )));
    let reply_headers = reply.headers_mut();
    reply_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    match encoded.json_length {
        Some(json_length) => {
            reply_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            reply_headers.insert(HEADER_LENGTH, HeaderValue::from(json_length));
        }
        None => {
            reply_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    Ok(reply)
}
