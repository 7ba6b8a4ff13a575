//! The V2 protocol over HTTP/1.1 with JSON bodies (`POST /v2/models/{m}/infer`), for a model
//! served by another oxserve, MLServer, KServe or Triton, on a pooled keep-alive client.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oxserve_core::{Error, InferenceRequest, InferenceResponse, ModelMetadata, Result};
use oxserve_protocol::json_data::{self, Layout};
use oxserve_protocol::v2::rest::decode_infer_request;
use tokio::sync::OnceCell;

use super::kind_of_status;
use crate::message::{as_response, fit};
use crate::spec::RemoteSpec;

/// The header that splits a V2 body into its JSON part and binary tensor data.
const HEADER_LENGTH: &str = "inference-header-content-length";

pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    /// `http://host:port/v2/models/{model}`.
    url: String,
    model: String,
    /// The model's inputs, asked for once: a graph's tensors are fitted to them as a local
    /// model's are (see [`crate::message::fit`]).
    metadata: OnceCell<ModelMetadata>,
}

impl Client {
    pub fn new(spec: &RemoteSpec) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        let url = format!("http://{}:{}/v2/models/{}", spec.host, spec.port, spec.model);
        Client { http, url, model: spec.model.clone(), metadata: OnceCell::new() }
    }

    async fn metadata(&self) -> Result<&ModelMetadata> {
        self.metadata
            .get_or_try_init(|| async {
                let path = format!("GET /v2/models/{}", self.model);
                let call = http::Request::get(&self.url)
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| Error::internal(format!("cannot build the request: {e}")))?;
                let (status, body, _) = self.send(call, &path).await?;
                if !status.is_success() {
                    return Err(failure(&path, status, &body));
                }
                serde_json::from_slice::<ModelMetadata>(&body)
                    .map_err(|e| Error::internal(format!("{path}: the answer is not V2 model metadata: {e}")))
            })
            .await
    }

    async fn send(
        &self,
        call: http::Request<Full<Bytes>>,
        path: &str,
    ) -> Result<(http::StatusCode, Bytes, Option<String>)> {
        let answer = self.http.request(call).await.map_err(|e| {
            let cause = std::error::Error::source(&e).map_or(e.to_string(), |s| format!("{e}: {s}"));
            Error::unavailable(format!("{path}: {cause}"))
        })?;
        let status = answer.status();
        let header_length =
            answer.headers().get(HEADER_LENGTH).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::unavailable(format!("{path}: reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body, header_length))
    }

    pub async fn infer(&self, request: &InferenceRequest) -> Result<InferenceResponse> {
        let request = &fit(request.clone(), self.metadata().await?);
        let path = format!("POST /v2/models/{}/infer", self.model);
        let body = encode(request)?;
        let call = http::Request::post(format!("{}/infer", self.url))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::internal(format!("cannot build the request: {e}")))?;
        let answer = self.http.request(call).await.map_err(|e| {
            let cause = std::error::Error::source(&e).map_or(e.to_string(), |s| format!("{e}: {s}"));
            Error::unavailable(format!("{path}: {cause}"))
        })?;
        let status = answer.status();
        let header_length =
            answer.headers().get(HEADER_LENGTH).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::unavailable(format!("{path}: reading the answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(Error::new(
                kind_of_status(status.as_u16()),
                format!("{path} answered {status}: {text}"),
            ));
        }
        let mut response = decode(body, header_length.as_deref())
            .map_err(|e| Error::internal(format!("{path}: the answer is not a V2 response: {e}")))?;
        response.id.clone_from(&request.id);
        response.meta = request.meta.clone();
        Ok(response)
    }
}

/// The error for an answer that is not a success, with the start of its body.
fn failure(path: &str, status: http::StatusCode, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    Error::new(kind_of_status(status.as_u16()), format!("{path} answered {status}: {text}"))
}

/// `{"id": …, "inputs": [{"name", "datatype", "shape", "data"}]}` with flat JSON data.
fn encode(request: &InferenceRequest) -> Result<Vec<u8>> {
    let mut out = b"{".to_vec();
    if let Some(id) = &request.id {
        out.extend(format!("\"id\":{},", serde_json::Value::from(id.as_str())).into_bytes());
    }
    out.extend_from_slice(b"\"inputs\":[");
    for (i, input) in request.inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let header = serde_json::json!({"name": input.name, "datatype": input.datatype.as_str(), "shape": input.shape});
        let header = header.to_string();
        out.extend_from_slice(&header.as_bytes()[..header.len() - 1]);
        out.extend_from_slice(b",\"data\":");
        json_data::write(&mut out, input, Layout::Flat)?;
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// A V2 response read with the request decoder: a response is a request whose tensors are under
/// `outputs` (Seldon's executor chains V2 units the same way), so the header is rewritten with
/// `outputs` renamed `inputs`, and any binary data after it is kept.
fn decode(body: Bytes, header_length: Option<&str>) -> Result<InferenceResponse> {
    let json_length = match header_length {
        Some(n) => n.parse::<usize>().ok().filter(|&n| n <= body.len()).ok_or_else(|| {
            Error::internal(format!("{HEADER_LENGTH}: '{n}' does not fit a {}-byte body", body.len()))
        })?,
        None => body.len(),
    };
    let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body[..json_length])
        .map_err(|e| Error::internal(format!("not JSON: {e}")))?;
    let outputs = header.remove("outputs").ok_or_else(|| Error::internal("no outputs"))?;
    let model_name =
        header.remove("model_name").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    header.insert("inputs".into(), outputs);
    let mut rewritten = serde_json::to_vec(&header).map_err(|e| Error::internal(e.to_string()))?;
    let new_length = rewritten.len().to_string();
    rewritten.extend_from_slice(&body[json_length..]);
    let has_binary = json_length < body.len();
    let request = decode_infer_request(
        Bytes::from(rewritten),
        has_binary.then_some(new_length.as_str()),
        &ModelMetadata { name: model_name, ..Default::default() },
    )?;
    Ok(as_response(request))
}
