//! Tensor elements one at a time: the conversion rules every codec shares.
//!
//! [`ElementBuffer`] turns parsed values ([`Scalar`]s from JSON text in [`crate::json_data`],
//! gRPC doubles and `ListValue`s, TensorFlow's typed lists) into the little-endian buffer of a
//! datatype; [`scalars`] reads them back. The rules are the same everywhere (integers must be
//! integral and in range, FP32 must not overflow, BOOL takes only booleans, BYTES only strings),
//! so a value is accepted or refused alike whichever protocol carried it.

use bytes::Bytes;
use oxserve_core::{DataType, Error, Result, Tensor};

/// One element, as wide as any datatype needs, so that conversions can check ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar<'a> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Bytes(&'a [u8]),
}

impl Scalar<'_> {
    /// The value as a double, for Seldon's all-double `tensor`; `None` for a string.
    pub(crate) fn as_f64(self) -> Option<f64> {
        match self {
            Scalar::Bool(b) => Some(f64::from(u8::from(b))),
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(f) => Some(f),
            Scalar::Bytes(_) => None,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Bytes(_) => "a string",
        }
    }
}

/// The elements of `tensor` in row-major order.
pub(crate) fn scalars(tensor: &Tensor) -> impl Iterator<Item = Scalar<'_>> {
    let datatype = tensor.datatype;
    // `bytes_elements` yields nothing for fixed-size types and `fixed` is `None` for BYTES, so
    // exactly one of the two halves produces the elements.
    let fixed = datatype
        .element_size()
        .map(|size| tensor.data.chunks_exact(size).map(move |element| read(datatype, element)));
    fixed.into_iter().flatten().chain(tensor.bytes_elements().map(Scalar::Bytes))
}

fn read(datatype: DataType, e: &[u8]) -> Scalar<'_> {
    fn array<const N: usize>(e: &[u8]) -> [u8; N] {
        e.try_into().expect("chunks_exact yields elements of the datatype's size")
    }
    match datatype {
        DataType::Bool => Scalar::Bool(e[0] != 0),
        DataType::Uint8 => Scalar::Int(e[0].into()),
        DataType::Uint16 => Scalar::Int(u16::from_le_bytes(array(e)).into()),
        DataType::Uint32 => Scalar::Int(u32::from_le_bytes(array(e)).into()),
        DataType::Uint64 => Scalar::Int(u64::from_le_bytes(array(e)).into()),
        DataType::Int8 => Scalar::Int((e[0] as i8).into()),
        DataType::Int16 => Scalar::Int(i16::from_le_bytes(array(e)).into()),
        DataType::Int32 => Scalar::Int(i32::from_le_bytes(array(e)).into()),
        DataType::Int64 => Scalar::Int(i64::from_le_bytes(array(e)).into()),
        DataType::Fp16 => Scalar::Float(half::f16::from_le_bytes(array(e)).to_f64()),
        DataType::Bf16 => Scalar::Float(half::bf16::from_le_bytes(array(e)).to_f64()),
        DataType::Fp32 => Scalar::Float(f32::from_le_bytes(array(e)).into()),
        DataType::Fp64 => Scalar::Float(f64::from_le_bytes(array(e))),
        DataType::Bytes => Scalar::Bytes(e),
    }
}

/// The most an [`ElementBuffer`] reserves up front, whatever its caller expects.
///
/// Element counts come from shapes that clients claim, and a claim costs a client nothing: a
/// 132-byte request can name a 17 TB tensor. Reserving only a bounded amount means memory is
/// taken as elements actually arrive; a larger tensor grows the buffer by doubling.
const MAX_RESERVED_BYTES: usize = 4 << 20;

/// Builds the little-endian buffer of one datatype from [`Scalar`]s, checking each conversion.
pub(crate) struct ElementBuffer {
    datatype: DataType,
    data: Vec<u8>,
    count: usize,
    /// Index of the first element of the value being decoded, from which errors number elements.
    value_start: usize,
}

impl ElementBuffer {
    /// An empty buffer with room for about `expected` fixed-size elements, at most
    /// [`MAX_RESERVED_BYTES`]: the hint may come from a client.
    pub(crate) fn new(datatype: DataType, expected: usize) -> Self {
        let bytes = expected.saturating_mul(datatype.element_size().unwrap_or(0)).min(MAX_RESERVED_BYTES);
        ElementBuffer { datatype, data: Vec::with_capacity(bytes), count: 0, value_start: 0 }
    }

