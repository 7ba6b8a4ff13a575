//! Tensor elements in JSON: nested (or flat) arrays of numbers, booleans or strings.
//!
//! Decoding walks the JSON text once with serde and writes every element straight into the
//! typed little-endian buffer of the target datatype: there is no intermediate JSON tree and no
//! per-element allocation. All protocols (V2 `data`, Seldon `ndarray`/`tensor.values`, KServe v1
//! `instances`/`inputs`) share it, so element rules (range checks, BOOL, BYTES) are the same
//! everywhere.

use std::fmt;

use base64::Engine;
use bytes::Bytes;
use oxserve_core::{DataType, Error, Result, Tensor};

use crate::elements::{ElementBuffer, Scalar, scalars};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Elements decoded from JSON, with the shape their nesting implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Row-major little-endian elements in the layout [`Tensor::data`] expects.
    pub data: Bytes,
    /// Number of elements.
    pub count: usize,
    /// The shape implied by the nesting (`[]` for a bare scalar), or `None` when the nesting is
    /// ragged (rows of different lengths, or scalars next to lists).
    pub nested_shape: Option<Vec<usize>>,
}

/// Decodes JSON tensor data into the elements of `datatype`.
///
/// Integers must be integral and in range, floats may be any JSON number (an integer included),
/// BOOL takes only `true`/`false`, BYTES takes strings or TF-Serving's `{"b64": "..."}`. Errors
/// name the element by its flat index.
pub fn decode(json: &str, datatype: DataType) -> Result<Decoded> {
    let mut elements = ElementBuffer::new(datatype, 0);
    let nested_shape = decode_into(json, &mut elements)?;
    let count = elements.count();
    Ok(Decoded { data: elements.finish(), count, nested_shape })
}

/// Appends the elements of one JSON value to `elements`, converted to its datatype, and returns
/// the shape their nesting implies (`None` when ragged; see [`Decoded::nested_shape`]).
///
/// This is [`decode`] for a codec that gathers several JSON values into one tensor, such as
/// KServe v1's rows: every value lands in the same buffer, with nothing allocated per value but
/// the shape of a nested one. Errors number elements from the first element of this value.
pub(crate) fn decode_into(json: &str, elements: &mut ElementBuffer) -> Result<Option<Vec<usize>>> {
    elements.start_value();
    let mut sink = Sink::new(elements);
    let mut de = serde_json::Deserializer::from_str(json);
    let outcome = ElementSeed { sink: &mut sink, depth: 0 }.deserialize(&mut de).and_then(|()| de.end());
    if let Err(e) = outcome {
        return Err(sink.error.take().unwrap_or_else(|| Error::invalid(json_error_message(&e))));
    }
    Ok(sink.nested_shape())
}

/// The narrowest datatype that holds every element of a JSON array, for protocols whose
/// payloads carry no datatype (Seldon `ndarray`, KServe v1) when the model declares none:
/// BOOL, then INT64, then FP64; strings give BYTES. Mixed strings and numbers are an error.
pub fn infer_datatype(json: &str) -> Result<DataType> {
    let mut kinds = Kinds::default();
    let mut de = serde_json::Deserializer::from_str(json);
    KindSeed(&mut kinds)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| Error::invalid(json_error_message(&e)))?;
    match kinds {
        Kinds { string: true, number: false, boolean: false, .. } => Ok(DataType::Bytes),
        Kinds { string: false, number: false, boolean: true, .. } => Ok(DataType::Bool),
        Kinds { string: false, boolean: false, float: false, .. } => Ok(DataType::Int64),
        Kinds { string: false, boolean: false, float: true, .. } => Ok(DataType::Fp64),
        _ => Err(Error::invalid("elements mix strings, numbers and booleans; send one kind")),
    }
}

/// How [`write()`] lays out elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One flat list (V2 `data`, Seldon `tensor.values`).
    Flat,
    /// Lists nested to match the shape (Seldon `ndarray`, KServe v1).
    Nested,
}

