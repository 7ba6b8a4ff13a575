//! Seldon Core v1's protocol: `SeldonMessage` over REST ([`json`]) and gRPC ([`grpc`]).
//!
//! A Seldon message carries exactly one payload: a `data` block (a `tensor` of doubles, a nested
//! `ndarray`, or a TensorFlow `tftensor`, with optional column `names`), or `jsonData`,
//! `strData` or `binData`. oxserve's models take named, typed tensors, so both transports map a
//! message onto an [`InferenceRequest`] with the same rules, which live here:
//!
//! - A `data` payload becomes one tensor named after the model's single declared input, in the
//!   declared datatype; a model that declares no inputs gets `"data"` and a datatype inferred
//!   from the values. A model declaring several inputs cannot be fed by a Seldon message.
//!   `data.names` travels as the tensor parameter [`NAMES_PARAMETER`].
//! - `jsonData`, `strData` and `binData` become a one-element BYTES tensor of the same name,
//!   marked by the parameter [`CONTENT_TYPE_PARAMETER`] (`json`, `str`, `bytes`).
//! - `meta` becomes [`InferenceRequest::meta`]; a missing `puid` is generated, since Seldon's
//!   graph promises every request one.
//!
//! A response is built from the first output, mirroring the request's [`PayloadKind`] the way
//! Seldon's Python wrapper does, so existing clients read oxserve's answers unchanged:
//!
//! - A one-element BYTES output marked `content_type` `json`/`str`/`bytes` answers as
//!   `jsonData`/`strData`/`binData`.
//! - Otherwise a numeric output answers in the request's `data` form (`tensor` for a request
//!   that sent jsonData/strData/binData), and a non-numeric one (BOOL, BYTES: NumPy's
//!   `issubdtype(dtype, np.number)` is false for both) as `ndarray`.
//! - `names` are the output's [`NAMES_PARAMETER`] if the runtime set one, else the wrapper's
//!   default class names `t:0 … t:{cols-1}` for a 2-D output, else empty.
//! - A 0-d output sent as `ndarray` is wrapped in a one-element list, since `ndarray` is a
//!   protobuf `ListValue` and cannot be a bare scalar.
//!
//! [`component`] says which unit method each component endpoint (`/predict`, `/transform-input`,
//! `/transform-output`, `/route`, `/aggregate`, `/send-feedback`) calls and how the unit's answer
//! becomes a message. A combiner's messages (`/aggregate`) and a feedback's parts are decoded one
//! by one with the rules above; a feedback part may also carry no payload, only meta. The answer
//! takes the form of the first message, or of the feedback's request.

pub mod component;
pub mod grpc;
pub mod json;
mod tf;

use bytes::Bytes;
use oxserve_core::{
    DataType, Error, Feedback, InferenceRequest, InferenceResponse, Meta, ModelMetadata, Result, Tensor,
};
use serde_json::value::RawValue;

use self::component::Call;

/// The tensor parameter that carries Seldon's column names (`data.names`, a JSON array of
/// strings): set on the decoded input, and read from the first output for the response.
pub const NAMES_PARAMETER: &str = "names";

/// The tensor parameter that marks a BYTES tensor as a Seldon `jsonData` (`"json"`),
/// `strData` (`"str"`) or `binData` (`"bytes"`) payload, on requests and on responses.
pub const CONTENT_TYPE_PARAMETER: &str = "content_type";

/// Which payload form a Seldon message used, so that the response can answer in the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// `data.tensor`: a shape and a flat list of values.
    Tensor,
    /// `data.ndarray`: nested lists.
    Ndarray,
    /// `data.tftensor`: a TensorFlow `TensorProto`.
    TfTensor,
    /// `jsonData`: any JSON value.
    JsonData,
    /// `strData`: a string.
    StrData,
    /// `binData`: bytes (base64 in JSON).
    BinData,
}

