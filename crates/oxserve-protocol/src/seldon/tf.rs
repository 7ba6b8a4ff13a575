//! Seldon's `tftensor` payload: TensorFlow's `TensorProto` ⇄ a neutral [`Tensor`].
//!
//! REST and gRPC share this conversion; REST only adds the proto3-JSON form on top
//! (`json/tftensor.rs`). Field names in errors are the JSON ones (`floatVal`, `tensorShape`),
//! the names Seldon's documentation uses for both transports.

use bytes::Bytes;
use oxserve_core::{DataType, Error, Result, Tensor, shape_from_i64};

use super::Target;
use crate::elements::{ElementBuffer, Scalar};
use crate::pb::tensorflow::{DataType as TfType, TensorProto, TensorShapeProto, tensor_shape_proto::Dim};

/// The largest tensor a `tftensor` may fill by repeating its last value, in bytes: 64 MiB, the
/// server's default request limit, so that repeating never builds a tensor larger than one a
/// client could have sent value by value. Without a bound, a 132-byte request naming shape
/// `[1099511627776, 4]` with one value asks for 17 TB.
pub(super) const MAX_FILLED_BYTES: usize = 64 << 20;

/// How [`encode`] stores the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TfValues {
    /// The typed `*_val` lists: readable in JSON, what TF-Serving's REST API prints.
    Typed,
    /// Raw little-endian `tensor_content`, as `tf.make_tensor_proto` writes it: a zero-copy
    /// slice of the tensor for fixed-size types. BYTES still uses `string_val`.
    Content,
}

/// The TensorFlow dtype that holds `datatype`.
pub(super) fn tf_type(datatype: DataType) -> TfType {
    match datatype {
        DataType::Bool => TfType::DtBool,
        DataType::Uint8 => TfType::DtUint8,
        DataType::Uint16 => TfType::DtUint16,
        DataType::Uint32 => TfType::DtUint32,
        DataType::Uint64 => TfType::DtUint64,
        DataType::Int8 => TfType::DtInt8,
        DataType::Int16 => TfType::DtInt16,
        DataType::Int32 => TfType::DtInt32,
        DataType::Int64 => TfType::DtInt64,
        DataType::Fp16 => TfType::DtHalf,
        DataType::Bf16 => TfType::DtBfloat16,
        DataType::Fp32 => TfType::DtFloat,
        DataType::Fp64 => TfType::DtDouble,
        DataType::Bytes => TfType::DtString,
    }
}

/// The neutral datatype of a TensorFlow dtype; complex, quantized, resource and variant types
/// have none.
fn datatype(tf: TfType) -> Option<DataType> {
    DataType::ALL.into_iter().find(|&d| tf_type(d) == tf)
}

/// Decodes a `tftensor` into the one tensor the model takes.
///
/// The proto's own dtype is converted to the model's declared datatype when they differ (a
/// client's `DT_DOUBLE` for an FP32 input, `DT_INT32` for INT64), with the usual range checks.
/// Typed value lists follow `tf.make_ndarray`: fewer values than elements repeat the last one,
/// as long as the filled tensor stays within [`MAX_FILLED_BYTES`].
pub(super) fn decode(proto: &TensorProto, target: &Target<'_>) -> Result<Tensor> {
    let tf = TfType::try_from(proto.dtype).map_err(|_| {
        Error::invalid(format!("data.tftensor.dtype: unknown TensorFlow dtype {}", proto.dtype))
    })?;
    let source = datatype(tf).ok_or_else(|| {
        Error::invalid(format!("data.tftensor.dtype: {} has no oxserve datatype", tf.as_str_name()))
    })?;
    let shape = shape(proto.tensor_shape.as_ref())?;
    // `shape_from_i64` checked that the product fits.
    let count: usize = shape.iter().product();
    let datatype = target.datatype.unwrap_or(source);

    let data = if proto.tensor_content.is_empty() {
        typed_values(proto, source, datatype, count)?
    } else {
        let size = source.element_size().ok_or_else(|| {
            Error::invalid(format!(
                "data.tftensor.tensorContent: {} values go in stringVal",
                tf.as_str_name()
            ))
        })?;
        let expected = count.saturating_mul(size);
        if proto.tensor_content.len() != expected {
            return Err(Error::invalid(format!(
                "data.tftensor.tensorContent: shape {shape:?} of {} needs {expected} bytes, got {}",
                tf.as_str_name(),
                proto.tensor_content.len()
            )));
        }
        if datatype == source {
            proto.tensor_content.clone()
        } else {
            let raw = Tensor::new("tftensor", source, shape.clone(), proto.tensor_content.clone())
                .map_err(|e| e.context("data.tftensor.tensorContent"))?;
            // `count` matched the bytes received above, so it is no bigger than the request.
            let mut buffer = ElementBuffer::new(datatype, count);
            for value in crate::elements::scalars(&raw) {
                buffer.push(value).map_err(|e| e.context("data.tftensor.tensorContent"))?;
            }
            buffer.finish()
        }
    };
    Tensor::new(target.name, datatype, shape, data).map_err(|e| e.context("data.tftensor"))
}

