//! Units of other servers, reached over the network: Seldon's component API over REST or gRPC
//! (any unit type), or the V2 protocol over REST or gRPC (models).
//!
//! Every call has the unit's timeout, retries included. Calls that are safe to repeat (all but
//! feedback, which changes a router's state) are retried when the unit is unreachable or
//! answers 503, with a short pause. Failures name the unit's address and keep a kind that the
//! server maps to a status: a unit that fails or cannot be reached is a 5xx of the graph, and the
//! server keeps serving.

mod grpc;
mod seldon_grpc;
mod seldon_rest;
#[cfg(test)]
mod tests;
mod v2_grpc;
mod v2_rest;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use oxserve_core::{
    DataType, Error, ErrorKind, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit,
};

use crate::message::as_response;
use crate::spec::{Protocol, RemoteSpec, Transport};

/// Connects to the unit `name` described by `spec`. Connections are made on first use and
/// pooled, so a graph starts even when a unit is not up yet (it is not ready until then). Must
/// run inside the tokio runtime, where the unit's readiness probe runs.
pub fn connect(name: &str, spec: &RemoteSpec) -> Result<Arc<dyn Unit>> {
    let wire = match (spec.protocol, spec.transport) {
        (Protocol::Seldon, Transport::Rest) => Wire::SeldonRest(seldon_rest::Client::new(spec)),
        (Protocol::Seldon, Transport::Grpc) => Wire::SeldonGrpc(seldon_grpc::Client::new(spec)?),
        (Protocol::V2, Transport::Grpc) => Wire::V2Grpc(v2_grpc::Client::new(spec)?),
        (Protocol::V2, Transport::Rest) => Wire::V2Rest(v2_rest::Client::new(spec)),
    };
    let metadata = ModelMetadata { name: name.to_string(), platform: spec.url(), ..Default::default() };
    let reachable = Arc::new(AtomicBool::new(false));
    tokio::spawn(probe(spec.host.clone(), spec.port, Arc::downgrade(&reachable)));
    Ok(Arc::new(RemoteUnit {
        metadata,
        url: spec.url(),
        timeout: spec.timeout,
        retries: spec.retries,
        wire,
        reachable,
    }))
}

/// How often a unit's address is dialled while it answers, and while it does not.
const PROBE_UP: Duration = Duration::from_secs(5);
const PROBE_DOWN: Duration = Duration::from_millis(500);

/// Dials the unit's address now and then, as Seldon's executor checks readiness (a TCP dial to
/// every node), so that the graph is ready only while its units can be reached. Ends when the
/// unit is dropped.
async fn probe(host: String, port: u16, reachable: Weak<AtomicBool>) {
    loop {
        let dialled =
            tokio::time::timeout(PROBE_DOWN, tokio::net::TcpStream::connect((host.as_str(), port))).await;
        let up = matches!(dialled, Ok(Ok(_)));
        let Some(flag) = reachable.upgrade() else { return };
        flag.store(up, Ordering::Relaxed);
        drop(flag);
        tokio::time::sleep(if up { PROBE_UP } else { PROBE_DOWN }).await;
    }
}

/// The Seldon component calls, as both Seldon transports name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Predict,
    TransformInput,
    TransformOutput,
    Route,
    Aggregate,
    SendFeedback,
}