impl PayloadKind {
    /// The message field that holds this payload, as error messages name it.
    pub fn field(self) -> &'static str {
        match self {
            PayloadKind::Tensor => "data.tensor",
            PayloadKind::Ndarray => "data.ndarray",
            PayloadKind::TfTensor => "data.tftensor",
            PayloadKind::JsonData => "jsonData",
            PayloadKind::StrData => "strData",
            PayloadKind::BinData => "binData",
        }
    }

    /// The name and `content_type` of the BYTES tensor that a jsonData/strData/binData payload
    /// becomes; `None` for the `data` forms.
    fn raw_tensor(self) -> Option<(&'static str, &'static str)> {
        match self {
            PayloadKind::JsonData => Some(("jsonData", "json")),
            PayloadKind::StrData => Some(("strData", "str")),
            PayloadKind::BinData => Some(("binData", "bytes")),
            PayloadKind::Tensor | PayloadKind::Ndarray | PayloadKind::TfTensor => None,
        }
    }
}

/// Where the one tensor of a `data` payload goes: the model's input, or `"data"` with a datatype
/// inferred from the values when the model declares no inputs.
struct Target<'m> {
    name: &'m str,
    datatype: Option<DataType>,
}

fn target(metadata: &ModelMetadata) -> Result<Target<'_>> {
    match metadata.inputs.as_slice() {
        [] => Ok(Target { name: "data", datatype: None }),
        [spec] => Ok(Target { name: &spec.name, datatype: Some(spec.datatype) }),
        specs => Err(Error::invalid(format!(
            "model '{}' has {} inputs; a Seldon message carries one tensor: use the V2 protocol",
            metadata.name,
            specs.len()
        ))),
    }
}

/// The payload a message carries, if any, given every payload field that was present: at most
/// one.
fn payload(present: &[PayloadKind]) -> Result<Option<PayloadKind>> {
    match present {
        [] => Ok(None),
        [kind] => Ok(Some(*kind)),
        several => {
            let fields: Vec<&str> = several.iter().map(|k| k.field()).collect();
            Err(Error::invalid(format!(
                "{}: a Seldon message carries exactly one payload",
                fields.join(" and ")
            )))
        }
    }
}

/// The error for a message without any payload.
fn no_payload() -> Error {
    Error::invalid(
        "no payload: a Seldon message needs one of data.tensor, data.ndarray, data.tftensor, jsonData, \
         strData or binData",
    )
}

/// The error for `customData`, which holds a `google.protobuf.Any` no model here can read.
fn custom_data_unsupported() -> Error {
    Error::invalid(
        "customData: google.protobuf.Any payloads are not supported; send data, jsonData, strData or binData",
    )
}

/// The error for `ndarray` lists whose nesting does not form a rectangular array (a list next to
/// a value or a null, or lists of different lengths at one depth).
fn ragged() -> Error {
    Error::invalid(
        "ragged nesting: every list at one depth must have the same length and hold only lists or only values",
    )
}

/// Checks `data.tensor.shape` and turns it into tensor dimensions.
fn tensor_shape(dims: &[i64]) -> Result<Vec<usize>> {
    oxserve_core::shape_from_i64(dims, "data.tensor.shape")
}

/// Checks that `data.tensor.values` holds exactly the elements its [`tensor_shape`] asks for.
fn check_value_count(values: usize, shape: &[usize]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if values != expected {
        return Err(Error::invalid(format!(
            "data.tensor.values: {values} values for shape {shape:?}, which needs {expected}"
        )));
    }
    Ok(())
}

/// The request for a `data` payload decoded into `tensor`.
fn data_request(
    metadata: &ModelMetadata,
    mut tensor: Tensor,
    names: Vec<String>,
    meta: Meta,
) -> InferenceRequest {
    if !names.is_empty() {
        tensor.parameters.insert(NAMES_PARAMETER.to_string(), names.into());
    }
    request(metadata, tensor, meta)
}

/// The request for a jsonData/strData/binData payload: one BYTES element holding `payload`.
fn raw_request(
    metadata: &ModelMetadata,
    kind: PayloadKind,
    payload: &[u8],
    meta: Meta,
) -> Result<InferenceRequest> {
    let (name, content_type) =
        kind.raw_tensor().ok_or_else(|| Error::internal(format!("{} is not a raw payload", kind.field())))?;
    let tensor = Tensor::from_bytes_elements(name, vec![1], [payload])
        .map_err(|e| e.context(kind.field()))?
        .with_parameters([(CONTENT_TYPE_PARAMETER.to_string(), content_type.into())].into_iter().collect());
    Ok(request(metadata, tensor, meta))
}

