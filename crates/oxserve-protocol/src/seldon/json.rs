//! Seldon's REST protocol: `SeldonMessage` as JSON (proto3 JSON names), model metadata and
//! errors.
//!
//! Like Seldon's own wrapper, this reads the JSON directly instead of going through the protobuf
//! message, so integers stay integers. The envelope is parsed with serde; `ndarray` and
//! `tensor.values` stay borrowed JSON text until [`crate::json_data`] writes their elements
//! straight into the tensor's buffer. Error messages name the field at fault.

mod tftensor;

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use oxserve_core::{
    Error, GraphMetadata, InferenceRequest, InferenceResponse, Meta, ModelMetadata, Result, Tensor,
    TensorSpec,
};
use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::component::Call;
use super::tf::{self, TfValues};
use super::{DataForm, PayloadKind, Reply};
use crate::json_data::{self, Layout};
use crate::json_envelope::{self, to_json, write_json};

/// Decodes a Seldon REST body for the model described by `metadata`.
///
/// Returns the request and the payload form it used, which [`encode_message`] needs to answer
/// in the same form. Unknown fields are errors, as in Seldon's proto JSON parser; `status` is
/// ignored.
pub fn decode_message(body: &[u8], metadata: &ModelMetadata) -> Result<(InferenceRequest, PayloadKind)> {
    match decode_part(body, metadata)? {
        (request, Some(kind)) => Ok((request, kind)),
        (_, None) => Err(super::no_payload()),
    }
}

/// Decodes a message that may carry no payload (a feedback part), giving its form if it has one.
fn decode_part(body: &[u8], metadata: &ModelMetadata) -> Result<(InferenceRequest, Option<PayloadKind>)> {
    let Object(MessageIn { data, json_data, str_data, bin_data, custom_data, meta, .. }) =
        json_envelope::parse(body)?;
    if custom_data.is_some() {
        return Err(super::custom_data_unsupported());
    }
    let DataIn { names, tensor, ndarray, tftensor } = data.map(|d| d.0).unwrap_or_default();
    let given = [
        (tensor.is_some(), PayloadKind::Tensor),
        (ndarray.is_some(), PayloadKind::Ndarray),
        (tftensor.is_some(), PayloadKind::TfTensor),
        (json_data.is_some(), PayloadKind::JsonData),
        (str_data.is_some(), PayloadKind::StrData),
        (bin_data.is_some(), PayloadKind::BinData),
    ];
    let present: Vec<PayloadKind> =
        given.into_iter().filter_map(|(given, kind)| given.then_some(kind)).collect();
    let meta = meta.map(|m| m.0).unwrap_or_default();
    let Some(kind) = super::payload(&present)? else {
        return Ok((super::meta_only_request(metadata, meta), None));
    };

    let request = match kind {
        PayloadKind::JsonData => {
            let text = json_data.map_or("", RawValue::get);
            super::raw_request(metadata, kind, text.as_bytes(), meta)?
        }
        PayloadKind::StrData => {
            let text = str_data.unwrap_or_default();
            super::raw_request(metadata, kind, text.as_bytes(), meta)?
        }
        PayloadKind::BinData => {
            let text = bin_data.unwrap_or_default();
            let bytes =
                decode_base64(&text).map_err(|e| Error::invalid(format!("binData: invalid base64: {e}")))?;
            super::raw_request(metadata, kind, &bytes, meta)?
        }
        PayloadKind::Tensor | PayloadKind::Ndarray | PayloadKind::TfTensor => {
            let tensor = data_tensor(tensor.map(|t| t.0), ndarray, tftensor.map(|t| t.0), metadata)?;
            super::data_request(metadata, tensor, names, meta)
        }
    };
    Ok((request, Some(kind)))
}

/// Decodes the body of `/aggregate`: a JSON list of messages or `{"seldonMessages": [...]}`, each
/// decoded as [`decode_message`] decodes one. Errors name the message at fault
/// (`seldonMessages[1]: data.ndarray: …`); the answer takes the first message's form.
pub fn decode_aggregate(body: &[u8], metadata: &ModelMetadata) -> Result<(Call, PayloadKind)> {
    let messages: Vec<&RawValue> = if body.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?
    } else {
        json_envelope::parse::<Object<MessageListIn<'_>>>(body)?.0.seldon_messages
    };
    let decoded = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            decode_message(message.get().as_bytes(), metadata)
                .map_err(|e| e.context(format_args!("seldonMessages[{i}]")))
        })
        .collect::<Result<Vec<_>>>()?;
    super::aggregate_call(decoded)
}

