//! Seldon's gRPC protocol: the generated `seldon.protos` messages ⇄ neutral types.
//!
//! The mapping rules are the REST ones (see the [module docs](super)); only the carriers differ.
//! `tensor.values` are doubles, converted to the model's declared datatype with range checks;
//! `ndarray` is a `ListValue` walked straight into the tensor's buffer; `tftensor` shares its
//! conversion with REST. Responses send `tftensor` elements as `tensor_content`, a zero-copy
//! slice of the output, as `tf.make_tensor_proto` does for arrays.

use std::collections::BTreeMap;

use oxserve_core::{
    DataType, Error, GraphMetadata, InferenceRequest, InferenceResponse, Meta, Metric, MetricKind,
    ModelMetadata, Result, Tensor, TensorSpec,
};
use prost_types::value::Kind;
use prost_types::{ListValue, Value};
use serde::ser::{Error as _, Serialize, Serializer};

use super::component::Call;
use super::tf::{self, TfValues};
use super::{DataForm, PayloadKind, Reply, Target};
use crate::elements::{ElementBuffer, Scalar, scalars};
use crate::pb::seldon::{self as pb, default_data, metric::MetricType, seldon_message};

/// Decodes a gRPC `SeldonMessage` for the model described by `metadata`.
///
/// Returns the request and the payload form it used, which [`encode_message`] needs to answer
/// in the same form. `status` is ignored; `customData` is refused.
pub fn decode_message(
    message: pb::SeldonMessage,
    metadata: &ModelMetadata,
) -> Result<(InferenceRequest, PayloadKind)> {
    match decode_part(message, metadata)? {
        (request, Some(kind)) => Ok((request, kind)),
        (_, None) => Err(super::no_payload()),
    }
}

/// Decodes a message that may carry no payload (a feedback part), giving its form if it has one.
fn decode_part(
    message: pb::SeldonMessage,
    metadata: &ModelMetadata,
) -> Result<(InferenceRequest, Option<PayloadKind>)> {
    let meta = message.meta.map(meta_from_proto).transpose()?.unwrap_or_default();
    let payload = match message.data_oneof {
        Some(seldon_message::DataOneof::Data(data)) => data.data_oneof.map(|form| (form, data.names)),
        Some(seldon_message::DataOneof::BinData(bytes)) => {
            return super::raw_request(metadata, PayloadKind::BinData, &bytes, meta)
                .map(|r| (r, Some(PayloadKind::BinData)));
        }
        Some(seldon_message::DataOneof::StrData(text)) => {
            return super::raw_request(metadata, PayloadKind::StrData, text.as_bytes(), meta)
                .map(|r| (r, Some(PayloadKind::StrData)));
        }
        Some(seldon_message::DataOneof::JsonData(value)) => {
            let text =
                serde_json::to_vec(&AsJson(&value)).map_err(|e| Error::invalid(format!("jsonData: {e}")))?;
            return super::raw_request(metadata, PayloadKind::JsonData, &text, meta)
                .map(|r| (r, Some(PayloadKind::JsonData)));
        }
        Some(seldon_message::DataOneof::CustomData(_)) => return Err(super::custom_data_unsupported()),
        None => None,
    };
    let Some((form, names)) = payload else { return Ok((super::meta_only_request(metadata, meta), None)) };
    let target = super::target(metadata)?;
    let (tensor, kind) = match form {
        default_data::DataOneof::Tensor(tensor) => (dense(&tensor, &target)?, PayloadKind::Tensor),
        default_data::DataOneof::Ndarray(list) => (ndarray(&list, &target)?, PayloadKind::Ndarray),
        default_data::DataOneof::Tftensor(proto) => (tf::decode(&proto, &target)?, PayloadKind::TfTensor),
    };
    Ok((super::data_request(metadata, tensor, names, meta), Some(kind)))
}

/// Decodes a combiner's `SeldonMessageList`, each message as [`decode_message`] decodes one.
/// Errors name the message at fault (`seldonMessages[1]: …`); the answer takes the first
/// message's form.
pub fn decode_aggregate(
    list: pb::SeldonMessageList,
    metadata: &ModelMetadata,
) -> Result<(Call, PayloadKind)> {
    let decoded = list
        .seldon_messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            decode_message(message, metadata).map_err(|e| e.context(format_args!("seldonMessages[{i}]")))
        })
        .collect::<Result<Vec<_>>>()?;
    super::aggregate_call(decoded)
}

/// Decodes a `Feedback`: its `request`, `response` and `truth` messages (each optional, and each
/// may carry no payload, only meta) and its `reward`. Errors name the part (`response: …`); the
/// answer takes the request's form.
pub fn decode_feedback(feedback: pb::Feedback, metadata: &ModelMetadata) -> Result<(Call, PayloadKind)> {
    let part = |message: Option<pb::SeldonMessage>, field: &str| {
        message.map(|m| decode_part(m, metadata).map_err(|e| e.context(field))).transpose()
    };
    let request = part(feedback.request, "request")?;
    let response = part(feedback.response, "response")?;
    let truth = part(feedback.truth, "truth")?;
    Ok(super::feedback_call(request, response, f64::from(feedback.reward), truth))
}

