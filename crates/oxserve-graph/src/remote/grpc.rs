//! One unary gRPC call over an HTTP/2 connection, shared by the V2 and Seldon gRPC units.
//!
//! A unary call is one message each way, so the request's HEADERS and its only DATA frame (with
//! END_STREAM) are both queued before the connection task runs, and leave in one write. hyper's
//! client (and so tonic's channel) waits for send capacity before it queues DATA, which h2
//! grants only once the HEADERS are on their way: two writes, and a spawned task, per call.

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, StatusCode, Uri};
use oxserve_core::{Error, ErrorKind, Result};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tonic::Code;

use crate::spec::RemoteSpec;

/// The length-prefixed message framing of gRPC: a compression flag, then a big-endian length.
const FRAME_HEADER: usize = 5;

/// Flow-control windows as hyper's client opens them: large enough that a tensor of a few MiB
/// crosses loopback without waiting for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// An HTTP/2 connection to a unit, dialled on first use (the graph starts even if the unit is
/// not up yet) and dialled again once it has closed; every call is a stream on it.
pub struct Channel {
    host: String,
    port: u16,
    /// `http://host:port`, the scheme and authority of every call.
    base: Uri,
    /// The open connection, if any. Calls clone its handle; the lock is held across a dial so
    /// that callers arriving meanwhile share the new connection instead of each opening one.
    connection: Mutex<Option<SendRequest<Bytes>>>,
}

impl Channel {
    pub fn new(spec: &RemoteSpec) -> Result<Channel> {
        let base = format!("http://{}:{}", spec.host, spec.port).parse::<Uri>().map_err(|e| {
            Error::invalid(format!("endpoint: {}:{} is not an address: {e}", spec.host, spec.port))
        })?;
        Ok(Channel { host: spec.host.clone(), port: spec.port, base, connection: Mutex::new(None) })
    }

    /// A handle on the open connection, ready for a new stream, dialling one when there is none
    /// or the last one has closed (the unit restarted, or went away).
    async fn ready(&self) -> std::result::Result<SendRequest<Bytes>, String> {
        let mut connection = self.connection.lock().await;
        if let Some(open) = connection.clone()
            && let Ok(ready) = open.ready().await
        {
            return Ok(ready);
        }
        *connection = None;
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("connecting: {e}"))?;
        let (sender, driver) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake(tcp)
            .await
            .map_err(|e| format!("the HTTP/2 handshake: {e}"))?;
        let (host, port) = (self.host.clone(), self.port);
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!("the connection to {host}:{port} ended: {e}");
            }
        });
        *connection = Some(sender.clone());
        sender.ready().await.map_err(|e| e.to_string())
    }

    /// Calls the method at `path` (`/package.Service/Method`) with `message`. A failure is named
    /// by the method (`ModelInfer answered Unavailable: …`) and has the kind of its gRPC code; a
    /// unit that cannot be reached is unavailable, as over REST.
    pub async fn unary<R: prost::Message + Default>(
        &self,
        path: &str,
        message: &impl prost::Message,
    ) -> Result<R> {
        let method = path.rsplit('/').next().unwrap_or(path);
        let unreachable = |e: String| Error::unavailable(format!("{method}: {e}"));
        let length = message.encoded_len();
        let prefix = u32::try_from(length).map_err(|_| {
            Error::too_large(format!("{method}: a {length}-byte message does not fit gRPC's framing"))
        })?;
        let mut body = BytesMut::with_capacity(FRAME_HEADER + length);
        body.put_u8(0);
        body.put_u32(prefix);
        message
            .encode(&mut body)
            .map_err(|e| Error::internal(format!("{method}: encoding the message: {e}")))?;
        let mut uri = self.base.clone().into_parts();
        uri.path_and_query = Some(path.parse().map_err(|e| Error::internal(format!("{method}: {e}")))?);
        let request =
            http::Request::post(Uri::from_parts(uri).map_err(|e| Error::internal(format!("{method}: {e}")))?)
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .header(http::header::TE, "trailers")
                .body(())
                .map_err(|e| Error::internal(format!("cannot build the request: {e}")))?;
        let mut sender = self.ready().await.map_err(unreachable)?;
        let (answer, mut stream) =
            sender.send_request(request, false).map_err(|e| unreachable(e.to_string()))?;
        stream.send_data(body.freeze(), true).map_err(|e| unreachable(e.to_string()))?;
        let (head, mut body) = answer.await.map_err(|e| unreachable(e.to_string()))?.into_parts();
        // A call that fails before any message may answer with headers alone ("trailers-only").
        if let Some((code, text)) = grpc_status(&head.headers) {
            return Err(status_error(method, code, &text));
        }
        if head.status != StatusCode::OK {
            return Err(status_error(
                method,
                code_of_http(head.status),
                &format!("HTTP status {}", head.status),
            ));
        }
        let mut chunks = Vec::with_capacity(1);
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| unreachable(format!("reading the answer: {e}")))?;
            body.flow_control().release_capacity(chunk.len()).map_err(|e| unreachable(e.to_string()))?;
            chunks.push(chunk);
        }
        // A small answer is one DATA frame, kept as it came.
        let data = if chunks.len() == 1 { chunks.swap_remove(0) } else { Bytes::from(chunks.concat()) };
        let trailers = body.trailers().await.map_err(|e| unreachable(format!("reading the answer: {e}")))?;
        let (code, text) = trailers
            .as_ref()
            .and_then(grpc_status)
            .unwrap_or((Code::Unknown, "the answer ended without a grpc-status".to_string()));
        if code != Code::Ok {
            return Err(status_error(method, code, &text));
        }
        let message = unframe(data).map_err(|e| Error::internal(format!("{method}: {e}")))?;
        R::decode(message).map_err(|e| Error::internal(format!("{method}: the answer does not decode: {e}")))
    }
}

