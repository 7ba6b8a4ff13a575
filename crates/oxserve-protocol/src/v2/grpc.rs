//! V2 (Open Inference Protocol) over gRPC: generated `inference.*` messages ↔ neutral types.
//!
//! Pure functions, no I/O: the gRPC service decodes with [`decode_infer_request`], hands the
//! neutral request to a servable and answers with [`encode_infer_response`].
//!
//! Tensor data arrives in one of two forms and the decoder accepts both, but never mixed in one
//! request (the protocol forbids it and Triton rejects it):
//!
//! * `raw_input_contents`: one little-endian buffer per input, already in the layout of
//!   [`Tensor::data`]. The buffers are moved into the tensors as they are; with the generated
//!   `bytes::Bytes` fields they are slices of the received gRPC message, so nothing is copied.
//! * typed `contents`: one protobuf list per input, widened for narrow integers. These are
//!   packed into the same little-endian layout, with range checks for the narrow types.
//!
//! Responses always use `raw_output_contents`: Triton does, its clients expect it, and it lets
//! the output buffers leave without re-encoding.
//!
//! Every error starts with the path of the offending field (`inputs[1].contents.fp32_contents:
//! ...`, `raw_input_contents[0]: ...`), so a client can fix its request without server logs. All
//! are [`ErrorKind::InvalidArgument`](oxserve_core::ErrorKind::InvalidArgument) but the
//! shared-memory parameters, which are
//! [`ErrorKind::Unimplemented`](oxserve_core::ErrorKind::Unimplemented) as over REST.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Parameters, RequestedOutput, Result,
    Tensor, TensorSpec, encode_bytes_elements, shape_from_i64,
};
use serde_json::Value;

use super::{check_requested_outputs, parse_datatype, reject_shared_memory};
use crate::pb;
use crate::pb::inference::infer_parameter::ParameterChoice;
use crate::pb::inference::model_infer_request::InferInputTensor;
use crate::pb::inference::model_infer_response::InferOutputTensor;
use crate::pb::inference::model_metadata_response::TensorMetadata;
use crate::pb::inference::{InferParameter, InferTensorContents};

/// Decodes a `ModelInferRequest` into an [`InferenceRequest`].
///
/// Empty `model_version` and `id` become `None` (proto3 cannot tell empty from unset, and the
/// protocol gives empty the meaning "unset"). Parameters become JSON values of the same kind.
/// Shapes, datatypes, element counts and byte sizes are all checked here, so the tensors that
/// come out satisfy [`Tensor::new`]; whether they fit the model is the model's check. The rules
/// the REST codec shares (shared memory refused, an output requested once) are the same.
pub fn decode_infer_request(req: pb::inference::ModelInferRequest) -> Result<InferenceRequest> {
    let parameters = decode_parameters(req.parameters, "parameters")?;
    let outputs = req
        .outputs
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let parameters = decode_parameters(o.parameters, format_args!("outputs[{i}].parameters"))?;
            reject_shared_memory(&parameters, format_args!("outputs[{i}]"))?;
            Ok(RequestedOutput { name: o.name, parameters })
        })
        .collect::<Result<Vec<_>>>()?;
    check_requested_outputs(&outputs)?;
    let inputs = decode_inputs(req.inputs, req.raw_input_contents)?;
    Ok(InferenceRequest {
        id: non_empty(req.id),
        model_name: req.model_name,
        model_version: non_empty(req.model_version),
        parameters,
        inputs,
        outputs,
        meta: Default::default(),
    })
}

/// Encodes an [`InferenceResponse`] as a `ModelInferResponse`.
///
/// Output data goes to `raw_output_contents`, in the order of `outputs`, and `contents` stays
/// unset: that is what Triton sends and what `tritonclient` reads (`InferResult.as_numpy`).
/// The buffers are moved, not copied. Parameters map back to their protobuf kinds; a JSON value
/// that has no protobuf scalar form (an array, an object, `null`) travels as its JSON text in
/// `string_param`, so nothing a model reports is silently dropped.
pub fn encode_infer_response(resp: InferenceResponse) -> pb::inference::ModelInferResponse {
    let mut outputs = Vec::with_capacity(resp.outputs.len());
    let mut raw_output_contents = Vec::with_capacity(resp.outputs.len());
    for tensor in resp.outputs {
        outputs.push(InferOutputTensor {
            name: tensor.name,
            datatype: tensor.datatype.as_str().to_string(),
            shape: encode_shape(&tensor.shape),
            parameters: encode_parameters(tensor.parameters),
            contents: None,
        });
        raw_output_contents.push(tensor.data);
    }
    pb::inference::ModelInferResponse {
        model_name: resp.model_name,
        model_version: resp.model_version.unwrap_or_default(),
        id: resp.id.unwrap_or_default(),
        parameters: encode_parameters(resp.parameters),
        outputs,
        raw_output_contents,
    }
}

/// Encodes a model's metadata as the `ModelMetadata` RPC answers it (the gRPC twin of
/// `GET /v2/models/{m}`): datatypes in protocol spelling, `-1` for variable dimensions.
pub fn encode_model_metadata(m: &ModelMetadata) -> pb::inference::ModelMetadataResponse {
    let specs = |specs: &[TensorSpec]| {
        specs
            .iter()
            .map(|s| TensorMetadata {
                name: s.name.clone(),
                datatype: s.datatype.as_str().to_string(),
                shape: s.shape.clone(),
            })
            .collect()
    };
    pb::inference::ModelMetadataResponse {
        name: m.name.clone(),
        versions: m.versions.clone(),
        platform: m.platform.clone(),
        inputs: specs(&m.inputs),
        outputs: specs(&m.outputs),
    }
}

