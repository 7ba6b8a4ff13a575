//! Remote gRPC units against a tonic server (what oxserve and most gRPC units run) and against
//! a bare HTTP/2 server that answers what a proxy or a broken unit might.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use oxserve_core::{DataType, ErrorKind, InferenceRequest, Tensor};
use oxserve_protocol::pb::seldon::model_server::{Model, ModelServer};
use oxserve_protocol::pb::seldon::{Feedback, SeldonMessage, SeldonModelMetadata};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::connect;
use crate::spec::{Protocol, RemoteSpec, Transport};

fn spec(port: u16, retries: u32) -> RemoteSpec {
    RemoteSpec {
        host: "127.0.0.1".into(),
        port,
        model: "m".into(),
        transport: Transport::Grpc,
        protocol: Protocol::Seldon,
        timeout: Duration::from_secs(5),
        retries,
    }
}

/// One row of `values`: 1.5, -2.0, 1.5, ...
fn request_of(values: usize) -> InferenceRequest {
    let data: Vec<u8> =
        (0..values).flat_map(|i| if i % 2 == 0 { 1.5f32 } else { -2.0 }.to_le_bytes()).collect();
    let input = Tensor::new("x", DataType::Fp32, vec![1, values], Bytes::from(data)).unwrap();
    InferenceRequest { inputs: vec![input], ..Default::default() }
}

fn request() -> InferenceRequest {
    request_of(2)
}

/// A Seldon model that fails its first `failures` predictions with `failure`, then echoes.
struct Flaky {
    failures: usize,
    failure: Status,
    calls: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Model for Flaky {
    async fn predict(&self, request: Request<SeldonMessage>) -> Result<Response<SeldonMessage>, Status> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(self.failure.clone());
        }
        Ok(Response::new(request.into_inner()))
    }

    async fn send_feedback(&self, _: Request<Feedback>) -> Result<Response<SeldonMessage>, Status> {
        Err(Status::unimplemented("no feedback"))
    }

    async fn metadata(&self, _: Request<()>) -> Result<Response<SeldonModelMetadata>, Status> {
        Err(Status::unimplemented("no metadata"))
    }
}

/// Serves `model` with tonic on a free port; returns the port and the calls it counts.
async fn serve_tonic(failures: usize, failure: Status) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let model = Flaky { failures, failure, calls: calls.clone() };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                ModelServer::new(model)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (port, calls)
}

/// What the bare server answers every call with.
#[derive(Clone)]
enum Canned {
    /// Headers alone: an HTTP status and, if any, a grpc-status and grpc-message.
    Headers(u16, Option<(&'static str, &'static str)>),
    /// HTTP 200, the echoed request body, then trailers with these gRPC fields (none: no
    /// trailers at all, the stream just ends).
    Body(Option<(&'static str, &'static str)>),
}

/// A bare HTTP/2 server answering every stream with `canned`; aborting the handle closes its
/// connections too.
async fn serve_h2(listener: TcpListener, canned: Canned) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let canned = canned.clone();
            connections.spawn(async move {
                let mut connection = h2::server::handshake(tcp).await.unwrap();
                while let Some(Ok((call, mut respond))) = connection.accept().await {
                    let mut received = BytesMut::new();
                    let mut body = call.into_body();
                    while let Some(Ok(chunk)) = body.data().await {
                        body.flow_control().release_capacity(chunk.len()).unwrap();
                        received.put(chunk);
                    }
                    let grpc = |fields: Option<(&str, &str)>| {
                        let mut headers = http::HeaderMap::new();
                        if let Some((status, message)) = fields {
                            headers.insert("grpc-status", status.parse().unwrap());
                            headers.insert("grpc-message", message.parse().unwrap());
                        }
                        headers
                    };
                    match &canned {
                        Canned::Headers(status, fields) => {
                            let mut answer = http::Response::builder().status(*status).body(()).unwrap();
                            answer.headers_mut().extend(grpc(*fields));
                            respond.send_response(answer, true).unwrap();
                        }
                        Canned::Body(fields) => {
                            let answer = http::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(())
                                .unwrap();
                            let mut stream = respond.send_response(answer, false).unwrap();
                            stream.send_data(received.freeze(), fields.is_none()).unwrap();
                            if fields.is_some() {
                                stream.send_trailers(grpc(*fields)).unwrap();
                            }
                        }
                    }
                }
            });
        }
    })
}

