//! gRPC services: V2 `inference.GRPCInferenceService`, Seldon's component services (`Model`,
//! `Generic`, `Transformer`, `OutputTransformer`, `Router`, `Combiner`) and `Seldon`, and
//! `grpc.health.v1.Health`, mounted on the same axum router as the REST routes.

mod inference;
mod seldon;

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use oxserve_core::{Error, ErrorKind};
use oxserve_protocol::pb::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use oxserve_protocol::pb::seldon::combiner_server::CombinerServer;
use oxserve_protocol::pb::seldon::generic_server::GenericServer;
use oxserve_protocol::pb::seldon::model_server::ModelServer;
use oxserve_protocol::pb::seldon::output_transformer_server::OutputTransformerServer;
use oxserve_protocol::pb::seldon::router_server::RouterServer;
use oxserve_protocol::pb::seldon::seldon_server::SeldonServer;
use oxserve_protocol::pb::seldon::transformer_server::TransformerServer;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tower::{Service, ServiceExt};

use crate::AppState;

/// The generated `server` around `service`, refusing messages larger than `limit` with
/// RESOURCE_EXHAUSTED and sending any size. A macro because the size setters are inherent
/// methods of each generated type, not a trait a function could name.
macro_rules! limited {
    ($server:ident, $service:expr, $limit:expr) => {
        $server::new($service).max_decoding_message_size($limit).max_encoding_message_size(usize::MAX)
    };
}

/// The gRPC services as axum routes (`/<package.Service>/<Method>`), and the health service's
/// handle. Messages larger than `max_request_size` are refused with RESOURCE_EXHAUSTED.
pub async fn router(state: AppState) -> (Router, Health) {
    let limit = state.config.max_request_size;
    let seldon = || seldon::SeldonService::new(state.clone());
    let inference =
        limited!(GrpcInferenceServiceServer, inference::InferenceService::new(state.clone()), limit);
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health { reporter };
    health.set(ServingStatus::Serving).await;
    let router = Router::new();
    let router = mount(router, inference);
    let router = mount(router, limited!(ModelServer, seldon(), limit));
    let router = mount(router, limited!(GenericServer, seldon(), limit));
    let router = mount(router, limited!(TransformerServer, seldon(), limit));
    let router = mount(router, limited!(OutputTransformerServer, seldon(), limit));
    let router = mount(router, limited!(RouterServer, seldon(), limit));
    let router = mount(router, limited!(CombinerServer, seldon(), limit));
    let router = mount(router, limited!(SeldonServer, seldon(), limit));
    let router =
        mount(router, health_service).layer(axum::middleware::map_response(too_large_is_resource_exhausted));
    (router, health)
}

/// The services `grpc.health.v1.Health/Check` answers for, besides the server as a whole (`""`).
const SERVICES: [&str; 8] = [
    <GrpcInferenceServiceServer<inference::InferenceService> as NamedService>::NAME,
    <ModelServer<seldon::SeldonService> as NamedService>::NAME,
    <GenericServer<seldon::SeldonService> as NamedService>::NAME,
    <TransformerServer<seldon::SeldonService> as NamedService>::NAME,
    <OutputTransformerServer<seldon::SeldonService> as NamedService>::NAME,
    <RouterServer<seldon::SeldonService> as NamedService>::NAME,
    <CombinerServer<seldon::SeldonService> as NamedService>::NAME,
    <SeldonServer<seldon::SeldonService> as NamedService>::NAME,
];

/// `grpc.health.v1` status of the server and each service. Models load before the server
/// starts, so everything is SERVING from the start until shutdown begins.
pub struct Health {
    reporter: tonic_health::server::HealthReporter,
}

impl Health {
    /// Reports NOT_SERVING, so that load balancers stop sending work while the server drains.
    pub async fn not_serving(&self) {
        self.set(ServingStatus::NotServing).await;
    }

    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for service in SERVICES {
            self.reporter.set_service_status(service, status).await;
        }
    }
}

/// tonic refuses an oversized message with OUT_OF_RANGE; the protocol (and grpc-go, and
/// Triton's clients) expect RESOURCE_EXHAUSTED. tonic answers before any service runs, with a
/// trailers-only response, so the status is in the headers.
async fn too_large_is_resource_exhausted(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    let out_of_range = headers.get("grpc-status").is_some_and(|s| s == "11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|m| percent_encoding::percent_decode(m.as_bytes()).decode_utf8().ok())
        .is_some_and(|m| m.starts_with(TONIC_TOO_LARGE));
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// The start of tonic's message for a message over `max_decoding_message_size`.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// The status for a failed read of a request stream, with tonic's size refusal mapped as in
/// [`too_large_is_resource_exhausted`].
pub(crate) fn stream_status(status: tonic::Status) -> tonic::Status {
    if status.code() == tonic::Code::OutOfRange && status.message().starts_with(TONIC_TOO_LARGE) {
        tonic::Status::resource_exhausted(status.message().to_string())
    } else {
        status
    }
}

/// Routes every method of `service` (tonic's own `Routes` carries a fallback, which axum
/// cannot merge with the REST router's).
fn mount<S>(router: Router, service: S) -> Router
where
    S: Service<http::Request<tonic::body::Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    router.route_service(
        &format!("/{}/{{*method}}", S::NAME),
        service.map_request(|request: Request| request.map(tonic::body::Body::new)),
    )
}

/// The gRPC status for an error.
pub(crate) fn status_of(error: Error) -> tonic::Status {
    let code = match error.kind {
        ErrorKind::InvalidArgument => tonic::Code::InvalidArgument,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::TooLarge => tonic::Code::ResourceExhausted,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        ErrorKind::Unimplemented => tonic::Code::Unimplemented,
        ErrorKind::Internal => tonic::Code::Internal,
    };
    tonic::Status::new(code, error.message)
}
