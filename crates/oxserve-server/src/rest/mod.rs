//! REST routes of every protocol, on one axum router.

pub(crate) mod seldon;
mod v1;
mod v2;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oxserve_core::{Error, HEADERS_PARAMETER, InferenceRequest, Unit};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;
use crate::body::close_if_body_unread;

/// All REST routes: V2, Seldon, KServe v1, `/metrics`. Unknown paths answer 404 and known paths
/// with the wrong method 405, both with a JSON body.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(v2::routes())
        .merge(seldon::routes())
        .merge(v1::routes())
        .route("/metrics", get(metrics))
        .route("/", get(|| async { json_response(StatusCode::OK, br#"{"status":"alive"}"#.to_vec()) }))
        .fallback(|| async { json_response(StatusCode::NOT_FOUND, br#"{"error":"Not Found"}"#.to_vec()) })
        .method_not_allowed_fallback(|| async {
            json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                br#"{"error":"method not allowed on this path"}"#.to_vec(),
            )
        })
        .layer(CompressionLayer::new())
        .layer(RequestDecompressionLayer::new())
        // Outermost, so that it sees the body as it came off the wire.
        .layer(axum::middleware::from_fn(close_if_body_unread))
        .with_state(state)
}

/// Seldon's metrics port: `/prometheus` (the path Seldon's wrapper serves and its operator
/// scrapes) and `/metrics`; nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/prometheus", get(metrics))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            json_response(
                StatusCode::NOT_FOUND,
                br#"{"error":"this port serves /prometheus and /metrics"}"#.to_vec(),
            )
        })
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error response with the protocol's JSON `body`. A 503 (queue full, model not ready)
/// carries `Retry-After`, so clients and proxies back off instead of retrying at once.
pub(crate) fn error_json(error: &Error, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, body);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response
}

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Hands the caller's `headers` (HTTP headers, or gRPC metadata as headers) to a unit that
/// [wants them](Unit::wants_headers), under the request parameter [`HEADERS_PARAMETER`]: lower
/// case names, values that are not UTF-8 left out, a repeated header's values joined by `,`.
pub(crate) fn pass_headers(unit: &dyn Unit, headers: &HeaderMap, request: &mut InferenceRequest) {
    if !unit.wants_headers() {
        return;
    }
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        match map.entry(name.as_str()) {
            serde_json::map::Entry::Vacant(entry) => {
                entry.insert(value.into());
            }
            serde_json::map::Entry::Occupied(mut entry) => {
                if let serde_json::Value::String(joined) = entry.get_mut() {
                    joined.push(',');
                    joined.push_str(value);
                }
            }
        }
    }
    request.parameters.insert(HEADERS_PARAMETER.to_string(), map.into());
}
