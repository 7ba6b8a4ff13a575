//! TensorFlow's `TensorProto` in proto3 JSON, as Seldon's REST `data.tftensor` carries it.
//!
//! Parsing fills the generated protobuf message so that REST and gRPC share one conversion to
//! tensors (`seldon/tf.rs`). proto3 JSON lets every number be a JSON number or a string (int64
//! and uint64 are printed as strings; floats may be `"NaN"`, `"Infinity"`, `"-Infinity"`),
//! enums be names or numbers, and fields use their JSON or original names; all are accepted.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use base64::Engine;
use bytes::Bytes;
use oxserve_core::{Error, Result};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};

use super::Object;
use crate::pb::tensorflow::{DataType as TfType, TensorProto, TensorShapeProto, tensor_shape_proto::Dim};

/// `data.tftensor` as JSON, before its base64 fields are decoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct TensorProtoJson {
    #[serde(default, deserialize_with = "dtype")]
    dtype: i32,
    #[serde(default, alias = "tensor_shape")]
    tensor_shape: Option<Object<ShapeJson>>,
    #[serde(default, alias = "version_number", deserialize_with = "number")]
    version_number: i32,
    #[serde(default, alias = "tensor_content")]
    tensor_content: String,
    #[serde(default, alias = "half_val", deserialize_with = "numbers")]
    half_val: Vec<i32>,
    #[serde(default, alias = "float_val", deserialize_with = "numbers")]
    float_val: Vec<f32>,
    #[serde(default, alias = "double_val", deserialize_with = "numbers")]
    double_val: Vec<f64>,
    #[serde(default, alias = "int_val", deserialize_with = "numbers")]
    int_val: Vec<i32>,
    #[serde(default, alias = "string_val")]
    string_val: Vec<String>,
    #[serde(default, alias = "int64_val", deserialize_with = "numbers")]
    int64_val: Vec<i64>,
    #[serde(default, alias = "bool_val")]
    bool_val: Vec<bool>,
    #[serde(default, alias = "uint32_val", deserialize_with = "numbers")]
    uint32_val: Vec<u32>,
    #[serde(default, alias = "uint64_val", deserialize_with = "numbers")]
    uint64_val: Vec<u64>,
    /// Complex values are valid TensorProto fields, accepted here so that the dtype check can
    /// say why they cannot be served rather than calling them unknown.
    #[serde(default, rename = "scomplexVal", alias = "scomplex_val")]
    _scomplex_val: Option<IgnoredAny>,
    #[serde(default, rename = "dcomplexVal", alias = "dcomplex_val")]
    _dcomplex_val: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShapeJson {
    #[serde(default)]
    dim: Vec<Object<DimJson>>,
    #[serde(default, alias = "unknown_rank")]
    unknown_rank: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DimJson {
    #[serde(default, deserialize_with = "number")]
    size: i64,
    #[serde(default)]
    name: String,
}

impl TensorProtoJson {
    /// The protobuf message, with `tensorContent` and `stringVal` decoded from base64.
    pub(super) fn into_proto(self) -> Result<TensorProto> {
        let base64 = |field: &dyn fmt::Display, text: &str| {
            super::decode_base64(text)
                .map(Bytes::from)
                .map_err(|e| Error::invalid(format!("data.tftensor.{field}: invalid base64: {e}")))
        };
        let string_val = self
            .string_val
            .iter()
            .enumerate()
            .map(|(i, s)| base64(&format_args!("stringVal[{i}]"), s))
            .collect::<Result<Vec<_>>>()?;
        let tensor_shape = self.tensor_shape.map(|Object(shape)| TensorShapeProto {
            dim: shape.dim.into_iter().map(|Object(d)| Dim { size: d.size, name: d.name }).collect(),
            unknown_rank: shape.unknown_rank,
        });
        Ok(TensorProto {
            dtype: self.dtype,
            tensor_shape,
            version_number: self.version_number,
            tensor_content: base64(&"tensorContent", &self.tensor_content)?,
            half_val: self.half_val,
            float_val: self.float_val,
            double_val: self.double_val,
            int_val: self.int_val,
            string_val,
            int64_val: self.int64_val,
            bool_val: self.bool_val,
            uint32_val: self.uint32_val,
            uint64_val: self.uint64_val,
            ..TensorProto::default()
        })
    }
}

/// Writes `proto` as proto3 JSON the way `json_format.MessageToJson` does: the dtype's name,
/// dimension sizes and 64-bit integers as strings, bytes as base64, non-finite floats as
/// strings, and empty lists left out.
pub(super) fn write(out: &mut Vec<u8>, proto: &TensorProto) {
    let dtype = TfType::try_from(proto.dtype).map_or("DT_INVALID", |d| d.as_str_name());
    out.extend_from_slice(b"{\"dtype\":\"");
    out.extend_from_slice(dtype.as_bytes());
    out.extend_from_slice(b"\",\"tensorShape\":{");
    let dims = proto.tensor_shape.as_ref().map_or(&[][..], |s| &s.dim[..]);
    if !dims.is_empty() {
        out.extend_from_slice(b"\"dim\":[");
        for (i, d) in dims.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"size\":");
            quoted_int(out, d.size);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
    list(out, "halfVal", &proto.half_val, |out, &v| int(out, v));
    list(out, "floatVal", &proto.float_val, |out, &v| float(out, v));
    list(out, "doubleVal", &proto.double_val, |out, &v| float(out, v));
    list(out, "intVal", &proto.int_val, |out, &v| int(out, v));
    list(out, "stringVal", &proto.string_val, |out, v| {
        out.push(b'"');
        out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(v).as_bytes());
        out.push(b'"');
    });
    list(out, "int64Val", &proto.int64_val, |out, &v| quoted_int(out, v));
    list(out, "boolVal", &proto.bool_val, |out, &v| {
        out.extend_from_slice(if v { b"true" } else { b"false" })
    });
    list(out, "uint32Val", &proto.uint32_val, |out, &v| int(out, v));
    list(out, "uint64Val", &proto.uint64_val, |out, &v| quoted_int(out, v));
    out.push(b'}');
}

