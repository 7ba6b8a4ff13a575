//! Open Inference Protocol (V2) over REST: JSON bodies and the binary tensor data extension.
//!
//! The codec is pure: it takes the body and the raw `Inference-Header-Content-Length` value and
//! gives back neutral types, and turns a response into body chunks plus the header length, so
//! the server only copies headers. Decoding never builds a JSON tree of tensor elements: the
//! envelope is parsed with serde, each input's `data` is kept as borrowed raw JSON text and
//! decoded straight into one typed buffer by [`json_data`] once the datatype is known (JSON keys
//! come in any order). Binary tensors stay slices of the received body.

use std::borrow::Cow;

use bytes::Bytes;
use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Parameters, RequestedOutput, Result,
    Tensor, TensorSpec, shape_from_i64,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{check_requested_outputs, parse_datatype, reject_shared_memory};
use crate::json_data::{self, Layout};
use crate::json_envelope::{self, to_json, write_json};

/// `{"error": "..."}`, the body of every non-2xx answer (V1's too).
pub use crate::json_envelope::encode_error;
/// `{"models": [...]}`, the answer to `GET /v2/models` (and V1's `GET /v1/models`).
pub use crate::json_envelope::encode_model_list;

/// The header that gives the length of the JSON part of a body carrying binary tensor data.
/// `0` asks for the raw-body shortcut (the whole body is the model's single input).
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "Inference-Header-Content-Length";

/// Input parameter: the input's bytes follow the JSON header instead of being in `data`.
const BINARY_DATA_SIZE: &str = "binary_data_size";
/// Output parameter: send this output as binary data (overrides `binary_data_output`).
const BINARY_DATA: &str = "binary_data";
/// Request parameter: send every output as binary data unless the output says otherwise.
const BINARY_DATA_OUTPUT: &str = "binary_data_output";

/// The JSON request envelope. Unknown keys (`model_name`, client extras) are ignored.
#[derive(Deserialize)]
struct RequestEnvelope<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
    #[serde(borrow)]
    inputs: Vec<InputEnvelope<'a>>,
    #[serde(default)]
    outputs: Option<Vec<OutputEnvelope>>,
}

#[derive(Deserialize)]
struct InputEnvelope<'a> {
    name: String,
    shape: Vec<i64>,
    #[serde(borrow)]
    datatype: Cow<'a, str>,
    #[serde(default)]
    parameters: Option<Parameters>,
    /// Kept as text: its element type is only known once `datatype` has been read.
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OutputEnvelope {
    name: String,
    #[serde(default)]
    parameters: Option<Parameters>,
}

/// Decodes a `POST /v2/models/{m}/infer` body into a request for the model `metadata` describes.
///
/// `inference_header_length` is the raw `Inference-Header-Content-Length` header value, if the
/// request had one: it splits the body into the JSON header and the binary tensor data. `0`
/// selects the raw-body shortcut: the whole body is the single input of a one-input model, its
/// shape the declared one with a variable first (batch) dimension set to 1 (a BYTES input is one
/// element, shape `[1]`), and the request asks for binary outputs (`binary_data_output`).
///
/// The model name is not part of the body, so the request takes `metadata.name`. Errors are
/// invalid arguments (400) whose message names the field at fault (`inputs[2].shape`,
/// `inputs[0].data: element 5: …`); shared-memory parameters are refused as unimplemented (501).
pub fn decode_infer_request(
    body: Bytes,
    inference_header_length: Option<&str>,
    metadata: &ModelMetadata,
) -> Result<InferenceRequest> {
    let json_length = match inference_header_length {
        None => body.len(),
        Some(value) => match parse_header_length(value, body.len())? {
            0 => return decode_raw_body(body, metadata),
            n => n,
        },
    };
    let envelope: RequestEnvelope<'_> = json_envelope::parse(&body[..json_length])?;
    let mut binary = BinarySection { rest: body.slice(json_length..) };

    let parameters = envelope.parameters.unwrap_or_default();
    check_bool_parameter(&parameters, BINARY_DATA_OUTPUT, "")?;
    let inputs = envelope
        .inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| decode_input(i, input, &mut binary))
        .collect::<Result<Vec<_>>>()?;
    binary.finish()?;
    let outputs = envelope
        .outputs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, output)| decode_requested_output(i, output))
        .collect::<Result<Vec<_>>>()?;
    check_requested_outputs(&outputs)?;
    Ok(InferenceRequest {
        id: envelope.id,
        model_name: metadata.name.clone(),
        parameters,
        inputs,
        outputs,
        ..Default::default()
    })
}

/// Parses the header value; the JSON part must fit in the body.
fn parse_header_length(value: &str, body_length: usize) -> Result<usize> {
    let invalid = |problem: String| Error::invalid(format!("{INFERENCE_HEADER_CONTENT_LENGTH}: {problem}"));
    let length: i128 =
        value.trim().parse().map_err(|_| invalid(format!("'{value}' is not an integer byte count")))?;
    if length < 0 {
        return Err(invalid(format!("{length} is negative")));
    }
    match usize::try_from(length) {
        Ok(length) if length <= body_length => Ok(length),
        _ => Err(invalid(format!("{length} is larger than the body ({body_length} bytes)"))),
    }
}

/// The binary part of a body, handed out in the order the binary inputs appear in `inputs`.
struct BinarySection {
    rest: Bytes,
}

impl BinarySection {
    /// The next `size` bytes, as a slice of the body (no copy).
    fn take(&mut self, size: usize, field: &str) -> Result<Bytes> {
        if size > self.rest.len() {
            return Err(Error::invalid(format!(
                "{field}: {size} bytes, but only {} bytes of binary data remain after the JSON \
                 (is {INFERENCE_HEADER_CONTENT_LENGTH} right?)",
                self.rest.len()
            )));
        }
        Ok(self.rest.split_to(size))
    }

    /// Bytes that no input claimed mean the header length or a `binary_data_size` is wrong.
    fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "{INFERENCE_HEADER_CONTENT_LENGTH}: {} bytes after the JSON are not claimed by any input's \
             parameters.binary_data_size",
            self.rest.len()
        )))
    }
}