/// Encodes a model's metadata as a Triton `ModelConfig`, which `tritonclient.get_model_config`
/// and `perf_analyzer` read to size their requests.
///
/// Triton's convention is followed: with `max_batch_size > 0` the batch dimension is implied and
/// left out of `dims`, so the first dimension of each declared shape is dropped; with `0` (no
/// batching) shapes are given in full. `backend` is Triton's backend name for well-known
/// platforms (`onnxruntime_onnx` → `onnxruntime`) and the platform itself otherwise.
pub fn encode_model_config(m: &ModelMetadata, max_batch_size: usize) -> pb::inference::ModelConfigResponse {
    let batched = max_batch_size > 0;
    let dims = |shape: &[i64]| -> Vec<i64> {
        if batched { shape.iter().skip(1).copied().collect() } else { shape.to_vec() }
    };
    let config = pb::inference::ModelConfig {
        name: m.name.clone(),
        platform: m.platform.clone(),
        // Triton's field is an int32; anything larger means "no practical limit".
        max_batch_size: i32::try_from(max_batch_size).unwrap_or(i32::MAX),
        input: m
            .inputs
            .iter()
            .map(|s| pb::inference::ModelInput {
                name: s.name.clone(),
                data_type: config_datatype(s.datatype).into(),
                dims: dims(&s.shape),
            })
            .collect(),
        output: m
            .outputs
            .iter()
            .map(|s| pb::inference::ModelOutput {
                name: s.name.clone(),
                data_type: config_datatype(s.datatype).into(),
                dims: dims(&s.shape),
            })
            .collect(),
        backend: backend_for_platform(&m.platform).to_string(),
    };
    pb::inference::ModelConfigResponse { config: Some(config) }
}

/// Triton's model-configuration type for a protocol datatype (`BYTES` is `TYPE_STRING` there).
fn config_datatype(d: DataType) -> pb::inference::DataType {
    use pb::inference::DataType as T;
    match d {
        DataType::Bool => T::TypeBool,
        DataType::Uint8 => T::TypeUint8,
        DataType::Uint16 => T::TypeUint16,
        DataType::Uint32 => T::TypeUint32,
        DataType::Uint64 => T::TypeUint64,
        DataType::Int8 => T::TypeInt8,
        DataType::Int16 => T::TypeInt16,
        DataType::Int32 => T::TypeInt32,
        DataType::Int64 => T::TypeInt64,
        DataType::Fp16 => T::TypeFp16,
        DataType::Fp32 => T::TypeFp32,
        DataType::Fp64 => T::TypeFp64,
        DataType::Bytes => T::TypeString,
        DataType::Bf16 => T::TypeBf16,
    }
}