async fn free_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn a_grpc_unit_answers_predictions_small_and_larger_than_its_windows() {
    let (port, calls) = serve_tonic(0, Status::ok("")).await;
    let unit = connect("echo", &spec(port, 0)).unwrap();
    // 1M values are 8 MB each way as Seldon's doubles: many frames, beyond both flow-control
    // windows, so the answer arrives only if the client gives its window back as it reads.
    for size in [2, 1 << 20] {
        let answer = unit.predict(request_of(size)).await.unwrap();
        let output = &answer.outputs[0];
        assert_eq!((output.datatype, output.shape.as_slice()), (DataType::Fp64, [1, size].as_slice()));
        let values: Vec<f64> =
            output.data.chunks(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        assert!(values.iter().enumerate().all(|(i, &v)| v == if i % 2 == 0 { 1.5 } else { -2.0 }));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_grpc_error_status_keeps_its_kind_and_message() {
    let (port, calls) = serve_tonic(1, Status::invalid_argument("row 3: 5% too wide")).await;
    let unit = connect("picky", &spec(port, 2)).unwrap();
    let error = unit.predict(request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument, "{error}");
    assert_eq!(
        error.message,
        format!("seldon+grpc://127.0.0.1:{port}: Predict answered InvalidArgument: row 3: 5% too wide")
    );
    // Not a failure to retry.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unavailable_grpc_unit_is_retried_while_retries_last() {
    let (port, calls) = serve_tonic(2, Status::unavailable("warming up")).await;
    let unit = connect("slow-start", &spec(port, 2)).unwrap();
    assert!(unit.predict(request()).await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (port, calls) = serve_tonic(2, Status::unavailable("warming up")).await;
    let unit = connect("slow-start", &spec(port, 1)).unwrap();
    let error = unit.predict(request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    assert!(error.message.ends_with("Predict answered Unavailable: warming up"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_grpc_unit_that_is_down_is_unavailable_and_named() {
    let (listener, port) = free_listener().await;
    drop(listener);
    let unit = connect("gone", &spec(port, 1)).unwrap();
    let error = unit.predict(request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    assert!(
        error.message.starts_with(&format!("seldon+grpc://127.0.0.1:{port}: Predict: connecting: ")),
        "{error}"
    );
}

#[tokio::test]
async fn a_grpc_unit_is_dialled_again_after_it_restarts() {
    let (listener, port) = free_listener().await;
    let server = serve_h2(listener, Canned::Body(Some(("0", "")))).await;
    // No retries: a closed connection is noticed before the call is sent on it.
    let unit = connect("restarting", &spec(port, 0)).unwrap();
    assert!(unit.predict(request()).await.is_ok());
    server.abort();
    let _ = server.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let server =
        serve_h2(TcpListener::bind(("127.0.0.1", port)).await.unwrap(), Canned::Body(Some(("0", "")))).await;
    assert!(unit.predict(request()).await.is_ok());
    server.abort();
}

#[tokio::test]
async fn answers_that_are_not_grpc_successes_map_to_error_kinds() {
    let cases = [
        // Trailers-only, with a percent-encoded message.
        (
            Canned::Headers(200, Some(("8", "queue%20full"))),
            ErrorKind::TooLarge,
            "ResourceExhausted: queue full",
        ),
        // A proxy's 503 without any gRPC status: retried, then unavailable.
        (
            Canned::Headers(503, None),
            ErrorKind::Unavailable,
            "Unavailable: HTTP status 503 Service Unavailable",
        ),
        (Canned::Headers(404, None), ErrorKind::Internal, "Unimplemented: HTTP status 404 Not Found"),
        // The status in trailers after a message.
        (Canned::Body(Some(("4", "too slow"))), ErrorKind::DeadlineExceeded, "DeadlineExceeded: too slow"),
        (Canned::Body(None), ErrorKind::Internal, "Unknown: the answer ended without a grpc-status"),
    ];
    for (canned, kind, text) in cases {
        let (listener, port) = free_listener().await;
        let server = serve_h2(listener, canned).await;
        let unit = connect("odd", &spec(port, 1)).unwrap();
        let error = unit.predict(request()).await.unwrap_err();
        assert_eq!(error.kind, kind, "{error}");
        assert!(error.message.ends_with(&format!("Predict answered {text}")), "{error}");
        server.abort();
    }
}

#[test]
fn a_unary_answer_is_exactly_one_uncompressed_message() {
    let framed = |flag: u8, length: u32, body: &[u8]| {
        let mut out = vec![flag];
        out.extend(length.to_be_bytes());
        out.extend(body);
        Bytes::from(out)
    };
    let body: &[u8] = b"a message";
    assert_eq!(super::grpc::unframe(framed(0, body.len() as u32, body)).unwrap(), body);
    assert!(super::grpc::unframe(Bytes::from_static(b"\0\0")).unwrap_err().contains("no message"));
    assert!(super::grpc::unframe(framed(1, 0, b"")).unwrap_err().contains("compressed"));
    let two = [framed(0, 2, b"ab"), framed(0, 2, b"cd")].concat();
    assert!(super::grpc::unframe(Bytes::from(two)).unwrap_err().contains("one message"));
}