    /// Numbers elements in errors from the next one pushed, for a buffer that gathers several
    /// values (KServe v1 rows): `element 0` is then the first element of the value at fault.
    pub(crate) fn start_value(&mut self) {
        self.value_start = self.count;
    }

    /// An error about the next element, in the form `element N: …`.
    pub(crate) fn reject(&self, message: impl std::fmt::Display) -> Error {
        Error::invalid(format!("element {}: {message}", self.count - self.value_start))
    }

    /// Appends `value` converted to the buffer's datatype.
    pub(crate) fn push(&mut self, value: Scalar<'_>) -> Result<()> {
        macro_rules! int {
            ($t:ty) => {{
                let wide = self.integer(value)?;
                let v = <$t>::try_from(wide)
                    .map_err(|_| self.reject(format_args!("{wide} is out of range for {}", self.datatype)))?;
                self.data.extend_from_slice(&v.to_le_bytes());
            }};
        }
        match self.datatype {
            DataType::Bool => match value {
                Scalar::Bool(b) => self.data.push(u8::from(b)),
                other => return Err(self.wrong_kind(other)),
            },
            DataType::Bytes => match value {
                Scalar::Bytes(b) => {
                    let len = u32::try_from(b.len()).map_err(|_| self.reject("string is 4 GiB or longer"))?;
                    self.data.extend_from_slice(&len.to_le_bytes());
                    self.data.extend_from_slice(b);
                }
                other => return Err(self.wrong_kind(other)),
            },
            DataType::Uint8 => int!(u8),
            DataType::Uint16 => int!(u16),
            DataType::Uint32 => int!(u32),
            DataType::Uint64 => int!(u64),
            DataType::Int8 => int!(i8),
            DataType::Int16 => int!(i16),
            DataType::Int32 => int!(i32),
            DataType::Int64 => int!(i64),
            DataType::Fp16 => {
                let v = self.float(value)?;
                self.data.extend_from_slice(&half::f16::from_f64(v).to_le_bytes());
            }
            DataType::Bf16 => {
                let v = self.float(value)?;
                self.data.extend_from_slice(&half::bf16::from_f64(v).to_le_bytes());
            }
            DataType::Fp32 => {
                let v = self.float(value)?;
                let narrow = v as f32;
                if narrow.is_infinite() && v.is_finite() {
                    return Err(self.reject(format_args!("{v} is out of range for FP32")));
                }
                self.data.extend_from_slice(&narrow.to_le_bytes());
            }
            DataType::Fp64 => {
                let v = self.float(value)?;
                self.data.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.count += 1;
        Ok(())
    }

    pub(crate) fn datatype(&self) -> DataType {
        self.datatype
    }

    /// How many elements were pushed.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The elements, ready for [`Tensor::new`].
    pub(crate) fn finish(self) -> Bytes {
        Bytes::from(self.data)
    }

    fn integer(&self, value: Scalar<'_>) -> Result<i128> {
        match value {
            Scalar::Int(i) => Ok(i),
            Scalar::Float(f) if f.is_finite() && f.fract() == 0.0 => Ok(f as i128),
            Scalar::Float(f) => {
                Err(self.reject(format_args!("expected an integer for {}, got {f}", self.datatype)))
            }
            other => Err(self.wrong_kind(other)),
        }
    }

    fn float(&self, value: Scalar<'_>) -> Result<f64> {
        match value {
            Scalar::Int(i) => Ok(i as f64),
            Scalar::Float(f) => Ok(f),
            other => Err(self.wrong_kind(other)),
        }
    }

    fn wrong_kind(&self, got: Scalar<'_>) -> Error {
        let expected = match self.datatype {
            DataType::Bool => "true or false for BOOL".to_string(),
            DataType::Bytes => "a string for BYTES".to_string(),
            d => format!("a number for {d}"),
        };
        self.reject(format_args!("expected {expected}, got {}", got.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(datatype: DataType, values: &[Scalar<'_>]) -> Result<Tensor> {
        let mut b = ElementBuffer::new(datatype, values.len());
        for &v in values {
            b.push(v)?;
        }
        Tensor::new("t", datatype, vec![values.len()], b.finish())
    }

    #[test]
    fn every_datatype_reads_back_what_was_pushed() {
        let cases: [(DataType, Vec<Scalar<'_>>); 14] = [
            (DataType::Bool, vec![Scalar::Bool(true), Scalar::Bool(false)]),
            (DataType::Uint8, vec![Scalar::Int(0), Scalar::Int(255)]),
            (DataType::Uint16, vec![Scalar::Int(0), Scalar::Int(65535)]),
            (DataType::Uint32, vec![Scalar::Int(0), Scalar::Int(u32::MAX.into())]),
            (DataType::Uint64, vec![Scalar::Int(0), Scalar::Int(u64::MAX.into())]),
            (DataType::Int8, vec![Scalar::Int(-128), Scalar::Int(127)]),
            (DataType::Int16, vec![Scalar::Int(-32768), Scalar::Int(32767)]),
            (DataType::Int32, vec![Scalar::Int(i32::MIN.into()), Scalar::Int(7)]),
            (DataType::Int64, vec![Scalar::Int(i64::MIN.into()), Scalar::Int(i64::MAX.into())]),
            (DataType::Fp16, vec![Scalar::Float(1.5), Scalar::Float(-2.0)]),
            (DataType::Bf16, vec![Scalar::Float(1.5), Scalar::Float(-2.0)]),
            (DataType::Fp32, vec![Scalar::Float(0.5), Scalar::Float(f64::from(f32::MAX))]),
            (DataType::Fp64, vec![Scalar::Float(0.1), Scalar::Float(f64::MIN_POSITIVE)]),
            (DataType::Bytes, vec![Scalar::Bytes(b"a"), Scalar::Bytes(b"")]),
        ];
        for (datatype, values) in cases {
            let t = buffer(datatype, &values).unwrap();
            assert_eq!(scalars(&t).collect::<Vec<_>>(), values, "{datatype}");
        }
    }

    #[test]
    fn integral_doubles_become_integers_and_fractions_do_not() {
        let t = buffer(DataType::Int32, &[Scalar::Float(3.0)]).unwrap();
        assert_eq!(scalars(&t).next(), Some(Scalar::Int(3)));
        let e = buffer(DataType::Int64, &[Scalar::Int(1), Scalar::Float(2.5)]).unwrap_err();
        assert_eq!(e.message, "element 1: expected an integer for INT64, got 2.5");
        let e = buffer(DataType::Int32, &[Scalar::Float(f64::NAN)]).unwrap_err();
        assert!(e.message.contains("expected an integer"), "{}", e.message);
    }

    #[test]
    fn out_of_range_and_wrong_kinds_name_the_element() {
        let e = buffer(DataType::Uint8, &[Scalar::Int(256)]).unwrap_err();
        assert_eq!(e.message, "element 0: 256 is out of range for UINT8");
        let e = buffer(DataType::Fp32, &[Scalar::Float(1e39)]).unwrap_err();
        assert_eq!(e.message, "element 0: 1000000000000000000000000000000000000000 is out of range for FP32");
        let e = buffer(DataType::Fp32, &[Scalar::Float(1.0), Scalar::Bytes(b"x")]).unwrap_err();
        assert_eq!(e.message, "element 1: expected a number for FP32, got a string");
        let e = buffer(DataType::Bool, &[Scalar::Int(1)]).unwrap_err();
        assert_eq!(e.message, "element 0: expected true or false for BOOL, got a number");
        let e = buffer(DataType::Bytes, &[Scalar::Bool(true)]).unwrap_err();
        assert_eq!(e.message, "element 0: expected a string for BYTES, got a boolean");
    }

    #[test]
    fn non_finite_floats_pass_through() {
        let t = buffer(DataType::Fp32, &[Scalar::Float(f64::INFINITY)]).unwrap();
        assert_eq!(scalars(&t).next(), Some(Scalar::Float(f64::INFINITY)));
    }

    #[test]
    fn a_claimed_capacity_reserves_a_bounded_amount() {
        // 2 GiB claimed: reserving it would let one small request take the server's memory.
        let b = ElementBuffer::new(DataType::Fp64, 1 << 28);
        assert!(b.data.capacity() <= MAX_RESERVED_BYTES, "reserved {} bytes", b.data.capacity());
        let b = ElementBuffer::new(DataType::Fp64, usize::MAX);
        assert!(b.data.capacity() <= MAX_RESERVED_BYTES, "reserved {} bytes", b.data.capacity());
    }

    #[test]
    fn doubles_for_seldon_tensor() {
        assert_eq!(Scalar::Bool(true).as_f64(), Some(1.0));
        assert_eq!(Scalar::Int(-3).as_f64(), Some(-3.0));
        assert_eq!(Scalar::Bytes(b"x").as_f64(), None);
    }
}