fn backend_for_platform(platform: &str) -> &str {
    match platform {
        "onnxruntime_onnx" => "onnxruntime",
        "pytorch_libtorch" => "pytorch",
        "tensorflow_savedmodel" | "tensorflow_graphdef" => "tensorflow",
        "tensorrt_plan" => "tensorrt",
        other => other,
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn encode_shape(shape: &[usize]) -> Vec<i64> {
    // A tensor that exists in memory has fewer than i64::MAX elements along any dimension.
    shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect()
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

fn decode_inputs(inputs: Vec<InferInputTensor>, raw: Vec<Bytes>) -> Result<Vec<Tensor>> {
    let raw_mode = !raw.is_empty();
    if raw_mode {
        // Mixing is checked before counts so the client hears about the real mistake.
        if let Some(i) =
            inputs.iter().position(|t| t.contents.as_ref().is_some_and(|c| !contents_is_empty(c)))
        {
            return Err(Error::invalid(format!(
                "inputs[{i}].contents: typed contents cannot be mixed with raw_input_contents; \
                 send every input's data in one of the two"
            )));
        }
        if raw.len() != inputs.len() {
            return Err(Error::invalid(format!(
                "raw_input_contents: has {} entries for {} inputs; it needs one entry per input, in order",
                raw.len(),
                inputs.len()
            )));
        }
    }

    let mut raw = raw.into_iter();
    let mut tensors = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let datatype =
            parse_datatype(&input.datatype).map_err(|e| e.context(format_args!("inputs[{i}].datatype")))?;
        let shape = shape_from_i64(&input.shape, &format!("inputs[{i}].shape"))?;
        let parameters = decode_parameters(input.parameters, format_args!("inputs[{i}].parameters"))?;
        reject_shared_memory(&parameters, format_args!("inputs[{i}]"))?;
        let tensor = match raw.next() {
            Some(data) => Tensor::new(input.name, datatype, shape, data)
                .map_err(|e| e.context(format_args!("raw_input_contents[{i}]")))?,
            None => {
                let field = format!("inputs[{i}].contents");
                let data =
                    typed_data(datatype, &shape, input.contents.unwrap_or_default(), &field, &input.name)?;
                Tensor::new(input.name, datatype, shape, data).map_err(|e| e.context(&field))?
            }
        };
        tensors.push(tensor.with_parameters(parameters));
    }
    Ok(tensors)
}

fn contents_is_empty(c: &InferTensorContents) -> bool {
    typed_fields(c).iter().all(|&(_, len)| len == 0)
}

/// Every typed list with its length, in field order.
fn typed_fields(c: &InferTensorContents) -> [(&'static str, usize); 8] {
    [
        ("bool_contents", c.bool_contents.len()),
        ("int_contents", c.int_contents.len()),
        ("int64_contents", c.int64_contents.len()),
        ("uint_contents", c.uint_contents.len()),
        ("uint64_contents", c.uint64_contents.len()),
        ("fp32_contents", c.fp32_contents.len()),
        ("fp64_contents", c.fp64_contents.len()),
        ("bytes_contents", c.bytes_contents.len()),
    ]
}

/// The typed list that carries `datatype`, or `None` for the types that travel only raw.
fn typed_field_for(datatype: DataType) -> Option<&'static str> {
    Some(match datatype {
        DataType::Bool => "bool_contents",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "int_contents",
        DataType::Int64 => "int64_contents",
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => "uint_contents",
        DataType::Uint64 => "uint64_contents",
        DataType::Fp32 => "fp32_contents",
        DataType::Fp64 => "fp64_contents",
        DataType::Bytes => "bytes_contents",
        DataType::Fp16 | DataType::Bf16 => return None,
    })
}

/// Packs typed contents into the little-endian layout of [`Tensor::data`].
fn typed_data(
    datatype: DataType,
    shape: &[usize],
    contents: InferTensorContents,
    field: &str,
    name: &str,
) -> Result<Bytes> {
    // `shape_from_i64` checked that the product fits.
    let count: usize = shape.iter().product();
    let expected = typed_field_for(datatype);
    let fields = typed_fields(&contents);
    if let Some(&(wrong, _)) = fields.iter().find(|&&(f, len)| len > 0 && Some(f) != expected) {
        return Err(Error::invalid(match expected {
            Some(right) => {
                format!("{field}.{wrong}: input '{name}' is {datatype}, whose elements go in {right}")
            }
            None => format!(
                "{field}.{wrong}: input '{name}' is {datatype}, which has no typed form; \
                 send it in raw_input_contents"
            ),
        }));
    }
    let Some(expected) = expected else {
        if count == 0 {
            return Ok(Bytes::new());
        }
        return Err(Error::invalid(format!(
            "{field}: input '{name}' is {datatype}, which has no typed form; send it in raw_input_contents"
        )));
    };
    let got = fields.iter().find(|&&(f, _)| f == expected).map_or(0, |&(_, len)| len);
    if got != count {
        return Err(Error::invalid(if got == 0 {
            format!(
                "{field}: input '{name}' has no data; send it in {field}.{expected} or in raw_input_contents"
            )
        } else {
            format!("{field}.{expected}: shape {shape:?} needs {count} elements, got {got}")
        }));
    }
    let path = format!("{field}.{expected}");
    let out = match datatype {
        DataType::Bool => pack(&contents.bool_contents, &path, datatype, |v| Some([u8::from(v)]))?,
        DataType::Int8 => {
            pack(&contents.int_contents, &path, datatype, |v| i8::try_from(v).ok().map(i8::to_le_bytes))?
        }
        DataType::Int16 => {
            pack(&contents.int_contents, &path, datatype, |v| i16::try_from(v).ok().map(i16::to_le_bytes))?
        }
        DataType::Int32 => pack(&contents.int_contents, &path, datatype, |v| Some(v.to_le_bytes()))?,
        DataType::Int64 => pack(&contents.int64_contents, &path, datatype, |v| Some(v.to_le_bytes()))?,
        DataType::Uint8 => {
            pack(&contents.uint_contents, &path, datatype, |v| u8::try_from(v).ok().map(u8::to_le_bytes))?
        }
        DataType::Uint16 => {
            pack(&contents.uint_contents, &path, datatype, |v| u16::try_from(v).ok().map(u16::to_le_bytes))?
        }
        DataType::Uint32 => pack(&contents.uint_contents, &path, datatype, |v| Some(v.to_le_bytes()))?,
        DataType::Uint64 => pack(&contents.uint64_contents, &path, datatype, |v| Some(v.to_le_bytes()))?,
        DataType::Fp32 => pack(&contents.fp32_contents, &path, datatype, |v| Some(v.to_le_bytes()))?,
        DataType::Fp64 => pack(&contents.fp64_contents, &path, datatype, |v| Some(v.to_le_bytes()))?,
        DataType::Bytes => {
            return encode_bytes_elements(&contents.bytes_contents).map_err(|e| e.context(&path));
        }
        DataType::Fp16 | DataType::Bf16 => unreachable!("no typed field, handled above"),
    };
    Ok(Bytes::from(out))
}

/// Writes each value's little-endian bytes; `convert` returns `None` for a value that does not
/// fit the datatype, which becomes an error naming the element.
fn pack<T, const N: usize>(
    values: &[T],
    path: &str,
    datatype: DataType,
    convert: impl Fn(T) -> Option<[u8; N]>,
) -> Result<Vec<u8>>
where
    T: Copy + std::fmt::Display,
{
    let mut out = Vec::with_capacity(values.len() * N);
    for (j, &v) in values.iter().enumerate() {
        let bytes = convert(v)
            .ok_or_else(|| Error::invalid(format!("{path}[{j}]: {v} is out of range for {datatype}")))?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/// Maps protobuf parameters to JSON values of the same kind; `path` names the map in errors.
fn decode_parameters(params: HashMap<String, InferParameter>, path: impl fmt::Display) -> Result<Parameters> {
    let mut out = Parameters::new();
    for (key, param) in params {
        let value = match param.parameter_choice {
            Some(ParameterChoice::BoolParam(b)) => Value::Bool(b),
            Some(ParameterChoice::Int64Param(n)) => Value::from(n),
            Some(ParameterChoice::Uint64Param(n)) => Value::from(n),
            Some(ParameterChoice::StringParam(s)) => Value::String(s),
            Some(ParameterChoice::DoubleParam(x)) => match serde_json::Number::from_f64(x) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(Error::invalid(format!(
                        "{path}[\"{key}\"].double_param: {x} is not a finite number"
                    )));
                }
            },
            None => return Err(Error::invalid(format!("{path}[\"{key}\"]: the parameter has no value set"))),
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Maps JSON parameters to protobuf ones; see [`encode_infer_response`] for non-scalars.
fn encode_parameters(params: Parameters) -> HashMap<String, InferParameter> {
    params
        .into_iter()
        .map(|(key, value)| {
            let choice = match value {
                Value::Bool(b) => ParameterChoice::BoolParam(b),
                Value::String(s) => ParameterChoice::StringParam(s),
                Value::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        ParameterChoice::Int64Param(i)
                    } else if let Some(u) = n.as_u64() {
                        ParameterChoice::Uint64Param(u)
                    } else {
                        // serde_json numbers are i64, u64 or finite f64.
                        ParameterChoice::DoubleParam(n.as_f64().unwrap_or_default())
                    }
                }
                other @ (Value::Null | Value::Array(_) | Value::Object(_)) => {
                    ParameterChoice::StringParam(other.to_string())
                }
            };
            (key, InferParameter { parameter_choice: Some(choice) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use oxserve_core::ErrorKind;
    use prost::Message;
    use serde_json::json;

    use super::*;
    use crate::pb::inference::ModelInferRequest;
    use crate::pb::inference::model_infer_request::InferRequestedOutputTensor;

    fn input(name: &str, datatype: &str, shape: &[i64]) -> InferInputTensor {
        InferInputTensor {
            name: name.into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
            ..Default::default()
        }
    }

    fn typed(name: &str, datatype: &str, shape: &[i64], contents: InferTensorContents) -> InferInputTensor {
        InferInputTensor { contents: Some(contents), ..input(name, datatype, shape) }
    }

    fn raw_request(inputs: Vec<InferInputTensor>, raw: Vec<Bytes>) -> ModelInferRequest {
        ModelInferRequest { model_name: "m".into(), inputs, raw_input_contents: raw, ..Default::default() }
    }

    fn invalid(req: ModelInferRequest) -> String {
        let e = decode_infer_request(req).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    /// Three sample elements of every datatype, as typed contents and as the raw bytes that
    /// must come out of them.
    fn samples() -> Vec<(DataType, InferTensorContents, Vec<u8>)> {
        fn le<T: Copy, const N: usize>(v: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
            v.iter().flat_map(|&x| f(x)).collect()
        }
        let c = InferTensorContents::default;
        vec![
            (
                DataType::Bool,
                InferTensorContents { bool_contents: vec![true, false, true], ..c() },
                vec![1, 0, 1],
            ),
            (DataType::Uint8, InferTensorContents { uint_contents: vec![0, 7, 255], ..c() }, vec![0, 7, 255]),
            (
                DataType::Uint16,
                InferTensorContents { uint_contents: vec![0, 300, 65535], ..c() },
                le(&[0u16, 300, 65535], u16::to_le_bytes),
            ),
            (
                DataType::Uint32,
                InferTensorContents { uint_contents: vec![0, 70000, u32::MAX], ..c() },
                le(&[0u32, 70000, u32::MAX], u32::to_le_bytes),
            ),
            (
                DataType::Uint64,
                InferTensorContents { uint64_contents: vec![0, 1 << 40, u64::MAX], ..c() },
                le(&[0u64, 1 << 40, u64::MAX], u64::to_le_bytes),
            ),
            (
                DataType::Int8,
                InferTensorContents { int_contents: vec![-128, 0, 127], ..c() },
                le(&[-128i8, 0, 127], i8::to_le_bytes),
            ),
            (
                DataType::Int16,
                InferTensorContents { int_contents: vec![-32768, -1, 32767], ..c() },
                le(&[-32768i16, -1, 32767], i16::to_le_bytes),
            ),
            (
                DataType::Int32,
                InferTensorContents { int_contents: vec![i32::MIN, -5, i32::MAX], ..c() },
                le(&[i32::MIN, -5, i32::MAX], i32::to_le_bytes),
            ),
            (
                DataType::Int64,
                InferTensorContents { int64_contents: vec![i64::MIN, -5, i64::MAX], ..c() },
                le(&[i64::MIN, -5, i64::MAX], i64::to_le_bytes),
            ),
            (
                DataType::Fp32,
                InferTensorContents { fp32_contents: vec![1.5, -0.0, f32::MAX], ..c() },
                le(&[1.5f32, -0.0, f32::MAX], f32::to_le_bytes),
            ),
            (
                DataType::Fp64,
                InferTensorContents { fp64_contents: vec![1.5, -2.25e300, f64::MIN_POSITIVE], ..c() },
                le(&[1.5f64, -2.25e300, f64::MIN_POSITIVE], f64::to_le_bytes),
            ),
            (
                DataType::Bytes,
                InferTensorContents {
                    bytes_contents: vec![
                        Bytes::from_static(b"ab"),
                        Bytes::new(),
                        Bytes::from_static(b"\xff\x00z"),
                    ],
                    ..c()
                },
                vec![2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0, 3, 0, 0, 0, 0xff, 0, b'z'],
            ),
        ]
    }

    fn raw_samples() -> Vec<(DataType, Vec<u8>)> {
        let mut all: Vec<(DataType, Vec<u8>)> = samples().into_iter().map(|(d, _, raw)| (d, raw)).collect();
        all.push((
            DataType::Fp16,
            le16(&[half::f16::from_f32(1.5), half::f16::NEG_INFINITY, half::f16::MAX]),
        ));
        all.push((DataType::Bf16, le16(&[half::bf16::from_f32(-2.0), half::bf16::ZERO, half::bf16::MIN])));
        assert_eq!(all.len(), DataType::ALL.len(), "every datatype has a raw sample");
        all
    }

    fn le16<T: Into<HalfBits> + Copy>(v: &[T]) -> Vec<u8> {
        v.iter().flat_map(|&x| x.into().0.to_le_bytes()).collect()
    }

    struct HalfBits(u16);
    impl From<half::f16> for HalfBits {
        fn from(v: half::f16) -> Self {
            HalfBits(v.to_bits())
        }
    }
    impl From<half::bf16> for HalfBits {
        fn from(v: half::bf16) -> Self {
            HalfBits(v.to_bits())
        }
    }

    #[test]
    fn raw_round_trip_for_every_datatype_without_copying() {
        for (datatype, bytes) in raw_samples() {
            let raw = Bytes::from(bytes.clone());
            let req = raw_request(vec![input("x", datatype.as_str(), &[1, 3])], vec![raw.clone()]);
            let decoded = decode_infer_request(req).unwrap_or_else(|e| panic!("{datatype}: {}", e.message));
            let t = &decoded.inputs[0];
            assert_eq!((t.datatype, t.shape.as_slice()), (datatype, &[1usize, 3][..]));
            assert_eq!(t.data, raw, "{datatype}");
            assert_eq!(t.data.as_ptr(), raw.as_ptr(), "{datatype}: raw contents must not be copied");

            let resp =
                InferenceResponse { model_name: "m".into(), outputs: decoded.inputs, ..Default::default() };
            let encoded = encode_infer_response(resp);
            assert_eq!(encoded.outputs[0].datatype, datatype.as_str());
            assert_eq!(encoded.outputs[0].shape, vec![1, 3]);
            assert!(encoded.outputs[0].contents.is_none());
            assert_eq!(encoded.raw_output_contents, vec![raw.clone()]);
            assert_eq!(
                encoded.raw_output_contents[0].as_ptr(),
                raw.as_ptr(),
                "{datatype}: output not copied"
            );
        }
    }

    #[test]
    fn typed_contents_give_the_same_bytes_as_raw() {
        for (datatype, contents, raw) in samples() {
            let typed_req = raw_request(vec![typed("x", datatype.as_str(), &[3], contents)], vec![]);
            let from_typed =
                decode_infer_request(typed_req).unwrap_or_else(|e| panic!("{datatype}: {}", e.message));
            let raw_req =
                raw_request(vec![input("x", datatype.as_str(), &[3])], vec![Bytes::from(raw.clone())]);
            let from_raw = decode_infer_request(raw_req).unwrap();
            assert_eq!(from_typed, from_raw, "{datatype}");
            assert_eq!(from_typed.inputs[0].data, raw, "{datatype}");
        }
    }

    #[test]
    fn bytes_elements_get_length_prefixes() {
        let contents = InferTensorContents {
            bytes_contents: vec![Bytes::from_static(b"a"), Bytes::new(), Bytes::from_static(b"hello")],
            ..Default::default()
        };
        let req = raw_request(vec![typed("s", "BYTES", &[3], contents)], vec![]);
        let t = decode_infer_request(req).unwrap().inputs.remove(0);
        assert_eq!(&t.data[..], b"\x01\x00\x00\x00a\x00\x00\x00\x00\x05\x00\x00\x00hello");
        let elements: Vec<&[u8]> = t.bytes_elements().collect();
        assert_eq!(elements, vec![&b"a"[..], b"", b"hello"]);
    }

    #[test]
    fn raw_bytes_with_a_bad_prefix_name_the_raw_entry() {
        let req = raw_request(vec![input("s", "BYTES", &[1])], vec![Bytes::from_static(&[9, 0, 0, 0, b'x'])]);
        let m = invalid(req);
        assert!(m.starts_with("raw_input_contents[0]: ") && m.contains("declares 9 bytes"), "{m}");
    }

    #[test]
    fn mixing_raw_and_typed_is_rejected() {
        let req = raw_request(
            vec![
                input("a", "FP32", &[1]),
                typed(
                    "b",
                    "FP32",
                    &[1],
                    InferTensorContents { fp32_contents: vec![1.0], ..Default::default() },
                ),
            ],
            vec![Bytes::from_static(&[0; 4])],
        );
        let m = invalid(req);
        assert!(m.starts_with("inputs[1].contents: ") && m.contains("mixed"), "{m}");
        // An empty `contents` message next to raw data is not mixing.
        let req = raw_request(
            vec![typed("a", "FP32", &[1], InferTensorContents::default())],
            vec![Bytes::from_static(&[0; 4])],
        );
        decode_infer_request(req).unwrap();
    }

    #[test]
    fn count_mismatches_name_the_field() {
        let two_inputs = vec![input("a", "FP32", &[1]), input("b", "FP32", &[1])];
        let m = invalid(raw_request(two_inputs, vec![Bytes::from_static(&[0; 4])]));
        assert!(m.starts_with("raw_input_contents: has 1 entries for 2 inputs"), "{m}");

        let m = invalid(raw_request(vec![input("a", "FP32", &[2, 2])], vec![Bytes::from_static(&[0; 12])]));
        assert!(m.starts_with("raw_input_contents[0]: tensor 'a'") && m.contains("16 bytes"), "{m}");

        let contents = InferTensorContents { fp32_contents: vec![1.0; 3], ..Default::default() };
        let m = invalid(raw_request(
            vec![input("ok", "INT8", &[0]), typed("a", "FP32", &[2, 2], contents)],
            vec![],
        ));
        assert!(
            m.starts_with("inputs[1].contents.fp32_contents: shape [2, 2] needs 4 elements, got 3"),
            "{m}"
        );

        let m = invalid(raw_request(vec![input("a", "INT64", &[2])], vec![]));
        assert!(m.starts_with("inputs[0].contents: input 'a' has no data"), "{m}");
    }

    #[test]
    fn typed_contents_in_the_wrong_list_are_rejected() {
        let contents = InferTensorContents { int64_contents: vec![1], ..Default::default() };
        let m = invalid(raw_request(vec![typed("a", "FP32", &[1], contents)], vec![]));
        assert!(m.starts_with("inputs[0].contents.int64_contents: ") && m.contains("fp32_contents"), "{m}");
    }

    #[test]
    fn narrow_integers_are_range_checked() {
        let contents = InferTensorContents { uint_contents: vec![1, 256], ..Default::default() };
        let m = invalid(raw_request(vec![typed("a", "UINT8", &[2], contents)], vec![]));
        assert_eq!(m, "inputs[0].contents.uint_contents[1]: 256 is out of range for UINT8");

        let contents = InferTensorContents { uint_contents: vec![65536], ..Default::default() };
        let m = invalid(raw_request(vec![typed("a", "UINT16", &[1], contents)], vec![]));
        assert!(m.starts_with("inputs[0].contents.uint_contents[0]: 65536"), "{m}");

        let contents = InferTensorContents { int_contents: vec![-129], ..Default::default() };
        let m = invalid(raw_request(vec![typed("a", "INT8", &[1], contents)], vec![]));
        assert!(m.starts_with("inputs[0].contents.int_contents[0]: -129 is out of range for INT8"), "{m}");

        let contents = InferTensorContents { int_contents: vec![40000], ..Default::default() };
        let m = invalid(raw_request(vec![typed("a", "INT16", &[1], contents)], vec![]));
        assert!(m.contains("out of range for INT16"), "{m}");
    }

    #[test]
    fn half_precision_has_no_typed_form() {
        for datatype in ["FP16", "BF16"] {
            let contents = InferTensorContents { fp32_contents: vec![1.0], ..Default::default() };
            let m = invalid(raw_request(vec![typed("h", datatype, &[1], contents)], vec![]));
            assert!(
                m.starts_with("inputs[0].contents.fp32_contents: ") && m.contains("raw_input_contents"),
                "{m}"
            );
            let m = invalid(raw_request(vec![input("h", datatype, &[1])], vec![]));
            assert!(m.starts_with("inputs[0].contents: ") && m.contains("no typed form"), "{m}");
        }
    }

    #[test]
    fn bad_datatype_and_dims_name_the_field() {
        let m = invalid(raw_request(vec![input("a", "FLOAT32", &[1])], vec![Bytes::from_static(&[0; 4])]));
        assert!(m.starts_with("inputs[0].datatype: unknown datatype 'FLOAT32'"), "{m}");
        let m = invalid(raw_request(vec![input("a", "FP32", &[2, -1])], vec![Bytes::from_static(&[0; 8])]));
        assert!(m.starts_with("inputs[0].shape: dimension 1 is -1"), "{m}");
    }

    #[test]
    fn empty_version_and_id_are_none() {
        let req = ModelInferRequest { model_name: "m".into(), ..Default::default() };
        let decoded = decode_infer_request(req).unwrap();
        assert_eq!((decoded.model_version, decoded.id), (None, None));
        let req = ModelInferRequest {
            model_name: "m".into(),
            model_version: "2".into(),
            id: "req-1".into(),
            ..Default::default()
        };
        let decoded = decode_infer_request(req).unwrap();
        assert_eq!(decoded.model_version.as_deref(), Some("2"));
        assert_eq!(decoded.id.as_deref(), Some("req-1"));
        let encoded = encode_infer_response(InferenceResponse {
            id: decoded.id,
            model_name: decoded.model_name,
            model_version: decoded.model_version,
            ..Default::default()
        });
        assert_eq!((encoded.id.as_str(), encoded.model_version.as_str()), ("req-1", "2"));
        let encoded = encode_infer_response(InferenceResponse::default());
        assert_eq!((encoded.id.as_str(), encoded.model_version.as_str()), ("", ""));
    }

    fn param(choice: ParameterChoice) -> InferParameter {
        InferParameter { parameter_choice: Some(choice) }
    }

    #[test]
    fn parameters_map_to_json_and_back() {
        let params: HashMap<String, InferParameter> = [
            ("b", param(ParameterChoice::BoolParam(true))),
            ("i", param(ParameterChoice::Int64Param(-7))),
            ("s", param(ParameterChoice::StringParam("x".into()))),
            ("d", param(ParameterChoice::DoubleParam(0.5))),
            ("u", param(ParameterChoice::Uint64Param(u64::MAX))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut x = input("x", "INT32", &[1]);
        x.parameters = params.clone();
        let req = ModelInferRequest {
            model_name: "m".into(),
            parameters: params.clone(),
            inputs: vec![x],
            outputs: vec![InferRequestedOutputTensor {
                name: "y".into(),
                parameters: [("binary_data".to_string(), param(ParameterChoice::BoolParam(true)))].into(),
            }],
            raw_input_contents: vec![Bytes::from_static(&[1, 0, 0, 0])],
            ..Default::default()
        };
        let decoded = decode_infer_request(req).unwrap();
        let expected = json!({"b": true, "i": -7, "s": "x", "d": 0.5, "u": u64::MAX});
        assert_eq!(Value::Object(decoded.parameters.clone()), expected);
        assert_eq!(Value::Object(decoded.inputs[0].parameters.clone()), expected);
        assert_eq!(
            decoded.outputs,
            vec![RequestedOutput {
                name: "y".into(),
                parameters: json!({"binary_data": true}).as_object().unwrap().clone()
            }]
        );

        // Back: the scalars keep their kinds (a small u64 becomes int64, as JSON cannot tell).
        let out =
            encode_infer_response(InferenceResponse { parameters: decoded.parameters, ..Default::default() });
        assert_eq!(out.parameters, params);
    }

    #[test]
    fn non_scalar_parameters_travel_as_json_text() {
        let params = json!({"list": [1, 2], "obj": {"k": "v"}, "nothing": null, "f": 1e300, "n": 3});
        let tensor = Tensor::new("y", DataType::Int8, vec![1], Bytes::from_static(&[5])).unwrap();
        let resp = InferenceResponse {
            parameters: params.as_object().unwrap().clone(),
            outputs: vec![tensor.with_parameters(params.as_object().unwrap().clone())],
            ..Default::default()
        };
        let out = encode_infer_response(resp);
        for map in [&out.parameters, &out.outputs[0].parameters] {
            let get = |k: &str| map[k].parameter_choice.clone().unwrap();
            assert_eq!(get("list"), ParameterChoice::StringParam("[1,2]".into()));
            assert_eq!(get("obj"), ParameterChoice::StringParam(r#"{"k":"v"}"#.into()));
            assert_eq!(get("nothing"), ParameterChoice::StringParam("null".into()));
            assert_eq!(get("f"), ParameterChoice::DoubleParam(1e300));
            assert_eq!(get("n"), ParameterChoice::Int64Param(3));
        }
    }

    #[test]
    fn unusable_parameters_name_the_key() {
        let mut req = ModelInferRequest { model_name: "m".into(), ..Default::default() };
        req.parameters.insert("k".into(), InferParameter { parameter_choice: None });
        assert_eq!(invalid(req), "parameters[\"k\"]: the parameter has no value set");

        let mut x = input("x", "INT8", &[0]);
        x.parameters.insert("nan".into(), param(ParameterChoice::DoubleParam(f64::NAN)));
        let m = invalid(raw_request(vec![input("ok", "INT8", &[0]), x], vec![]));
        assert!(m.starts_with("inputs[1].parameters[\"nan\"].double_param: NaN"), "{m}");
    }

    #[test]
    fn shared_memory_is_refused_as_unimplemented_as_over_rest() {
        let region =
            || [("shared_memory_region".to_string(), param(ParameterChoice::StringParam("r".into())))].into();
        let mut x = input("x", "FP32", &[1]);
        x.parameters = region();
        let e = decode_infer_request(raw_request(vec![x], vec![Bytes::from_static(&[0; 4])])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unimplemented);
        assert!(e.message.starts_with("inputs[0].parameters.shared_memory_region: "), "{}", e.message);
        let req = ModelInferRequest {
            outputs: vec![InferRequestedOutputTensor { name: "y".into(), parameters: region() }],
            ..raw_request(vec![], vec![])
        };
        let e = decode_infer_request(req).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unimplemented);
        assert!(e.message.starts_with("outputs[0].parameters.shared_memory_region: "), "{}", e.message);
    }

    #[test]
    fn an_output_requested_twice_is_refused_as_over_rest() {
        let output = |name: &str| InferRequestedOutputTensor { name: name.into(), ..Default::default() };
        let req = ModelInferRequest {
            outputs: vec![output("y"), output("z"), output("y")],
            ..raw_request(vec![], vec![])
        };
        assert_eq!(invalid(req), "outputs[2].name: output 'y' is requested twice");
    }

    #[test]
    fn raw_contents_from_the_wire_are_slices_of_the_message() {
        let req = raw_request(
            vec![input("x", "FP32", &[2])],
            vec![Bytes::from_static(&[0, 0, 128, 63, 0, 0, 0, 64])],
        );
        let wire = Bytes::from(req.encode_to_vec());
        let decoded = decode_infer_request(ModelInferRequest::decode(wire.clone()).unwrap()).unwrap();
        let data = &decoded.inputs[0].data;
        let range = wire.as_ptr() as usize..wire.as_ptr() as usize + wire.len();
        assert!(range.contains(&(data.as_ptr() as usize)), "tensor data should point into the gRPC message");
        assert_eq!(&data[..], &[0, 0, 128, 63, 0, 0, 0, 64]);
    }

    /// A request as `tritonclient.grpc` 2.73 serializes it (`InferInput("INPUT0", [2], "INT32")`
    /// with `set_data_from_numpy(np.array([1, -2], np.int32))`, `InferInput("TEXT", [1], "BYTES")`
    /// with `[b"hi"]`, `InferRequestedOutput("OUT")`, `request_id="r1"`, parameter
    /// `priority=3`, which tritonclient sends as `uint64_param`), as captured from
    /// `tritonclient.grpc._utils._get_inference_request(...).SerializeToString()`.
    #[test]
    fn decodes_a_request_serialized_by_tritonclient() {
        let wire = hex(TRITONCLIENT_REQUEST);
        let req = ModelInferRequest::decode(Bytes::from(wire)).unwrap();
        let decoded = decode_infer_request(req).unwrap();
        assert_eq!(decoded.model_name, "simple");
        assert_eq!(decoded.id.as_deref(), Some("r1"));
        assert_eq!(decoded.parameters.get("priority"), Some(&json!(3)));
        assert_eq!(decoded.inputs[0].name, "INPUT0");
        assert_eq!(decoded.inputs[0].datatype, DataType::Int32);
        assert_eq!(&decoded.inputs[0].data[..], &[1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        let text: Vec<&[u8]> = decoded.inputs[1].bytes_elements().collect();
        assert_eq!(text, vec![&b"hi"[..]]);
        assert_eq!(decoded.outputs[0].name, "OUT");
    }

    const TRITONCLIENT_REQUEST: &str = "0a0673696d706c651a027231220e0a087072696f72697479120228032a120a06494e50\
        5554301205494e5433321a01022a100a0454455854120542595445531a010132050a034f55543a0801000000\
        feffffff3a06020000006869";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn iris() -> ModelMetadata {
        ModelMetadata {
            name: "iris".into(),
            versions: vec!["1".into()],
            platform: "onnxruntime_onnx".into(),
            inputs: vec![TensorSpec { name: "x".into(), datatype: DataType::Fp32, shape: vec![-1, 4] }],
            outputs: vec![
                TensorSpec { name: "label".into(), datatype: DataType::Bytes, shape: vec![-1] },
                TensorSpec { name: "p".into(), datatype: DataType::Fp64, shape: vec![-1, 3] },
            ],
        }
    }

    #[test]
    fn model_metadata_uses_protocol_names() {
        let m = encode_model_metadata(&iris());
        assert_eq!((m.name.as_str(), m.platform.as_str()), ("iris", "onnxruntime_onnx"));
        assert_eq!(m.versions, vec!["1"]);
        assert_eq!(
            m.inputs[0],
            TensorMetadata { name: "x".into(), datatype: "FP32".into(), shape: vec![-1, 4] }
        );
        assert_eq!(m.outputs[0].datatype, "BYTES");
        assert_eq!(m.outputs[1].shape, vec![-1, 3]);
    }

    #[test]
    fn model_config_follows_triton_conventions() {
        use pb::inference::DataType as T;
        let c = encode_model_config(&iris(), 8).config.unwrap();
        assert_eq!((c.name.as_str(), c.max_batch_size, c.backend.as_str()), ("iris", 8, "onnxruntime"));
        assert_eq!(c.input[0].dims, vec![4], "the batch dimension is implied");
        assert_eq!(c.input[0].data_type(), T::TypeFp32);
        assert_eq!(c.output[0].data_type(), T::TypeString);
        assert_eq!(c.output[0].dims, Vec::<i64>::new());
        assert_eq!(c.output[1].dims, vec![3]);

        let c = encode_model_config(&iris(), 0).config.unwrap();
        assert_eq!(c.max_batch_size, 0);
        assert_eq!(c.input[0].dims, vec![-1, 4], "without batching the full shape is given");
        let c = encode_model_config(&ModelMetadata { platform: "python".into(), ..iris() }, usize::MAX);
        let c = c.config.unwrap();
        assert_eq!((c.backend.as_str(), c.max_batch_size), ("python", i32::MAX));
        for d in DataType::ALL {
            assert_ne!(config_datatype(d), T::TypeInvalid);
        }
    }
}