fn decode_input(i: usize, input: InputEnvelope<'_>, binary: &mut BinarySection) -> Result<Tensor> {
    let owner = format!("inputs[{i}]");
    let datatype =
        parse_datatype(&input.datatype).map_err(|e| e.context(format_args!("{owner}.datatype")))?;
    let shape = shape_from_i64(&input.shape, &format!("{owner}.shape"))?;
    // `shape_from_i64` checked that the product fits.
    let count: usize = shape.iter().product();
    let mut parameters = input.parameters.unwrap_or_default();
    reject_shared_memory(&parameters, &owner)?;
    // A transport detail of this body: the model must not see it, and a graph that forwards the
    // tensor as JSON must not send a stale size along.
    let binary_size = parameters.remove(BINARY_DATA_SIZE);
    let data = match (input.data, binary_size) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(format!(
                "{owner}: has both data and parameters.{BINARY_DATA_SIZE}; send exactly one"
            )));
        }
        (None, None) => {
            return Err(Error::invalid(format!(
                "{owner}: has neither data nor parameters.{BINARY_DATA_SIZE}; send exactly one"
            )));
        }
        (Some(json), None) => decode_json_data(&owner, json, datatype, &shape, count)?,
        (None, Some(size)) => {
            let field = format!("{owner}.parameters.{BINARY_DATA_SIZE}");
            let size = size.as_u64().and_then(|s| usize::try_from(s).ok()).ok_or_else(|| {
                Error::invalid(format!("{field}: must be a non-negative integer, got {size}"))
            })?;
            // BYTES sizes are checked by parsing the length prefixes, in `Tensor::new` below.
            if let Some(expected) = datatype.element_size().map(|s| s.saturating_mul(count))
                && size != expected
            {
                return Err(Error::invalid(format!(
                    "{field}: {size} bytes, but shape {shape:?} of {datatype} needs {expected}"
                )));
            }
            binary.take(size, &field)?
        }
    };
    Ok(Tensor::new(input.name, datatype, shape, data)
        .map_err(|e| e.context(&owner))?
        .with_parameters(parameters))
}

fn decode_json_data(
    owner: &str,
    json: &RawValue,
    datatype: DataType,
    shape: &[usize],
    count: usize,
) -> Result<Bytes> {
    if !datatype.has_json_form() {
        return Err(Error::invalid(format!(
            "{owner}.data: {datatype} has no JSON form; use binary data (parameters.{BINARY_DATA_SIZE})"
        )));
    }
    // Any nesting with the right element count is accepted, flat or matching the shape, as
    // Triton does: the layout is row-major either way.
    let decoded =
        json_data::decode(json.get(), datatype).map_err(|e| e.context(format_args!("{owner}.data")))?;
    if decoded.count != count {
        return Err(Error::invalid(format!(
            "{owner}.data: shape {shape:?} needs {count} elements, got {}",
            decoded.count
        )));
    }
    Ok(decoded.data)
}

fn decode_requested_output(i: usize, output: OutputEnvelope) -> Result<RequestedOutput> {
    let parameters = output.parameters.unwrap_or_default();
    let owner = format!("outputs[{i}]");
    reject_shared_memory(&parameters, &owner)?;
    check_bool_parameter(&parameters, BINARY_DATA, &owner)?;
    Ok(RequestedOutput { name: output.name, parameters })
}

/// Rejects a non-boolean `key`, so that [`OutputEncoding`] can read the flags without failing.
/// `owner` is the path of the object holding `parameters` (empty for the request itself).
fn check_bool_parameter(parameters: &Parameters, key: &str, owner: &str) -> Result<()> {
    match parameters.get(key) {
        Some(value) if !value.is_boolean() => {
            let dot = if owner.is_empty() { "" } else { "." };
            Err(Error::invalid(format!("{owner}{dot}parameters.{key}: must be true or false, got {value}")))
        }
        _ => Ok(()),
    }
}

/// The raw-body shortcut (`Inference-Header-Content-Length: 0`): the whole body is the single
/// input of a one-input model, in batch 1, and every output is returned binary.
///
/// The shape is the declared one with a variable first (batch) dimension set to 1; any other
/// variable dimension cannot be known and is an error. A BYTES input becomes one element of
/// shape `[1]` whose payload is the whole body (it carries no length prefix, as in Triton).
fn decode_raw_body(body: Bytes, metadata: &ModelMetadata) -> Result<InferenceRequest> {
    let context = format!("raw body ({INFERENCE_HEADER_CONTENT_LENGTH}: 0)");
    let [spec] = metadata.inputs.as_slice() else {
        return Err(Error::invalid(format!(
            "{context}: the body is taken as the single input, but model '{}' has {} inputs; \
             send a JSON header",
            metadata.name,
            metadata.inputs.len()
        )));
    };
    let tensor = match spec.datatype {
        DataType::Bytes => Tensor::from_bytes_elements(&spec.name, vec![1], [&body[..]]),
        _ => raw_shape(spec).and_then(|shape| Tensor::new(&spec.name, spec.datatype, shape, body)),
    }
    .map_err(|e| e.context(&context))?;
    let mut parameters = Parameters::new();
    // Recorded as the request parameter so that `OutputEncoding::from_request` sees it.
    parameters.insert(BINARY_DATA_OUTPUT.to_string(), true.into());
    Ok(InferenceRequest {
        model_name: metadata.name.clone(),
        parameters,
        inputs: vec![tensor],
        ..Default::default()
    })
}

fn raw_shape(spec: &TensorSpec) -> Result<Vec<usize>> {
    spec.shape
        .iter()
        .enumerate()
        .map(|(d, &dim)| match usize::try_from(dim) {
            Ok(dim) => Ok(dim),
            Err(_) if d == 0 => Ok(1),
            Err(_) => Err(Error::invalid(format!(
                "input '{}' has shape {:?}: only the first (batch) dimension may be variable; \
                 send a JSON header with the shape",
                spec.name, spec.shape
            ))),
        })
        .collect()
}

/// How the caller wants each output sent: JSON `data` or binary data after the JSON header.
///
/// Built with [`OutputEncoding::from_request`] before the request is moved into the model,
/// since the choice lives in the request's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputEncoding {
    /// Request-level `binary_data_output`: the default for every output.
    binary_data_output: bool,
    /// Outputs whose own `binary_data` parameter overrides the default.
    binary_data: Vec<(String, bool)>,
}

