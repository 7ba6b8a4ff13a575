//! Reading request bodies: under the size limit, and without leaving a keep-alive connection
//! in an unknown state.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use oxserve_core::{Error, Result};

/// Collects a request body, refusing one larger than `limit` bytes (after decompression)
/// with a "too large" error rather than buffering it.
///
/// A body that arrived in one piece is returned as it is. One that arrived in several is copied
/// once into a buffer laid out so that byte `align_at` (where V2 binary tensors start) sits on
/// a 64-byte boundary: the runtime can then read aligned tensors in place, so binary data is
/// copied at most once between the socket and the runtime.
pub async fn read_body(body: Body, limit: usize, align_at: Option<usize>) -> Result<Bytes> {
    let mut body = Limited::new(body, limit);
    let mut chunks: Vec<Bytes> = Vec::new();
    loop {
        let Ok(next) = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await else {
            return Err(Error::invalid(format!(
                "the request body stalled: no data for {} s",
                BODY_IDLE_TIMEOUT.as_secs()
            )));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large(limit)
            } else {
                Error::invalid(format!("cannot read the request body: {e}"))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            chunks.push(data);
        }
    }
    if chunks.len() <= 1 {
        return Ok(chunks.pop().unwrap_or_default());
    }
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let mut buffer = Vec::with_capacity(total + ALIGNMENT);
    // Only the position modulo the alignment matters; this also keeps a client's absurd header
    // value from overflowing the addition.
    let start = buffer.as_ptr() as usize % ALIGNMENT + align_at.unwrap_or(0) % ALIGNMENT;
    let padding = (ALIGNMENT - start % ALIGNMENT) % ALIGNMENT;
    buffer.resize(padding, 0);
    for chunk in &chunks {
        buffer.extend_from_slice(chunk);
    }
    Ok(Bytes::from(buffer).slice(padding..))
}

/// How long a client may pause while sending a body before the request is refused, so that a
/// stalled upload cannot hold a connection and its buffer for ever.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Alignment of binary tensor data in collected bodies: a cache line, enough for any SIMD load.
const ALIGNMENT: usize = 64;

pub fn too_large(limit: usize) -> Error {
    Error::too_large(format!("request body is larger than the limit of {limit} bytes (--max-request-size)"))
}

/// Runs codec work on `bytes` bytes of payload. Large payloads take milliseconds to decode or
/// encode, so they run with [`tokio::task::block_in_place`]: the worker hands its other tasks
/// (health checks, other models' requests) to another thread meanwhile.
pub fn cpu_bound<T>(bytes: usize, work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if bytes >= CPU_BOUND_BYTES && multi_thread { tokio::task::block_in_place(work) } else { work() }
}

/// Bytes of tensor data in a response: what encoding it costs.
pub fn payload_size(response: &oxserve_core::InferenceResponse) -> usize {
    response.outputs.iter().map(|t| t.data.len()).sum()
}

/// Payload size from which codec work leaves the async worker (about a millisecond of JSON).
const CPU_BOUND_BYTES: usize = 256 * 1024;

/// Marks HTTP/1 responses sent before their request body was read to the end (an unknown
/// model, a wrong method, a body over the limit) with `Connection: close`. hyper closes such
/// connections anyway, since the unread bytes would be taken for the next request; saying so lets
/// keep-alive clients open a new connection instead of failing their next request on a dead one.
pub async fn close_if_body_unread(request: Request, next: Next) -> Response {
    // HTTP/1.1 framing: a request has a body only with Content-Length or Transfer-Encoding.
    let headers = request.headers();
    let has_body = headers.get(header::CONTENT_LENGTH).is_some_and(|v| v != "0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    if request.version() >= Version::HTTP_2 || !has_body || request.body().is_end_stream() {
        return next.run(request).await;
    }
    let finished = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| Body::new(TrackEnd { inner: body, finished: finished.clone() }));
    let mut response = next.run(request).await;
    if !finished.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A body that records when it has been read to its end.
struct TrackEnd {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl HttpBody for TrackEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let frames = chunks.iter().map(|c| Ok::<_, std::convert::Infallible>(Bytes::from_static(c)));
        Body::from_stream(futures::stream::iter(frames.collect::<Vec<_>>()))
    }

    #[tokio::test]
    async fn several_chunks_are_joined_with_binary_data_aligned() {
        for header in [0usize, 1, 7, 13, 63, 64, 100] {
            let json: &'static [u8] = Box::leak(vec![b'{'; header].into_boxed_slice());
            let body = read_body(chunked(&[json, b"abc", b"defgh"]), 1 << 20, Some(header)).await.unwrap();
            assert_eq!(&body[header..], b"abcdefgh");
            assert_eq!(body[header..].as_ptr() as usize % ALIGNMENT, 0, "header of {header} bytes");
        }
    }

    #[tokio::test]
    async fn an_absurd_header_length_cannot_overflow_the_alignment() {
        let body = read_body(chunked(&[b"ab", b"cd"]), 100, Some(usize::MAX)).await.unwrap();
        assert_eq!(&body[..], b"abcd");
    }

    #[tokio::test]
    async fn one_chunk_is_not_copied_and_limits_hold() {
        static DATA: &[u8] = b"0123456789";
        let body = read_body(chunked(&[DATA]), 100, None).await.unwrap();
        assert_eq!(body.as_ptr(), DATA.as_ptr());
        let err = read_body(chunked(&[DATA, DATA]), 15, None).await.unwrap_err();
        assert_eq!(err.kind, oxserve_core::ErrorKind::TooLarge);
        assert!(err.message.contains("--max-request-size"), "{}", err.message);
        assert!(read_body(Body::empty(), 10, None).await.unwrap().is_empty());
    }
}