/// Writes the elements of `tensor` as JSON into `out`.
///
/// Floats are printed in the shortest form that parses back to the same value; non-finite
/// floats are written `NaN`, `Infinity`, `-Infinity` as TF-Serving and Python's `json` do.
/// FP16/BF16 are widened to numbers. A BYTES element that is not UTF-8 is an (internal) error,
/// since JSON cannot carry it; callers that can should fall back to a binary form.
pub fn write(out: &mut Vec<u8>, tensor: &Tensor, layout: Layout) -> Result<()> {
    let mut elements = ElementWriter::new(tensor);
    match layout {
        Layout::Flat => {
            out.push(b'[');
            for i in 0..tensor.element_count() {
                if i > 0 {
                    out.push(b',');
                }
                elements.write_next(out)?;
            }
            out.push(b']');
        }
        Layout::Nested => write_nested(out, &tensor.shape, &mut elements)?,
    }
    Ok(())
}

fn write_nested<'a>(
    out: &mut Vec<u8>,
    shape: &[usize],
    elements: &mut ElementWriter<'a, impl Iterator<Item = Scalar<'a>>>,
) -> Result<()> {
    match shape.split_first() {
        None => elements.write_next(out),
        Some((&n, rest)) => {
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_nested(out, rest, elements)?;
            }
            out.push(b']');
            Ok(())
        }
    }
}

/// serde_json's message without its "at line 1 column N" suffix when the input is one line long;
/// kept otherwise, since the position helps with a multi-line body.
fn json_error_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if e.line() == 1
        && let Some(pos) = message.rfind(" at line 1 column")
    {
        return format!("{} (column {})", &message[..pos], e.column());
    }
    message
}

/// Writes the elements of one tensor as JSON, one after another.
struct ElementWriter<'a, I> {
    name: &'a str,
    datatype: DataType,
    elements: I,
    index: usize,
}

impl<'a> ElementWriter<'a, ()> {
    fn new(tensor: &'a Tensor) -> ElementWriter<'a, impl Iterator<Item = Scalar<'a>>> {
        ElementWriter { name: &tensor.name, datatype: tensor.datatype, elements: scalars(tensor), index: 0 }
    }
}

impl<'a, I: Iterator<Item = Scalar<'a>>> ElementWriter<'a, I> {
    fn write_next(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let element = self
            .elements
            .next()
            .ok_or_else(|| Error::internal(format!("tensor '{}' is truncated", self.name)))?;
        self.index += 1;
        match element {
            Scalar::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Scalar::Int(i) => write_int(out, i),
            // FP32 and narrower came from f32 or less, so printing the f32 is exact and shortest.
            Scalar::Float(f) if self.datatype == DataType::Fp64 => write_f64(out, f),
            Scalar::Float(f) => write_f32(out, f as f32),
            Scalar::Bytes(e) => {
                let text = std::str::from_utf8(e).map_err(|_| {
                    Error::internal(format!(
                        "output '{}' element {} is not UTF-8 and cannot be sent as a JSON string",
                        self.name,
                        self.index - 1
                    ))
                })?;
                serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
            }
        }
        Ok(())
    }
}

fn write_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn write_f32(out: &mut Vec<u8>, value: f32) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else {
        write_non_finite(out, value.is_nan(), value.is_sign_positive());
    }
}

fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else {
        write_non_finite(out, value.is_nan(), value.is_sign_positive());
    }
}

fn write_non_finite(out: &mut Vec<u8>, nan: bool, positive: bool) {
    out.extend_from_slice(match (nan, positive) {
        (true, _) => b"NaN",
        (false, true) => b"Infinity",
        (false, false) => b"-Infinity",
    });
}

/// Accumulates decoded elements and the shape implied by their nesting.
struct Sink<'b> {
    elements: &'b mut ElementBuffer,
    /// Length of the arrays seen at each depth; a later array of another length makes it ragged.
    dims: Vec<Option<usize>>,
    /// Depth at which scalars were found.
    leaf_depth: Option<usize>,
    regular: bool,
    /// A precise element error; serde's own error is used for malformed JSON.
    error: Option<Error>,
}

