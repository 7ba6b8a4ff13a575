//! Helpers shared by the codecs' unit tests.

use bytes::Bytes;
use oxserve_core::{DataType, InferenceResponse, Meta, ModelMetadata, Tensor, TensorSpec};

use crate::pb::tensorflow::{DataType as TfType, TensorProto, TensorShapeProto, tensor_shape_proto::Dim};

/// A model `m` declaring `inputs` (name, datatype), each of shape `[-1]`: codecs take names and
/// datatypes from metadata and leave shapes to the model's own check.
pub(crate) fn model(inputs: &[(&str, DataType)]) -> ModelMetadata {
    ModelMetadata {
        name: "m".into(),
        inputs: inputs
            .iter()
            .map(|&(name, datatype)| TensorSpec { name: name.into(), datatype, shape: vec![-1] })
            .collect(),
        ..Default::default()
    }
}

/// An empty TensorFlow `TensorProto` of type `tf` and shape `dims`.
pub(crate) fn tf_proto(tf: TfType, dims: &[i64]) -> TensorProto {
    let dim = dims.iter().map(|&size| Dim { size, name: String::new() }).collect();
    TensorProto {
        dtype: tf as i32,
        tensor_shape: Some(TensorShapeProto { dim, unknown_rank: false }),
        ..TensorProto::default()
    }
}

/// The little-endian bytes of `values`, as a tensor holds them.
pub(crate) fn le<T: Copy, const N: usize>(values: &[T], to: fn(T) -> [u8; N]) -> Bytes {
    values.iter().flat_map(|&v| to(v)).collect()
}

/// The response of model `m` with `outputs` and `meta`.
pub(crate) fn respond(outputs: Vec<Tensor>, meta: Meta) -> InferenceResponse {
    InferenceResponse { model_name: "m".into(), outputs, meta, ..Default::default() }
}
