//! Generated protobuf messages and gRPC services (see `build.rs` and `proto/`).
//!
//! The modules mirror the proto packages, so a type's path says which protocol it belongs to.
//! Each holds the messages, a `*_server` module to implement and a `*_client` module to call.
//! `bytes` fields are [`bytes::Bytes`] so tensor payloads stay slices of the received buffer.
//! Lints are relaxed only here: the code is generated and not ours to restyle.

/// Open Inference Protocol (KServe V2), laid out as Triton's `inference` package so that
/// `tritonclient` works unmodified.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod inference {
    tonic::include_proto!("inference");
}

/// Seldon Core v1's `seldon.protos` package: `SeldonMessage` and the component and graph
/// services.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod seldon {
    tonic::include_proto!("seldon.protos");
}

/// The serialized `FileDescriptorSet` of the served protocols (V2 inference and Seldon's
/// `seldon.protos`, with every file they import), so that a language binding can build their
/// message classes at run time without generated code of its own.
pub const SERVICE_DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/service_descriptors.bin"));

/// The part of TensorFlow's `tensorflow` package that Seldon's `tftensor` needs: `TensorProto`,
/// its shape and element types.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod tensorflow {
    tonic::include_proto!("tensorflow");
}
