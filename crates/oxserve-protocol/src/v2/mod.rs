//! Open Inference Protocol (V2) codecs.
pub mod grpc;
pub mod rest;
