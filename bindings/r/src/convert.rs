//! Messages across the border between Rust and R.
//!
//! The R half of the package (`r/R/convert.R`) reads and writes one plain form of lists, so that
//! R needs no class from this crate and all R-side logic (data frames, factors, the Seldon
//! contract) stays in R, where R users can read it:
//!
//! - a message is a list with `id` (a string or `NULL`), `parameters` and `meta` (lists, as
//!   their JSON reads), `tensors` (a list of tensors) and, on requests, `outputs` (the names of
//!   the outputs the caller asked for);
//! - a tensor is a list with `name`, `datatype` (the V2 spelling), `shape` (an integer vector),
//!   `parameters` (a list) and either `data` — the elements in row-major order: a double,
//!   integer or logical vector, a character vector for `BYTES`, or a list of raw vectors for
//!   `BYTES` that are not text — or, for a `BYTES` tensor whose `content_type` parameter is
//!   `json` (Seldon's `jsonData`), `json`: the parsed value.
//!
//! JSON maps onto R the way R users expect from `jsonlite`: objects are named lists, arrays of
//! one scalar type are vectors, other arrays are lists; a length-one vector written back is a
//! scalar unless it carries the class `AsIs` (`I(x)`).

use bytes::Bytes;
use extendr_api::prelude::*;
use oxserve_core::{
    DataType, Error, Feedback, InferenceRequest, InferenceResponse, Meta, Parameters, RequestedOutput, Tensor,
};
use serde_json::Value;

/// The tensor parameter that marks a `BYTES` tensor as a Seldon `jsonData` (`json`), `strData`
/// (`str`) or `binData` (`bytes`) payload (see `oxserve_protocol::seldon`).
const CONTENT_TYPE: &str = "content_type";

type Result<T> = std::result::Result<T, Error>;

/// A failure of the border itself, not of the user's code: a 500.
fn internal(context: &str, err: impl std::fmt::Display) -> Error {
    Error::internal(format!("{context}: {err}"))
}

/// A named R list from `(name, value)` pairs.
fn named_list(pairs: Vec<(&str, Robj)>) -> Result<Robj> {
    let (names, values): (Vec<&str>, Vec<Robj>) = pairs.into_iter().unzip();
    List::from_names_and_values(names, values).map(Robj::from).map_err(|e| internal("building a list", e))
}

/// A JSON value as an R object (see the module documentation).
pub fn json_to_r(value: &Value) -> Result<Robj> {
    Ok(match value {
        Value::Null => Robj::from(()),
        Value::Bool(b) => Logicals::from_values([*b]).into(),
        Value::Number(n) => Doubles::from_values([n.as_f64().unwrap_or(f64::NAN)]).into(),
        Value::String(s) => Strings::from_values([s]).into(),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_boolean) => {
            Logicals::from_values(items.iter().map(|v| v.as_bool().unwrap_or_default())).into()
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_number) => {
            Doubles::from_values(items.iter().map(|v| v.as_f64().unwrap_or(f64::NAN))).into()
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            Strings::from_values(items.iter().map(|v| v.as_str().unwrap_or_default())).into()
        }
        Value::Array(items) => {
            List::from_values(items.iter().map(json_to_r).collect::<Result<Vec<_>>>()?).into()
        }
        Value::Object(map) => {
            let values = map.values().map(json_to_r).collect::<Result<Vec<_>>>()?;
            List::from_names_and_values(map.keys(), values)
                .map_err(|e| internal("building a list", e))?
                .into()
        }
    })
}

