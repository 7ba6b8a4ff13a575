//! KServe v1 / TF-Serving REST codec: `:predict` bodies in row (`instances`) or columnar
//! (`inputs`) form, and the small status and listing bodies.
//!
//! V1 payloads carry no datatypes or shapes: the datatype comes from the model's declared
//! inputs (or is inferred from the JSON when it declares none) and the shape from the nesting.
//! As in V2, the envelope is parsed with serde and every value is kept as raw JSON text until
//! [`json_data`] decodes it into a typed buffer, so no JSON tree of elements is built.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Parameters, Result, Tensor,
};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::elements::ElementBuffer;
use crate::json_data::{self, Layout};
use crate::json_envelope::{self, to_json, write_json};

/// `{"error": "..."}`, the same body as V2's.
pub use crate::json_envelope::encode_error;
/// `{"models": [...]}`, the same body as V2's `GET /v2/models`.
pub use crate::json_envelope::encode_model_list;

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
    let body: PredictBody<'_> = json_envelope::parse(body)?;
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
    Named(Vec<Entry<'a>>),
}

/// An entry of a JSON object: its key (borrowed unless it has escapes) and its raw value.
type Entry<'a> = (Cow<'a, str>, &'a RawValue);

impl<'a> Payload<'a> {
    fn parse(raw: &'a RawValue, field: &str) -> Result<Payload<'a>> {
        let mut entries = Vec::new();
        if names_inputs(raw, &mut entries).map_err(|e| Error::invalid(format!("{field}: {e}")))? {
            Ok(Payload::Named(entries))
        } else {
            Ok(Payload::Value(raw))
        }
    }
}

/// Whether `value` is an object naming inputs, whose entries are then in `entries` (cleared
/// first, so that one buffer serves every row); `{"b64": "..."}` is a value, not a name.
fn names_inputs<'a>(value: &'a RawValue, entries: &mut Vec<Entry<'a>>) -> serde_json::Result<bool> {
    entries.clear();
    if !value.get().starts_with('{') {
        return Ok(false);
    }
    serde_json::Deserializer::from_str(value.get()).deserialize_map(EntriesVisitor(entries))?;
    Ok(!matches!(entries.as_slice(), [(key, _)] if key == "b64"))
}

/// Appends a JSON object's entries, in their order, to a vector.
struct EntriesVisitor<'e, 'a>(&'e mut Vec<Entry<'a>>);

impl<'a> Visitor<'a> for EntriesVisitor<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of named inputs")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value()?;
            self.0.push((key, value));
        }
        Ok(())
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an input name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
    let datatype = match column.datatype {
        Some(datatype) => datatype,
        None => json_data::infer_datatype(value.get()).map_err(|e| e.context(field))?,
    };
    let decoded = json_data::decode(value.get(), datatype).map_err(|e| e.context(field))?;
    let shape = decoded.nested_shape.ok_or_else(|| ragged(field))?;
    Tensor::new(column.name, datatype, shape, decoded.data).map_err(|e| e.context(field))
}

fn ragged(field: impl fmt::Display) -> Error {
    Error::invalid(format!("{field}: ragged nesting; lists at the same depth must have the same length"))
}

/// Row form: one entry per example, stacked along a new first dimension. Each row is the
/// value of the one input, or an object naming every input; all rows must agree in shape.
///
/// Rows are read in one pass and each value is decoded straight into its input's buffer, so a
/// request costs about its tensors in memory, whatever the number of rows. A model that
/// declares no inputs takes the first row's names and needs one more pass first, to find the
/// datatype that holds every row's value.
fn decode_instances(raw: &RawValue, metadata: &ModelMetadata) -> Result<Vec<Tensor>> {
    let rows = raw.get();
    let mut inputs = RowInputs::declared(metadata);
    let datatypes: Vec<DataType> = if inputs.open {
        infer_row_datatypes(rows, &mut inputs, &metadata.name)?
    } else {
        metadata.inputs.iter().map(|spec| spec.datatype).collect()
    };
    let mut columns: Vec<RowColumn> = datatypes.into_iter().map(RowColumn::new).collect();
    let count = for_each_cell(rows, &mut inputs, &metadata.name, |cell| columns[cell.input].push(cell))?;
    inputs.names.into_iter().zip(columns).map(|(name, column)| column.finish(name, count)).collect()
}

/// Names a row's value in errors, `instances[3]` or `instances[3].age`. Formatted only when an
/// error is reported, so that a million rows do not make a million strings.
#[derive(Clone, Copy)]
struct RowField<'n> {
    row: usize,
    /// The input the value belongs to, for a row that is an object naming inputs.
    input: Option<&'n str>,
}

impl fmt::Display for RowField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instances[{}]", self.row)?;
        match self.input {
            Some(name) => write!(f, ".{name}"),
            None => Ok(()),
        }
    }
}

/// The inputs that `instances` rows fill, in order and by name.
struct RowInputs {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// The model declares no inputs: the first row names them.
    open: bool,
}

