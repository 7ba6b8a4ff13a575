//! KServe v1 / TF-Serving REST codec: `:predict` bodies in row (`instances`) or columnar
//! (`inputs`) form, and the small status and listing bodies.
//!
//! V1 payloads carry no datatypes or shapes: the datatype comes from the model's declared
//! inputs (or is inferred from the JSON when it declares none) and the shape from the nesting.
//! As in V2, the envelope is parsed with serde and every value is kept as raw JSON text until
//! [`json_data`] decodes it into a typed buffer, so no JSON tree of elements is built.

use bytes::Bytes;
use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Parameters, Result, Tensor,
};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json_data::{self, Layout};
use crate::v2::rest::{parse_json, to_json, write_json};

/// `{"error": "..."}`, the same body as V2's.
pub use crate::v2::rest::encode_error;
/// `{"models": [...]}`, the same body as V2's `GET /v2/models`.
pub use crate::v2::rest::encode_model_list;

/// Which form a `:predict` request came in; the reply mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictForm {
    /// Rows: `{"instances": [...]}`, answered `{"predictions": [...]}`.
    Instances,
    /// Columns: `{"inputs": value | {name: value}}`, answered `{"outputs": ...}`.
    Inputs,
}

#[derive(Deserialize)]
struct PredictBody<'a> {
    #[serde(borrow, default)]
    instances: Option<&'a RawValue>,
    #[serde(borrow, default)]
    inputs: Option<&'a RawValue>,
    #[serde(default)]
    signature_name: Option<String>,
}

/// Decodes a `:predict` body into a request for the model `metadata` describes.
///
/// Each input takes its declared datatype (JSON numbers are converted to it); a model that
/// declares no inputs gets [`json_data::infer_datatype`]'s choice and inputs named after the
/// object keys, or `instances`/`inputs` for bare values. A `signature_name` is passed to the
/// model as the request parameter of that name. Whether the tensors fit the model is the
/// model's check ([`ModelMetadata::check_request`]); this builds correct tensors or names the
/// field at fault (`instances[3]`, `inputs.age`).
pub fn decode_predict(body: &[u8], metadata: &ModelMetadata) -> Result<(InferenceRequest, PredictForm)> {
    let body: PredictBody<'_> = parse_json(body)?;
    let (form, inputs) = match (body.instances, body.inputs) {
        (Some(rows), None) => (PredictForm::Instances, decode_instances(rows, metadata)?),
        (None, Some(columns)) => (PredictForm::Inputs, decode_columns(columns, metadata)?),
        (Some(_), Some(_)) => {
            return Err(Error::invalid("send either \"instances\" (rows) or \"inputs\" (columns), not both"));
        }
        (None, None) => {
            return Err(Error::invalid("the body needs \"instances\" (rows) or \"inputs\" (columns)"));
        }
    };
    let mut parameters = Parameters::new();
    if let Some(signature) = body.signature_name {
        parameters.insert("signature_name".to_string(), signature.into());
    }
    let request =
        InferenceRequest { model_name: metadata.name.clone(), parameters, inputs, ..Default::default() };
    Ok((request, form))
}