/// An R object as JSON: named lists are objects, other lists arrays, vectors arrays or (length
/// one, without class `AsIs`) scalars, `NA` and non-finite numbers `null`, factors their labels.
pub fn r_to_json(robj: &Robj, what: &str) -> Result<Value> {
    let scalar = robj.len() == 1 && !robj.inherits("AsIs");
    let collect = |values: Vec<Value>| {
        if scalar { values.into_iter().next().unwrap_or(Value::Null) } else { Value::Array(values) }
    };
    if robj.is_null() {
        return Ok(Value::Null);
    }
    if let Some(levels) = robj.get_attrib("levels").and_then(|l| l.as_string_vector()) {
        let codes = robj.as_integer_slice().unwrap_or_default();
        let labels = codes.iter().map(|&c| match usize::try_from(c) {
            Ok(c) if c >= 1 && c <= levels.len() => Value::from(levels[c - 1].as_str()),
            _ => Value::Null,
        });
        return Ok(collect(labels.collect()));
    }
    if let Some(values) = robj.as_logical_slice() {
        return Ok(collect(
            values.iter().map(|b| if b.is_na() { Value::Null } else { Value::Bool(b.is_true()) }).collect(),
        ));
    }
    if let Some(values) = robj.as_integer_slice() {
        return Ok(collect(
            values.iter().map(|&i| if i == i32::MIN { Value::Null } else { Value::from(i) }).collect(),
        ));
    }
    if let Some(values) = robj.as_real_slice() {
        return Ok(collect(values.iter().map(|&x| double_to_json(x)).collect()));
    }
    if let Some(values) = robj.as_str_iter() {
        return Ok(collect(values.map(|s| if s.is_na() { Value::Null } else { Value::from(s) }).collect()));
    }
    if let Some(list) = robj.as_list() {
        let names: Option<Vec<&str>> = robj.names().map(|n| n.collect());
        let named = names.as_ref().is_some_and(|n| n.iter().all(|name| !name.is_empty() && !name.is_na()));
        return Ok(match names {
            Some(names) if named => {
                let mut map = serde_json::Map::new();
                for (name, value) in names.into_iter().zip(list.values()) {
                    map.insert(name.to_string(), r_to_json(&value, &format!("{what}${name}"))?);
                }
                Value::Object(map)
            }
            _ => Value::Array(
                list.values()
                    .enumerate()
                    .map(|(i, v)| r_to_json(&v, &format!("{what}[[{}]]", i + 1)))
                    .collect::<Result<_>>()?,
            ),
        });
    }
    Err(Error::internal(format!("{what}: an R {:?} cannot be written as JSON", robj.rtype())))
}

/// A double as JSON: whole numbers as integers (R has no other way to write a port or a count
/// that a typed reader accepts), non-finite ones as `null`.
fn double_to_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// A parameters map as an R list (empty list when empty).
fn parameters_to_r(parameters: &Parameters) -> Result<Robj> {
    json_to_r(&Value::Object(parameters.clone()))
}

/// Seldon's meta as an R list.
fn meta_to_r(meta: &Meta) -> Result<Robj> {
    json_to_r(&serde_json::to_value(meta).map_err(|e| internal("meta", e))?)
}

/// The elements of `tensor` as an R vector, in row-major order.
fn data_to_r(tensor: &Tensor) -> Result<Robj> {
    fn each<const N: usize>(data: &[u8]) -> impl ExactSizeIterator<Item = [u8; N]> + '_ {
        data.chunks_exact(N).map(|c| c.try_into().unwrap_or([0; N]))
    }
    let data = &tensor.data[..];
    Ok(match tensor.datatype {
        DataType::Bool => Logicals::from_values(data.iter().map(|&b| b != 0)).into(),
        DataType::Int8 => Integers::from_values(data.iter().map(|&b| i32::from(b as i8))).into(),
        DataType::Uint8 => Integers::from_values(data.iter().map(|&b| i32::from(b))).into(),
        DataType::Int16 => Integers::from_values(each(data).map(|b| i32::from(i16::from_le_bytes(b)))).into(),
        DataType::Uint16 => {
            Integers::from_values(each(data).map(|b| i32::from(u16::from_le_bytes(b)))).into()
        }
        DataType::Int32 => Integers::from_values(each(data).map(i32::from_le_bytes)).into(),
        DataType::Uint32 => Doubles::from_values(each(data).map(|b| f64::from(u32::from_le_bytes(b)))).into(),
        DataType::Int64 => Doubles::from_values(each(data).map(|b| i64::from_le_bytes(b) as f64)).into(),
        DataType::Uint64 => Doubles::from_values(each(data).map(|b| u64::from_le_bytes(b) as f64)).into(),
        DataType::Fp16 => {
            Doubles::from_values(each(data).map(|b| half::f16::from_le_bytes(b).to_f64())).into()
        }
        DataType::Bf16 => {
            Doubles::from_values(each(data).map(|b| half::bf16::from_le_bytes(b).to_f64())).into()
        }
        DataType::Fp32 => Doubles::from_values(each(data).map(|b| f64::from(f32::from_le_bytes(b)))).into(),
        DataType::Fp64 => Doubles::from_values(each(data).map(f64::from_le_bytes)).into(),
        DataType::Bytes => {
            let binary = tensor.parameters.get(CONTENT_TYPE).and_then(Value::as_str) == Some("bytes");
            let texts: Option<Vec<&str>> = if binary {
                None
            } else {
                tensor.bytes_elements().map(|e| std::str::from_utf8(e).ok()).collect()
            };
            match texts {
                Some(texts) => Strings::from_values(texts).into(),
                None => {
                    List::from_values(tensor.bytes_elements().map(Raw::from_bytes).collect::<Vec<_>>()).into()
                }
            }
        }
    })
}