impl OutputEncoding {
    /// Reads `parameters.binary_data_output` and each requested output's `binary_data`.
    /// [`decode_infer_request`] has rejected non-boolean values already.
    pub fn from_request(request: &InferenceRequest) -> OutputEncoding {
        let flag = |parameters: &Parameters, key: &str| parameters.get(key).and_then(|v| v.as_bool());
        OutputEncoding {
            binary_data_output: flag(&request.parameters, BINARY_DATA_OUTPUT).unwrap_or(false),
            binary_data: request
                .outputs
                .iter()
                .filter_map(|o| Some((o.name.clone(), flag(&o.parameters, BINARY_DATA)?)))
                .collect(),
        }
    }

    /// Whether `output` goes binary: by the caller's choice, or because JSON cannot carry it
    /// (FP16/BF16, BYTES that are not UTF-8).
    fn is_binary(&self, output: &Tensor) -> bool {
        let requested = self
            .binary_data
            .iter()
            .find(|(name, _)| *name == output.name)
            .map_or(self.binary_data_output, |&(_, binary)| binary);
        requested
            || !output.datatype.has_json_form()
            || (output.datatype == DataType::Bytes
                && output.bytes_elements().any(|e| std::str::from_utf8(e).is_err()))
    }
}

/// A response body: the JSON header, then one chunk per binary output (its tensor's own
/// buffer, not a copy), in `outputs` order.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBody {
    pub chunks: Vec<Bytes>,
    /// `Some(length of the JSON header)` iff binary data follows it. The server then answers
    /// `Content-Type: application/octet-stream` with `Inference-Header-Content-Length: n`;
    /// otherwise `application/json` and no extra header.
    pub json_length: Option<usize>,
}

/// Encodes an inference response as Triton does: keys `id` (when set), `model_name`,
/// `model_version` (when set), `parameters` (when not empty), `outputs`, and output `data`
/// always flat. Outputs chosen by `encoding` carry `parameters.binary_data_size` instead of
/// `data`, and their bytes follow the JSON.
pub fn encode_infer_response(response: &InferenceResponse, encoding: &OutputEncoding) -> Result<EncodedBody> {
    let mut json = Vec::with_capacity(256);
    let mut binary = Vec::new();
    json.push(b'{');
    if let Some(id) = &response.id {
        json.extend_from_slice(b"\"id\":");
        write_json(&mut json, id);
        json.push(b',');
    }
    json.extend_from_slice(b"\"model_name\":");
    write_json(&mut json, &response.model_name);
    if let Some(version) = &response.model_version {
        json.extend_from_slice(b",\"model_version\":");
        write_json(&mut json, version);
    }
    if !response.parameters.is_empty() {
        json.extend_from_slice(b",\"parameters\":");
        write_json(&mut json, &response.parameters);
    }
    json.extend_from_slice(b",\"outputs\":[");
    for (i, output) in response.outputs.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        let is_binary = encoding.is_binary(output);
        json.extend_from_slice(b"{\"name\":");
        write_json(&mut json, &output.name);
        json.extend_from_slice(b",\"datatype\":\"");
        json.extend_from_slice(output.datatype.as_str().as_bytes());
        json.extend_from_slice(b"\",\"shape\":");
        write_json(&mut json, &output.shape);
        write_output_parameters(&mut json, &output.parameters, is_binary.then_some(output.data.len()));
        if is_binary {
            binary.push(output.data.clone());
        } else {
            json.extend_from_slice(b",\"data\":");
            json_data::write(&mut json, output, Layout::Flat)?;
        }
        json.push(b'}');
    }
    json.extend_from_slice(b"]}");

    let json_length = (!binary.is_empty()).then_some(json.len());
    let mut chunks = Vec::with_capacity(1 + binary.len());
    chunks.push(Bytes::from(json));
    chunks.extend(binary);
    Ok(EncodedBody { chunks, json_length })
}

/// Writes `,"parameters":{…}` when there is anything to write. A `binary_data_size` the model
/// passed through is dropped: only the size of the bytes sent now may appear, since clients
/// read the output as binary when they see the key.
fn write_output_parameters(out: &mut Vec<u8>, parameters: &Parameters, binary_size: Option<usize>) {
    let kept = parameters.iter().filter(|(key, _)| *key != BINARY_DATA_SIZE);
    let mut entries = kept.peekable();
    if entries.peek().is_none() && binary_size.is_none() {
        return;
    }
    out.extend_from_slice(b",\"parameters\":{");
    let mut first = true;
    for (key, value) in entries {
        if !first {
            out.push(b',');
        }
        first = false;
        write_json(out, key);
        out.push(b':');
        write_json(out, value);
    }
    if let Some(size) = binary_size {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"binary_data_size\":");
        out.extend_from_slice(itoa::Buffer::new().format(size).as_bytes());
    }
    out.push(b'}');
}

/// `GET /v2/models/{m}/config`: Triton's model configuration in its JSON form (the same
/// configuration the gRPC `ModelConfig` call answers), which tools such as `perf_analyzer` read.
pub fn encode_model_config(metadata: &ModelMetadata, max_batch_size: usize) -> Vec<u8> {
    let config = super::grpc::encode_model_config(metadata, max_batch_size).config.unwrap_or_default();
    let tensor = |name: &str, data_type: i32, dims: &[i64]| {
        let data_type = crate::pb::inference::DataType::try_from(data_type)
            .unwrap_or(crate::pb::inference::DataType::TypeInvalid);
        serde_json::json!({"name": name, "data_type": data_type.as_str_name(), "dims": dims})
    };
    let json = serde_json::json!({
        "name": config.name,
        "platform": config.platform,
        "backend": config.backend,
        "max_batch_size": config.max_batch_size,
        "input": config.input.iter().map(|i| tensor(&i.name, i.data_type, &i.dims)).collect::<Vec<_>>(),
        "output": config.output.iter().map(|o| tensor(&o.name, o.data_type, &o.dims)).collect::<Vec<_>>(),
    });
    to_json(&json)
}

/// `GET /v2/models/{m}`: name, versions (when any), platform, inputs and outputs.
pub fn encode_model_metadata(metadata: &ModelMetadata) -> Vec<u8> {
    to_json(metadata)
}