/// Decodes a Seldon `Feedback` body: `request`, `response` and `truth` messages (each optional,
/// and each may carry no payload, only meta) and a `reward`. Errors name the part
/// (`response: data.ndarray: …`); the answer takes the request's form.
pub fn decode_feedback(body: &[u8], metadata: &ModelMetadata) -> Result<(Call, PayloadKind)> {
    let Object(FeedbackIn { request, response, reward, truth }) = json_envelope::parse(body)?;
    let part = |message: Option<&RawValue>, field: &str| {
        message.map(|m| decode_part(m.get().as_bytes(), metadata).map_err(|e| e.context(field))).transpose()
    };
    Ok(super::feedback_call(
        part(request, "request")?,
        part(response, "response")?,
        reward,
        part(truth, "truth")?,
    ))
}

/// Encodes `response` as a Seldon REST body, answering in the form of a request of `kind`
/// (see the [module rules](super)). Keys come in Seldon's order: `{"data": …, "meta": …}`.
pub fn encode_message(response: &InferenceResponse, kind: PayloadKind) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + response.outputs.first().map_or(0, |t| t.data.len() * 2));
    out.push(b'{');
    match super::reply(response, kind)? {
        Reply::JsonData(raw) => {
            out.extend_from_slice(b"\"jsonData\":");
            out.extend_from_slice(raw.get().as_bytes());
        }
        Reply::StrData(text) => {
            out.extend_from_slice(b"\"strData\":");
            write_json(&mut out, text);
        }
        Reply::BinData(bytes) => {
            out.extend_from_slice(b"\"binData\":\"");
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(&bytes).as_bytes());
            out.push(b'"');
        }
        Reply::Data { form, tensor, names } => {
            out.extend_from_slice(b"\"data\":{\"names\":");
            write_json(&mut out, &names);
            write_data(&mut out, form, tensor)?;
            out.push(b'}');
        }
    }
    out.extend_from_slice(b",\"meta\":");
    write_json(&mut out, &response.meta);
    out.push(b'}');
    Ok(out)
}

/// The body of a failed call, in the form Seldon's executor writes: the HTTP status as `code`,
/// the message as `info`, and the wrapper's reason for a caller's (4xx) or the model's (5xx)
/// fault.
pub fn encode_error(error: &Error) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        status: Status<'a>,
    }
    #[derive(Serialize)]
    struct Status<'a> {
        code: u16,
        info: &'a str,
        reason: &'static str,
        status: &'static str,
    }
    let code = error.kind.http_status();
    let reason = if code < 500 { "MICROSERVICE_BAD_DATA" } else { "MICROSERVICE_INTERNAL_ERROR" };
    to_json(&Body { status: Status { code, info: &error.message, reason, status: "FAILURE" } })
}

/// The answer to `GET /metadata`: the model's inputs and outputs as V2 tensor entries, which
/// Seldon accepts in place of its `messagetype`/`schema` entries. `custom` is always empty.
pub fn encode_metadata(metadata: &ModelMetadata) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        name: &'a str,
        versions: &'a [String],
        platform: &'a str,
        inputs: &'a [TensorSpec],
        outputs: &'a [TensorSpec],
        custom: BTreeMap<String, String>,
    }
    let body = Body {
        name: &metadata.name,
        versions: &metadata.versions,
        platform: &metadata.platform,
        inputs: &metadata.inputs,
        outputs: &metadata.outputs,
        custom: BTreeMap::new(),
    };
    to_json(&body)
}

/// The executor's graph metadata (`GET /api/v1.0/metadata` of a graph): the graph's `name`,
/// every unit's metadata by node under `models`, and the graph's `graphinputs` and
/// `graphoutputs` as V2 tensor entries.
pub fn encode_graph_metadata(metadata: &GraphMetadata) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        name: &'a str,
        models: BTreeMap<&'a str, Model<'a>>,
        graphinputs: &'a [TensorSpec],
        graphoutputs: &'a [TensorSpec],
    }
    #[derive(Serialize)]
    struct Model<'a> {
        name: &'a str,
        versions: &'a [String],
        platform: &'a str,
        inputs: &'a [TensorSpec],
        outputs: &'a [TensorSpec],
    }
    let models = metadata
        .units
        .iter()
        .map(|(node, unit)| {
            let model = Model {
                name: &unit.name,
                versions: &unit.versions,
                platform: &unit.platform,
                inputs: &unit.inputs,
                outputs: &unit.outputs,
            };
            (node.as_str(), model)
        })
        .collect();
    to_json(&Body {
        name: &metadata.graph.name,
        models,
        graphinputs: &metadata.graph.inputs,
        graphoutputs: &metadata.graph.outputs,
    })
}