/// A JSON value in a predict body: either the value of the one input, or an object naming
/// inputs. `{"b64": "..."}` is a value (a binary string), not a name.
enum Payload<'a> {
    Value(&'a RawValue),
    Named(Vec<(String, &'a RawValue)>),
}

impl<'a> Payload<'a> {
    fn parse(raw: &'a RawValue, field: &str) -> Result<Payload<'a>> {
        if !raw.get().starts_with('{') {
            return Ok(Payload::Value(raw));
        }
        let entries = serde_json::from_str::<Entries<'a>>(raw.get())
            .map_err(|e| Error::invalid(format!("{field}: {e}")))?
            .0;
        match entries.as_slice() {
            [(key, _)] if key == "b64" => Ok(Payload::Value(raw)),
            _ => Ok(Payload::Named(entries)),
        }
    }
}

/// A JSON object's entries in their order, values kept as raw text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of named inputs")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// An input to build: its name and datatype, `None` when it must be inferred from the JSON.
struct Column {
    name: String,
    datatype: Option<DataType>,
}

impl Column {
    /// The column for the value of `key` in an object naming inputs.
    fn named(key: &str, metadata: &ModelMetadata, field: &str) -> Result<Column> {
        if metadata.inputs.is_empty() {
            return Ok(Column { name: key.to_string(), datatype: None });
        }
        match metadata.inputs.iter().find(|spec| spec.name == key) {
            Some(spec) => Ok(Column { name: spec.name.clone(), datatype: Some(spec.datatype) }),
            None => Err(Error::invalid(format!(
                "{field}: model '{}' has no input '{key}'; expected {}",
                metadata.name,
                input_names(metadata)
            ))),
        }
    }

    /// The column for a bare `inputs` value, which only a model with at most one input takes.
    fn single(metadata: &ModelMetadata) -> Result<Column> {
        match metadata.inputs.as_slice() {
            [] => Ok(Column { name: "inputs".to_string(), datatype: None }),
            [spec] => Ok(Column { name: spec.name.clone(), datatype: Some(spec.datatype) }),
            _ => Err(Error::invalid(format!(
                "inputs: model '{}' has inputs {}; send an object {{input_name: value}}",
                metadata.name,
                input_names(metadata)
            ))),
        }
    }

    /// The declared datatype, or the narrowest one that holds every value (INT64 and FP64
    /// values together give FP64). `values` are the column's JSON values with their fields.
    fn datatype<'a>(&self, values: impl IntoIterator<Item = (&'a RawValue, &'a str)>) -> Result<DataType> {
        if let Some(datatype) = self.datatype {
            return Ok(datatype);
        }
        let mut chosen: Option<(DataType, &str)> = None;
        for (value, field) in values {
            let found = json_data::infer_datatype(value.get()).map_err(|e| e.context(field))?;
            chosen = Some(match chosen {
                None => (found, field),
                Some((seen, first)) => match (seen, found) {
                    _ if seen == found => (seen, first),
                    (DataType::Int64, DataType::Fp64) | (DataType::Fp64, DataType::Int64) => {
                        (DataType::Fp64, first)
                    }
                    _ => {
                        return Err(Error::invalid(format!(
                            "{field}: holds {found} values but {first} holds {seen}; send one kind"
                        )));
                    }
                },
            });
        }
        chosen
            .map(|(datatype, _)| datatype)
            .ok_or_else(|| Error::invalid(format!("input '{}' has no values", self.name)))
    }
}

/// The declared input names, quoted, for error messages.
fn input_names(metadata: &ModelMetadata) -> String {
    quoted(metadata.inputs.iter().map(|spec| spec.name.as_str()))
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|name| format!("'{name}'")).collect::<Vec<_>>().join(", ")
}

/// Columnar form: one tensor, or an object of named tensors with independent shapes.
fn decode_columns(raw: &RawValue, metadata: &ModelMetadata) -> Result<Vec<Tensor>> {
    match Payload::parse(raw, "inputs")? {
        Payload::Value(value) => {
            let column = Column::single(metadata)?;
            Ok(vec![decode_tensor(column, value, "inputs")?])
        }
        Payload::Named(entries) => entries
            .into_iter()
            .map(|(key, value)| {
                let field = format!("inputs.{key}");
                decode_tensor(Column::named(&key, metadata, &field)?, value, &field)
            })
            .collect(),
    }
}

fn decode_tensor(column: Column, value: &RawValue, field: &str) -> Result<Tensor> {
    let datatype = column.datatype([(value, field)])?;
    let decoded = json_data::decode(value.get(), datatype).map_err(|e| e.context(field))?;
    let shape = decoded.nested_shape.ok_or_else(|| ragged(field))?;
    Tensor::new(column.name, datatype, shape, decoded.data).map_err(|e| e.context(field))
}

fn ragged(field: &str) -> Error {
    Error::invalid(format!("{field}: ragged nesting; lists at the same depth must have the same length"))
}

/// Row form: one entry per example, stacked along a new first dimension. Each row is the
/// value of the one input, or an object naming every input; all rows must agree in shape.
fn decode_instances(raw: &RawValue, metadata: &ModelMetadata) -> Result<Vec<Tensor>> {
    let rows: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| Error::invalid("instances: must be a list with one entry per instance"))?;
    if rows.is_empty() {
        return Err(Error::invalid("instances: the list is empty; send at least one instance"));
    }
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| Payload::parse(row, &format!("instances[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    let columns = match (&rows[0], metadata.inputs.is_empty()) {
        // A model that declares nothing takes the first row's keys as its inputs.
        (Payload::Named(entries), true) => {
            entries.iter().map(|(key, _)| Column { name: key.clone(), datatype: None }).collect::<Vec<_>>()
        }
        (Payload::Value(_), true) => vec![Column { name: "instances".to_string(), datatype: None }],
        (_, false) => metadata
            .inputs
            .iter()
            .map(|spec| Column { name: spec.name.clone(), datatype: Some(spec.datatype) })
            .collect(),
    };
    // Each row's value for each column, checked for unknown and missing names.
    let mut cells: Vec<Vec<(&RawValue, String)>> = vec![Vec::with_capacity(rows.len()); columns.len()];
    for (i, row) in rows.iter().enumerate() {
        match row {
            Payload::Value(value) => {
                if columns.len() != 1 {
                    return Err(Error::invalid(format!(
                        "instances[{i}]: model '{}' has inputs {}; each instance must be an object \
                         {{input_name: value}}",
                        metadata.name,
                        quoted(columns.iter().map(|c| c.name.as_str()))
                    )));
                }
                cells[0].push((*value, format!("instances[{i}]")));
            }
            Payload::Named(entries) => {
                if let Some((key, _)) =
                    entries.iter().find(|(key, _)| !columns.iter().any(|c| c.name == *key))
                {
                    return Err(Error::invalid(format!(
                        "instances[{i}].{key}: model '{}' has no input '{key}'; expected {}",
                        metadata.name,
                        quoted(columns.iter().map(|c| c.name.as_str()))
                    )));
                }
                for (column, cells) in columns.iter().zip(&mut cells) {
                    let Some((_, value)) = entries.iter().find(|(key, _)| *key == column.name) else {
                        return Err(Error::invalid(format!(
                            "instances[{i}]: input '{}' is missing",
                            column.name
                        )));
                    };
                    cells.push((*value, format!("instances[{i}].{}", column.name)));
                }
            }
        }
    }
    columns.into_iter().zip(cells).map(|(column, cells)| stack_rows(column, &cells)).collect()
}

/// Decodes one column's row values into a single buffer of shape `[rows, ...row shape]`.
fn stack_rows(column: Column, cells: &[(&RawValue, String)]) -> Result<Tensor> {
    let datatype = column.datatype(cells.iter().map(|(value, field)| (*value, field.as_str())))?;
    let mut data = Vec::new();
    let mut row_shape: Option<(Vec<usize>, &str)> = None;
    for (value, field) in cells {
        let decoded = json_data::decode(value.get(), datatype).map_err(|e| e.context(field))?;
        let shape = decoded.nested_shape.ok_or_else(|| ragged(field))?;
        match &row_shape {
            None => row_shape = Some((shape, field)),
            Some((first, first_field)) if *first != shape => {
                return Err(Error::invalid(format!(
                    "{field}: shape {shape:?} differs from {first_field}'s {first:?}; \
                     all instances must have the same shape"
                )));
            }
            Some(_) => {}
        }
        data.extend_from_slice(&decoded.data);
    }
    let mut shape = vec![cells.len()];
    shape.extend(row_shape.map(|(s, _)| s).unwrap_or_default());
    Tensor::new(column.name, datatype, shape, Bytes::from(data)).map_err(|e| e.context("instances"))
}

/// Encodes a model's answer in the form the request came in.
///
/// `Instances` → `{"predictions": [...]}`, one entry per row of the outputs' first dimension:
/// the row's value for a single output, an object `{output_name: row value}` for several (all
/// outputs must then have the same number of rows). `Inputs` → `{"outputs": value}` for one
/// output, `{"outputs": {name: value}}` otherwise. Values are nested to match the shapes.
/// An answer the form cannot express (a scalar output, unequal row counts, no outputs for
/// `Instances`) is an internal error naming the output: the model, not the caller, is at fault.
pub fn encode_predict(response: &InferenceResponse, form: PredictForm) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    match form {
        PredictForm::Instances => {
            let rows = row_count(&response.outputs)?;
            // rows × outputs: each output's rows, regrouped so that a row's outputs sit together.
            let mut table: Vec<Vec<Tensor>> =
                (0..rows).map(|_| Vec::with_capacity(response.outputs.len())).collect();
            for output in &response.outputs {
                for (row, view) in table.iter_mut().zip(row_views(output, rows)?) {
                    row.push(view);
                }
            }
            out.extend_from_slice(b"{\"predictions\":[");
            for (row, outputs) in table.iter().enumerate() {
                if row > 0 {
                    out.push(b',');
                }
                write_outputs(&mut out, outputs)?;
            }
            out.extend_from_slice(b"]}");
        }
        PredictForm::Inputs => {
            out.extend_from_slice(b"{\"outputs\":");
            write_outputs(&mut out, &response.outputs)?;
            out.push(b'}');
        }
    }
    Ok(out)
}