/// A combiner's decoded messages as a call, with the form of the first, which the answer takes
/// (Seldon's wrapper builds a combiner's answer against its first message).
fn aggregate_call(messages: Vec<(InferenceRequest, PayloadKind)>) -> Result<(Call, PayloadKind)> {
    let Some(&(_, kind)) = messages.first() else {
        return Err(Error::invalid(
            "seldonMessages: the list is empty; a combiner needs at least one message",
        ));
    };
    let marked = messages.into_iter().map(|(mut request, kind)| {
        mark_data_form(&mut request, kind);
        request
    });
    Ok((Call::Aggregate(marked.collect()), kind))
}

/// The input tensor parameter naming the `data` form a message came in (`data.tensor`,
/// `data.ndarray`, `data.tftensor`), so that a unit can hand Seldon's `*_raw` methods the message
/// in the caller's own form.
pub const DATA_FORM_PARAMETER: &str = "seldon_data_form";

/// Marks a message that came in with a `data` payload with its form under
/// [`DATA_FORM_PARAMETER`]; jsonData/strData/binData are marked by the decoder already.
pub fn mark_data_form(message: &mut InferenceRequest, kind: PayloadKind) {
    if let (PayloadKind::Tensor | PayloadKind::Ndarray | PayloadKind::TfTensor, [input]) =
        (kind, message.inputs.as_mut_slice())
    {
        input.parameters.insert(DATA_FORM_PARAMETER.to_string(), kind.field().into());
    }
}

/// A feedback's decoded parts (each a message, with its payload form if it had a payload) as a
/// call, answered in the form of its `request` (`ndarray` when that has no payload).
fn feedback_call(
    request: Option<(InferenceRequest, Option<PayloadKind>)>,
    response: Option<(InferenceRequest, Option<PayloadKind>)>,
    reward: f64,
    truth: Option<(InferenceRequest, Option<PayloadKind>)>,
) -> (Call, PayloadKind) {
    let kind = request.as_ref().and_then(|(_, kind)| *kind).unwrap_or(PayloadKind::Ndarray);
    let marked = |part: Option<(InferenceRequest, Option<PayloadKind>)>| {
        part.map(|(mut message, kind)| {
            if let Some(kind) = kind {
                mark_data_form(&mut message, kind);
            }
            message
        })
    };
    let feedback = Feedback {
        request: marked(request),
        response: marked(response).map(component::as_response),
        reward,
        truth: marked(truth),
    };
    (Call::Feedback(Box::new(feedback)), kind)
}

/// The request for a message without a payload: only its meta. Feedback parts may be such
/// messages (a `response` that carries only `meta.routing`, for one).
fn meta_only_request(metadata: &ModelMetadata, meta: Meta) -> InferenceRequest {
    InferenceRequest { model_name: metadata.name.clone(), meta, ..Default::default() }
}

fn request(metadata: &ModelMetadata, tensor: Tensor, mut meta: Meta) -> InferenceRequest {
    if meta.puid.is_empty() {
        meta.puid = uuid::Uuid::new_v4().to_string();
    }
    InferenceRequest { model_name: metadata.name.clone(), inputs: vec![tensor], meta, ..Default::default() }
}

/// What a response carries, decided once for both transports.
enum Reply<'a> {
    /// The output's JSON text, checked to be one JSON value.
    JsonData(&'a RawValue),
    StrData(&'a str),
    /// A slice of the output's buffer.
    BinData(Bytes),
    Data {
        form: DataForm,
        tensor: &'a Tensor,
        names: Vec<String>,
    },
}

/// The `data` form of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataForm {
    Tensor,
    Ndarray,
    TfTensor,
}

fn reply(response: &InferenceResponse, kind: PayloadKind) -> Result<Reply<'_>> {
    let Some(tensor) = response.outputs.first() else {
        return Err(Error::internal(format!("model '{}' returned no outputs", response.model_name)));
    };
    if let Some(raw) = raw_reply(tensor)? {
        return Ok(raw);
    }
    let numeric = !matches!(tensor.datatype, DataType::Bool | DataType::Bytes);
    let form = match kind {
        _ if !numeric => DataForm::Ndarray,
        PayloadKind::Ndarray => DataForm::Ndarray,
        PayloadKind::TfTensor => DataForm::TfTensor,
        PayloadKind::Tensor | PayloadKind::JsonData | PayloadKind::StrData | PayloadKind::BinData => {
            DataForm::Tensor
        }
    };
    Ok(Reply::Data { form, tensor, names: names(tensor) })
}