/// Encodes `response` as a gRPC `SeldonMessage`, answering in the form of a request of `kind`
/// (see the [module rules](super)).
pub fn encode_message(response: &InferenceResponse, kind: PayloadKind) -> Result<pb::SeldonMessage> {
    let payload = match super::reply(response, kind)? {
        Reply::JsonData(raw) => {
            let json: serde_json::Value = serde_json::from_str(raw.get())
                .map_err(|e| Error::internal(format!("jsonData output: {e}")))?;
            seldon_message::DataOneof::JsonData(proto_value(&json))
        }
        Reply::StrData(text) => seldon_message::DataOneof::StrData(text.to_string()),
        Reply::BinData(bytes) => seldon_message::DataOneof::BinData(bytes),
        Reply::Data { form, tensor, names } => {
            let data = match form {
                DataForm::Tensor => default_data::DataOneof::Tensor(dense_out(tensor)?),
                DataForm::Ndarray => default_data::DataOneof::Ndarray(list_value(tensor)?),
                DataForm::TfTensor => {
                    default_data::DataOneof::Tftensor(tf::encode(tensor, TfValues::Content))
                }
            };
            seldon_message::DataOneof::Data(pb::DefaultData { names, data_oneof: Some(data) })
        }
    };
    Ok(pb::SeldonMessage {
        status: None,
        meta: Some(meta_to_proto(&response.meta)),
        data_oneof: Some(payload),
    })
}

/// The answer to `Model.Metadata` / `Seldon.ModelMetadata`: inputs and outputs as V2 tensor
/// entries (`name`, `datatype`, `shape`), as the REST form.
pub fn encode_metadata(metadata: &ModelMetadata) -> pb::SeldonModelMetadata {
    let entries = |specs: &[TensorSpec]| {
        specs
            .iter()
            .map(|s| pb::SeldonMessageMetadata {
                name: s.name.clone(),
                datatype: s.datatype.as_str().to_string(),
                shape: s.shape.clone(),
                ..Default::default()
            })
            .collect()
    };
    pb::SeldonModelMetadata {
        name: metadata.name.clone(),
        versions: metadata.versions.clone(),
        platform: metadata.platform.clone(),
        inputs: entries(&metadata.inputs),
        outputs: entries(&metadata.outputs),
        custom: Default::default(),
    }
}

/// A graph's `SeldonGraphMetadata`: its inputs and outputs, and every unit's metadata by node.
pub fn encode_graph_metadata(metadata: &GraphMetadata) -> pb::SeldonGraphMetadata {
    let graph = encode_metadata(&metadata.graph);
    pb::SeldonGraphMetadata {
        name: graph.name,
        models: metadata.units.iter().map(|(node, unit)| (node.clone(), encode_metadata(unit))).collect(),
        inputs: graph.inputs,
        outputs: graph.outputs,
    }
}

/// `data.tensor`: doubles in the declared datatype (FP64 when the model declares none, as
/// Seldon's gRPC tensor is always float64).
fn dense(tensor: &pb::Tensor, target: &Target<'_>) -> Result<Tensor> {
    let dims: Vec<i64> = tensor.shape.iter().map(|&d| d.into()).collect();
    let shape = super::tensor_shape(&dims)?;
    super::check_value_count(tensor.values.len(), &shape)?;
    let datatype = target.datatype.unwrap_or(DataType::Fp64);
    let mut buffer = ElementBuffer::new(datatype, tensor.values.len());
    for &v in &tensor.values {
        buffer.push(Scalar::Float(v)).map_err(|e| e.context("data.tensor.values"))?;
    }
    Tensor::new(target.name, datatype, shape, buffer.finish()).map_err(|e| e.context("data.tensor"))
}

fn dense_out(tensor: &Tensor) -> Result<pb::Tensor> {
    let shape =
        tensor.shape.iter().map(|&d| i32::try_from(d)).collect::<Result<Vec<i32>, _>>().map_err(|_| {
            Error::internal(format!("output '{}' shape {:?} does not fit int32", tensor.name, tensor.shape))
        })?;
    let values = scalars(tensor)
        .map(|s| {
            s.as_f64().ok_or_else(|| Error::internal(format!("output '{}' is not numeric", tensor.name)))
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(pb::Tensor { shape, values })
}

/// `data.ndarray`: the nesting gives the shape, which must be rectangular. With no declared
/// datatype, the first value decides: strings are BYTES, booleans BOOL, numbers FP64 (protobuf
/// numbers are doubles).
///
/// The shape is read from the first element at each depth and only trusted once [`walk`] has
/// checked every list against it: until then it is a claim (`[[…], null]` nested 44 deep claims
/// 2^44 elements), which is why the buffer reserves no more than a bounded amount for it.
fn ndarray(list: &ListValue, target: &Target<'_>) -> Result<Tensor> {
    let mut shape = vec![list.values.len()];
    let mut first = list.values.first();
    while let Some(Value { kind: Some(Kind::ListValue(inner)) }) = first {
        shape.push(inner.values.len());
        first = inner.values.first();
    }
    let datatype = target.datatype.unwrap_or(match first.and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(_)) => DataType::Bytes,
        Some(Kind::BoolValue(_)) => DataType::Bool,
        _ => DataType::Fp64,
    });
    let mut buffer = ElementBuffer::new(datatype, oxserve_core::element_count(&shape).unwrap_or(0));
    walk(&list.values, &shape, &mut buffer).map_err(|e| e.context("data.ndarray"))?;
    Tensor::new(target.name, datatype, shape, buffer.finish()).map_err(|e| e.context("data.ndarray"))
}