/// The number of rows every output shares.
fn row_count(outputs: &[Tensor]) -> Result<usize> {
    let rows = |t: &Tensor| {
        t.shape.first().copied().ok_or_else(|| {
            Error::internal(format!(
                "output '{}' is a scalar; an \"instances\" reply needs one row per instance",
                t.name
            ))
        })
    };
    let Some(first) = outputs.first() else {
        return Err(Error::internal("the model returned no outputs; an \"instances\" reply needs them"));
    };
    let expected = rows(first)?;
    for output in &outputs[1..] {
        let found = rows(output)?;
        if found != expected {
            return Err(Error::internal(format!(
                "output '{}' has {found} rows but output '{}' has {expected}; an \"instances\" reply \
                 needs the same number of rows in every output (use the \"inputs\" form)",
                output.name, first.name
            )));
        }
    }
    Ok(expected)
}

/// The rows of `tensor` (its first dimension, `rows` long) as tensors sharing its buffer.
///
/// Found in one pass over the buffer, so writing every row stays linear in the batch size.
fn row_views(tensor: &Tensor, rows: usize) -> Result<Vec<Tensor>> {
    let inner = &tensor.shape[1..];
    let per_row: usize = inner.iter().product();
    let ends: Vec<usize> = match tensor.datatype.element_size() {
        Some(size) => (1..=rows).map(|row| row * per_row * size).collect(),
        None if per_row == 0 => vec![0; rows],
        None => tensor
            .bytes_elements()
            .scan(0, |end, element| {
                *end += 4 + element.len();
                Some(*end)
            })
            .skip(per_row - 1)
            .step_by(per_row)
            .collect(),
    };
    let starts = std::iter::once(0).chain(ends.iter().copied());
    starts
        .zip(&ends)
        .map(|(start, &end)| {
            Tensor::new(tensor.name.as_str(), tensor.datatype, inner.to_vec(), tensor.data.slice(start..end))
        })
        .collect()
}