/// A tensor in the border form; `field` names it in errors (`inputs[0]`).
fn tensor_to_r(tensor: &Tensor, field: &str) -> Result<Robj> {
    let shape = tensor
        .shape
        .iter()
        .map(|&d| i32::try_from(d))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::invalid(format!("{field}.shape: {:?} is too large for R", tensor.shape)))?;
    let json = tensor.datatype == DataType::Bytes
        && tensor.parameters.get(CONTENT_TYPE).and_then(Value::as_str) == Some("json");
    let payload = if json {
        let text = tensor.bytes_elements().next().unwrap_or_default();
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| Error::invalid(format!("{field}: jsonData is not JSON: {e}")))?;
        ("json", json_to_r(&value)?)
    } else {
        ("data", data_to_r(tensor)?)
    };
    named_list(vec![
        ("name", Strings::from_values([&tensor.name]).into()),
        ("datatype", Strings::from_values([tensor.datatype.as_str()]).into()),
        ("shape", Integers::from_values(shape).into()),
        ("parameters", parameters_to_r(&tensor.parameters)?),
        payload,
    ])
}

fn tensors_to_r(tensors: &[Tensor], field: &str) -> Result<Robj> {
    let items = tensors.iter().enumerate().map(|(i, t)| tensor_to_r(t, &format!("{field}[{i}]")));
    Ok(List::from_values(items.collect::<Result<Vec<_>>>()?).into())
}

fn id_to_r(id: &Option<String>) -> Robj {
    id.as_ref().map_or_else(|| Robj::from(()), |id| Strings::from_values([id]).into())
}

/// A request in the border form.
pub fn request_to_r(request: &InferenceRequest) -> Result<Robj> {
    named_list(vec![
        ("id", id_to_r(&request.id)),
        ("parameters", parameters_to_r(&request.parameters)?),
        ("meta", meta_to_r(&request.meta)?),
        ("tensors", tensors_to_r(&request.inputs, "inputs")?),
        ("outputs", Strings::from_values(request.outputs.iter().map(|o| &o.name)).into()),
    ])
}

/// A response in the border form.
pub fn response_to_r(response: &InferenceResponse) -> Result<Robj> {
    named_list(vec![
        ("id", id_to_r(&response.id)),
        ("parameters", parameters_to_r(&response.parameters)?),
        ("meta", meta_to_r(&response.meta)?),
        ("tensors", tensors_to_r(&response.outputs, "outputs")?),
    ])
}

/// Feedback as a list of `request`, `response` and `truth` (messages or `NULL`) and `reward`.
pub fn feedback_to_r(feedback: &Feedback) -> Result<Robj> {
    let optional = |message: Option<Result<Robj>>| message.unwrap_or_else(|| Ok(Robj::from(())));
    named_list(vec![
        ("request", optional(feedback.request.as_ref().map(request_to_r))?),
        ("response", optional(feedback.response.as_ref().map(response_to_r))?),
        ("truth", optional(feedback.truth.as_ref().map(request_to_r))?),
        ("reward", Doubles::from_values([feedback.reward]).into()),
    ])
}