/// Encodes a tensor as a `TensorProto` of the matching dtype.
pub(super) fn encode(tensor: &Tensor, values: TfValues) -> TensorProto {
    let dim = tensor.shape.iter().map(|&d| Dim { size: d as i64, name: String::new() }).collect();
    let mut proto = TensorProto {
        dtype: tf_type(tensor.datatype) as i32,
        tensor_shape: Some(TensorShapeProto { dim, unknown_rank: false }),
        ..TensorProto::default()
    };
    if values == TfValues::Content && tensor.datatype != DataType::Bytes {
        proto.tensor_content = tensor.data.clone();
        return proto;
    }
    let data = &tensor.data[..];
    match tensor.datatype {
        DataType::Bool => proto.bool_val = data.iter().map(|&b| b != 0).collect(),
        DataType::Uint8 => proto.int_val = data.iter().map(|&b| i32::from(b)).collect(),
        DataType::Int8 => proto.int_val = data.iter().map(|&b| i32::from(b as i8)).collect(),
        DataType::Uint16 => proto.int_val = le(data, |b| i32::from(u16::from_le_bytes(b))),
        DataType::Int16 => proto.int_val = le(data, |b| i32::from(i16::from_le_bytes(b))),
        DataType::Int32 => proto.int_val = le(data, i32::from_le_bytes),
        DataType::Int64 => proto.int64_val = le(data, i64::from_le_bytes),
        DataType::Uint32 => proto.uint32_val = le(data, u32::from_le_bytes),
        DataType::Uint64 => proto.uint64_val = le(data, u64::from_le_bytes),
        // TensorFlow keeps half-precision values as their 16 bits in an int32 list.
        DataType::Fp16 | DataType::Bf16 => proto.half_val = le(data, |b| i32::from(u16::from_le_bytes(b))),
        DataType::Fp32 => proto.float_val = le(data, f32::from_le_bytes),
        DataType::Fp64 => proto.double_val = le(data, f64::from_le_bytes),
        DataType::Bytes => {
            proto.string_val = tensor.bytes_elements().map(|e| tensor.data.slice_ref(e)).collect();
        }
    }
    proto
}

fn le<const N: usize, T>(data: &[u8], from: impl Fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N).map(|c| from(c.try_into().expect("chunks_exact yields N bytes"))).collect()
}

fn shape(shape: Option<&TensorShapeProto>) -> Result<Vec<usize>> {
    let Some(shape) = shape else { return Ok(Vec::new()) };
    if shape.unknown_rank {
        return Err(Error::invalid(
            "data.tftensor.tensorShape: a value needs a known rank (unknownRank is set)",
        ));
    }
    let dims: Vec<i64> = shape.dim.iter().map(|d| d.size).collect();
    shape_from_i64(&dims, "data.tftensor.tensorShape")
}