/// A single output's value, or an object of every output's value, nested to match the shapes.
fn write_outputs(out: &mut Vec<u8>, outputs: &[Tensor]) -> Result<()> {
    if let [single] = outputs {
        return json_data::write(out, single, Layout::Nested);
    }
    out.push(b'{');
    for (i, output) in outputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(out, &output.name);
        out.push(b':');
        json_data::write(out, output, Layout::Nested)?;
    }
    out.push(b'}');
    Ok(())
}

/// KServe's `GET /v1/models/{m}`: `{"name": "iris", "ready": true}`.
pub fn encode_model_status(name: &str, ready: bool) -> Vec<u8> {
    #[derive(Serialize)]
    struct ModelStatus<'a> {
        name: &'a str,
        ready: bool,
    }
    to_json(&ModelStatus { name, ready })
}

#[cfg(test)]
mod tests {
    use oxserve_core::ErrorKind;
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::model;

    /// An input as (name, datatype, shape, flat JSON elements), easy to compare.
    type Summary = (String, DataType, Vec<usize>, String);

    fn decode(body: &str, metadata: &ModelMetadata) -> (Vec<Summary>, PredictForm) {
        let (request, form) = decode_predict(body.as_bytes(), metadata).unwrap();
        assert_eq!(request.model_name, "m");
        let inputs = request
            .inputs
            .iter()
            .map(|t| {
                let mut json = Vec::new();
                json_data::write(&mut json, t, Layout::Flat).unwrap();
                (t.name.clone(), t.datatype, t.shape.clone(), String::from_utf8(json).unwrap())
            })
            .collect();
        (inputs, form)
    }