fn walk(values: &[Value], shape: &[usize], buffer: &mut ElementBuffer) -> Result<()> {
    let Some((&len, inner)) = shape.split_first() else { return Err(super::ragged()) };
    if values.len() != len {
        return Err(super::ragged());
    }
    for value in values {
        match (&value.kind, inner.is_empty()) {
            (Some(Kind::ListValue(list)), false) => walk(&list.values, inner, buffer)?,
            (Some(Kind::ListValue(_)), true) | (_, false) => return Err(super::ragged()),
            (Some(Kind::NumberValue(n)), true) => buffer.push(Scalar::Float(*n))?,
            (Some(Kind::StringValue(s)), true) => buffer.push(Scalar::Bytes(s.as_bytes()))?,
            (Some(Kind::BoolValue(b)), true) => buffer.push(Scalar::Bool(*b))?,
            (Some(Kind::StructValue(_)), true) => {
                return Err(buffer.reject("objects are not tensor elements"));
            }
            (Some(Kind::NullValue(_)) | None, true) => {
                return Err(buffer.reject("null is not a tensor element"));
            }
        }
    }
    Ok(())
}

/// An output as nested `ListValue`s; numbers become doubles, BYTES must be UTF-8 strings.
fn list_value(tensor: &Tensor) -> Result<ListValue> {
    let mut leaves = scalars(tensor).enumerate().map(|(i, s)| match s {
        Scalar::Bool(b) => Ok(Value::from(b)),
        Scalar::Bytes(b) => std::str::from_utf8(b).map(|s| Value::from(s.to_string())).map_err(|_| {
            Error::internal(format!(
                "output '{}' element {i} is not UTF-8; ndarray carries only strings",
                tensor.name
            ))
        }),
        Scalar::Int(n) => Ok(Value::from(n as f64)),
        Scalar::Float(n) => Ok(Value::from(n)),
    });
    nest(super::ndarray_shape(tensor), &mut leaves, &tensor.name)
}

fn nest(shape: &[usize], leaves: &mut impl Iterator<Item = Result<Value>>, name: &str) -> Result<ListValue> {
    let Some((&len, inner)) = shape.split_first() else { return Ok(ListValue::default()) };
    let values = (0..len)
        .map(|_| {
            if inner.is_empty() {
                leaves.next().unwrap_or_else(|| Err(Error::internal(format!("output '{name}' is truncated"))))
            } else {
                nest(inner, leaves, name).map(|list| Value { kind: Some(Kind::ListValue(list)) })
            }
        })
        .collect::<Result<Vec<Value>>>()?;
    Ok(ListValue { values })
}

fn meta_from_proto(meta: pb::Meta) -> Result<Meta> {
    let tags = meta
        .tags
        .iter()
        .map(|(key, value)| {
            serde_json::to_value(AsJson(value))
                .map(|json| (key.clone(), json))
                .map_err(|e| Error::invalid(format!("meta.tags.{key}: {e}")))
        })
        .collect::<Result<_>>()?;
    let metrics = meta
        .metrics
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let kind = match MetricType::try_from(m.r#type) {
                Ok(MetricType::Counter) => MetricKind::Counter,
                Ok(MetricType::Gauge) => MetricKind::Gauge,
                Ok(MetricType::Timer) => MetricKind::Timer,
                Err(_) => {
                    return Err(Error::invalid(format!(
                        "meta.metrics[{i}].type: unknown metric type {}",
                        m.r#type
                    )));
                }
            };
            Ok(Metric { key: m.key, kind, value: f64::from(m.value), tags: m.tags.into_iter().collect() })
        })
        .collect::<Result<_>>()?;
    Ok(Meta {
        puid: meta.puid,
        tags,
        routing: meta.routing.into_iter().collect(),
        request_path: meta.request_path.into_iter().collect(),
        metrics,
    })
}

fn meta_to_proto(meta: &Meta) -> pb::Meta {
    let metrics = meta
        .metrics
        .iter()
        .map(|m| pb::Metric {
            key: m.key.clone(),
            r#type: match m.kind {
                MetricKind::Counter => MetricType::Counter,
                MetricKind::Gauge => MetricType::Gauge,
                MetricKind::Timer => MetricType::Timer,
            } as i32,
            value: m.value as f32,
            tags: m.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
        .collect();
    pb::Meta {
        puid: meta.puid.clone(),
        tags: meta.tags.iter().map(|(k, v)| (k.clone(), proto_value(v))).collect(),
        routing: meta.routing.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        request_path: meta.request_path.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        metrics,
    }
}

/// A JSON value as a protobuf `Value`.
fn proto_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value { kind: Some(Kind::NullValue(0)) },
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::from(s.clone()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(proto_value).collect::<Vec<_>>()),
        serde_json::Value::Object(fields) => {
            Value::from(fields.iter().map(|(k, v)| (k.clone(), proto_value(v))).collect::<BTreeMap<_, _>>())
        }
    }
}

