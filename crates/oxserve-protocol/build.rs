//! Generates the protobuf messages and gRPC services from `proto/`.
//!
//! protoc comes from `protoc-bin-vendored`, so building needs no system package and no network.
//! Both servers (what oxserve serves) and clients (what tests, remote units and the graph
//! executor call) are generated. Every `bytes` field becomes `bytes::Bytes`, so tensor payloads
//! are slices of the received gRPC buffer instead of copies.

use std::error::Error;
use std::path::PathBuf;

/// TensorFlow's tensor messages, which Seldon's `DefaultData.tftensor` embeds.
const TENSORFLOW_PROTOS: &[&str] = &[
    "proto/tensorflow/core/framework/tensor.proto",
    "proto/tensorflow/core/framework/tensor_shape.proto",
    "proto/tensorflow/core/framework/types.proto",
];

/// The protocols oxserve serves and calls.
const SERVICE_PROTOS: &[&str] = &["proto/inference.proto", "proto/seldon/prediction.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: a build script is single-threaded here; nothing else reads the environment while
    // it is set, and prost-build reads PROTOC from it.
    unsafe { std::env::set_var("PROTOC", &protoc) };
    // The well-known `google/protobuf/*.proto` files ship beside the vendored binary; naming
    // their folder keeps the build independent of any protoc installed on the machine.
    let includes = [PathBuf::from("proto"), protoc_bin_vendored::include_path()?];

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto");
    for proto in TENSORFLOW_PROTOS.iter().chain(SERVICE_PROTOS) {
        println!("cargo:rerun-if-changed={proto}");
    }

    // Two passes because prost writes paths between packages relative to the package depth:
    // `seldon.protos` is two packages deep but is one module (`pb::seldon`), so its reference to
    // `tensorflow` must be pinned with an absolute extern path, and an extern package is not
    // generated in the same pass.
    configure().compile_protos(&paths(TENSORFLOW_PROTOS), &includes)?;
    // The service pass's descriptors, imports included, for hosts that build Seldon's message
    // classes at run time (the Python package hands protos to Seldon's gRPC `*_raw` methods).
    let descriptors = PathBuf::from(std::env::var("OUT_DIR")?).join("service_descriptors.bin");
    configure()
        .extern_path(".tensorflow", "crate::pb::tensorflow")
        .file_descriptor_set_path(descriptors)
        .compile_protos(&paths(SERVICE_PROTOS), &includes)?;
    Ok(())
}

fn configure() -> tonic_prost_build::Builder {
    // `google.protobuf.*` maps to `prost_types` (the default), shared with other crates.
    tonic_prost_build::configure().build_server(true).build_client(true).bytes(".")
}

fn paths(protos: &[&str]) -> Vec<PathBuf> {
    protos.iter().map(PathBuf::from).collect()
}
