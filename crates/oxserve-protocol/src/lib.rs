//! Codecs between the wire protocols oxserve speaks and its neutral types.
//!
//! Every codec is pure: bytes (or generated protobuf messages) in, [`oxserve_core`] types out,
//! and back. Nothing here knows about sockets, routes or models beyond their metadata, so a new
//! protocol is a new module and never a change to the server's hub.

mod elements;
pub mod json_data;
mod json_envelope;
pub mod pb;
pub mod seldon;
#[cfg(test)]
mod testing;
pub mod v1;
pub mod v2;