/// A `SeldonMessage` as JSON. Payloads stay borrowed text until their form is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageIn<'a> {
    #[serde(borrow, default)]
    data: Option<Object<DataIn<'a>>>,
    #[serde(rename = "jsonData", borrow, default)]
    json_data: Option<&'a RawValue>,
    #[serde(rename = "strData", borrow, default)]
    str_data: Option<Cow<'a, str>>,
    #[serde(rename = "binData", borrow, default)]
    bin_data: Option<Cow<'a, str>>,
    #[serde(rename = "customData", default)]
    custom_data: Option<IgnoredAny>,
    #[serde(default)]
    meta: Option<Object<Meta>>,
    /// Accepted because Seldon's parser accepts it, and ignored: a request has no status.
    #[serde(rename = "status", default)]
    _status: Option<IgnoredAny>,
}

/// A `Feedback` as JSON; its messages stay text until each is decoded on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackIn<'a> {
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
    #[serde(default)]
    reward: f64,
    #[serde(borrow, default)]
    truth: Option<&'a RawValue>,
}

/// A `SeldonMessageList` as JSON; each message stays text until it is decoded on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageListIn<'a> {
    #[serde(rename = "seldonMessages", borrow)]
    seldon_messages: Vec<&'a RawValue>,
}

/// `DefaultData`: column names and one of the three array forms.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataIn<'a> {
    #[serde(default)]
    names: Vec<String>,
    #[serde(borrow, default)]
    tensor: Option<Object<TensorIn<'a>>>,
    #[serde(borrow, default)]
    ndarray: Option<&'a RawValue>,
    #[serde(default)]
    tftensor: Option<Object<tftensor::TensorProtoJson>>,
}

/// Seldon's `Tensor`: a shape and the values in row-major order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorIn<'a> {
    #[serde(default)]
    shape: Vec<i64>,
    #[serde(borrow, default)]
    values: Option<&'a RawValue>,
}

/// A JSON object and nothing else. serde's derived structs also accept an array of their fields
/// by position, which Seldon's parser rejects and which would give odd meanings to bad bodies.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(ObjectOnly(deserializer)).map(Object)
    }
}

/// Drives every request through `deserialize_map`, which serde_json answers only for objects.
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The tensor of a `data` payload, in the model's declared datatype.
fn data_tensor(
    tensor: Option<TensorIn<'_>>,
    ndarray: Option<&RawValue>,
    tftensor: Option<tftensor::TensorProtoJson>,
    metadata: &ModelMetadata,
) -> Result<Tensor> {
    let target = super::target(metadata)?;
    if let Some(proto) = tftensor {
        return tf::decode(&proto.into_proto()?, &target);
    }
    let (field, text, shape) = match (tensor, ndarray) {
        (Some(tensor), _) => {
            let shape = super::tensor_shape(&tensor.shape)?;
            ("data.tensor.values", tensor.values.map_or("[]", RawValue::get), Some(shape))
        }
        (None, Some(ndarray)) => ("data.ndarray", ndarray.get(), None),
        (None, None) => return Err(Error::internal("a data payload was found without data")),
    };
    if !text.starts_with('[') {
        return Err(Error::invalid(format!("{field}: expected a list")));
    }
    let datatype = match target.datatype {
        Some(datatype) => datatype,
        None => json_data::infer_datatype(text).map_err(|e| e.context(field))?,
    };
    let decoded = json_data::decode(text, datatype).map_err(|e| e.context(field))?;
    let nested = decoded.nested_shape.ok_or_else(|| super::ragged().context(field))?;
    let shape = match shape {
        Some(shape) => {
            if nested.len() != 1 {
                return Err(Error::invalid(format!("{field}: expected a flat list of values")));
            }
            super::check_value_count(decoded.count, &shape)?;
            shape
        }
        None => nested,
    };
    Tensor::new(target.name, datatype, shape, decoded.data).map_err(|e| e.context(field))
}

fn write_data(out: &mut Vec<u8>, form: DataForm, tensor: &Tensor) -> Result<()> {
    match form {
        DataForm::Tensor => {
            out.extend_from_slice(b",\"tensor\":{\"shape\":");
            write_json(out, &tensor.shape);
            out.extend_from_slice(b",\"values\":");
            json_data::write(out, tensor, Layout::Flat)?;
            out.push(b'}');
        }
        DataForm::Ndarray => {
            out.extend_from_slice(b",\"ndarray\":");
            // A 0-d tensor is written as a one-element list: `ndarray` is always a list.
            let layout = if tensor.shape.is_empty() { Layout::Flat } else { Layout::Nested };
            json_data::write(out, tensor, layout)?;
        }
        DataForm::TfTensor => {
            out.extend_from_slice(b",\"tftensor\":");
            tftensor::write(out, &tf::encode(tensor, TfValues::Typed));
        }
    }
    Ok(())
}