/// Serializes a protobuf `Value` as the JSON it stands for, without building a JSON tree.
/// Integral numbers within ±2^53 are written as integers, since protobuf cannot tell them apart
/// from doubles and JSON readers expect `5`, not `5.0`.
struct AsJson<'a>(&'a Value);

impl Serialize for AsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        match &self.0.kind {
            None | Some(Kind::NullValue(_)) => s.serialize_unit(),
            Some(Kind::BoolValue(b)) => s.serialize_bool(*b),
            Some(Kind::NumberValue(n)) if !n.is_finite() => {
                Err(S::Error::custom(format_args!("{n} is not a JSON number")))
            }
            Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() <= EXACT => s.serialize_i64(*n as i64),
            Some(Kind::NumberValue(n)) => s.serialize_f64(*n),
            Some(Kind::StringValue(v)) => s.serialize_str(v),
            Some(Kind::ListValue(list)) => s.collect_seq(list.values.iter().map(AsJson)),
            Some(Kind::StructValue(fields)) => {
                s.collect_map(fields.fields.iter().map(|(k, v)| (k, AsJson(v))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use oxserve_core::ErrorKind;
    use prost::Message;
    use serde_json::json;

    use super::*;
    use crate::pb::tensorflow::DataType as TfType;
    use crate::testing::{le, model, respond, tf_proto};

    /// The inputs a test model declares: name and datatype.
    type Inputs<'a> = &'a [(&'a str, DataType)];

    fn with_data(form: default_data::DataOneof, names: &[&str]) -> pb::SeldonMessage {
        let data =
            pb::DefaultData { names: names.iter().map(|n| n.to_string()).collect(), data_oneof: Some(form) };
        pb::SeldonMessage { data_oneof: Some(seldon_message::DataOneof::Data(data)), ..Default::default() }
    }

    fn dense_message(shape: &[i32], values: &[f64]) -> pb::SeldonMessage {
        with_data(
            default_data::DataOneof::Tensor(pb::Tensor { shape: shape.to_vec(), values: values.to_vec() }),
            &[],
        )
    }

    fn list(values: Vec<Value>) -> Value {
        Value { kind: Some(Kind::ListValue(ListValue { values })) }
    }

    fn ndarray_message(values: Vec<Value>) -> pb::SeldonMessage {
        with_data(default_data::DataOneof::Ndarray(ListValue { values }), &[])
    }

    /// Decodes after a trip through the wire format, as a server receives it.
    fn decode(
        message: pb::SeldonMessage,
        inputs: &[(&str, DataType)],
    ) -> Result<(InferenceRequest, PayloadKind)> {
        let wire = pb::SeldonMessage::decode(message.encode_to_vec().as_slice()).unwrap();
        decode_message(wire, &model(inputs))
    }

    fn error(message: pb::SeldonMessage, inputs: &[(&str, DataType)]) -> String {
        let e = decode(message, inputs).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    fn encode(tensor: Tensor, kind: PayloadKind) -> pb::SeldonMessage {
        encode_message(&respond(vec![tensor], Meta::default()), kind).unwrap()
    }

    fn data_of(message: &pb::SeldonMessage) -> &pb::DefaultData {
        match &message.data_oneof {
            Some(seldon_message::DataOneof::Data(data)) => data,
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn aggregate_decodes_each_message_and_answers_in_the_first_form() {
        let list = pb::SeldonMessageList {
            seldon_messages: vec![ndarray_message(vec![Value::from(1.0)]), dense_message(&[1], &[2.0])],
        };
        let (call, kind) = decode_aggregate(list, &model(&[])).unwrap();
        let Call::Aggregate(messages) = call else { panic!("expected an aggregate call") };
        assert_eq!((kind, messages.len()), (PayloadKind::Ndarray, 2));
        let e = decode_aggregate(pb::SeldonMessageList::default(), &model(&[])).unwrap_err();
        assert!(e.message.starts_with("seldonMessages: the list is empty"), "{}", e.message);
        let list = pb::SeldonMessageList { seldon_messages: vec![dense_message(&[2], &[1.0])] };
        let e = decode_aggregate(list, &model(&[])).unwrap_err();
        assert!(e.message.starts_with("seldonMessages[0]: data.tensor.values: 1 values"), "{}", e.message);
    }

    #[test]
    fn tensor_doubles_take_the_declared_datatype() {
        let (r, kind) =
            decode(dense_message(&[2, 2], &[1.0, 2.0, 3.0, 4.5]), &[("x", DataType::Fp32)]).unwrap();
        assert_eq!(kind, PayloadKind::Tensor);
        let t = &r.inputs[0];
        assert_eq!((t.name.as_str(), t.datatype, t.shape.clone()), ("x", DataType::Fp32, vec![2, 2]));
        assert_eq!(t.data, le(&[1.0f32, 2.0, 3.0, 4.5], f32::to_le_bytes));
        let (r, _) = decode(dense_message(&[3], &[1.0, -2.0, 3.0]), &[("x", DataType::Int32)]).unwrap();
        assert_eq!(r.inputs[0].data, le(&[1i32, -2, 3], i32::to_le_bytes));
        let (r, _) = decode(dense_message(&[1], &[0.1]), &[]).unwrap();
        assert_eq!((r.inputs[0].name.as_str(), r.inputs[0].datatype), ("data", DataType::Fp64));
        assert_eq!(r.inputs[0].data, le(&[0.1f64], f64::to_le_bytes));
    }

    #[test]
    fn ndarray_is_walked_into_the_declared_datatype() {
        let rows = vec![
            list(vec![Value::from(1.0), Value::from(2.0)]),
            list(vec![Value::from(3.0), Value::from(4.0)]),
        ];
        let message = with_data(default_data::DataOneof::Ndarray(ListValue { values: rows }), &["a", "b"]);
        let (r, kind) = decode(message, &[("x", DataType::Int64)]).unwrap();
        assert_eq!(kind, PayloadKind::Ndarray);
        let t = &r.inputs[0];
        assert_eq!((t.name.as_str(), t.datatype, t.shape.clone()), ("x", DataType::Int64, vec![2, 2]));
        assert_eq!(t.data, le(&[1i64, 2, 3, 4], i64::to_le_bytes));
        assert_eq!(t.parameters["names"], json!(["a", "b"]));
    }

    #[test]
    fn ndarray_without_declared_inputs_takes_the_first_value_kind() {
        let (r, _) = decode(ndarray_message(vec![Value::from(1.0), Value::from(2.5)]), &[]).unwrap();
        assert_eq!((r.inputs[0].datatype, r.inputs[0].shape.clone()), (DataType::Fp64, vec![2]));
        let strings = vec![list(vec![Value::from("hello"), Value::from("en")])];
        let (r, _) = decode(ndarray_message(strings), &[]).unwrap();
        assert_eq!((r.inputs[0].datatype, r.inputs[0].shape.clone()), (DataType::Bytes, vec![1, 2]));
        assert_eq!(r.inputs[0].bytes_elements().collect::<Vec<_>>(), [&b"hello"[..], b"en"]);
        let (r, _) = decode(ndarray_message(vec![Value::from(true), Value::from(false)]), &[]).unwrap();
        assert_eq!((r.inputs[0].datatype, &r.inputs[0].data[..]), (DataType::Bool, &[1u8, 0][..]));
        let (r, _) = decode(ndarray_message(vec![list(vec![]), list(vec![])]), &[]).unwrap();
        assert_eq!(r.inputs[0].shape, vec![2, 0]);
    }

    #[test]
    fn tftensor_takes_typed_values_or_content() {
        let mut p = tf_proto(TfType::DtFloat, &[1, 3]);
        p.float_val = vec![0.5, 1.5, 2.5];
        let (r, kind) =
            decode(with_data(default_data::DataOneof::Tftensor(p), &[]), &[("x", DataType::Fp32)]).unwrap();
        assert_eq!(kind, PayloadKind::TfTensor);
        assert_eq!((r.inputs[0].name.as_str(), r.inputs[0].shape.clone()), ("x", vec![1, 3]));
        assert_eq!(r.inputs[0].data, le(&[0.5f32, 1.5, 2.5], f32::to_le_bytes));
        let mut p = tf_proto(TfType::DtInt64, &[2]);
        p.tensor_content = le(&[7i64, -7], i64::to_le_bytes);
        let (r, _) = decode(with_data(default_data::DataOneof::Tftensor(p), &[]), &[]).unwrap();
        assert_eq!((r.inputs[0].name.as_str(), r.inputs[0].datatype), ("data", DataType::Int64));
        assert_eq!(r.inputs[0].data, le(&[7i64, -7], i64::to_le_bytes));
    }

    #[test]
    fn raw_payloads_become_marked_bytes() {
        let json_value = Value::from(
            [
                ("query".to_string(), Value::from("red shoes")),
                ("k".to_string(), Value::from(5.0)),
                ("w".to_string(), Value::from(0.5)),
                ("tags".to_string(), list(vec![Value::from(true), Value { kind: Some(Kind::NullValue(0)) }])),
            ]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        );
        let cases = [
            (
                seldon_message::DataOneof::JsonData(json_value),
                PayloadKind::JsonData,
                "jsonData",
                "json",
                &br#"{"k":5,"query":"red shoes","tags":[true,null],"w":0.5}"#[..],
            ),
            (
                seldon_message::DataOneof::StrData("free text".into()),
                PayloadKind::StrData,
                "strData",
                "str",
                &b"free text"[..],
            ),
            (
                seldon_message::DataOneof::BinData(Bytes::from_static(&[0, 159, 255])),
                PayloadKind::BinData,
                "binData",
                "bytes",
                &[0, 159, 255][..],
            ),
        ];
        for (payload, kind, name, content_type, expected) in cases {
            let message = pb::SeldonMessage { data_oneof: Some(payload), ..Default::default() };
            let (r, k) = decode(message, &[("a", DataType::Fp32), ("b", DataType::Fp32)]).unwrap();
            assert_eq!(k, kind);
            let t = &r.inputs[0];
            assert_eq!((t.name.as_str(), t.datatype, t.shape.clone()), (name, DataType::Bytes, vec![1]));
            assert_eq!(t.parameters["content_type"], content_type);
            assert_eq!(t.bytes_elements().next().unwrap(), expected);
        }
    }

    #[test]
    fn meta_is_kept_and_puid_generated_when_absent() {
        let meta = pb::Meta {
            puid: "req-42".into(),
            tags: [("team".to_string(), Value::from("risk")), ("n".to_string(), Value::from(2.0))]
                .into_iter()
                .collect(),
            routing: [("r".to_string(), 1)].into_iter().collect(),
            request_path: [("a".to_string(), "img:1".to_string())].into_iter().collect(),
            metrics: vec![pb::Metric {
                key: "k".into(),
                r#type: MetricType::Timer as i32,
                value: 3.5,
                tags: [("x".to_string(), "y".to_string())].into_iter().collect(),
            }],
        };
        let message = pb::SeldonMessage { meta: Some(meta.clone()), ..dense_message(&[1], &[1.0]) };
        let (r, _) = decode(message, &[]).unwrap();
        assert_eq!(r.meta.puid, "req-42");
        assert_eq!(r.meta.tags["team"], "risk");
        assert_eq!(r.meta.tags["n"], json!(2));
        assert_eq!(r.meta.routing["r"], 1);
        assert_eq!(r.meta.request_path["a"], "img:1");
        assert_eq!(
            r.meta.metrics,
            vec![Metric {
                key: "k".into(),
                kind: MetricKind::Timer,
                value: 3.5,
                tags: [("x".into(), "y".into())].into()
            }]
        );
        // And back: the response meta is the proto meta again.
        let response =
            encode_message(&respond(r.inputs.clone(), r.meta.clone()), PayloadKind::Tensor).unwrap();
        assert_eq!(response.meta, Some(meta));

        let (r, _) = decode(dense_message(&[1], &[1.0]), &[]).unwrap();
        assert_eq!(uuid::Uuid::parse_str(&r.meta.puid).unwrap().get_version_num(), 4);
    }

    #[test]
    fn errors_name_the_field() {
        let fp32 = &[("x", DataType::Fp32)];
        let uint8 = &[("x", DataType::Uint8)];
        let struct_value = Value::from(BTreeMap::new());
        let null = Value { kind: Some(Kind::NullValue(0)) };
        let bad_metric = pb::Meta {
            metrics: vec![pb::Metric { key: "k".into(), r#type: 7, ..Default::default() }],
            ..Default::default()
        };
        let nan_tag = pb::Meta {
            tags: [("t".to_string(), Value::from(f64::NAN))].into_iter().collect(),
            ..Default::default()
        };
        let cases: Vec<(pb::SeldonMessage, Inputs<'_>, &str)> = vec![
            (
                dense_message(&[2, 2], &[1.0, 2.0, 3.0]),
                fp32,
                "data.tensor.values: 3 values for shape [2, 2], which needs 4",
            ),
            (
                dense_message(&[-1], &[]),
                fp32,
                "data.tensor.shape: dimension 0 is -1; dimensions must not be negative",
            ),
            (
                dense_message(&[2], &[1.0, 2.5]),
                &[("x", DataType::Int32)],
                "data.tensor.values: element 1: expected an integer for INT32, got 2.5",
            ),
            (
                dense_message(&[1], &[300.0]),
                uint8,
                "data.tensor.values: element 0: 300 is out of range for UINT8",
            ),
            (
                ndarray_message(vec![
                    list(vec![Value::from(1.0), Value::from(2.0)]),
                    list(vec![Value::from(3.0)]),
                ]),
                fp32,
                "data.ndarray: ragged nesting",
            ),
            (
                ndarray_message(vec![list(vec![Value::from(1.0)]), Value::from(3.0)]),
                fp32,
                "data.ndarray: ragged nesting",
            ),
            (
                ndarray_message(vec![Value::from(1.0), list(vec![Value::from(3.0)])]),
                fp32,
                "data.ndarray: ragged nesting",
            ),
            (
                ndarray_message(vec![Value::from(1.0), Value::from("2")]),
                fp32,
                "data.ndarray: element 1: expected a number for FP32, got a string",
            ),
            (
                ndarray_message(vec![Value::from("a"), Value::from(1.0)]),
                &[],
                "data.ndarray: element 1: expected a string for BYTES, got a number",
            ),
            (
                ndarray_message(vec![Value::from(1.0), null]),
                fp32,
                "data.ndarray: element 1: null is not a tensor element",
            ),
            (
                ndarray_message(vec![struct_value]),
                fp32,
                "data.ndarray: element 0: objects are not tensor elements",
            ),
            (
                with_data(default_data::DataOneof::Tftensor(tf_proto(TfType::DtFloat, &[2])), &[]),
                fp32,
                "data.tftensor.floatVal: no values for 2 elements",
            ),
            (
                pb::SeldonMessage {
                    data_oneof: Some(seldon_message::DataOneof::Data(pb::DefaultData::default())),
                    ..Default::default()
                },
                fp32,
                "no payload",
            ),
            (pb::SeldonMessage::default(), fp32, "no payload"),
            (
                pb::SeldonMessage {
                    data_oneof: Some(seldon_message::DataOneof::CustomData(prost_types::Any::default())),
                    ..Default::default()
                },
                fp32,
                "customData: google.protobuf.Any payloads are not supported",
            ),
            (
                pb::SeldonMessage {
                    data_oneof: Some(seldon_message::DataOneof::JsonData(list(vec![Value::from(
                        f64::INFINITY,
                    )]))),
                    ..Default::default()
                },
                fp32,
                "jsonData: inf is not a JSON number",
            ),
            (
                pb::SeldonMessage { meta: Some(bad_metric), ..dense_message(&[1], &[1.0]) },
                fp32,
                "meta.metrics[0].type: unknown metric type 7",
            ),
            (
                pb::SeldonMessage { meta: Some(nan_tag), ..dense_message(&[1], &[1.0]) },
                fp32,
                "meta.tags.t: NaN is not a JSON number",
            ),
            (
                dense_message(&[1], &[1.0]),
                &[("a", DataType::Fp32), ("b", DataType::Fp32)],
                "model 'm' has 2 inputs; a Seldon message carries one tensor: use the V2 protocol",
            ),
        ];
        for (message, inputs, prefix) in cases {
            let got = error(message.clone(), inputs);
            assert!(got.starts_with(prefix), "{message:?}\n  got: {got}\n  want: {prefix}");
        }
        // Struct payloads are refused wherever they sit, not only in the first row.
        let deep =
            ndarray_message(vec![list(vec![Value::from(1.0)]), list(vec![Value::from(BTreeMap::new())])]);
        assert_eq!(error(deep, fp32), "data.ndarray: element 1: objects are not tensor elements");
    }

    #[test]
    fn ragged_deep_ndarray_is_refused_before_any_allocation() {
        // `[[…], null]` 44 levels deep: the first elements alone claim 2^44 elements.
        let null = Value { kind: Some(Kind::NullValue(0)) };
        let mut value = list(vec![Value::from(1.0)]);
        for _ in 0..44 {
            value = list(vec![value, null.clone()]);
        }
        let Some(Kind::ListValue(outer)) = value.kind else { unreachable!() };
        let e = decode(ndarray_message(outer.values), &[("x", DataType::Fp64)]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.starts_with("data.ndarray: ragged nesting"), "{}", e.message);
    }

    #[test]
    fn numeric_responses_mirror_the_request_form() {
        let y = Tensor::new("y", DataType::Fp32, vec![2, 2], le(&[0.5f32, 1.5, 2.5, 3.5], f32::to_le_bytes))
            .unwrap();
        let names = vec!["t:0".to_string(), "t:1".to_string()];

        let m = encode(y.clone(), PayloadKind::Tensor);
        assert_eq!(data_of(&m).names, names);
        assert_eq!(
            data_of(&m).data_oneof,
            Some(default_data::DataOneof::Tensor(pb::Tensor {
                shape: vec![2, 2],
                values: vec![0.5, 1.5, 2.5, 3.5]
            }))
        );
        for raw in [PayloadKind::JsonData, PayloadKind::StrData, PayloadKind::BinData] {
            assert_eq!(encode(y.clone(), raw), m);
        }

        let m = encode(y.clone(), PayloadKind::Ndarray);
        let rows = vec![
            list(vec![Value::from(0.5), Value::from(1.5)]),
            list(vec![Value::from(2.5), Value::from(3.5)]),
        ];
        assert_eq!(
            data_of(&m).data_oneof,
            Some(default_data::DataOneof::Ndarray(ListValue { values: rows }))
        );

        let m = encode(y.clone(), PayloadKind::TfTensor);
        let Some(default_data::DataOneof::Tftensor(p)) = &data_of(&m).data_oneof else { panic!("tftensor") };
        assert_eq!(p.dtype, TfType::DtFloat as i32);
        assert_eq!(p.tensor_shape.as_ref().unwrap().dim.iter().map(|d| d.size).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(p.tensor_content, y.data);
    }

    #[test]
    fn tftensor_round_trips_through_a_model_echo() {
        let mut cases = Vec::new();
        let mut p = tf_proto(TfType::DtFloat, &[1, 2]);
        p.float_val = vec![0.5, -1.5];
        cases.push((p, DataType::Fp32));
        let mut p = tf_proto(TfType::DtDouble, &[2]);
        p.double_val = vec![0.1, 1e300];
        cases.push((p, DataType::Fp64));
        let mut p = tf_proto(TfType::DtInt32, &[2]);
        p.int_val = vec![i32::MIN, 3];
        cases.push((p, DataType::Int32));
        let mut p = tf_proto(TfType::DtInt64, &[2]);
        p.int64_val = vec![i64::MAX, -3];
        cases.push((p, DataType::Int64));
        for (p, datatype) in cases {
            let (r, kind) = decode(with_data(default_data::DataOneof::Tftensor(p), &[]), &[]).unwrap();
            assert_eq!(r.inputs[0].datatype, datatype);
            let m = encode(r.inputs[0].clone(), kind);
            let Some(default_data::DataOneof::Tftensor(back)) = &data_of(&m).data_oneof else {
                panic!("tftensor")
            };
            let (again, _) =
                decode(with_data(default_data::DataOneof::Tftensor(back.clone()), &[]), &[]).unwrap();
            assert_eq!(again.inputs[0], r.inputs[0], "{datatype}");
        }
        // Strings and booleans are not numbers: they come back as ndarray, as from Seldon's wrapper.
        let mut p = tf_proto(TfType::DtString, &[2]);
        p.string_val = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        let (r, kind) = decode(with_data(default_data::DataOneof::Tftensor(p), &[]), &[]).unwrap();
        let m = encode(r.inputs[0].clone(), kind);
        let strings = ListValue { values: vec![Value::from("a"), Value::from("b")] };
        assert_eq!(data_of(&m).data_oneof, Some(default_data::DataOneof::Ndarray(strings)));
        let mut p = tf_proto(TfType::DtBool, &[2]);
        p.bool_val = vec![true, false];
        let (r, kind) = decode(with_data(default_data::DataOneof::Tftensor(p), &[]), &[]).unwrap();
        let m = encode(r.inputs[0].clone(), kind);
        let bools = ListValue { values: vec![Value::from(true), Value::from(false)] };
        assert_eq!(data_of(&m).data_oneof, Some(default_data::DataOneof::Ndarray(bools)));
    }

    #[test]
    fn integers_and_scalars_in_ndarray() {
        let t = Tensor::new("y", DataType::Int64, vec![], le(&[7i64], i64::to_le_bytes)).unwrap();
        let m = encode(t, PayloadKind::Ndarray);
        assert_eq!(
            data_of(&m).data_oneof,
            Some(default_data::DataOneof::Ndarray(ListValue { values: vec![Value::from(7.0)] }))
        );
        assert!(data_of(&m).names.is_empty());
        let bad = Tensor::from_bytes_elements("y", vec![1, 1], [[0xffu8]]).unwrap();
        let e = encode_message(&respond(vec![bad], Meta::default()), PayloadKind::Ndarray).unwrap_err();
        assert_eq!(e.message, "output 'y' element 0 is not UTF-8; ndarray carries only strings");
    }

    #[test]
    fn marked_outputs_answer_as_raw_payloads() {
        let marked = |content_type: &str, payload: &[u8]| {
            Tensor::from_bytes_elements("o", vec![1], [payload]).unwrap().with_parameters(
                [(super::super::CONTENT_TYPE_PARAMETER.to_string(), content_type.into())]
                    .into_iter()
                    .collect(),
            )
        };
        let m = encode(marked("json", br#"{"a":[1,2.5,"x",null]}"#), PayloadKind::Tensor);
        let expected = Value::from(
            [(
                "a".to_string(),
                list(vec![
                    Value::from(1.0),
                    Value::from(2.5),
                    Value::from("x"),
                    Value { kind: Some(Kind::NullValue(0)) },
                ]),
            )]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        );
        assert_eq!(m.data_oneof, Some(seldon_message::DataOneof::JsonData(expected)));
        let m = encode(marked("str", b"hi"), PayloadKind::Ndarray);
        assert_eq!(m.data_oneof, Some(seldon_message::DataOneof::StrData("hi".into())));
        let out = marked("bytes", &[1, 2, 3]);
        let m = encode(out.clone(), PayloadKind::Tensor);
        let Some(seldon_message::DataOneof::BinData(b)) = &m.data_oneof else { panic!("binData") };
        assert_eq!(&b[..], [1, 2, 3]);
        assert_eq!(b.as_ptr(), out.data[4..].as_ptr(), "binData is a slice of the output, not a copy");
    }

    #[test]
    fn raw_requests_answer_in_their_own_form() {
        let json_value = Value::from(
            [("k".to_string(), list(vec![Value::from(1.0), Value::from("v")]))]
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        );
        let payloads = [
            seldon_message::DataOneof::JsonData(json_value),
            seldon_message::DataOneof::StrData("s".into()),
            seldon_message::DataOneof::BinData(Bytes::from_static(&[0, 1])),
        ];
        for payload in payloads {
            let message = pb::SeldonMessage { data_oneof: Some(payload.clone()), ..Default::default() };
            let (r, kind) = decode(message, &[]).unwrap();
            let m = encode_message(&respond(r.inputs, Meta::default()), kind).unwrap();
            assert_eq!(m.data_oneof, Some(payload));
        }
    }

    #[test]
    fn metadata_uses_v2_tensor_entries() {
        let mut m = model(&[("x", DataType::Fp32)]);
        m.versions = vec!["1".into()];
        m.outputs = vec![TensorSpec { name: "y".into(), datatype: DataType::Int64, shape: vec![-1] }];
        let md = encode_metadata(&m);
        assert_eq!((md.name.as_str(), md.versions.clone()), ("m", vec!["1".to_string()]));
        assert_eq!(
            md.inputs,
            vec![pb::SeldonMessageMetadata {
                name: "x".into(),
                datatype: "FP32".into(),
                shape: vec![-1],
                ..Default::default()
            }]
        );
        assert_eq!((md.outputs[0].datatype.as_str(), md.outputs[0].shape.clone()), ("INT64", vec![-1]));
        assert!(md.custom.is_empty());
    }

    #[test]
    fn tags_become_protobuf_values_and_back() {
        let tags = json!({"s": "x", "n": 1, "f": 0.5, "b": true, "z": null, "l": [1, "a"], "o": {"k": [2]}});
        let meta = Meta { puid: "p".into(), tags: tags.as_object().unwrap().clone(), ..Meta::default() };
        let proto = meta_to_proto(&meta);
        assert_eq!(
            proto.tags["o"],
            Value::from(
                [("k".to_string(), list(vec![Value::from(2.0)]))].into_iter().collect::<BTreeMap<_, _>>()
            )
        );
        assert_eq!(meta_from_proto(proto).unwrap(), meta);
    }
}