/// The element `name` of an R list, or `NULL` (also when `list` is not a list).
pub fn field(list: &Robj, name: &str) -> Robj {
    list.as_list()
        .and_then(|l| l.iter().find(|(n, _)| *n == name).map(|(_, v)| v))
        .unwrap_or_else(|| Robj::from(()))
}

/// Little-endian bytes of `values` written as `datatype`; `None` when a value does not fit it.
fn encode_numbers(values: &[f64], datatype: DataType) -> Option<Vec<u8>> {
    fn int<T: TryFrom<i64>>(x: f64, bytes: impl Fn(T) -> Vec<u8>) -> Option<Vec<u8>> {
        let whole = x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e18;
        whole.then(|| T::try_from(x as i64).ok()).flatten().map(bytes)
    }
    let mut out = Vec::with_capacity(values.len() * datatype.element_size().unwrap_or(8));
    for &x in values {
        let bytes = match datatype {
            DataType::Fp64 => x.to_le_bytes().to_vec(),
            DataType::Fp32 => (x as f32).to_le_bytes().to_vec(),
            DataType::Fp16 => half::f16::from_f64(x).to_le_bytes().to_vec(),
            DataType::Bf16 => half::bf16::from_f64(x).to_le_bytes().to_vec(),
            DataType::Int8 => int(x, |v: i8| v.to_le_bytes().to_vec())?,
            DataType::Int16 => int(x, |v: i16| v.to_le_bytes().to_vec())?,
            DataType::Int32 => int(x, |v: i32| v.to_le_bytes().to_vec())?,
            DataType::Int64 => int(x, |v: i64| v.to_le_bytes().to_vec())?,
            DataType::Uint8 => int(x, |v: u8| v.to_le_bytes().to_vec())?,
            DataType::Uint16 => int(x, |v: u16| v.to_le_bytes().to_vec())?,
            DataType::Uint32 => int(x, |v: u32| v.to_le_bytes().to_vec())?,
            DataType::Uint64 => int(x, |v: u64| v.to_le_bytes().to_vec())?,
            DataType::Bool if x == 0.0 || x == 1.0 => vec![x as u8],
            DataType::Bool | DataType::Bytes => return None,
        };
        out.extend_from_slice(&bytes);
    }
    Some(out)
}

/// A tensor from the border form; `what` names it in errors.
fn tensor_from_r(robj: &Robj, what: &str) -> Result<Tensor> {
    let text = |name: &str| field(robj, name).as_str().map(str::to_string);
    let name = text("name").ok_or_else(|| Error::internal(format!("{what}$name must be a string")))?;
    let what = format!("output '{name}'");
    let datatype = text("datatype")
        .and_then(|d| DataType::parse(&d))
        .ok_or_else(|| Error::internal(format!("{what}: datatype must be a V2 datatype name")))?;
    let shape_robj = field(robj, "shape");
    let shape: Vec<usize> = match (shape_robj.as_integer_slice(), shape_robj.as_real_slice()) {
        (Some(dims), _) => dims.iter().map(|&d| usize::try_from(d).ok()).collect(),
        (_, Some(dims)) => {
            dims.iter().map(|&d| (d >= 0.0 && d.fract() == 0.0).then_some(d as usize)).collect()
        }
        _ => None,
    }
    .ok_or_else(|| Error::internal(format!("{what}: shape must be non-negative whole numbers")))?;
    let json = field(robj, "json");
    let data = field(robj, "data");
    let mismatch = |kind: &str| Error::internal(format!("{what}: {kind} values cannot be {datatype}"));
    let bytes = if !json.is_null() || (datatype == DataType::Bytes && data.is_null()) {
        let value = r_to_json(&json, &what)?;
        oxserve_core::encode_bytes_elements([value.to_string()])?
    } else if let Some(strings) = data.as_str_iter() {
        if datatype != DataType::Bytes {
            return Err(mismatch("character"));
        }
        let strings: Vec<&str> = strings.collect();
        if strings.iter().any(|s| s.is_na()) {
            return Err(Error::internal(format!("{what}: NA cannot be sent as BYTES")));
        }
        oxserve_core::encode_bytes_elements(strings)?
    } else if let Some(list) = data.as_list() {
        let raws: Option<Vec<Vec<u8>>> =
            list.values().map(|v| v.as_raw_slice().map(<[u8]>::to_vec)).collect();
        match (datatype, raws) {
            (DataType::Bytes, Some(raws)) => oxserve_core::encode_bytes_elements(raws)?,
            _ => return Err(mismatch("a list of")),
        }
    } else if let Some(values) = data.as_logical_slice() {
        if values.iter().any(|b| b.is_na()) {
            return Err(Error::internal(format!("{what}: NA cannot be sent as {datatype}")));
        }
        let numbers: Vec<f64> = values.iter().map(|b| if b.is_true() { 1.0 } else { 0.0 }).collect();
        Bytes::from(encode_numbers(&numbers, datatype).ok_or_else(|| mismatch("logical"))?)
    } else if let Some(values) = data.as_integer_slice() {
        let numbers: Vec<f64> =
            values.iter().map(|&i| if i == i32::MIN { f64::NAN } else { f64::from(i) }).collect();
        Bytes::from(encode_numbers(&numbers, datatype).ok_or_else(|| mismatch("integer (or NA)"))?)
    } else if let Some(values) = data.as_real_slice() {
        Bytes::from(
            encode_numbers(values, datatype)
                .ok_or_else(|| mismatch("double (or NA, fractional, out-of-range)"))?,
        )
    } else {
        return Err(Error::internal(format!(
            "{what}: data must be an atomic vector, got {:?}",
            data.rtype()
        )));
    };
    let parameters = match r_to_json(&field(robj, "parameters"), &what)? {
        Value::Object(map) => map,
        _ => Parameters::new(),
    };
    Ok(Tensor::new(name, datatype, shape, bytes)
        .map_err(|e| Error::internal(e.message))?
        .with_parameters(parameters))
}