/// The elements of the typed list that `source` uses, converted to `datatype`.
fn typed_values(proto: &TensorProto, source: DataType, datatype: DataType, count: usize) -> Result<Bytes> {
    fn half(bits: i32, to_f64: fn(u16) -> f64) -> Scalar<'static> {
        Scalar::Float(to_f64(bits as u16))
    }
    let mut elements = ElementBuffer::new(datatype, 0);
    let buffer = &mut elements;
    match source {
        DataType::Bool => fill(buffer, "boolVal", &proto.bool_val, count, |&v| Scalar::Bool(v)),
        DataType::Uint8 | DataType::Uint16 | DataType::Int8 | DataType::Int16 | DataType::Int32 => {
            fill(buffer, "intVal", &proto.int_val, count, |&v| Scalar::Int(v.into()))
        }
        DataType::Int64 => fill(buffer, "int64Val", &proto.int64_val, count, |&v| Scalar::Int(v.into())),
        DataType::Uint32 => fill(buffer, "uint32Val", &proto.uint32_val, count, |&v| Scalar::Int(v.into())),
        DataType::Uint64 => fill(buffer, "uint64Val", &proto.uint64_val, count, |&v| Scalar::Int(v.into())),
        DataType::Fp16 => fill(buffer, "halfVal", &proto.half_val, count, |&v| {
            half(v, |b| half::f16::from_bits(b).to_f64())
        }),
        DataType::Bf16 => fill(buffer, "halfVal", &proto.half_val, count, |&v| {
            half(v, |b| half::bf16::from_bits(b).to_f64())
        }),
        DataType::Fp32 => fill(buffer, "floatVal", &proto.float_val, count, |&v| Scalar::Float(v.into())),
        DataType::Fp64 => fill(buffer, "doubleVal", &proto.double_val, count, |&v| Scalar::Float(v)),
        DataType::Bytes => fill(buffer, "stringVal", &proto.string_val, count, |v| Scalar::Bytes(v)),
    }?;
    Ok(elements.finish())
}

