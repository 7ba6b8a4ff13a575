//! Seldon's component API over HTTP/1.1 with JSON bodies, on a pooled keep-alive client.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oxserve_core::{Error, Feedback, InferenceRequest, InferenceResponse, Result};
use oxserve_protocol::seldon::PayloadKind;
use oxserve_protocol::seldon::json;

use super::{Method, Payload, answer_metadata, kind_of_status};
use crate::spec::RemoteSpec;

pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
}

/// Messages go out as `ndarray`, which keeps integers integers (Seldon's own executor sends the
/// JSON it got, untouched).
const FORM: PayloadKind = PayloadKind::Ndarray;

impl Client {
    pub fn new(spec: &RemoteSpec) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        Client { http, base: format!("http://{}:{}", spec.host, spec.port) }
    }

    pub async fn call(&self, method: Method, payload: &Payload<'_>) -> Result<InferenceRequest> {
        let path = match method {
            Method::Predict => "/predict",
            Method::TransformInput => "/transform-input",
            Method::TransformOutput => "/transform-output",
            Method::Route => "/route",
            Method::Aggregate => "/aggregate",
            Method::SendFeedback => "/send-feedback",
        };
        let body = match payload {
            Payload::One(message) => json::encode_message(message, FORM)?,
            Payload::Many(messages) => list(messages)?,
            Payload::Feedback(feedback) => feedback_body(feedback)?,
        };
        let request = http::Request::post(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::internal(format!("cannot build the request: {e}")))?;
        let response = self.http.request(request).await.map_err(|e| {
            let cause = std::error::Error::source(&e).map_or(e.to_string(), |s| format!("{e}: {s}"));
            Error::unavailable(format!("POST {path}: {cause}"))
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::unavailable(format!("POST {path}: reading the answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(Error::new(
                kind_of_status(status.as_u16()),
                format!("POST {path} answered {status}: {}", error_info(&body)),
            ));
        }
        json::decode_message(&body, &answer_metadata())
            .map(|(request, _)| request)
            .map_err(|e| Error::internal(format!("POST {path}: the answer is not a Seldon message: {e}")))
    }
}

/// `{"seldonMessages": [...]}` for `/aggregate`.
fn list(messages: &[InferenceResponse]) -> Result<Vec<u8>> {
    let mut out = b"{\"seldonMessages\":[".to_vec();
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(json::encode_message(message, FORM)?);
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// A Seldon `Feedback` body. A part without tensors (a response echoed with only its meta) is
/// sent as its meta alone.
fn feedback_body(feedback: &Feedback) -> Result<Vec<u8>> {
    let part = |message: &InferenceResponse| -> Result<Vec<u8>> {
        if message.outputs.is_empty() {
            let meta = serde_json::to_vec(&message.meta).map_err(|e| Error::internal(e.to_string()))?;
            Ok([&b"{\"meta\":"[..], &meta, b"}"].concat())
        } else {
            json::encode_message(message, FORM)
        }
    };
    let mut out = format!("{{\"reward\":{}", feedback.reward).into_bytes();
    let request = feedback.request.clone().map(crate::message::as_response);
    let truth = feedback.truth.clone().map(crate::message::as_response);
    for (key, message) in
        [("request", request.as_ref()), ("response", feedback.response.as_ref()), ("truth", truth.as_ref())]
    {
        if let Some(message) = message {
            out.extend(format!(",\"{key}\":").into_bytes());
            out.extend(part(message)?);
        }
    }
    out.push(b'}');
    Ok(out)
}

/// The `status.info` of a Seldon error body, or the body itself.
fn error_info(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/status/info").and_then(|i| i.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned())
}
