//! The protocol-neutral heart of oxserve.
//!
//! Every protocol codec decodes into these types and every runtime consumes them, so adding a
//! protocol or a runtime never touches the others. Tensors keep their elements in one contiguous
//! little-endian buffer ([`bytes::Bytes`]) from the socket to the runtime.

mod datatype;
mod error;
mod message;
mod metadata;
mod settings;
mod tensor;
mod unit;

pub use datatype::DataType;
pub use error::{Error, ErrorKind, Result};
pub use message::{Feedback, InferenceRequest, InferenceResponse, Meta, Metric, MetricKind, RequestedOutput};
pub use metadata::{GraphMetadata, ModelMetadata, TensorSpec};
pub use settings::{ModelSettings, SettingsParameters};
pub use tensor::{BytesElements, Parameters, Tensor, element_count, encode_bytes_elements, shape_from_i64};
pub use unit::{HEADERS_PARAMETER, Unit};