impl<'b> Sink<'b> {
    fn new(elements: &'b mut ElementBuffer) -> Self {
        Sink { elements, dims: Vec::new(), leaf_depth: None, regular: true, error: None }
    }

    fn datatype(&self) -> DataType {
        self.elements.datatype()
    }

    fn nested_shape(&self) -> Option<Vec<usize>> {
        // Lists at every depth down to the scalars (or to an empty innermost list).
        let depth = self.leaf_depth.unwrap_or(self.dims.len());
        let dims: Option<Vec<usize>> = self.dims.iter().take(depth).copied().collect();
        dims.filter(|d| self.regular && d.len() == depth)
    }

    fn array_at(&mut self, depth: usize, len: usize) {
        if depth >= self.dims.len() {
            self.dims.resize(depth + 1, None);
        }
        match self.dims[depth] {
            None => self.dims[depth] = Some(len),
            Some(seen) if seen != len => self.regular = false,
            Some(_) => {}
        }
        if self.leaf_depth.is_some_and(|leaf| depth >= leaf) {
            self.regular = false;
        }
    }

    /// Appends one scalar found at `depth`, keeping the precise error for [`decode`].
    fn push<E: de::Error>(&mut self, depth: usize, value: Scalar<'_>) -> Result<(), E> {
        match self.leaf_depth {
            None => {
                self.leaf_depth = Some(depth);
                if self.dims.iter().skip(depth).any(Option::is_some) {
                    self.regular = false;
                }
            }
            Some(leaf) if leaf != depth => self.regular = false,
            Some(_) => {}
        }
        self.elements.push(value).map_err(|e| self.keep(e))
    }

    fn fail<E: de::Error>(&mut self, message: impl fmt::Display) -> E {
        let error = self.elements.reject(message);
        self.keep(error)
    }

    fn keep<E: de::Error>(&mut self, error: Error) -> E {
        let serde_error = E::custom(&error.message);
        self.error = Some(error);
        serde_error
    }
}

/// Deserializes one JSON value (a scalar or a nested list) into the sink.
struct ElementSeed<'a, 'b> {
    sink: &'a mut Sink<'b>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tensor elements")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.sink.push(self.depth, Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.sink.push(self.depth, Scalar::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.sink.push(self.depth, Scalar::Int(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.sink.push(self.depth, Scalar::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.sink.push(self.depth, Scalar::Bytes(v.as_bytes()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.sink.fail("null is not a tensor element"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut len = 0;
        while seq.next_element_seed(ElementSeed { sink: &mut *self.sink, depth: self.depth + 1 })?.is_some() {
            len += 1;
        }
        self.sink.array_at(self.depth, len);
        Ok(())
    }

    /// TF-Serving's binary string form, `{"b64": "<base64>"}`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let key: Option<String> = map.next_key()?;
        if key.as_deref() != Some("b64") || self.sink.datatype() != DataType::Bytes {
            return Err(self.sink.fail("objects are not tensor elements (only {\"b64\": ...} for BYTES)"));
        }
        let encoded: String = map.next_value()?;
        if map.next_key::<String>()?.is_some() {
            return Err(self.sink.fail("a {\"b64\": ...} object has one key"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| self.sink.fail(format_args!("invalid base64: {e}")))?;
        self.sink.push(self.depth, Scalar::Bytes(&decoded))
    }
}

/// Which kinds of scalars a JSON value holds, for [`infer_datatype`].
#[derive(Default)]
struct Kinds {
    boolean: bool,
    number: bool,
    float: bool,
    string: bool,
}

struct KindSeed<'a>(&'a mut Kinds);