fn list<T>(out: &mut Vec<u8>, key: &str, values: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    if values.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, v);
    }
    out.push(b']');
}

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn quoted_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.push(b'"');
    int(out, v);
    out.push(b'"');
}

/// A float in its shortest round-tripping form, or proto3 JSON's string for a non-finite one.
fn float<F: ryu::Float + Into<f64>>(out: &mut Vec<u8>, v: F) {
    let wide: f64 = v.into();
    if wide.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if wide.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if wide > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// A number that proto3 JSON may write as a JSON number or as a string.
trait ProtoNumber: Sized + FromStr {
    const NAME: &'static str;
    fn from_i128(v: i128) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
}

macro_rules! integer {
    ($($t:ty => $name:literal),*) => {$(
        impl ProtoNumber for $t {
            const NAME: &'static str = $name;
            fn from_i128(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_f64(v: f64) -> Option<Self> {
                (v.is_finite() && v.fract() == 0.0).then(|| v as i128).and_then(Self::from_i128)
            }
        }
    )*};
}
integer!(i32 => "int32", i64 => "int64", u32 => "uint32", u64 => "uint64");

impl ProtoNumber for f32 {
    const NAME: &'static str = "float";
    fn from_i128(v: i128) -> Option<Self> {
        Some(v as f32)
    }
    fn from_f64(v: f64) -> Option<Self> {
        let narrow = v as f32;
        (narrow.is_finite() || !v.is_finite()).then_some(narrow)
    }
}

impl ProtoNumber for f64 {
    const NAME: &'static str = "double";
    fn from_i128(v: i128) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

struct NumberVisitor<T>(PhantomData<T>);

impl<T: ProtoNumber> NumberVisitor<T> {
    fn check<E: de::Error>(v: Option<T>, shown: impl fmt::Display) -> Result<T, E> {
        v.ok_or_else(|| E::custom(format_args!("{shown} is not a valid {}", T::NAME)))
    }
}

impl<T: ProtoNumber> Visitor<'_> for NumberVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as a number or a string", T::NAME)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::check(T::from_i128(v.into()), v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::check(T::from_i128(v.into()), v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Self::check(T::from_f64(v), v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Self::check(v.parse().ok(), format_args!("\"{v}\""))
    }
}

struct Number<T>(T);

impl<'de, T: ProtoNumber> Deserialize<'de> for Number<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor(PhantomData)).map(Number)
    }
}

fn number<'de, D: Deserializer<'de>, T: ProtoNumber>(d: D) -> Result<T, D::Error> {
    Number::deserialize(d).map(|n| n.0)
}

fn numbers<'de, D: Deserializer<'de>, T: ProtoNumber>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Number<T>>::deserialize(d).map(|v| v.into_iter().map(|n| n.0).collect())
}

