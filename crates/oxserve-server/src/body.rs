//! Reading request bodies: under the size limit, and without leaving a keep-alive connection
//! in an unknown state.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

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
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(e) => Err(Error::invalid(format!("cannot read the request body: {e}"))),
    }
}

pub fn too_large(limit: usize) -> Error {
    Error::too_large(format!("request body is larger than the limit of {limit} bytes (--max-request-size)"))
}

/// Marks HTTP/1 responses sent before their request body was read to the end (an unknown
/// model, a wrong method, a body over the limit) with `Connection: close`. hyper closes such
/// connections anyway, since the unread bytes would be taken for the next request; saying so lets
/// keep-alive clients open a new connection instead of failing their next request on a dead one.
pub async fn close_if_body_unread(request: Request, next: Next) -> Response {
    if request.version() >= Version::HTTP_2 || request.body().is_end_stream() {
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