/// Base64 as proto3 JSON parsers take it: the standard or the URL-safe alphabet, padded or not.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
    if text.contains(['-', '_']) { URL_SAFE.decode(text) } else { STANDARD.decode(text) }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use oxserve_core::{DataType, ErrorKind, MetricKind};
    use serde_json::json;

    use super::*;
    use crate::testing::{le, model, respond};

    /// The inputs a test model declares: name and datatype.
    type Inputs<'a> = &'a [(&'a str, DataType)];

    fn decode(body: &str, inputs: &[(&str, DataType)]) -> Result<(InferenceRequest, PayloadKind)> {
        decode_message(body.as_bytes(), &model(inputs))
    }

    fn error(body: &str, inputs: &[(&str, DataType)]) -> String {
        let e = decode(body, inputs).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    fn encode(tensor: Tensor, kind: PayloadKind) -> serde_json::Value {
        let body = encode_message(&respond(vec![tensor], Meta::default()), kind).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn fp32(shape: Vec<usize>, values: &[f32]) -> Tensor {
        Tensor::new("y", DataType::Fp32, shape, le(values, f32::to_le_bytes)).unwrap()
    }

    fn marked(content_type: &str, payload: &[u8]) -> Tensor {
        Tensor::from_bytes_elements("out", vec![1], [payload]).unwrap().with_parameters(
            [(super::super::CONTENT_TYPE_PARAMETER.to_string(), content_type.into())].into_iter().collect(),
        )
    }

    #[test]
    fn ndarray_takes_the_declared_input_and_datatype() {
        let (r, kind) =
            decode(r#"{"data":{"names":["a","b"],"ndarray":[[1,2],[3,4.5]]}}"#, &[("x", DataType::Fp32)])
                .unwrap();
        assert_eq!(kind, PayloadKind::Ndarray);
        assert_eq!(r.model_name, "m");
        let t = &r.inputs[0];
        assert_eq!((t.name.as_str(), t.datatype, t.shape.clone()), ("x", DataType::Fp32, vec![2, 2]));
        assert_eq!(t.data, le(&[1.0f32, 2.0, 3.0, 4.5], f32::to_le_bytes));
        assert_eq!(t.parameters["names"], json!(["a", "b"]));
    }

    #[test]
    fn ndarray_without_declared_inputs_infers_the_datatype() {
        let (r, _) = decode(r#"{"data":{"ndarray":[[1,2],[3,4]]}}"#, &[]).unwrap();
        let t = &r.inputs[0];
        assert_eq!((t.name.as_str(), t.datatype), ("data", DataType::Int64));
        assert!(t.parameters.is_empty());
        let (r, _) = decode(r#"{"data":{"ndarray":[1.5,2]}}"#, &[]).unwrap();
        assert_eq!(r.inputs[0].datatype, DataType::Fp64);
        let (r, _) = decode(r#"{"data":{"ndarray":[["hello world","en"],["bonjour","fr"]]}}"#, &[]).unwrap();
        assert_eq!((r.inputs[0].datatype, r.inputs[0].shape.clone()), (DataType::Bytes, vec![2, 2]));
        let strings: Vec<&[u8]> = r.inputs[0].bytes_elements().collect();
        assert_eq!(strings, [&b"hello world"[..], b"en", b"bonjour", b"fr"]);
    }

    #[test]
    fn tensor_keeps_json_integers_and_checks_the_count() {
        let body =
            r#"{"data":{"names":["age","income"],"tensor":{"shape":[2,2],"values":[31,52000,47,61000]}}}"#;
        let (r, kind) = decode(body, &[]).unwrap();
        assert_eq!(kind, PayloadKind::Tensor);
        assert_eq!(r.inputs[0].datatype, DataType::Int64);
        assert_eq!(r.inputs[0].data, le(&[31i64, 52000, 47, 61000], i64::to_le_bytes));
        let (r, _) = decode(body, &[("x", DataType::Fp64)]).unwrap();
        assert_eq!(r.inputs[0].data, le(&[31f64, 52000.0, 47.0, 61000.0], f64::to_le_bytes));
    }

    #[test]
    fn tftensor_is_decoded_into_the_declared_datatype() {
        let body = r#"{"data":{"tftensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"1"},{"size":"3"}]},"floatVal":[0.5,1.5,2.5]}}}"#;
        let (r, kind) = decode(body, &[("x", DataType::Fp32)]).unwrap();
        assert_eq!(kind, PayloadKind::TfTensor);
        assert_eq!((r.inputs[0].name.as_str(), r.inputs[0].shape.clone()), ("x", vec![1, 3]));
        assert_eq!(r.inputs[0].data, le(&[0.5f32, 1.5, 2.5], f32::to_le_bytes));
        let (r, _) = decode(body, &[("x", DataType::Fp64)]).unwrap();
        assert_eq!(r.inputs[0].data, le(&[0.5f64, 1.5, 2.5], f64::to_le_bytes));
    }

    #[test]
    fn raw_payloads_become_marked_bytes() {
        let cases = [
            (
                r#"{"jsonData":{"query":"red shoes","k":5}}"#,
                PayloadKind::JsonData,
                "jsonData",
                "json",
                &br#"{"query":"red shoes","k":5}"#[..],
            ),
            (
                r#"{"strData":"free text \"payload\""}"#,
                PayloadKind::StrData,
                "strData",
                "str",
                &b"free text \"payload\""[..],
            ),
            (
                r#"{"binData":"iVBORw0KGgo="}"#,
                PayloadKind::BinData,
                "binData",
                "bytes",
                &[0x89, b'P', b'N', b'G', 13, 10, 26, 10][..],
            ),
            (r#"{"binData":"-_8"}"#, PayloadKind::BinData, "binData", "bytes", &[0xfb, 0xff][..]),
        ];
        for (body, kind, name, content_type, payload) in cases {
            // A raw payload does not need the model's single input.
            let (r, k) = decode(body, &[("a", DataType::Fp32), ("b", DataType::Fp32)]).unwrap();
            assert_eq!(k, kind);
            let t = &r.inputs[0];
            assert_eq!((t.name.as_str(), t.datatype, t.shape.clone()), (name, DataType::Bytes, vec![1]));
            assert_eq!(t.parameters["content_type"], content_type);
            assert_eq!(t.bytes_elements().next().unwrap(), payload, "{body}");
        }
    }

    #[test]
    fn meta_is_kept_and_puid_generated_when_absent() {
        let body = r#"{"meta":{"puid":"req-42","tags":{"team":"risk"},"routing":{"r":1},
                       "requestPath":{"a":"img:1"},"metrics":[{"key":"k","type":"TIMER","value":3.4}]},
                       "status":{"code":200,"status":"SUCCESS"},
                       "data":{"ndarray":[1]}}"#;
        let (r, _) = decode(body, &[]).unwrap();
        assert_eq!(r.meta.puid, "req-42");
        assert_eq!(r.meta.tags["team"], "risk");
        assert_eq!(r.meta.routing["r"], 1);
        assert_eq!(r.meta.request_path["a"], "img:1");
        assert_eq!(r.meta.metrics[0].kind, MetricKind::Timer);
        let (r, _) = decode(r#"{"data":{"ndarray":[1]}}"#, &[]).unwrap();
        assert_eq!(uuid::Uuid::parse_str(&r.meta.puid).unwrap().get_version_num(), 4);
        let (r, _) = decode(r#"{"meta":{"puid":""},"strData":"x"}"#, &[]).unwrap();
        assert_eq!(r.meta.puid.len(), 36);
    }

    #[test]
    fn errors_name_the_field() {
        let fp32 = &[("x", DataType::Fp32)];
        let cases: &[(&str, Inputs<'_>, &str)] = &[
            (r#"{"data":{"ndarray":[[1,2],[3]]}}"#, fp32, "data.ndarray: ragged nesting"),
            (
                r#"{"data":{"ndarray":[1,2,3,"4"]}}"#,
                fp32,
                "data.ndarray: element 3: expected a number for FP32, got a string",
            ),
            (r#"{"data":{"ndarray":5}}"#, fp32, "data.ndarray: expected a list"),
            (r#"{"data":{"ndarray":[1,"a"]}}"#, &[], "data.ndarray: elements mix strings"),
            (
                r#"{"data":{"tensor":{"shape":[2,2],"values":[1,2,3]}}}"#,
                fp32,
                "data.tensor.values: 3 values for shape [2, 2], which needs 4",
            ),
            (
                r#"{"data":{"tensor":{"shape":[-2],"values":[]}}}"#,
                fp32,
                "data.tensor.shape: dimension 0 is -2; dimensions must not be negative",
            ),
            (
                r#"{"data":{"tensor":{"shape":[2],"values":[[1],[2]]}}}"#,
                fp32,
                "data.tensor.values: expected a flat list",
            ),
            (r#"{"data":{"tensor":{"shape":"2","values":[1]}}}"#, fp32, "data.tensor.shape: invalid type"),
            (
                r#"{"data":{"tensor":{"shape":[1],"value":[1]}}}"#,
                fp32,
                "data.tensor.value: unknown field `value`, expected `shape` or `values`",
            ),
            (
                r#"{"data":{"tftensor":{"dtype":"DT_FLOAT","floatVal":["x"]}}}"#,
                fp32,
                "data.tftensor.floatVal[0]: \"x\" is not a valid float",
            ),
            (
                r#"{"data":{"tftensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"2"}]}}}}"#,
                fp32,
                "data.tftensor.floatVal: no values for 2 elements",
            ),
            (r#"{"data":{"names":[1],"ndarray":[1]}}"#, fp32, "data.names[0]: invalid type"),
            (r#"{"data":{"ndarray":[1]},"extra":1}"#, fp32, "extra: unknown field `extra`"),
            (r#"{"meta":{"pid":"x"},"strData":"s"}"#, fp32, "meta.pid: unknown field `pid`"),
            (r#"{"meta":{"puid":5},"strData":"s"}"#, fp32, "meta.puid: invalid type: integer `5`"),
            (
                r#"{"data":{"ndarray":[1]},"strData":"x"}"#,
                fp32,
                "data.ndarray and strData: a Seldon message carries exactly one payload",
            ),
            (
                r#"{"data":{"ndarray":[1],"tensor":{"shape":[1],"values":[1]}}}"#,
                fp32,
                "data.tensor and data.ndarray: a Seldon message carries exactly one payload",
            ),
            (r#"{"data":{"names":["a"]}}"#, fp32, "no payload: a Seldon message needs one of"),
            ("{}", fp32, "no payload"),
            (r#"{"binData":"%%%"}"#, fp32, "binData: invalid base64"),
            (
                r#"{"customData":{"@type":"x"}}"#,
                fp32,
                "customData: google.protobuf.Any payloads are not supported",
            ),
            (r#"{"data":{"ndarray":[1]}"#, fp32, "invalid JSON: EOF while parsing"),
            (r#"{"data":{"ndarray":[1]}} x"#, fp32, "invalid JSON: trailing characters"),
            ("[1]", fp32, "the body must be a JSON object, not a list"),
            ("5", fp32, "invalid type: integer `5`, expected struct MessageIn"),
            (r#"{"data":[["a"]]}"#, fp32, "data: invalid type: sequence, expected struct DataIn"),
            (r#"{"data":{"tensor":[[1],[1]]}}"#, fp32, "data.tensor: invalid type: sequence"),
            (r#"{"meta":["p"],"strData":"s"}"#, fp32, "meta: invalid type: sequence"),
            (
                r#"{"data":{"ndarray":[1]}}"#,
                &[("a", DataType::Fp32), ("b", DataType::Fp32)],
                "model 'm' has 2 inputs; a Seldon message carries one tensor: use the V2 protocol",
            ),
        ];
        for (body, inputs, prefix) in cases {
            let message = error(body, inputs);
            println!("{body} -> {message}");
            assert!(message.starts_with(prefix), "{body}\n  got: {message}\n  want: {prefix}");
        }
        let e = decode_message(&[0xff, b'{'], &model(&[])).unwrap_err();
        assert!(e.message.starts_with("invalid JSON: invalid utf-8"), "{}", e.message);
    }

    #[test]
    fn aggregate_takes_a_list_or_seldon_messages_and_answers_in_the_first_form() {
        let list = r#"[{"strData":"a","meta":{"puid":"p"}},{"data":{"ndarray":[[1,2]]}}]"#;
        for body in [list.to_string(), format!(r#" {{"seldonMessages":{list}}}"#)] {
            let (call, kind) = decode_aggregate(body.as_bytes(), &model(&[])).unwrap();
            let Call::Aggregate(messages) = call else { panic!("expected an aggregate call") };
            assert_eq!(kind, PayloadKind::StrData);
            assert_eq!(messages.len(), 2);
            assert_eq!(messages[0].meta.puid, "p");
            assert_eq!(messages[1].inputs[0].shape, vec![1, 2]);
        }
        let error = |body: &str| decode_aggregate(body.as_bytes(), &model(&[])).unwrap_err().message;
        assert!(error("[]").starts_with("seldonMessages: the list is empty"));
        assert!(error(r#"[{"strData":"a"},{}]"#).starts_with("seldonMessages[1]: no payload"));
        assert!(error(r#"{"seldonMessages":[1]}"#).starts_with("seldonMessages[0]: invalid type: integer"));
        assert!(error("[1,").starts_with("invalid JSON"));
        assert!(error(r#"{"seldonMessage":[]}"#).starts_with("seldonMessage: unknown field"));
    }

    #[test]
    fn numeric_responses_mirror_the_request_form() {
        let y = fp32(vec![2, 2], &[0.82, 0.18, 0.35, 0.65]);
        assert_eq!(
            encode(y.clone(), PayloadKind::Ndarray),
            json!({"data": {"names": ["t:0", "t:1"], "ndarray": [[0.82, 0.18], [0.35, 0.65]]}, "meta": {}})
        );
        let tensor = json!({"data": {"names": ["t:0", "t:1"], "tensor": {"shape": [2, 2], "values": [0.82, 0.18, 0.35, 0.65]}}, "meta": {}});
        assert_eq!(encode(y.clone(), PayloadKind::Tensor), tensor);
        for raw in [PayloadKind::JsonData, PayloadKind::StrData, PayloadKind::BinData] {
            assert_eq!(encode(y.clone(), raw), tensor);
        }
        assert_eq!(
            encode(y, PayloadKind::TfTensor),
            json!({"data": {"names": ["t:0", "t:1"], "tftensor": {"dtype": "DT_FLOAT",
                   "tensorShape": {"dim": [{"size": "2"}, {"size": "2"}]}, "floatVal": [0.82, 0.18, 0.35, 0.65]}},
                   "meta": {}})
        );
    }

    #[test]
    fn integers_stay_integers_and_key_order_is_seldons() {
        let t =
            Tensor::new("y", DataType::Int64, vec![3], le(&[1i64, -2, 9007199254740993], i64::to_le_bytes))
                .unwrap();
        let body = encode_message(&respond(vec![t.clone()], Meta::default()), PayloadKind::Ndarray).unwrap();
        assert_eq!(body, br#"{"data":{"names":[],"ndarray":[1,-2,9007199254740993]},"meta":{}}"#);
        let body = encode_message(&respond(vec![t.clone()], Meta::default()), PayloadKind::Tensor).unwrap();
        assert_eq!(
            body,
            br#"{"data":{"names":[],"tensor":{"shape":[3],"values":[1,-2,9007199254740993]}},"meta":{}}"#
        );
        let body = encode_message(&respond(vec![t], Meta::default()), PayloadKind::TfTensor).unwrap();
        assert_eq!(
            body,
            br#"{"data":{"names":[],"tftensor":{"dtype":"DT_INT64","tensorShape":{"dim":[{"size":"3"}]},"int64Val":["1","-2","9007199254740993"]}},"meta":{}}"#
        );
    }

    #[test]
    fn strings_and_booleans_answer_as_ndarray() {
        let s = Tensor::from_bytes_elements("y", vec![1, 2], ["yes", "no"]).unwrap();
        for kind in [PayloadKind::Tensor, PayloadKind::TfTensor, PayloadKind::JsonData] {
            assert_eq!(
                encode(s.clone(), kind),
                json!({"data": {"names": ["t:0", "t:1"], "ndarray": [["yes", "no"]]}, "meta": {}})
            );
        }
        let b = Tensor::new("y", DataType::Bool, vec![2], Bytes::from_static(&[1, 0])).unwrap();
        assert_eq!(
            encode(b, PayloadKind::Tensor),
            json!({"data": {"names": [], "ndarray": [true, false]}, "meta": {}})
        );
        // One unmarked string element is still data.
        let one = Tensor::from_bytes_elements("y", vec![1], ["x"]).unwrap();
        assert_eq!(
            encode(one, PayloadKind::StrData),
            json!({"data": {"names": [], "ndarray": ["x"]}, "meta": {}})
        );
    }

    #[test]
    fn zero_dimensional_outputs_are_one_element_lists() {
        let t = Tensor::new("y", DataType::Int32, vec![], le(&[7i32], i32::to_le_bytes)).unwrap();
        assert_eq!(encode(t.clone(), PayloadKind::Ndarray)["data"]["ndarray"], json!([7]));
        assert_eq!(encode(t, PayloadKind::Tensor)["data"]["tensor"], json!({"shape": [], "values": [7]}));
    }

    #[test]
    fn marked_outputs_answer_as_raw_payloads() {
        let body = encode_message(
            &respond(vec![marked("json", br#"{"b": [1, 2]}"#)], Meta::default()),
            PayloadKind::Ndarray,
        )
        .unwrap();
        assert_eq!(body, br#"{"jsonData":{"b": [1, 2]},"meta":{}}"#);
        assert_eq!(
            encode(marked("str", b"hi \"you\""), PayloadKind::Tensor),
            json!({"strData": "hi \"you\"", "meta": {}})
        );
        assert_eq!(
            encode(marked("bytes", &[0x89, b'P']), PayloadKind::StrData),
            json!({"binData": "iVA=", "meta": {}})
        );
    }

    #[test]
    fn the_first_output_answers_with_the_response_meta() {
        let meta = Meta {
            puid: "req-42".into(),
            tags: [("team".to_string(), json!("risk"))].into_iter().collect(),
            routing: [("ab".to_string(), 1)].into_iter().collect(),
            request_path: [("scorer".to_string(), "acme/scorer:1.7".to_string())].into_iter().collect(),
            ..Meta::default()
        };
        let second = fp32(vec![1], &[9.0]);
        let r = respond(vec![fp32(vec![1], &[0.5]), second], meta);
        let body: serde_json::Value =
            serde_json::from_slice(&encode_message(&r, PayloadKind::Ndarray).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"data": {"names": [], "ndarray": [0.5]},
                   "meta": {"puid": "req-42", "tags": {"team": "risk"}, "routing": {"ab": 1},
                            "requestPath": {"scorer": "acme/scorer:1.7"}}})
        );
    }

    #[test]
    fn output_names_parameter_overrides_the_default() {
        let t = fp32(vec![1, 2], &[0.9, 0.1])
            .with_parameters([("names".to_string(), json!(["p_no", "p_yes"]))].into_iter().collect());
        assert_eq!(encode(t, PayloadKind::Ndarray)["data"]["names"], json!(["p_no", "p_yes"]));
    }

    #[test]
    fn decoded_requests_answer_in_their_own_form() {
        let bodies = [
            r#"{"data":{"ndarray":[[1.5,2.5]]}}"#,
            r#"{"data":{"tensor":{"shape":[1,2],"values":[1.5,2.5]}}}"#,
            r#"{"data":{"tftensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"1"},{"size":"2"}]},"floatVal":[1.5,2.5]}}}"#,
        ];
        for body in bodies {
            let (request, kind) = decode(body, &[("x", DataType::Fp32)]).unwrap();
            let echo = respond(request.inputs.clone(), request.meta.clone());
            let out: serde_json::Value =
                serde_json::from_slice(&encode_message(&echo, kind).unwrap()).unwrap();
            let sent: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                out["data"][kind.field().trim_start_matches("data.")],
                sent["data"][kind.field().trim_start_matches("data.")]
            );
            assert_eq!(out["meta"]["puid"], request.meta.puid.as_str());
        }
        for body in [r#"{"jsonData":{"a":[1,{"b":null}]}}"#, r#"{"strData":"s"}"#, r#"{"binData":"AAEC"}"#] {
            let (request, kind) = decode(body, &[]).unwrap();
            let echo = respond(request.inputs.clone(), Meta::default());
            let out: serde_json::Value =
                serde_json::from_slice(&encode_message(&echo, kind).unwrap()).unwrap();
            let sent: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(out[kind.field()], sent[kind.field()], "{body}");
        }
    }

    #[test]
    fn non_utf8_strings_cannot_be_json() {
        let t = Tensor::from_bytes_elements("y", vec![2], [&[0xffu8][..], b"ok"]).unwrap();
        let e = encode_message(&respond(vec![t], Meta::default()), PayloadKind::Ndarray).unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{}", e.message);
    }

    #[test]
    fn errors_use_the_executor_status_body() {
        let body: serde_json::Value =
            serde_json::from_slice(&encode_error(&Error::invalid("data.ndarray: ragged nesting"))).unwrap();
        assert_eq!(
            body,
            json!({"status": {"code": 400, "info": "data.ndarray: ragged nesting",
                              "reason": "MICROSERVICE_BAD_DATA", "status": "FAILURE"}})
        );
        let body = encode_error(&Error::internal("boom \"x\""));
        assert_eq!(
            body,
            br#"{"status":{"code":500,"info":"boom \"x\"","reason":"MICROSERVICE_INTERNAL_ERROR","status":"FAILURE"}}"#
        );
        let body: serde_json::Value =
            serde_json::from_slice(&encode_error(&Error::not_found("no model"))).unwrap();
        assert_eq!(
            (body["status"]["code"].as_u64(), body["status"]["reason"].as_str()),
            (Some(404), Some("MICROSERVICE_BAD_DATA"))
        );
    }

    #[test]
    fn metadata_uses_v2_tensor_entries() {
        let mut m = model(&[("x", DataType::Fp32)]);
        m.versions = vec!["1".into()];
        m.platform = "onnx".into();
        m.outputs = vec![TensorSpec { name: "y".into(), datatype: DataType::Int64, shape: vec![-1] }];
        let body: serde_json::Value = serde_json::from_slice(&encode_metadata(&m)).unwrap();
        assert_eq!(
            body,
            json!({"name": "m", "versions": ["1"], "platform": "onnx",
                   "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
                   "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}], "custom": {}})
        );
        let empty: serde_json::Value = serde_json::from_slice(&encode_metadata(&model(&[]))).unwrap();
        assert_eq!(
            empty,
            json!({"name": "m", "versions": [], "platform": "", "inputs": [], "outputs": [], "custom": {}})
        );
    }
}