/// Pushes `count` elements: `values`, then its last value again as often as needed.
fn fill<'v, T>(
    buffer: &mut ElementBuffer,
    field: &str,
    values: &'v [T],
    count: usize,
    scalar: impl Fn(&'v T) -> Scalar<'v>,
) -> Result<()> {
    let context = || format!("data.tftensor.{field}");
    let Some(last) = values.last() else {
        if count == 0 {
            return Ok(());
        }
        return Err(Error::invalid(format!("{}: no values for {count} elements", context())));
    };
    if values.len() > count {
        return Err(Error::invalid(format!("{}: {} values for {count} elements", context(), values.len())));
    }
    if values.len() < count {
        // Sized in u128, which cannot overflow: at most 2^64 elements of at most 2^32 + 4 bytes.
        let size = |v: &'v T| match scalar(v) {
            Scalar::Bytes(b) if buffer.datatype() == DataType::Bytes => 4 + b.len() as u128,
            _ => buffer.datatype().element_size().unwrap_or(4) as u128,
        };
        let repeats = (count - values.len()) as u128;
        let filled = values.iter().map(size).sum::<u128>() + repeats * size(last);
        if filled > MAX_FILLED_BYTES as u128 {
            return Err(Error::invalid(format!(
                "{}: {} values for {count} elements: repeating the last value would make {filled} bytes \
                 of {}, more than the {MAX_FILLED_BYTES} allowed; send every value",
                context(),
                values.len(),
                buffer.datatype()
            )));
        }
    }
    for i in 0..count {
        buffer.push(scalar(values.get(i).unwrap_or(last))).map_err(|e| e.context(context()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::testing::tf_proto;

    const ANY: Target<'static> = Target { name: "x", datatype: None };

    /// Typed lists → tensor → typed lists, and the same through `tensor_content`.
    #[test]
    fn round_trips_every_dtype_both_ways() {
        let mut cases = Vec::new();
        let mut p = tf_proto(TfType::DtFloat, &[1, 3]);
        p.float_val = vec![0.5, -1.25, f32::MAX];
        cases.push((p, DataType::Fp32));
        let mut p = tf_proto(TfType::DtDouble, &[2]);
        p.double_val = vec![0.1, -1e300];
        cases.push((p, DataType::Fp64));
        let mut p = tf_proto(TfType::DtInt32, &[2, 1]);
        p.int_val = vec![i32::MIN, 7];
        cases.push((p, DataType::Int32));
        let mut p = tf_proto(TfType::DtInt64, &[2]);
        p.int64_val = vec![i64::MAX, -1];
        cases.push((p, DataType::Int64));
        let mut p = tf_proto(TfType::DtString, &[3]);
        p.string_val = vec![Bytes::from_static(b"a"), Bytes::new(), Bytes::from_static(&[0xff, 0])];
        cases.push((p, DataType::Bytes));
        let mut p = tf_proto(TfType::DtBool, &[2]);
        p.bool_val = vec![true, false];
        cases.push((p, DataType::Bool));
        let mut p = tf_proto(TfType::DtUint64, &[1]);
        p.uint64_val = vec![u64::MAX];
        cases.push((p, DataType::Uint64));
        let mut p = tf_proto(TfType::DtHalf, &[1]);
        p.half_val = vec![i32::from(half::f16::from_f32(1.5).to_bits())];
        cases.push((p, DataType::Fp16));
        let mut p = tf_proto(TfType::DtUint8, &[2]);
        p.int_val = vec![0, 255];
        cases.push((p, DataType::Uint8));

        for (p, datatype) in cases {
            let t = decode(&p, &ANY).unwrap();
            assert_eq!(t.datatype, datatype);
            assert_eq!(encode(&t, TfValues::Typed), p, "{datatype}");
            let content = encode(&t, TfValues::Content);
            assert_eq!(decode(&content, &ANY).unwrap(), t, "{datatype} through tensor_content");
        }
    }

    #[test]
    fn content_is_shared_not_copied_when_types_agree() {
        let mut p = tf_proto(TfType::DtFloat, &[2]);
        p.tensor_content =
            Bytes::from([1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());
        let t = decode(&p, &Target { name: "in", datatype: Some(DataType::Fp32) }).unwrap();
        assert_eq!(t.name, "in");
        assert_eq!(t.data.as_ptr(), p.tensor_content.as_ptr());
        assert_eq!(encode(&t, TfValues::Content).tensor_content.as_ptr(), p.tensor_content.as_ptr());
    }

    #[test]
    fn converts_to_the_declared_datatype() {
        let mut p = tf_proto(TfType::DtDouble, &[2]);
        p.double_val = vec![1.5, 2.5];
        let t = decode(&p, &Target { name: "x", datatype: Some(DataType::Fp32) }).unwrap();
        assert_eq!(t.datatype, DataType::Fp32);
        assert_eq!(&t.data[..], [1.5f32, 2.5].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());

        let mut p = tf_proto(TfType::DtInt64, &[1]);
        p.tensor_content = Bytes::from(300i64.to_le_bytes().to_vec());
        let e = decode(&p, &Target { name: "x", datatype: Some(DataType::Uint8) }).unwrap_err();
        assert_eq!(e.message, "data.tftensor.tensorContent: element 0: 300 is out of range for UINT8");
    }

    #[test]
    fn short_lists_repeat_the_last_value_like_make_ndarray() {
        let mut p = tf_proto(TfType::DtInt32, &[2, 2]);
        p.int_val = vec![1, 9];
        let t = decode(&p, &ANY).unwrap();
        assert_eq!(encode(&t, TfValues::Typed).int_val, vec![1, 9, 9, 9]);
    }

    #[test]
    fn repeating_the_last_value_is_bounded() {
        // 132 bytes on the wire that once asked for a 17 TB buffer.
        let mut p = tf_proto(TfType::DtFloat, &[1_099_511_627_776, 4]);
        p.float_val = vec![1.0];
        let e = decode(&p, &ANY).unwrap_err();
        assert_eq!(e.kind, oxserve_core::ErrorKind::InvalidArgument);
        assert!(e.message.starts_with("data.tftensor.floatVal: "), "{}", e.message);
        assert!(e.message.contains("4398046511104 elements"), "{}", e.message);
        // Just over the limit: 80 MiB of FP32 from one value.
        let mut p = tf_proto(TfType::DtFloat, &[4_194_304, 5]);
        p.float_val = vec![1.0];
        let e = decode(&p, &ANY).unwrap_err();
        assert!(e.message.contains("83886080 bytes"), "{}", e.message);
        // A fill within the limit still repeats the last value, as `tf.make_ndarray` does.
        let mut p = tf_proto(TfType::DtUint8, &[3, 2]);
        p.int_val = vec![7];
        assert_eq!(decode(&p, &ANY).unwrap().data, Bytes::from_static(&[7; 6]));
    }

    #[test]
    fn scalars_and_empty_tensors() {
        let mut p = TensorProto { dtype: TfType::DtFloat as i32, ..TensorProto::default() };
        p.float_val = vec![4.0];
        assert_eq!(decode(&p, &ANY).unwrap().shape, Vec::<usize>::new());
        let empty = tf_proto(TfType::DtFloat, &[0, 3]);
        assert_eq!(decode(&empty, &ANY).unwrap().shape, vec![0, 3]);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(TensorProto, &str)> = vec![
            (
                TensorProto { dtype: 99, ..TensorProto::default() },
                "data.tftensor.dtype: unknown TensorFlow dtype 99",
            ),
            (
                tf_proto(TfType::DtComplex64, &[1]),
                "data.tftensor.dtype: DT_COMPLEX64 has no oxserve datatype",
            ),
            (
                tf_proto(TfType::DtFloat, &[-1, 2]),
                "data.tftensor.tensorShape: dimension 0 is -1; dimensions must not be negative",
            ),
            (tf_proto(TfType::DtFloat, &[2]), "data.tftensor.floatVal: no values for 2 elements"),
            (
                TensorProto { float_val: vec![1.0, 2.0, 3.0], ..tf_proto(TfType::DtFloat, &[2]) },
                "data.tftensor.floatVal: 3 values for 2 elements",
            ),
            (
                TensorProto {
                    tensor_content: Bytes::from_static(&[0; 7]),
                    ..tf_proto(TfType::DtFloat, &[2])
                },
                "data.tftensor.tensorContent: shape [2] of DT_FLOAT needs 8 bytes, got 7",
            ),
            (
                TensorProto { tensor_content: Bytes::from_static(b"ab"), ..tf_proto(TfType::DtString, &[1]) },
                "data.tftensor.tensorContent: DT_STRING values go in stringVal",
            ),
            (
                TensorProto { int_val: vec![1], ..tf_proto(TfType::DtBool, &[1]) },
                "data.tftensor.boolVal: no values for 1 elements",
            ),
        ];
        for (p, message) in cases {
            assert_eq!(decode(&p, &ANY).unwrap_err().message, message);
        }
        let mut unknown = tf_proto(TfType::DtFloat, &[]);
        unknown.tensor_shape.as_mut().unwrap().unknown_rank = true;
        assert!(decode(&unknown, &ANY).unwrap_err().message.contains("unknownRank"));
        let mut p = tf_proto(TfType::DtString, &[1]);
        p.string_val = vec![Bytes::from_static(b"x")];
        let e = decode(&p, &Target { name: "x", datatype: Some(DataType::Fp32) }).unwrap_err();
        assert_eq!(e.message, "data.tftensor.stringVal: element 0: expected a number for FP32, got a string");
    }
}