impl<'de> DeserializeSeed<'de> for KindSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KindSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tensor elements")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0.boolean = true;
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.0.number = true;
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.0.number = true;
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0.number = true;
        self.0.float = true;
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0.string = true;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom("null is not a tensor element"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(KindSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Only {"b64": ...} is meaningful; decode() checks it properly.
        while map.next_entry::<String, de::IgnoredAny>()?.is_some() {}
        self.0.string = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(datatype: DataType, shape: Vec<usize>, json: &str) -> Tensor {
        let d = decode(json, datatype).unwrap();
        Tensor::new("t", datatype, shape, d.data).unwrap()
    }

    fn flat(t: &Tensor) -> String {
        let mut out = Vec::new();
        write(&mut out, t, Layout::Flat).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn nested_and_flat_decode_to_the_same_buffer() {
        let nested = decode("[[1,2,3],[4,5,6]]", DataType::Fp32).unwrap();
        let flat = decode("[1,2,3,4,5,6]", DataType::Fp32).unwrap();
        assert_eq!(nested.data, flat.data);
        assert_eq!(nested.nested_shape, Some(vec![2, 3]));
        assert_eq!(flat.nested_shape, Some(vec![6]));
        assert_eq!(nested.count, 6);
    }

    #[test]
    fn every_json_datatype_round_trips() {
        let cases = [
            (DataType::Bool, "[true,false,true]"),
            (DataType::Uint8, "[0,255,7]"),
            (DataType::Uint16, "[0,65535,7]"),
            (DataType::Uint32, "[0,4294967295,7]"),
            (DataType::Uint64, "[0,18446744073709551615,7]"),
            (DataType::Int8, "[-128,127,0]"),
            (DataType::Int16, "[-32768,32767,0]"),
            (DataType::Int32, "[-2147483648,2147483647,0]"),
            (DataType::Int64, "[-9223372036854775808,9223372036854775807,0]"),
            (DataType::Fp32, "[0.1,-3.4028235e38,1e-7]"),
            (DataType::Fp64, "[0.1,-1.7976931348623157e308,5e-324]"),
            (DataType::Bytes, r#"["a","","h\u00e9llo \"q\""]"#),
        ];
        for (datatype, json) in cases {
            let t = tensor(datatype, vec![3], json);
            let written = flat(&t);
            let again = tensor(datatype, vec![3], &written);
            assert_eq!(again.data, t.data, "{datatype}: {json} -> {written}");
        }
    }

    #[test]
    fn fp16_and_bf16_take_numbers_and_write_them_back() {
        let t = tensor(DataType::Fp16, vec![2], "[1.5,-2]");
        assert_eq!(flat(&t), "[1.5,-2.0]");
        let t = tensor(DataType::Bf16, vec![2], "[1.5,-2]");
        assert_eq!(flat(&t), "[1.5,-2.0]");
    }

    #[test]
    fn integral_floats_are_integers_but_fractions_are_not() {
        assert_eq!(
            decode("[2.0]", DataType::Int64).unwrap().data,
            decode("[2]", DataType::Int64).unwrap().data
        );
        let e = decode("[1, 2.5]", DataType::Int64).unwrap_err();
        assert_eq!(e.message, "element 1: expected an integer for INT64, got 2.5");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(decode("[256]", DataType::Uint8).unwrap_err().message.contains("out of range for UINT8"));
        assert!(decode("[-1]", DataType::Uint32).unwrap_err().message.contains("element 0"));
        assert!(decode("[1e39]", DataType::Fp32).unwrap_err().message.contains("out of range for FP32"));
    }

    #[test]
    fn wrong_kinds_name_the_element() {
        let e = decode(r#"[1,"2"]"#, DataType::Fp32).unwrap_err();
        assert_eq!(e.message, "element 1: expected a number for FP32, got a string");
        let e = decode("[1]", DataType::Bool).unwrap_err();
        assert!(e.message.contains("true or false for BOOL"));
        let e = decode("[true]", DataType::Bytes).unwrap_err();
        assert!(e.message.contains("a string for BYTES"));
        assert!(decode("[null]", DataType::Fp32).unwrap_err().message.contains("null"));
    }

    #[test]
    fn malformed_json_is_an_error_with_a_position() {
        let e = decode("[1,2", DataType::Fp32).unwrap_err();
        assert!(e.message.contains("EOF"), "{}", e.message);
        assert!(decode("[1] x", DataType::Fp32).is_err());
    }

    #[test]
    fn ragged_nesting_has_no_shape() {
        assert_eq!(decode("[[1,2],[3]]", DataType::Fp32).unwrap().nested_shape, None);
        assert_eq!(decode("[[1,2],3]", DataType::Fp32).unwrap().nested_shape, None);
        assert_eq!(decode("[1,[2]]", DataType::Fp32).unwrap().nested_shape, None);
        assert_eq!(decode("[[],[]]", DataType::Fp32).unwrap().nested_shape, Some(vec![2, 0]));
        assert_eq!(decode("5", DataType::Fp32).unwrap().nested_shape, Some(vec![]));
    }

    #[test]
    fn values_append_to_one_buffer_and_number_their_own_elements() {
        let mut elements = ElementBuffer::new(DataType::Int16, 0);
        assert_eq!(decode_into("[1,2]", &mut elements).unwrap(), Some(vec![2]));
        assert_eq!(decode_into("3", &mut elements).unwrap(), Some(vec![]));
        assert_eq!(decode_into("[[4],[5,6]]", &mut elements).unwrap(), None);
        let e = decode_into("[7,70000]", &mut elements).unwrap_err();
        assert_eq!(e.message, "element 1: 70000 is out of range for INT16");
        assert_eq!(elements.count(), 7);
        let data = elements.finish();
        assert_eq!(&data[..12], &[1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]);
    }

    #[test]
    fn b64_objects_are_bytes() {
        let d = decode(r#"[{"b64":"AAEC"}]"#, DataType::Bytes).unwrap();
        assert_eq!(&d.data[..], &[3, 0, 0, 0, 0, 1, 2]);
        assert!(decode(r#"[{"b64":"AAEC"}]"#, DataType::Fp32).is_err());
        assert!(decode(r#"[{"b64":"%%"}]"#, DataType::Bytes).unwrap_err().message.contains("base64"));
    }

    #[test]
    fn deep_nesting_is_accepted_up_to_100() {
        let json = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(decode(&json, DataType::Int32).unwrap().nested_shape, Some(vec![1; 100]));
    }

    #[test]
    fn infers_the_narrowest_type() {
        assert_eq!(infer_datatype("[[1,2],[3,4]]").unwrap(), DataType::Int64);
        assert_eq!(infer_datatype("[[1,2.5]]").unwrap(), DataType::Fp64);
        assert_eq!(infer_datatype("[true]").unwrap(), DataType::Bool);
        assert_eq!(infer_datatype(r#"[["a","b"]]"#).unwrap(), DataType::Bytes);
        assert!(infer_datatype(r#"[["a",1]]"#).is_err());
    }

    #[test]
    fn nested_layout() {
        let t = tensor(DataType::Int32, vec![2, 2], "[1,2,3,4]");
        let mut out = Vec::new();
        write(&mut out, &t, Layout::Nested).unwrap();
        assert_eq!(out, b"[[1,2],[3,4]]");
    }

    #[test]
    fn non_finite_floats_and_non_utf8_bytes() {
        let t = Tensor::new(
            "f",
            DataType::Fp32,
            vec![3],
            [f32::NAN, f32::INFINITY, f32::NEG_INFINITY].iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
        .unwrap();
        assert_eq!(flat(&t), "[NaN,Infinity,-Infinity]");
        let b = Tensor::from_bytes_elements("b", vec![1], [[0xffu8]]).unwrap();
        let mut out = Vec::new();
        assert!(write(&mut out, &b, Layout::Flat).unwrap_err().message.contains("not UTF-8"));
    }
}
