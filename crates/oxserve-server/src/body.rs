//! Reading request bodies under the size limit.

use axum::body::Body;
use bytes::Bytes;
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