/// `GET /v2`: `extensions` must list exactly what the server implements, in Triton's
/// spellings, since clients check it before using a feature.
pub fn encode_server_metadata(name: &str, version: &str, extensions: &[&str]) -> Vec<u8> {
    #[derive(Serialize)]
    struct ServerMetadata<'a> {
        name: &'a str,
        version: &'a str,
        extensions: &'a [&'a str],
    }
    to_json(&ServerMetadata { name, version, extensions })
}

#[cfg(test)]
mod tests {
    use oxserve_core::ErrorKind;
    use serde_json::{Value, json};

    use super::*;

    fn model(inputs: &[(&str, DataType, &[i64])]) -> ModelMetadata {
        ModelMetadata {
            name: "m".into(),
            inputs: inputs
                .iter()
                .map(|&(name, datatype, shape)| TensorSpec {
                    name: name.into(),
                    datatype,
                    shape: shape.to_vec(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn decode_json(json: &str) -> Result<InferenceRequest> {
        decode_infer_request(Bytes::from(json.to_string()), None, &model(&[]))
    }

    fn error(json: &str) -> Error {
        decode_json(json).unwrap_err()
    }

    /// A body of `json` followed by `binary`, with the header value that describes it.
    fn binary_body(json: &str, binary: &[&[u8]]) -> (Bytes, String) {
        let mut body = json.as_bytes().to_vec();
        binary.iter().for_each(|b| body.extend_from_slice(b));
        (Bytes::from(body), json.len().to_string())
    }

    fn decode_binary(json: &str, binary: &[&[u8]]) -> Result<InferenceRequest> {
        let (body, length) = binary_body(json, binary);
        decode_infer_request(body, Some(&length), &model(&[]))
    }

    fn le<const N: usize>(values: impl IntoIterator<Item = [u8; N]>) -> Vec<u8> {
        values.into_iter().flatten().collect()
    }

    fn tensor(name: &str, datatype: DataType, shape: Vec<usize>, data: Vec<u8>) -> Tensor {
        Tensor::new(name, datatype, shape, Bytes::from(data)).unwrap()
    }

    fn response(outputs: Vec<Tensor>) -> InferenceResponse {
        InferenceResponse { model_name: "m".into(), outputs, ..Default::default() }
    }

    fn encoding(json_request: &str) -> OutputEncoding {
        OutputEncoding::from_request(&decode_json(json_request).unwrap())
    }

    /// Reads an encoded response back: (header JSON, output tensors), taking binary outputs
    /// from the chunks after the header and JSON outputs through `json_data`.
    fn read_back(body: &EncodedBody) -> (Value, Vec<Tensor>) {
        let header: Value = serde_json::from_slice(&body.chunks[0]).unwrap();
        let mut binary: Bytes = body.chunks[1..].concat().into();
        let outputs = header["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let datatype = DataType::parse(o["datatype"].as_str().unwrap()).unwrap();
                let shape: Vec<usize> = serde_json::from_value(o["shape"].clone()).unwrap();
                let data = match o["parameters"]["binary_data_size"].as_u64() {
                    Some(size) => binary.split_to(size as usize),
                    None => json_data::decode(&o["data"].to_string(), datatype).unwrap().data,
                };
                tensor(o["name"].as_str().unwrap(), datatype, shape, data.to_vec())
            })
            .collect();
        assert!(binary.is_empty(), "binary chunks hold more than the outputs claim");
        (header, outputs)
    }

    /// One example tensor of 4 elements per datatype, as JSON values and as little-endian bytes.
    fn samples() -> Vec<(DataType, &'static str, Vec<u8>)> {
        vec![
            (DataType::Bool, "[true,false,true,true]", vec![1, 0, 1, 1]),
            (DataType::Uint8, "[0,255,7,8]", vec![0, 255, 7, 8]),
            (DataType::Uint16, "[0,65535,7,8]", le([0u16, 65535, 7, 8].map(u16::to_le_bytes))),
            (DataType::Uint32, "[0,4294967295,7,8]", le([0u32, u32::MAX, 7, 8].map(u32::to_le_bytes))),
            (DataType::Uint64, "[0,18446744073709551615,7,8]", le([0, u64::MAX, 7, 8].map(u64::to_le_bytes))),
            (DataType::Int8, "[-128,127,0,-1]", le([-128i8, 127, 0, -1].map(i8::to_le_bytes))),
            (DataType::Int16, "[-32768,32767,0,-1]", le([i16::MIN, i16::MAX, 0, -1].map(i16::to_le_bytes))),
            (
                DataType::Int32,
                "[-2147483648,2147483647,0,-1]",
                le([i32::MIN, i32::MAX, 0, -1].map(i32::to_le_bytes)),
            ),
            (
                DataType::Int64,
                "[-9223372036854775808,9223372036854775807,0,-1]",
                le([i64::MIN, i64::MAX, 0, -1].map(i64::to_le_bytes)),
            ),
            (
                DataType::Fp32,
                "[0.1,-1.5,3.4028235e38,1e-45]",
                le([0.1f32, -1.5, f32::MAX, 1e-45].map(f32::to_le_bytes)),
            ),
            (
                DataType::Fp64,
                "[0.1,-1.5,1.7976931348623157e308,5e-324]",
                le([0.1, -1.5, f64::MAX, 5e-324].map(f64::to_le_bytes)),
            ),
            (
                DataType::Bytes,
                r#"["a","","h\u00e9llo","\ud83d\ude00"]"#,
                encode_bytes("a", "", "héllo", "😀"),
            ),
        ]
    }

    fn encode_bytes(a: &str, b: &str, c: &str, d: &str) -> Vec<u8> {
        oxserve_core::encode_bytes_elements([a, b, c, d]).unwrap().to_vec()
    }

    #[test]
    fn every_json_datatype_round_trips() {
        for (datatype, json, bytes) in samples() {
            let request = decode_json(&format!(
                r#"{{"inputs":[{{"name":"x","shape":[2,2],"datatype":"{datatype}","data":{json}}}]}}"#
            ))
            .unwrap();
            let input = &request.inputs[0];
            assert_eq!((input.datatype, &input.shape, &input.data[..]), (datatype, &vec![2, 2], &bytes[..]));

            let body = encode_infer_response(&response(request.inputs), &OutputEncoding::default()).unwrap();
            assert_eq!((body.chunks.len(), body.json_length), (1, None), "{datatype} must stay JSON");
            let (header, outputs) = read_back(&body);
            assert!(header["outputs"][0]["data"].is_array(), "{datatype}: {header}");
            assert_eq!(outputs[0].data, bytes, "{datatype}");
        }
    }

    #[test]
    fn every_datatype_round_trips_as_binary_without_copies() {
        let mut samples = samples();
        samples.push((
            DataType::Fp16,
            "",
            le([1.5f32, -2.0, 0.0, 65504.0].map(|v| half::f16::from_f32(v).to_le_bytes())),
        ));
        samples.push((
            DataType::Bf16,
            "",
            le([1.5f32, -2.0, 0.0, 1e30].map(|v| half::bf16::from_f32(v).to_le_bytes())),
        ));
        for (datatype, _, bytes) in samples {
            let json = format!(
                r#"{{"inputs":[{{"name":"x","shape":[4],"datatype":"{datatype}","parameters":{{"binary_data_size":{}}}}}],
                    "parameters":{{"binary_data_output":true}}}}"#,
                bytes.len()
            );
            let (body, length) = binary_body(&json, &[&bytes]);
            let request = decode_infer_request(body.clone(), Some(&length), &model(&[])).unwrap();
            let input = &request.inputs[0];
            assert_eq!(input.data, bytes, "{datatype}");
            assert_eq!(input.data.as_ptr(), body[json.len()..].as_ptr(), "{datatype}: input was copied");
            assert!(input.parameters.is_empty(), "binary_data_size must not reach the model");

            let sent = input.data.clone();
            let encoding = OutputEncoding::from_request(&request);
            let body = encode_infer_response(&response(request.inputs), &encoding).unwrap();
            assert_eq!(body.json_length, Some(body.chunks[0].len()));
            assert_eq!(body.chunks[1].as_ptr(), sent.as_ptr(), "{datatype}: output was copied");
            let (header, outputs) = read_back(&body);
            assert!(header["outputs"][0].get("data").is_none());
            assert_eq!(outputs[0].data, bytes, "{datatype}");
        }
    }

    #[test]
    fn nested_flat_and_scalar_data() {
        let nested = decode_json(
            r#"{"inputs":[{"name":"x","shape":[2,3],"datatype":"INT32","data":[[1,2,3],[4,5,6]]}]}"#,
        )
        .unwrap();
        let flat =
            decode_json(r#"{"inputs":[{"name":"x","shape":[2,3],"datatype":"INT32","data":[1,2,3,4,5,6]}]}"#)
                .unwrap();
        assert_eq!(nested.inputs[0].data, flat.inputs[0].data);
        let scalar =
            decode_json(r#"{"inputs":[{"name":"s","shape":[],"datatype":"FP64","data":2.5}]}"#).unwrap();
        assert_eq!(scalar.inputs[0].data, 2.5f64.to_le_bytes()[..]);
        let empty =
            decode_json(r#"{"inputs":[{"name":"e","shape":[0,3],"datatype":"FP32","data":[]}]}"#).unwrap();
        assert_eq!(empty.inputs[0].shape, vec![0, 3]);
    }

    #[test]
    fn keys_come_in_any_order_and_request_fields_are_kept() {
        let request = decode_json(
            r#"{"outputs":[{"parameters":{"binary_data":true,"classification":2},"name":"y"}],
                "model_name":"ignored","extra":{"nested":[1]},
                "inputs":[{"data":[1,2],"parameters":{"note":"hi"},"datatype":"UINT8","shape":[2],"name":"x"}],
                "parameters":{"priority":1},"id":"req-7"}"#,
        )
        .unwrap();
        assert_eq!(request.id.as_deref(), Some("req-7"));
        assert_eq!(request.model_name, "m", "the model name comes from the metadata, not the body");
        assert_eq!(Value::Object(request.parameters), json!({"priority": 1}));
        assert_eq!(request.inputs[0].data, vec![1u8, 2]);
        assert_eq!(Value::Object(request.inputs[0].parameters.clone()), json!({"note": "hi"}));
        assert_eq!(request.outputs[0].name, "y");
        assert_eq!(
            Value::Object(request.outputs[0].parameters.clone()),
            json!({"binary_data": true, "classification": 2})
        );
    }

    #[test]
    fn binary_and_json_inputs_mix_in_input_order() {
        let a = le([1i32, 2].map(i32::to_le_bytes));
        let c = vec![1u8, 0, 1];
        let request = decode_binary(
            r#"{"inputs":[
                {"name":"a","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}},
                {"name":"b","shape":[1],"datatype":"FP32","data":[0.5]},
                {"name":"c","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}]}"#,
            &[&a, &c],
        )
        .unwrap();
        let data: Vec<&[u8]> = request.inputs.iter().map(|t| &t.data[..]).collect();
        assert_eq!(data, vec![&a[..], &0.5f32.to_le_bytes()[..], &c[..]]);
    }

    #[test]
    fn binary_bytes_use_length_prefixes() {
        let elements = oxserve_core::encode_bytes_elements(["", "héllo", "日本"]).unwrap();
        let json = format!(
            r#"{{"inputs":[{{"name":"s","shape":[3],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}]}}"#,
            elements.len()
        );
        let request = decode_binary(&json, &[&elements]).unwrap();
        let got: Vec<&[u8]> = request.inputs[0].bytes_elements().collect();
        assert_eq!(got, vec!["".as_bytes(), "héllo".as_bytes(), "日本".as_bytes()]);

        let body = encode_infer_response(&response(request.inputs), &OutputEncoding::default()).unwrap();
        let (header, _) = read_back(&body);
        assert_eq!(header["outputs"][0]["data"], json!(["", "héllo", "日本"]));

        let e = decode_binary(
            r#"{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}"#,
            &[&[5, 0, 0, 0, b'h', b'i']],
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("inputs[0]: tensor 's': BYTES element 0 declares 5 bytes"),
            "{}",
            e.message
        );
    }

    #[test]
    fn worked_example_of_the_reference() {
        let json = r#"{"inputs":[{"name":"tokens","shape":[1,3],"datatype":"INT64","parameters":{"binary_data_size":24}},{"name":"text","shape":[1,1],"datatype":"BYTES","parameters":{"binary_data_size":9}}],"outputs":[{"name":"scores","parameters":{"binary_data":true}}]}"#;
        let tokens = le([101i64, 7, 42].map(i64::to_le_bytes));
        let text = b"\x05\x00\x00\x00hello";
        let (body, length) = binary_body(json, &[&tokens, text]);
        assert_eq!((length.as_str(), body.len()), ("249", 282));
        let metadata = ModelMetadata { name: "ranker".into(), ..Default::default() };
        let request = decode_infer_request(body, Some("249"), &metadata).unwrap();
        assert_eq!(request.model_name, "ranker");
        assert_eq!((request.inputs[0].shape.clone(), &request.inputs[0].data[..]), (vec![1, 3], &tokens[..]));
        assert_eq!(request.inputs[1].bytes_elements().collect::<Vec<_>>(), vec![b"hello"]);

        let encoding = OutputEncoding::from_request(&request);
        let scores = tensor("scores", DataType::Fp32, vec![1, 2], le([0.25f32, 0.75].map(f32::to_le_bytes)));
        let reply = InferenceResponse {
            model_name: "ranker".into(),
            model_version: Some("1".into()),
            outputs: vec![scores],
            ..Default::default()
        };
        let body = encode_infer_response(&reply, &encoding).unwrap();
        assert_eq!(
            std::str::from_utf8(&body.chunks[0]).unwrap(),
            r#"{"model_name":"ranker","model_version":"1","outputs":[{"name":"scores","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}}]}"#
        );
        assert_eq!(body.json_length, Some(141));
        assert_eq!(&body.chunks[1][..], &[0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x40, 0x3f]);
    }

    #[test]
    fn response_keys_in_order_with_optional_fields() {
        let mut output = tensor("y", DataType::Int32, vec![2], le([1i32, 2].map(i32::to_le_bytes)));
        output.parameters.insert("content_type".into(), "np".into());
        // A size the model passed through from an input must not make clients read binary data.
        output.parameters.insert("binary_data_size".into(), 99.into());
        let reply = InferenceResponse {
            id: Some("r\"1".into()),
            model_name: "m".into(),
            parameters: [("sequence_end".to_string(), Value::Bool(true))].into_iter().collect(),
            outputs: vec![output],
            ..Default::default()
        };
        let body = encode_infer_response(&reply, &OutputEncoding::default()).unwrap();
        assert_eq!(
            std::str::from_utf8(&body.chunks[0]).unwrap(),
            r#"{"id":"r\"1","model_name":"m","parameters":{"sequence_end":true},"outputs":[{"name":"y","datatype":"INT32","shape":[2],"parameters":{"content_type":"np"},"data":[1,2]}]}"#
        );
        let reply = response(vec![]);
        let body = encode_infer_response(&reply, &OutputEncoding::default()).unwrap();
        assert_eq!(&body.chunks[0][..], br#"{"model_name":"m","outputs":[]}"#);
    }

    fn two_outputs() -> InferenceResponse {
        response(vec![
            tensor("a", DataType::Uint8, vec![1], vec![1]),
            tensor("b", DataType::Uint8, vec![1], vec![2]),
        ])
    }

    fn binary_names(encoding: &OutputEncoding) -> Vec<String> {
        let body = encode_infer_response(&two_outputs(), encoding).unwrap();
        let (header, _) = read_back(&body);
        header["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o.get("data").is_none())
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn binary_data_output_and_per_output_overrides() {
        let input = r#"{"name":"x","shape":[1],"datatype":"UINT8","data":[1]}"#;
        assert!(binary_names(&encoding(&format!(r#"{{"inputs":[{input}]}}"#))).is_empty());
        assert_eq!(
            binary_names(&encoding(&format!(
                r#"{{"inputs":[{input}],"parameters":{{"binary_data_output":true}}}}"#
            ))),
            vec!["a", "b"]
        );
        assert_eq!(
            binary_names(&encoding(&format!(
                r#"{{"inputs":[{input}],"parameters":{{"binary_data_output":true}},
                    "outputs":[{{"name":"a","parameters":{{"binary_data":false}}}},{{"name":"b"}}]}}"#
            ))),
            vec!["b"]
        );
        assert_eq!(
            binary_names(&encoding(&format!(
                r#"{{"inputs":[{input}],"outputs":[{{"name":"b","parameters":{{"binary_data":true}}}}]}}"#
            ))),
            vec!["b"]
        );
    }

    #[test]
    fn outputs_json_cannot_carry_are_always_binary() {
        let request = r#"{"inputs":[],"outputs":[{"name":"h","parameters":{"binary_data":false}},
                          {"name":"s","parameters":{"binary_data":false}}]}"#;
        let reply = response(vec![
            tensor("h", DataType::Fp16, vec![1], half::f16::from_f32(1.0).to_le_bytes().to_vec()),
            tensor("s", DataType::Bytes, vec![1], vec![1, 0, 0, 0, 0xff]),
            tensor("t", DataType::Bytes, vec![1], vec![1, 0, 0, 0, b'o']),
            tensor("g", DataType::Bf16, vec![1], half::bf16::from_f32(1.0).to_le_bytes().to_vec()),
        ]);
        let body = encode_infer_response(&reply, &encoding(request)).unwrap();
        let (header, outputs) = read_back(&body);
        let data: Vec<bool> =
            header["outputs"].as_array().unwrap().iter().map(|o| o.get("data").is_some()).collect();
        assert_eq!(data, vec![false, false, true, false]);
        assert_eq!(outputs, reply.outputs);
    }

    #[test]
    fn raw_body_is_the_single_input() {
        let metadata = model(&[("x", DataType::Fp32, &[-1, 4])]);
        let body = Bytes::from(le([1.0f32, 2.0, 3.0, 4.0].map(f32::to_le_bytes)));
        let request = decode_infer_request(body.clone(), Some("0"), &metadata).unwrap();
        let input = &request.inputs[0];
        assert_eq!(
            (input.name.as_str(), input.datatype, input.shape.clone()),
            ("x", DataType::Fp32, vec![1, 4])
        );
        assert_eq!(input.data.as_ptr(), body.as_ptr(), "the raw body was copied");
        assert_eq!(
            OutputEncoding::from_request(&request),
            OutputEncoding { binary_data_output: true, binary_data: vec![] }
        );

        let text = model(&[("t", DataType::Bytes, &[-1])]);
        let request = decode_infer_request(Bytes::from_static("héllo".as_bytes()), Some("0"), &text).unwrap();
        assert_eq!(request.inputs[0].shape, vec![1]);
        assert_eq!(request.inputs[0].bytes_elements().collect::<Vec<_>>(), vec!["héllo".as_bytes()]);

        let fixed = model(&[("x", DataType::Uint8, &[2, 2])]);
        let request = decode_infer_request(Bytes::from_static(&[1, 2, 3, 4]), Some("0"), &fixed).unwrap();
        assert_eq!(request.inputs[0].shape, vec![2, 2], "a fixed first dimension is kept");
    }

    #[test]
    fn raw_body_errors() {
        let two = model(&[("a", DataType::Fp32, &[-1]), ("b", DataType::Fp32, &[-1])]);
        let e = decode_infer_request(Bytes::from_static(&[0; 4]), Some("0"), &two).unwrap_err();
        assert!(
            e.message.starts_with("raw body (Inference-Header-Content-Length: 0)")
                && e.message.contains("2 inputs"),
            "{}",
            e.message
        );
        let one = model(&[("x", DataType::Fp32, &[-1, 4])]);
        let e = decode_infer_request(Bytes::from_static(&[0; 10]), Some("0"), &one).unwrap_err();
        assert!(e.message.contains("16 bytes") && e.message.contains("got 10"), "{}", e.message);
        let variable = model(&[("x", DataType::Fp32, &[-1, -1])]);
        let e = decode_infer_request(Bytes::from_static(&[0; 8]), Some("0"), &variable).unwrap_err();
        assert!(e.message.contains("only the first (batch) dimension may be variable"), "{}", e.message);
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn bad_inference_header_content_length() {
        let json = r#"{"inputs":[]}"#;
        for (value, problem) in [
            ("-1", "-1 is negative"),
            ("1.5", "'1.5' is not an integer"),
            ("x", "'x' is not"),
            ("14", "larger than the body (13 bytes)"),
        ] {
            let e = decode_infer_request(Bytes::from_static(json.as_bytes()), Some(value), &model(&[]))
                .unwrap_err();
            assert!(e.message.starts_with("Inference-Header-Content-Length: "), "{}", e.message);
            assert!(e.message.contains(problem), "{value}: {}", e.message);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
        }
        assert!(decode_infer_request(Bytes::from_static(json.as_bytes()), Some(" 13 "), &model(&[])).is_ok());
    }

    #[test]
    fn binary_size_errors_name_the_field() {
        let int64 = |size: &str| {
            format!(
                r#"{{"inputs":[{{"name":"a","shape":[1],"datatype":"INT8","data":[1]}},
                    {{"name":"b","shape":[1,3],"datatype":"INT64","parameters":{{"binary_data_size":{size}}}}}]}}"#
            )
        };
        let field = "inputs[1].parameters.binary_data_size: ";
        let e = decode_binary(&int64("20"), &[&[0; 20]]).unwrap_err();
        assert_eq!(e.message, format!("{field}20 bytes, but shape [1, 3] of INT64 needs 24"));
        let e = decode_binary(&int64("-24"), &[&[0; 24]]).unwrap_err();
        assert_eq!(e.message, format!("{field}must be a non-negative integer, got -24"));
        let e = decode_binary(&int64("\"24\""), &[&[0; 24]]).unwrap_err();
        assert!(e.message.starts_with(field), "{}", e.message);
        let e = decode_binary(&int64("24"), &[&[0; 10]]).unwrap_err();
        assert!(e.message.starts_with(&format!("{field}24 bytes, but only 10 bytes")), "{}", e.message);
        let e = decode_json(&int64("24")).unwrap_err();
        assert!(e.message.starts_with(&format!("{field}24 bytes, but only 0 bytes")), "{}", e.message);
        let e = decode_binary(&int64("24"), &[&[0; 25]]).unwrap_err();
        assert_eq!(
            e.message,
            "Inference-Header-Content-Length: 1 bytes after the JSON are not claimed by any input's parameters.binary_data_size"
        );
        let e = decode_binary(
            r#"{"inputs":[{"name":"b","shape":[2],"datatype":"BOOL","parameters":{"binary_data_size":2}}]}"#,
            &[&[0, 2]],
        )
        .unwrap_err();
        assert!(e.message.starts_with("inputs[0]: tensor 'b': BOOL element 1 is 2"), "{}", e.message);
    }

    #[test]
    fn data_and_binary_data_size_are_exclusive() {
        let e = decode_binary(
            r#"{"inputs":[{"name":"a","shape":[1],"datatype":"UINT8","data":[1],"parameters":{"binary_data_size":1}}]}"#,
            &[&[1]],
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("inputs[0]: has both data and parameters.binary_data_size"),
            "{}",
            e.message
        );
        let e = error(r#"{"inputs":[{"name":"a","shape":[1],"datatype":"UINT8"}]}"#);
        assert!(
            e.message.starts_with("inputs[0]: has neither data nor parameters.binary_data_size"),
            "{}",
            e.message
        );
        let e = error(r#"{"inputs":[{"name":"a","shape":[1],"datatype":"UINT8","data":null}]}"#);
        assert!(e.message.starts_with("inputs[0]: has neither"), "{}", e.message);
    }

    #[test]
    fn element_and_shape_errors_name_the_field() {
        let input = |i: &str| format!(r#"{{"inputs":[{i}]}}"#);
        let ok = r#"{"name":"ok","shape":[1],"datatype":"INT8","data":[1]}"#;
        let cases = [
            (
                input(r#"{"name":"h","shape":[1],"datatype":"FP16","data":[1.0]}"#),
                "inputs[0].data: FP16 has no JSON form; use binary data",
            ),
            (
                input(r#"{"name":"h","shape":[1],"datatype":"BF16","data":[1.0]}"#),
                "inputs[0].data: BF16 has no JSON form; use binary data",
            ),
            (
                input(r#"{"name":"x","shape":[1],"datatype":"FLOAT","data":[1.0]}"#),
                "inputs[0].datatype: unknown datatype 'FLOAT'; expected one of BOOL,",
            ),
            (
                input(r#"{"name":"x","shape":[1],"datatype":"fp32","data":[1.0]}"#),
                "inputs[0].datatype: unknown datatype 'fp32'",
            ),
            (
                format!(
                    r#"{{"inputs":[{ok},{ok},{{"name":"x","shape":[2,-3],"datatype":"FP32","data":[]}}]}}"#
                ),
                "inputs[2].shape: dimension 1 is -3; dimensions must not be negative",
            ),
            (
                input(r#"{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5]}"#),
                "inputs[0].data: shape [2, 3] needs 6 elements, got 5",
            ),
            (
                input(r#"{"name":"x","shape":[6],"datatype":"UINT8","data":[1,2,3,4,5,256]}"#),
                "inputs[0].data: element 5: 256 is out of range for UINT8",
            ),
            (
                input(r#"{"name":"x","shape":[2],"datatype":"INT32","data":[1,2.5]}"#),
                "inputs[0].data: element 1: expected an integer",
            ),
            (
                input(r#"{"name":"x","shape":[1],"datatype":"FP32","data":["1"]}"#),
                "inputs[0].data: element 0: expected a number for FP32, got a string",
            ),
            (
                input(r#"{"name":"x","shape":[1,"a"],"datatype":"FP32","data":[1]}"#),
                "inputs[0].shape[1]: invalid type: string \"a\"",
            ),
            (
                input(r#"{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":[]}"#),
                "inputs[0].parameters: invalid type",
            ),
            (input(r#"{"shape":[1],"datatype":"FP32","data":[1]}"#), "inputs[0]: missing field `name`"),
            (
                r#"{"inputs":[],"outputs":[{"parameters":{}}]}"#.to_string(),
                "outputs[0]: missing field `name`",
            ),
            (
                r#"{"inputs":[],"outputs":[{"name":"y"},{"name":"y"}]}"#.to_string(),
                "outputs[1].name: output 'y' is requested twice",
            ),
            (
                r#"{"inputs":[],"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]}"#.to_string(),
                "outputs[0].parameters.binary_data: must be true or false, got \"yes\"",
            ),
            (
                r#"{"inputs":[],"parameters":{"binary_data_output":1}}"#.to_string(),
                "parameters.binary_data_output: must be true or false, got 1",
            ),
            (r#"{"inputs":[],"id":7}"#.to_string(), "id: invalid type: integer `7`"),
            (r#"{"outputs":[]}"#.to_string(), "missing field `inputs`"),
            (r#"{"inputs":{}}"#.to_string(), "inputs: invalid type: map"),
            (r#"{"inputs":[}"#.to_string(), "invalid JSON: "),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,]}]}"#.to_string(),
                "invalid JSON: ",
            ),
            (r#"{"inputs":[]} x"#.to_string(), "invalid JSON: trailing characters"),
            (r#"[[]]"#.to_string(), "the body must be a JSON object, not a list"),
            (String::new(), "invalid JSON: EOF"),
        ];
        for (json, expected) in cases {
            let e = error(&json);
            assert!(e.message.starts_with(expected), "{json}\n  got: {}\n  want: {expected}…", e.message);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{json}");
        }
    }

    #[test]
    fn many_requested_outputs_are_checked_in_linear_time() {
        // 100k distinct names: a pairwise duplicate check takes billions of comparisons.
        let outputs: Vec<String> = (0..100_000).map(|i| format!(r#"{{"name":"o{i}"}}"#)).collect();
        let body = format!(r#"{{"inputs":[],"outputs":[{}]}}"#, outputs.join(","));
        let start = std::time::Instant::now();
        assert_eq!(decode_json(&body).unwrap().outputs.len(), 100_000);
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "took {:?}", start.elapsed());
        let e = error(&format!(r#"{{"inputs":[],"outputs":[{},{{"name":"o7"}}]}}"#, outputs.join(",")));
        assert_eq!(e.message, "outputs[100000].name: output 'o7' is requested twice");
    }

    #[test]
    fn shared_memory_is_refused_as_unimplemented() {
        let e = error(
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"shared_memory_region":"r","shared_memory_byte_size":4}}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unimplemented);
        assert!(e.message.starts_with("inputs[0].parameters.shared_memory_"), "{}", e.message);
        let e = error(r#"{"inputs":[],"outputs":[{"name":"y","parameters":{"shared_memory_region":"r"}}]}"#);
        assert!(e.message.starts_with("outputs[0].parameters.shared_memory_region"), "{}", e.message);
    }

    #[test]
    fn small_bodies() {
        let metadata = ModelMetadata {
            name: "iris".into(),
            versions: vec!["1".into()],
            platform: "onnxruntime_onnx".into(),
            inputs: vec![TensorSpec {
                name: "features".into(),
                datatype: DataType::Fp32,
                shape: vec![-1, 4],
            }],
            outputs: vec![TensorSpec { name: "probs".into(), datatype: DataType::Fp32, shape: vec![-1, 3] }],
        };
        assert_eq!(
            std::str::from_utf8(&encode_model_metadata(&metadata)).unwrap(),
            r#"{"name":"iris","versions":["1"],"platform":"onnxruntime_onnx","inputs":[{"name":"features","datatype":"FP32","shape":[-1,4]}],"outputs":[{"name":"probs","datatype":"FP32","shape":[-1,3]}]}"#
        );
        assert_eq!(
            encode_server_metadata("oxserve", "0.1.0", &["binary_tensor_data", "parameters"]),
            br#"{"name":"oxserve","version":"0.1.0","extensions":["binary_tensor_data","parameters"]}"#
        );
        assert_eq!(encode_model_list(&["a", "b"]), br#"{"models":["a","b"]}"#);
        assert_eq!(encode_model_list(&[]), br#"{"models":[]}"#);
        assert_eq!(encode_error("bad \"x\"\n"), br#"{"error":"bad \"x\"\n"}"#);
    }
}