/// The `grpc-status` and percent-decoded `grpc-message` of a header block, if it has a status.
fn grpc_status(headers: &HeaderMap) -> Option<(Code, String)> {
    let code = Code::from_bytes(headers.get("grpc-status")?.as_bytes());
    let text = headers
        .get("grpc-message")
        .map(|m| percent_encoding::percent_decode(m.as_bytes()).decode_utf8_lossy().into_owned())
        .unwrap_or_default();
    Some((code, text))
}

/// The gRPC code of an HTTP status answered without a `grpc-status` (by a proxy, or a server
/// that is not gRPC), as gRPC's `http-grpc-status-mapping.md` gives it.
fn code_of_http(status: StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502..=504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The one message of a unary answer, without its frame header.
pub(super) fn unframe(mut body: Bytes) -> std::result::Result<Bytes, String> {
    if body.len() < FRAME_HEADER {
        return Err(format!("the answer holds no message ({} bytes)", body.len()));
    }
    if body[0] != 0 {
        return Err("the answer is compressed, which was not asked for".into());
    }
    let length = u32::from_be_bytes(body[1..FRAME_HEADER].try_into().expect("4 bytes")) as usize;
    if body.len() - FRAME_HEADER != length {
        return Err(format!(
            "the answer's frame says {length} bytes but {} follow (a unary answer is one message)",
            body.len() - FRAME_HEADER
        ));
    }
    Ok(body.split_off(FRAME_HEADER))
}

/// A gRPC failure as an error of the same meaning (see [`super::kind_of_status`]).
fn status_error(method: &str, code: Code, text: &str) -> Error {
    let kind = match code {
        Code::Unavailable => ErrorKind::Unavailable,
        Code::DeadlineExceeded => ErrorKind::DeadlineExceeded,
        Code::ResourceExhausted => ErrorKind::TooLarge,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("{method} answered {code:?}: {text}"))
}