/// What a Seldon call carries.
enum Payload<'a> {
    One(&'a InferenceResponse),
    Many(&'a [InferenceResponse]),
    Feedback(&'a Feedback),
}

enum Wire {
    SeldonRest(seldon_rest::Client),
    SeldonGrpc(seldon_grpc::Client),
    V2Grpc(v2_grpc::Client),
    V2Rest(v2_rest::Client),
}

struct RemoteUnit {
    metadata: ModelMetadata,
    url: String,
    timeout: Duration,
    retries: u32,
    wire: Wire,
    /// Whether the last dial of the unit's address connected (see [`probe`]).
    reachable: Arc<AtomicBool>,
}

/// Pause before the first retry; doubled for each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);

impl RemoteUnit {
    /// A Seldon call, answered by one message (decoded as a request: its tensors are inputs).
    async fn seldon(&self, method: Method, payload: Payload<'_>) -> Result<InferenceRequest> {
        let idempotent = method != Method::SendFeedback;
        self.with_retries(idempotent, || async {
            match &self.wire {
                Wire::SeldonRest(client) => client.call(method, &payload).await,
                Wire::SeldonGrpc(client) => client.call(method, &payload).await,
                Wire::V2Grpc(_) | Wire::V2Rest(_) => Err(Error::unimplemented(format!(
                    "speaks V2, which has no {method:?} call; only a MODEL node can be a V2 unit"
                ))),
            }
        })
        .await
    }

    /// Runs `call` within the unit's timeout, repeating it while the unit is unavailable if it
    /// is `idempotent`.
    async fn with_retries<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let attempts = async {
            let mut backoff = FIRST_BACKOFF;
            let mut retries = if idempotent { self.retries } else { 0 };
            loop {
                match call().await {
                    Err(e) if e.kind == ErrorKind::Unavailable && retries > 0 => {
                        tracing::debug!(unit = %self.metadata.name, "retrying after: {e}");
                        retries -= 1;
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    result => return result,
                }
            }
        };
        let result = match tokio::time::timeout(self.timeout, attempts).await {
            Ok(result) => result,
            Err(_) => {
                Err(Error::new(ErrorKind::DeadlineExceeded, format!("no answer within {:?}", self.timeout)))
            }
        };
        result.map_err(|e| e.context(&self.url))
    }
}

#[async_trait]
impl Unit for RemoteUnit {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn is_ready(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        match &self.wire {
            Wire::V2Grpc(client) => return self.with_retries(true, || client.infer(&request)).await,
            Wire::V2Rest(client) => return self.with_retries(true, || client.infer(&request)).await,
            Wire::SeldonRest(_) | Wire::SeldonGrpc(_) => {}
        }
        let answer = self.seldon(Method::Predict, Payload::One(&as_response(request))).await?;
        Ok(as_response(answer))
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        self.seldon(Method::TransformInput, Payload::One(&as_response(request))).await
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        Ok(as_response(self.seldon(Method::TransformOutput, Payload::One(&response)).await?))
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        let answer = self.seldon(Method::Route, Payload::One(&as_response(request.clone()))).await?;
        route_choice(&answer).map_err(|e| e.context(&self.url))
    }

    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        Ok(as_response(self.seldon(Method::Aggregate, Payload::Many(&responses)).await?))
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        if let Wire::V2Grpc(_) | Wire::V2Rest(_) = &self.wire {
            return Err(Error::unimplemented("a V2 unit takes no feedback"));
        }
        Ok(as_response(self.seldon(Method::SendFeedback, Payload::Feedback(&feedback)).await?))
    }
}

/// The child index in a `/route` answer: its first element (Seldon's executor reads
/// `ndarray[0]`, `ndarray[0][0]` or `tensor.values[0]`, which is the same element).
fn route_choice(answer: &InferenceRequest) -> Result<i32> {
    let tensor = answer.inputs.first().ok_or_else(|| Error::internal("the route answer holds no data"))?;
    let first = |size: usize| {
        tensor.data.get(..size).ok_or_else(|| Error::internal("the route answer holds no element"))
    };
    let value = match tensor.datatype {
        DataType::Int64 => i64::from_le_bytes(first(8)?.try_into().expect("8 bytes")) as f64,
        DataType::Int32 => f64::from(i32::from_le_bytes(first(4)?.try_into().expect("4 bytes"))),
        DataType::Fp64 => f64::from_le_bytes(first(8)?.try_into().expect("8 bytes")),
        DataType::Fp32 => f64::from(f32::from_le_bytes(first(4)?.try_into().expect("4 bytes"))),
        other => return Err(Error::internal(format!("the route answer is {other}, not a number"))),
    };
    if value.fract() != 0.0 || value < f64::from(i32::MIN) || value > f64::from(i32::MAX) {
        return Err(Error::internal(format!("the route answer {value} is not a child index")));
    }
    Ok(value as i32)
}

/// The error kind for an HTTP status (or the gRPC code's equivalent) a unit answered with. The
/// unit's 4xx is the request's fault; anything else the unit's, which the graph answers with a
/// 5xx whatever it was (a 404 from a unit means a misconfigured graph, not a missing model).
fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        503 => ErrorKind::Unavailable,
        504 => ErrorKind::DeadlineExceeded,
        413 => ErrorKind::TooLarge,
        404 | 405 | 501 => ErrorKind::Internal,
        400..=499 => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    }
}

/// The metadata the Seldon codecs decode an answer with: no declared inputs, so a `data` payload
/// keeps the datatype its values have; the next unit's inputs decide what it must be.
fn answer_metadata() -> ModelMetadata {
    ModelMetadata::default()
}