    fn error(body: &str, metadata: &ModelMetadata) -> String {
        let e = decode_predict(body.as_bytes(), metadata).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    fn input(
        name: &str,
        datatype: DataType,
        shape: &[usize],
        flat: &str,
    ) -> (String, DataType, Vec<usize>, String) {
        (name.to_string(), datatype, shape.to_vec(), flat.to_string())
    }

    fn tensor(name: &str, datatype: DataType, shape: Vec<usize>, json: &str) -> Tensor {
        Tensor::new(name, datatype, shape, json_data::decode(json, datatype).unwrap().data).unwrap()
    }

    fn encode(outputs: Vec<Tensor>, form: PredictForm) -> Result<Value> {
        let response = InferenceResponse { outputs, ..Default::default() };
        encode_predict(&response, form).map(|body| serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn instances_of_one_input_are_stacked_rows() {
        let iris = model(&[("x", DataType::Fp32)]);
        let (inputs, form) = decode(r#"{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#, &iris);
        assert_eq!(form, PredictForm::Instances);
        assert_eq!(inputs, vec![input("x", DataType::Fp32, &[2, 4], "[5.1,3.5,1.4,0.2,6.7,3.0,5.2,2.3]")]);
        // Rows may also name the one input.
        let (inputs, _) = decode(r#"{"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}"#, &iris);
        assert_eq!(inputs, vec![input("x", DataType::Fp32, &[2, 2], "[1.0,2.0,3.0,4.0]")]);
        // Scalar rows give a one-dimensional batch.
        let (inputs, _) = decode(r#"{"instances": [1, 2, 3]}"#, &iris);
        assert_eq!(inputs, vec![input("x", DataType::Fp32, &[3], "[1.0,2.0,3.0]")]);
    }

    #[test]
    fn instances_of_several_inputs_are_objects() {
        let people = model(&[("age", DataType::Int32), ("city", DataType::Bytes)]);
        let (inputs, _) = decode(
            r#"{"signature_name": "serving_default",
                "instances": [{"city": "Oslo", "age": 31}, {"age": 40, "city": "Pune"}]}"#,
            &people,
        );
        assert_eq!(
            inputs,
            vec![
                input("age", DataType::Int32, &[2], "[31,40]"),
                input("city", DataType::Bytes, &[2], r#"["Oslo","Pune"]"#)
            ]
        );
        let (request, _) =
            decode_predict(br#"{"signature_name":"s","instances":[{"age":1,"city":"x"}]}"#, &people).unwrap();
        assert_eq!(request.parameters["signature_name"], "s");
    }

    #[test]
    fn columnar_inputs() {
        let people = model(&[("age", DataType::Int32), ("city", DataType::Bytes)]);
        let (inputs, form) =
            decode(r#"{"inputs": {"age": [[31], [40]], "city": ["Oslo", "Pune", "Rome"]}}"#, &people);
        assert_eq!(form, PredictForm::Inputs);
        assert_eq!(
            inputs,
            vec![
                input("age", DataType::Int32, &[2, 1], "[31,40]"),
                input("city", DataType::Bytes, &[3], r#"["Oslo","Pune","Rome"]"#)
            ]
        );
        let one = model(&[("x", DataType::Fp64)]);
        let (inputs, _) = decode(r#"{"inputs": [[1, 2], [3, 4]]}"#, &one);
        assert_eq!(inputs, vec![input("x", DataType::Fp64, &[2, 2], "[1.0,2.0,3.0,4.0]")]);
        let (inputs, _) = decode(r#"{"inputs": {"x": 7}}"#, &one);
        assert_eq!(inputs, vec![input("x", DataType::Fp64, &[], "[7.0]")]);
    }

    #[test]
    fn undeclared_inputs_are_named_and_typed_from_the_json() {
        let open = model(&[]);
        let (inputs, _) = decode(r#"{"instances": [[1, 2], [3, 4]]}"#, &open);
        assert_eq!(inputs, vec![input("instances", DataType::Int64, &[2, 2], "[1,2,3,4]")]);
        let (inputs, _) = decode(r#"{"inputs": [true, false]}"#, &open);
        assert_eq!(inputs, vec![input("inputs", DataType::Bool, &[2], "[true,false]")]);
        let (inputs, _) = decode(r#"{"instances": [{"a": 1, "b": "x"}, {"b": "y", "a": 2.5}]}"#, &open);
        assert_eq!(
            inputs,
            vec![
                input("a", DataType::Fp64, &[2], "[1.0,2.5]"),
                input("b", DataType::Bytes, &[2], r#"["x","y"]"#)
            ]
        );
        let (inputs, _) = decode(r#"{"inputs": {"a": [1, 2], "b": [0.5]}}"#, &open);
        assert_eq!(
            inputs,
            vec![input("a", DataType::Int64, &[2], "[1,2]"), input("b", DataType::Fp64, &[1], "[0.5]")]
        );
        let e = error(r#"{"instances": [{"a": 1}, {"a": "x"}]}"#, &open);
        assert!(e.starts_with("instances[1].a: holds BYTES values but instances[0].a holds INT64"), "{e}");
    }

    #[test]
    fn b64_strings_are_bytes() {
        let blobs = model(&[("blob", DataType::Bytes)]);
        let (request, _) =
            decode_predict(br#"{"instances": [{"b64": "aGVsbG8="}, {"blob": {"b64": "AP8="}}]}"#, &blobs)
                .unwrap();
        let t = &request.inputs[0];
        assert_eq!(t.shape, vec![2]);
        assert_eq!(t.bytes_elements().collect::<Vec<_>>(), vec![&b"hello"[..], &[0, 255]]);
        let (request, _) = decode_predict(br#"{"inputs": {"b64": "aGk="}}"#, &blobs).unwrap();
        assert_eq!(request.inputs[0].bytes_elements().collect::<Vec<_>>(), vec![b"hi"]);
        let (request, _) = decode_predict(br#"{"instances": [{"b64": "aGk="}]}"#, &model(&[])).unwrap();
        assert_eq!(
            (request.inputs[0].name.as_str(), request.inputs[0].datatype),
            ("instances", DataType::Bytes)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let one = model(&[("x", DataType::Fp32)]);
        let two = model(&[("a", DataType::Fp32), ("b", DataType::Fp32)]);
        let cases = [
            (
                r#"{"instances": [[1]], "inputs": [1]}"#,
                &one,
                "send either \"instances\" (rows) or \"inputs\" (columns), not both",
            ),
            (
                r#"{"signature_name": "s"}"#,
                &one,
                "the body needs \"instances\" (rows) or \"inputs\" (columns)",
            ),
            (r#"{"instances": []}"#, &one, "instances: the list is empty"),
            (r#"{"instances": {"x": 1}}"#, &one, "instances: must be a list with one entry per instance"),
            (r#"[[1, 2]]"#, &one, "the body must be a JSON object, not a list"),
            (
                r#"{"instances": [[1, 2], [3, 4], [5, 6], [7]]}"#,
                &one,
                "instances[3]: shape [1] differs from instances[0]'s [2]",
            ),
            (r#"{"instances": [[1, 2], [[3], 4]]}"#, &one, "instances[1]: ragged nesting"),
            (
                r#"{"instances": [[1], ["a"]]}"#,
                &one,
                "instances[1]: element 0: expected a number for FP32, got a string",
            ),
            (
                r#"{"instances": [{"y": 1}]}"#,
                &one,
                "instances[0].y: model 'm' has no input 'y'; expected 'x'",
            ),
            (
                r#"{"instances": [{"a": 1, "b": 2}, {"a": 1, "c": 2}]}"#,
                &two,
                "instances[1].c: model 'm' has no input 'c'",
            ),
            (r#"{"instances": [{"a": 1, "b": 2}, {"a": 1}]}"#, &two, "instances[1]: input 'b' is missing"),
            (
                r#"{"instances": [[1, 2]]}"#,
                &two,
                "instances[0]: model 'm' has inputs 'a', 'b'; each instance must be an object",
            ),
            (
                r#"{"inputs": [1, 2]}"#,
                &two,
                "inputs: model 'm' has inputs 'a', 'b'; send an object {input_name: value}",
            ),
            (
                r#"{"inputs": {"a": [1], "z": [2]}}"#,
                &two,
                "inputs.z: model 'm' has no input 'z'; expected 'a', 'b'",
            ),
            (r#"{"inputs": {"a": [[1, 2], [3]]}}"#, &two, "inputs.a: ragged nesting"),
            (
                r#"{"inputs": {"a": [1e39]}}"#,
                &two,
                "inputs.a: element 0: 1000000000000000000000000000000000000000 is out of range for FP32",
            ),
            (r#"{"inputs": [1, 2]"#, &one, "invalid JSON: "),
            (r#"{"signature_name": 3, "inputs": [1]}"#, &one, "signature_name: invalid type: integer `3`"),
        ];
        for (body, metadata, expected) in cases {
            let e = error(body, metadata);
            assert!(e.starts_with(expected), "{body}\n  got: {e}\n  want: {expected}…");
        }
    }

    #[test]
    fn predictions_are_one_entry_per_row() {
        let probs = || tensor("probs", DataType::Fp32, vec![2, 3], "[0.5,0.25,0.25,0,0,1]");
        assert_eq!(
            encode(vec![probs()], PredictForm::Instances).unwrap(),
            json!({"predictions": [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]})
        );
        let label = tensor("label", DataType::Bytes, vec![2], r#"["setosa","virginica"]"#);
        assert_eq!(
            encode(vec![probs(), label], PredictForm::Instances).unwrap(),
            json!({"predictions": [
                {"probs": [0.5, 0.25, 0.25], "label": "setosa"},
                {"probs": [0.0, 0.0, 1.0], "label": "virginica"}
            ]})
        );
    }

    #[test]
    fn predictions_split_rows_of_every_kind() {
        let words = tensor("words", DataType::Bytes, vec![3, 2], r#"["a","","héllo","b","","日本"]"#);
        let empty = tensor("empty", DataType::Fp32, vec![3, 0], "[]");
        let none = tensor("none", DataType::Bytes, vec![3, 0], "[]");
        assert_eq!(
            encode(vec![words, empty, none], PredictForm::Instances).unwrap(),
            json!({"predictions": [
                {"words": ["a", ""], "empty": [], "none": []},
                {"words": ["héllo", "b"], "empty": [], "none": []},
                {"words": ["", "日本"], "empty": [], "none": []}
            ]})
        );
        let no_rows = tensor("y", DataType::Int8, vec![0, 2], "[]");
        assert_eq!(encode(vec![no_rows], PredictForm::Instances).unwrap(), json!({"predictions": []}));
    }

    #[test]
    fn predictions_need_rows_in_every_output() {
        let two_rows = tensor("a", DataType::Int32, vec![2], "[1,2]");
        let three_rows = tensor("b", DataType::Int32, vec![3, 1], "[1,2,3]");
        let e = encode(vec![two_rows.clone(), three_rows], PredictForm::Instances).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(e.message.starts_with("output 'b' has 3 rows but output 'a' has 2"), "{}", e.message);
        let scalar = tensor("s", DataType::Int32, vec![], "5");
        let e = encode(vec![two_rows, scalar], PredictForm::Instances).unwrap_err();
        assert!(e.message.starts_with("output 's' is a scalar"), "{}", e.message);
        let e = encode(vec![], PredictForm::Instances).unwrap_err();
        assert!(e.message.contains("no outputs"), "{}", e.message);
    }

    #[test]
    fn outputs_are_nested_values() {
        let probs = tensor("probs", DataType::Fp64, vec![2, 2], "[1,2,3,4]");
        assert_eq!(
            encode(vec![probs.clone()], PredictForm::Inputs).unwrap(),
            json!({"outputs": [[1.0, 2.0], [3.0, 4.0]]})
        );
        let flag = tensor("flag", DataType::Bool, vec![], "true");
        assert_eq!(
            encode(vec![probs, flag], PredictForm::Inputs).unwrap(),
            json!({"outputs": {"probs": [[1.0, 2.0], [3.0, 4.0]], "flag": true}})
        );
        assert_eq!(encode(vec![], PredictForm::Inputs).unwrap(), json!({"outputs": {}}));
    }

    #[test]
    fn status_list_and_error_bodies() {
        assert_eq!(encode_model_status("iris", true), br#"{"name":"iris","ready":true}"#);
        assert_eq!(encode_model_list(&["iris"]), br#"{"models":["iris"]}"#);
        assert_eq!(encode_error("no"), br#"{"error":"no"}"#);
    }
}