impl RowInputs {
    fn declared(metadata: &ModelMetadata) -> RowInputs {
        let mut inputs =
            RowInputs { names: Vec::new(), index: HashMap::new(), open: metadata.inputs.is_empty() };
        inputs.add(metadata.inputs.iter().map(|spec| spec.name.as_str()));
        inputs
    }

    /// Adds `names` as inputs; a repeated name is one input (a row that names it twice is
    /// refused when its values are read).
    fn add<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        for name in names {
            if !self.index.contains_key(name) {
                self.index.insert(name.to_string(), self.names.len());
                self.names.push(name.to_string());
            }
        }
    }

    fn quoted(&self) -> String {
        quoted(self.names.iter().map(String::as_str))
    }
}

/// One row's value of one input.
struct Cell<'n, 'a> {
    /// Index of the input in [`RowInputs::names`].
    input: usize,
    name: &'n str,
    row: usize,
    /// Whether the row is an object naming inputs (`instances[3].age`, not `instances[3]`).
    named: bool,
    value: &'a RawValue,
}

impl<'n> Cell<'n, '_> {
    fn field(&self) -> RowField<'n> {
        self.field_of(self.row, self.named)
    }

    /// The field of this input's value in another row.
    fn field_of(&self, row: usize, named: bool) -> RowField<'n> {
        RowField { row, input: named.then_some(self.name) }
    }
}

/// Walks `instances` once, calling `each` with every row's value of every input (in input
/// order within a row), after checking that the row names each input exactly once and nothing
/// else. Open `inputs` are taken from the first row. Returns the number of rows.
fn for_each_cell<'a>(
    rows: &'a str,
    inputs: &mut RowInputs,
    model: &str,
    mut each: impl FnMut(Cell<'_, 'a>) -> Result<()>,
) -> Result<usize> {
    // Reused by every row: an object's entries, and each input's value from the current row.
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut values: Vec<Option<&'a RawValue>> = vec![None; inputs.names.len()];
    let count = for_each_row(rows, |row, value| {
        let named = names_inputs(value, &mut entries)
            .map_err(|e| Error::invalid(format!("{}: {e}", RowField { row, input: None })))?;
        if inputs.open {
            // A model that declares nothing takes the first row's names, or `instances` for a
            // row that is a bare value.
            match named {
                true => inputs.add(entries.iter().map(|(key, _)| key.as_ref())),
                false => inputs.add(std::iter::once("instances")),
            }
            inputs.open = false;
            values = vec![None; inputs.names.len()];
        }
        if !named {
            if inputs.names.len() != 1 {
                return Err(Error::invalid(format!(
                    "instances[{row}]: model '{model}' has inputs {}; each instance must be an object \
                     {{input_name: value}}",
                    inputs.quoted()
                )));
            }
            return each(Cell { input: 0, name: &inputs.names[0], row, named, value });
        }
        for (key, value) in &entries {
            let Some(&input) = inputs.index.get(key.as_ref()) else {
                return Err(Error::invalid(format!(
                    "instances[{row}].{key}: model '{model}' has no input '{key}'; expected {}",
                    inputs.quoted()
                )));
            };
            if values[input].replace(value).is_some() {
                return Err(Error::invalid(format!("instances[{row}].{key}: input '{key}' is given twice")));
            }
        }
        if let Some(missing) = values.iter().position(Option::is_none) {
            return Err(Error::invalid(format!(
                "instances[{row}]: input '{}' is missing",
                inputs.names[missing]
            )));
        }
        for (input, value) in values.iter_mut().map(Option::take).enumerate() {
            if let Some(value) = value {
                each(Cell { input, name: &inputs.names[input], row, named, value })?;
            }
        }
        Ok(())
    })?;
    if count == 0 {
        return Err(Error::invalid("instances: the list is empty; send at least one instance"));
    }
    Ok(count)
}

/// Calls `each` with the index and raw text of every element of the JSON list `rows`, as the
/// list is read: nothing is collected. Returns the number of elements.
fn for_each_row<'a>(rows: &'a str, mut each: impl FnMut(usize, &'a RawValue) -> Result<()>) -> Result<usize> {
    struct Rows<'f, F> {
        each: &'f mut F,
        count: usize,
        /// The error `each` returned, which serde can only carry as text.
        failure: Option<Error>,
    }
    impl<'de, F: FnMut(usize, &'de RawValue) -> Result<()>> Visitor<'de> for &mut Rows<'_, F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of instances")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(row) = seq.next_element()? {
                if let Err(e) = (self.each)(self.count, row) {
                    self.failure = Some(e);
                    return Err(de::Error::custom("instance refused"));
                }
                self.count += 1;
            }
            Ok(())
        }
    }
    let mut visitor = Rows { each: &mut each, count: 0, failure: None };
    match serde_json::Deserializer::from_str(rows).deserialize_seq(&mut visitor) {
        Ok(()) => Ok(visitor.count),
        Err(_) => Err(visitor
            .failure
            .take()
            .unwrap_or_else(|| Error::invalid("instances: must be a list with one entry per instance"))),
    }
}