/// A jsonData/strData/binData reply, if the output is one BYTES element marked as such.
fn raw_reply(tensor: &Tensor) -> Result<Option<Reply<'_>>> {
    if tensor.datatype != DataType::Bytes || tensor.element_count() != 1 {
        return Ok(None);
    }
    let content_type = tensor.parameters.get(CONTENT_TYPE_PARAMETER).and_then(|v| v.as_str());
    let Some(element) = tensor.bytes_elements().next() else { return Ok(None) };
    let name = &tensor.name;
    Ok(Some(match content_type {
        Some("json") => Reply::JsonData(serde_json::from_slice(element).map_err(|e| {
            Error::internal(format!("output '{name}' is marked content_type json but is not JSON: {e}"))
        })?),
        Some("str") => Reply::StrData(std::str::from_utf8(element).map_err(|e| {
            Error::internal(format!("output '{name}' is marked content_type str but is not UTF-8: {e}"))
        })?),
        Some("bytes") => Reply::BinData(tensor.data.slice_ref(element)),
        _ => return Ok(None),
    }))
}

fn names(tensor: &Tensor) -> Vec<String> {
    let given = tensor.parameters.get(NAMES_PARAMETER).and_then(|v| v.as_array()).and_then(|names| {
        names.iter().map(|n| n.as_str().map(str::to_string)).collect::<Option<Vec<String>>>()
    });
    match (given, tensor.shape.as_slice()) {
        (Some(names), _) => names,
        (None, &[_, cols]) => (0..cols).map(|i| format!("t:{i}")).collect(),
        (None, _) => Vec::new(),
    }
}