/// The parts of a message that R wrote: tensors, parameters and meta.
struct Message {
    tensors: Vec<Tensor>,
    parameters: Parameters,
    meta: Meta,
}

fn message_from_r(robj: &Robj, what: &str) -> Result<Message> {
    let tensors = field(robj, "tensors");
    let tensors = match tensors.as_list() {
        Some(list) => list
            .values()
            .enumerate()
            .map(|(i, t)| tensor_from_r(&t, &format!("{what}$tensors[[{}]]", i + 1)))
            .collect::<Result<Vec<_>>>()?,
        None if tensors.is_null() => Vec::new(),
        None => return Err(Error::internal(format!("{what}$tensors must be a list"))),
    };
    let parameters = match r_to_json(&field(robj, "parameters"), what)? {
        Value::Object(map) => map,
        _ => Parameters::new(),
    };
    let meta = match r_to_json(&field(robj, "meta"), what)? {
        Value::Object(map) if !map.is_empty() => serde_json::from_value(Value::Object(map))
            .map_err(|e| Error::internal(format!("{what}$meta: {e}")))?,
        _ => Meta::default(),
    };
    Ok(Message { tensors, parameters, meta })
}

/// The request a transform returned, keeping the original's id, model and requested outputs.
pub fn request_from_r(robj: &Robj, original: &InferenceRequest) -> Result<InferenceRequest> {
    let message = message_from_r(robj, "the returned request")?;
    let outputs = match field(robj, "outputs").as_str_iter() {
        Some(names) => {
            names.map(|name| RequestedOutput { name: name.to_string(), ..Default::default() }).collect()
        }
        None => original.outputs.clone(),
    };
    Ok(InferenceRequest {
        id: original.id.clone(),
        model_name: original.model_name.clone(),
        model_version: original.model_version.clone(),
        parameters: message.parameters,
        inputs: message.tensors,
        outputs,
        meta: message.meta,
    })
}

/// The response R returned, answering for `model` to the request with `id`.
pub fn response_from_r(
    robj: &Robj,
    id: Option<String>,
    model: &str,
    version: Option<String>,
) -> Result<InferenceResponse> {
    let message = message_from_r(robj, "the returned response")?;
    Ok(InferenceResponse {
        id,
        model_name: model.to_string(),
        model_version: version,
        parameters: message.parameters,
        outputs: message.tensors,
        meta: message.meta,
    })
}