/// A model that declares no inputs: the narrowest datatype that holds every row's value of
/// each input (INT64 and FP64 values together give FP64), found in a pass over the rows that
/// also takes the inputs from the first row.
fn infer_row_datatypes(rows: &str, inputs: &mut RowInputs, model: &str) -> Result<Vec<DataType>> {
    // Per input: the datatype so far and the row that set it (its index, named or not).
    let mut found: Vec<Option<(DataType, usize, bool)>> = Vec::new();
    for_each_cell(rows, inputs, model, |cell| {
        if found.len() <= cell.input {
            found.resize(cell.input + 1, None);
        }
        let datatype = json_data::infer_datatype(cell.value.get()).map_err(|e| e.context(cell.field()))?;
        found[cell.input] = Some(match found[cell.input] {
            None => (datatype, cell.row, cell.named),
            Some((seen, row, named)) => match (seen, datatype) {
                _ if seen == datatype => (seen, row, named),
                (DataType::Int64, DataType::Fp64) | (DataType::Fp64, DataType::Int64) => {
                    (DataType::Fp64, row, named)
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "{}: holds {datatype} values but {} holds {seen}; send one kind",
                        cell.field(),
                        cell.field_of(row, named)
                    )));
                }
            },
        });
        Ok(())
    })?;
    // Every row gives every input a value, so each has a datatype once there is a row.
    Ok(found.into_iter().map(|f| f.map_or(DataType::Fp64, |(datatype, ..)| datatype)).collect())
}

/// Compares shapes element by element: called once per row, where a `memcmp` call for a short
/// (usually empty) slice costs more than the comparison itself.
fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// One input's rows, decoded into one buffer of shape `[rows, ...row shape]`.
struct RowColumn {
    elements: ElementBuffer,
    /// The first row's shape, to compare the others with, and that row (its index, named or
    /// not) for errors.
    first: Option<(Vec<usize>, usize, bool)>,
}

impl RowColumn {
    fn new(datatype: DataType) -> RowColumn {
        RowColumn { elements: ElementBuffer::new(datatype, 0), first: None }
    }

    fn push(&mut self, cell: Cell<'_, '_>) -> Result<()> {
        let shape = json_data::decode_into(cell.value.get(), &mut self.elements)
            .map_err(|e| e.context(cell.field()))?
            .ok_or_else(|| ragged(cell.field()))?;
        match &self.first {
            None => self.first = Some((shape, cell.row, cell.named)),
            Some((first, row, named)) if !same_shape(first, &shape) => {
                return Err(Error::invalid(format!(
                    "{}: shape {shape:?} differs from {}'s {first:?}; all instances must have the same shape",
                    cell.field(),
                    cell.field_of(*row, *named)
                )));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn finish(self, name: String, rows: usize) -> Result<Tensor> {
        let mut shape = vec![rows];
        shape.extend(self.first.map(|(row_shape, ..)| row_shape).unwrap_or_default());
        let datatype = self.elements.datatype();
        Tensor::new(name, datatype, shape, self.elements.finish()).map_err(|e| e.context("instances"))
    }
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
    fn rows_with_many_named_inputs_are_checked_in_linear_time() {
        // A model that declares nothing takes the first row's keys: 30k of them, in two rows.
        let row: Vec<String> = (0..30_000).map(|k| format!(r#""k{k}":{k}"#)).collect();
        let row = format!("{{{}}}", row.join(","));
        let body = format!(r#"{{"instances":[{row},{row}]}}"#);
        let start = std::time::Instant::now();
        let (request, _) = decode_predict(body.as_bytes(), &model(&[])).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "took {:?}", start.elapsed());
        assert_eq!(request.inputs.len(), 30_000);
        assert_eq!(
            (request.inputs[29_999].name.as_str(), &request.inputs[29_999].shape[..]),
            ("k29999", &[2][..])
        );
    }

    #[test]
    fn an_input_given_twice_in_a_row_is_an_error() {
        let one = model(&[("x", DataType::Fp32)]);
        let e = error(r#"{"instances": [{"x": 1}, {"x": 2, "x": 3}]}"#, &one);
        assert_eq!(e, "instances[1].x: input 'x' is given twice");
        let e = error(r#"{"instances": [{"a": 1, "a": 2}]}"#, &model(&[]));
        assert_eq!(e, "instances[0].a: input 'a' is given twice");
    }

    #[test]
    fn errors_in_later_rows_count_elements_from_the_row() {
        let one = model(&[("x", DataType::Uint8)]);
        let e = error(r#"{"instances": [[1, 2], [3, 256]]}"#, &one);
        assert_eq!(e, "instances[1]: element 1: 256 is out of range for UINT8");
        let e = error(r#"{"instances": [{"x": [1, 2]}, {"x": [3, null]}]}"#, &one);
        assert_eq!(e, "instances[1].x: element 1: null is not a tensor element");
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