/// The dimensions an `ndarray` nests: a 0-d tensor becomes a one-element list.
fn ndarray_shape(tensor: &Tensor) -> &[usize] {
    if tensor.shape.is_empty() { &[1] } else { &tensor.shape }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::testing::model;

    fn response(tensor: Tensor) -> InferenceResponse {
        InferenceResponse { model_name: "m".into(), outputs: vec![tensor], ..Default::default() }
    }

    fn fp32(shape: Vec<usize>) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new("y", DataType::Fp32, shape, Bytes::from(vec![0u8; n * 4])).unwrap()
    }

    #[test]
    fn target_is_the_single_input_or_data() {
        let none = model(&[]);
        let t = target(&none).unwrap();
        assert_eq!((t.name, t.datatype), ("data", None));
        let one = model(&[("x", DataType::Int64)]);
        let t = target(&one).unwrap();
        assert_eq!((t.name, t.datatype), ("x", Some(DataType::Int64)));
        let e = target(&model(&[("a", DataType::Fp32), ("b", DataType::Fp32)])).err().unwrap();
        assert_eq!(
            e.message,
            "model 'm' has 2 inputs; a Seldon message carries one tensor: use the V2 protocol"
        );
    }

    #[test]
    fn at_most_one_payload() {
        assert_eq!(payload(&[PayloadKind::StrData]).unwrap(), Some(PayloadKind::StrData));
        assert_eq!(payload(&[]).unwrap(), None);
        let e = payload(&[PayloadKind::Ndarray, PayloadKind::JsonData]).unwrap_err();
        assert_eq!(e.message, "data.ndarray and jsonData: a Seldon message carries exactly one payload");
    }

    #[test]
    fn shapes_and_counts_name_the_field() {
        assert_eq!(tensor_shape(&[2, 3]).unwrap(), vec![2, 3]);
        assert_eq!(
            tensor_shape(&[2, -1]).unwrap_err().message,
            "data.tensor.shape: dimension 1 is -1; dimensions must not be negative"
        );
        assert!(tensor_shape(&[1 << 62, 8]).unwrap_err().message.starts_with("data.tensor.shape: "));
        check_value_count(6, &[2, 3]).unwrap();
        assert_eq!(
            check_value_count(5, &[2, 3]).unwrap_err().message,
            "data.tensor.values: 5 values for shape [2, 3], which needs 6"
        );
    }

    #[test]
    fn puid_is_generated_only_when_missing() {
        let m = model(&[]);
        let given = Meta { puid: "p1".into(), ..Meta::default() };
        assert_eq!(data_request(&m, fp32(vec![1]), vec![], given).meta.puid, "p1");
        let a = data_request(&m, fp32(vec![1]), vec![], Meta::default()).meta.puid;
        let b = data_request(&m, fp32(vec![1]), vec![], Meta::default()).meta.puid;
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn response_forms_mirror_the_request_for_numbers_only() {
        let numbers = response(fp32(vec![2, 2]));
        let form = |r: &InferenceResponse, kind| match reply(r, kind).unwrap() {
            Reply::Data { form, .. } => form,
            _ => panic!("expected data"),
        };
        assert_eq!(form(&numbers, PayloadKind::Tensor), DataForm::Tensor);
        assert_eq!(form(&numbers, PayloadKind::Ndarray), DataForm::Ndarray);
        assert_eq!(form(&numbers, PayloadKind::TfTensor), DataForm::TfTensor);
        assert_eq!(form(&numbers, PayloadKind::JsonData), DataForm::Tensor);
        assert_eq!(form(&numbers, PayloadKind::BinData), DataForm::Tensor);
        let strings = response(Tensor::from_bytes_elements("s", vec![2], ["a", "b"]).unwrap());
        let bools = response(Tensor::new("b", DataType::Bool, vec![1], Bytes::from_static(&[1])).unwrap());
        for kind in [PayloadKind::Tensor, PayloadKind::TfTensor, PayloadKind::StrData] {
            assert_eq!(form(&strings, kind), DataForm::Ndarray);
            assert_eq!(form(&bools, kind), DataForm::Ndarray);
        }
    }

    #[test]
    fn names_default_to_class_names_for_2d_outputs() {
        assert_eq!(names(&fp32(vec![5, 3])), ["t:0", "t:1", "t:2"]);
        assert!(names(&fp32(vec![5])).is_empty());
        assert!(names(&fp32(vec![1, 2, 3])).is_empty());
        let named = fp32(vec![1, 2]).with_parameters(
            [(NAMES_PARAMETER.to_string(), serde_json::json!(["no", "yes"]))].into_iter().collect(),
        );
        assert_eq!(names(&named), ["no", "yes"]);
    }

    #[test]
    fn marked_bytes_become_raw_replies() {
        let marked = |content_type: &str, payload: &[u8]| {
            response(Tensor::from_bytes_elements("o", vec![1], [payload]).unwrap().with_parameters(
                [(CONTENT_TYPE_PARAMETER.to_string(), content_type.into())].into_iter().collect(),
            ))
        };
        let r = marked("json", br#"{"a":1}"#);
        assert!(
            matches!(reply(&r, PayloadKind::Ndarray).unwrap(), Reply::JsonData(raw) if raw.get() == r#"{"a":1}"#)
        );
        let r = marked("str", b"hi");
        assert!(matches!(reply(&r, PayloadKind::Tensor).unwrap(), Reply::StrData("hi")));
        let r = marked("bytes", &[0, 255]);
        assert!(matches!(reply(&r, PayloadKind::Tensor).unwrap(), Reply::BinData(b) if b[..] == [0, 255]));
        let r = marked("json", b"{nope");
        let e = reply(&r, PayloadKind::JsonData).err().unwrap();
        assert!(
            e.message.starts_with("output 'o' is marked content_type json but is not JSON"),
            "{}",
            e.message
        );
        let r = marked("str", &[0xff]);
        assert!(reply(&r, PayloadKind::StrData).err().unwrap().message.contains("not UTF-8"));
        let r = marked("other", b"x");
        assert!(matches!(
            reply(&r, PayloadKind::StrData).unwrap(),
            Reply::Data { form: DataForm::Ndarray, .. }
        ));
    }

    #[test]
    fn no_outputs_is_an_internal_error() {
        let e =
            reply(&InferenceResponse { model_name: "m".into(), ..Default::default() }, PayloadKind::Tensor)
                .err()
                .unwrap();
        assert_eq!(e.kind, oxserve_core::ErrorKind::Internal);
        assert_eq!(e.message, "model 'm' returned no outputs");
    }
}