/// An enum value: its name (`"DT_FLOAT"`) or its number.
fn dtype<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    struct DtypeVisitor;
    impl Visitor<'_> for DtypeVisitor {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a TensorFlow dtype name such as \"DT_FLOAT\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            TfType::from_str_name(v)
                .map(|d| d as i32)
                .ok_or_else(|| E::custom(format_args!("unknown TensorFlow dtype \"{v}\"")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format_args!("unknown TensorFlow dtype {v}")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format_args!("unknown TensorFlow dtype {v}")))
        }
    }
    d.deserialize_any(DtypeVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TensorProto> {
        serde_json::from_str::<TensorProtoJson>(json).map_err(|e| Error::invalid(e.to_string()))?.into_proto()
    }

    fn written(proto: &TensorProto) -> String {
        let mut out = Vec::new();
        write(&mut out, proto);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reads_json_and_original_names_and_string_numbers() {
        let p = parse(
            r#"{"dtype":"DT_INT64","tensorShape":{"dim":[{"size":"2"}]},"int64Val":["9223372036854775807",-1]}"#,
        )
        .unwrap();
        assert_eq!(p.dtype, TfType::DtInt64 as i32);
        assert_eq!(p.tensor_shape.unwrap().dim[0].size, 2);
        assert_eq!(p.int64_val, vec![i64::MAX, -1]);
        let p = parse(r#"{"dtype":1,"tensor_shape":{"dim":[{"size":3}]},"float_val":[1,"NaN","-Infinity"]}"#)
            .unwrap();
        assert_eq!(p.dtype, TfType::DtFloat as i32);
        assert_eq!(p.float_val[0], 1.0);
        assert!(p.float_val[1].is_nan());
        assert_eq!(p.float_val[2], f32::NEG_INFINITY);
    }

    #[test]
    fn decodes_base64_fields() {
        let p = parse(r#"{"dtype":"DT_STRING","stringVal":["aGk=","aGk"],"tensorContent":""}"#).unwrap();
        assert_eq!(p.string_val, vec![Bytes::from_static(b"hi"), Bytes::from_static(b"hi")]);
        let e = parse(r#"{"dtype":"DT_STRING","stringVal":["aGk=","%%"]}"#).unwrap_err();
        assert!(e.message.starts_with("data.tftensor.stringVal[1]: invalid base64"), "{}", e.message);
        let e = parse(r#"{"dtype":"DT_FLOAT","tensorContent":"!"}"#).unwrap_err();
        assert!(e.message.starts_with("data.tftensor.tensorContent: invalid base64"), "{}", e.message);
    }

    #[test]
    fn rejects_bad_numbers_and_names() {
        assert!(parse(r#"{"intVal":[1.5]}"#).unwrap_err().message.contains("1.5 is not a valid int32"));
        assert!(parse(r#"{"intVal":["x"]}"#).unwrap_err().message.contains("\"x\" is not a valid int32"));
        assert!(parse(r#"{"floatVal":[1e39]}"#).unwrap_err().message.contains("not a valid float"));
        assert!(
            parse(r#"{"dtype":"DT_NOPE"}"#)
                .unwrap_err()
                .message
                .contains("unknown TensorFlow dtype \"DT_NOPE\"")
        );
        assert!(
            parse(r#"{"dtype":"DT_FLOAT","values":[]}"#)
                .unwrap_err()
                .message
                .contains("unknown field `values`")
        );
        assert!(parse(r#"{"dtype":"DT_COMPLEX64","scomplexVal":[1,2]}"#).is_ok());
        assert!(
            parse(r#"{"tensorShape":{"dim":[["3"]]}}"#)
                .unwrap_err()
                .message
                .contains("invalid type: sequence")
        );
    }

    #[test]
    fn writes_proto3_json() {
        let p = TensorProto {
            dtype: TfType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![Dim { size: 1, name: String::new() }, Dim { size: 4, name: String::new() }],
                unknown_rank: false,
            }),
            float_val: vec![0.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY],
            ..TensorProto::default()
        };
        assert_eq!(
            written(&p),
            r#"{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"1"},{"size":"4"}]},"floatVal":[0.5,"NaN","Infinity","-Infinity"]}"#
        );
        let p = TensorProto {
            dtype: TfType::DtString as i32,
            string_val: vec![Bytes::from_static(b"hi")],
            int64_val: vec![-5],
            uint64_val: vec![u64::MAX],
            bool_val: vec![true],
            ..TensorProto::default()
        };
        assert_eq!(
            written(&p),
            r#"{"dtype":"DT_STRING","tensorShape":{},"stringVal":["aGk="],"int64Val":["-5"],"boolVal":[true],"uint64Val":["18446744073709551615"]}"#
        );
    }

    #[test]
    fn what_it_writes_it_reads_back() {
        let p = TensorProto {
            dtype: TfType::DtDouble as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![Dim { size: 3, name: String::new() }],
                unknown_rank: false,
            }),
            double_val: vec![0.1, -1e300, 5e-324],
            half_val: vec![15360],
            int_val: vec![i32::MIN],
            uint32_val: vec![u32::MAX],
            ..TensorProto::default()
        };
        assert_eq!(parse(&written(&p)).unwrap(), p);
    }
}
