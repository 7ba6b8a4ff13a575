use bytes::Bytes;

use crate::{DataType, Error, Result};

/// Free-form parameters attached to a request, an input or an output.
///
/// The V2 protocol allows strings, numbers and booleans; codecs of other protocols may carry
/// richer JSON values (Seldon `names`, for example) under their own keys.
pub type Parameters = serde_json::Map<String, serde_json::Value>;

/// A named, typed, shaped tensor whose elements live in one contiguous buffer.
///
/// `data` is row-major and little-endian. Fixed-size types hold `element_count × element_size`
/// bytes; `BYTES` holds each element as a 4-byte little-endian length and its payload, which is
/// exactly the V2 binary form, so binary requests reach the runtime without re-encoding.
/// Construct with [`Tensor::new`], which checks that `data` agrees with `datatype` and `shape`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<usize>,
    pub data: Bytes,
    pub parameters: Parameters,
}

impl Tensor {
    /// Builds a tensor after checking that `data` holds exactly the elements `shape` asks for.
    pub fn new(
        name: impl Into<String>,
        datatype: DataType,
        shape: Vec<usize>,
        data: Bytes,
    ) -> Result<Tensor> {
        let name = name.into();
        check_data(datatype, &shape, &data).map_err(|e| e.context(format_args!("tensor '{name}'")))?;
        Ok(Tensor { name, datatype, shape, data, parameters: Parameters::new() })
    }

    /// Builds a `BYTES` tensor from its elements.
    pub fn from_bytes_elements<I, E>(
        name: impl Into<String>,
        shape: Vec<usize>,
        elements: I,
    ) -> Result<Tensor>
    where
        I: IntoIterator<Item = E>,
        E: AsRef<[u8]>,
    {
        Tensor::new(name, DataType::Bytes, shape, encode_bytes_elements(elements)?)
    }

    /// The same tensor with its parameters replaced.
    pub fn with_parameters(mut self, parameters: Parameters) -> Tensor {
        self.parameters = parameters;
        self
    }

    /// Number of elements (the product of the shape; 1 for a scalar of shape `[]`).
    pub fn element_count(&self) -> usize {
        // Checked in `new`, so it cannot overflow here.
        self.shape.iter().product()
    }

    /// Iterates over the elements of a `BYTES` tensor. For other types it yields nothing.
    pub fn bytes_elements(&self) -> BytesElements<'_> {
        let rest = if self.datatype == DataType::Bytes { &self.data[..] } else { &[][..] };
        BytesElements { rest }
    }
}

/// The number of elements in a tensor of `shape`, or `None` if the product overflows.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The dimensions of a request's shape, checked: every protocol carries shapes as signed
/// integers, but `-1` (a variable dimension) is only meaningful in metadata, never in data.
///
/// A negative dimension, or dimensions whose product overflows, is an invalid argument whose
/// message starts with `field` (`inputs[2].shape: dimension 1 is -3; …`). Afterwards
/// `shape.iter().product()` cannot overflow.
pub fn shape_from_i64(dims: &[i64], field: &str) -> Result<Vec<usize>> {
    let shape = dims
        .iter()
        .enumerate()
        .map(|(d, &dim)| {
            usize::try_from(dim).map_err(|_| {
                Error::invalid(format!("{field}: dimension {d} is {dim}; dimensions must not be negative"))
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    if element_count(&shape).is_none() {
        return Err(Error::invalid(format!("{field}: {shape:?} has too many elements")));
    }
    Ok(shape)
}

/// Encodes byte strings into the length-prefixed `BYTES` buffer.
pub fn encode_bytes_elements<I, E>(elements: I) -> Result<Bytes>
where
    I: IntoIterator<Item = E>,
    E: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for element in elements {
        let element = element.as_ref();
        let len =
            u32::try_from(element.len()).map_err(|_| Error::invalid("a BYTES element is 4 GiB or longer"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(element);
    }
    Ok(Bytes::from(out))
}

/// Iterator over the payloads of a length-prefixed `BYTES` buffer that [`Tensor::new`] checked.
pub struct BytesElements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for BytesElements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (element, rest) = rest.split_at(len.min(rest.len()));
        self.rest = rest;
        Some(element)
    }
}

fn check_data(datatype: DataType, shape: &[usize], data: &[u8]) -> Result<()> {
    let count =
        element_count(shape).ok_or_else(|| Error::invalid(format!("shape {shape:?} is too large")))?;
    match datatype.element_size() {
        Some(size) => {
            let expected = count
                .checked_mul(size)
                .ok_or_else(|| Error::invalid(format!("shape {shape:?} is too large")))?;
            if data.len() != expected {
                return Err(Error::invalid(format!(
                    "shape {shape:?} of {datatype} needs {count} elements ({expected} bytes), got {} bytes",
                    data.len()
                )));
            }
            if datatype == DataType::Bool
                && let Some(bad) = data.iter().position(|&b| b > 1)
            {
                return Err(Error::invalid(format!("BOOL element {bad} is {}, not 0 or 1", data[bad])));
            }
        }
        None => {
            let found = count_bytes_elements(data)?;
            if found != count {
                return Err(Error::invalid(format!(
                    "shape {shape:?} of BYTES needs {count} elements, got {found}"
                )));
            }
        }
    }
    Ok(())
}

/// Counts the elements of a length-prefixed buffer, rejecting a truncated one.
fn count_bytes_elements(mut data: &[u8]) -> Result<usize> {
    let mut count = 0;
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            return Err(Error::invalid(format!(
                "BYTES element {count} has a truncated length prefix ({} bytes left)",
                data.len()
            )));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(Error::invalid(format!(
                "BYTES element {count} declares {len} bytes but only {} remain",
                rest.len()
            )));
        }
        data = &rest[len..];
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_size_lengths_are_checked() {
        let ok = Tensor::new("x", DataType::Fp32, vec![2, 2], Bytes::from(vec![0u8; 16]));
        assert!(ok.is_ok());
        let err = Tensor::new("x", DataType::Fp32, vec![2, 2], Bytes::from(vec![0u8; 12])).unwrap_err();
        assert!(err.message.contains("tensor 'x'"), "{}", err.message);
        assert!(err.message.contains("16 bytes"), "{}", err.message);
    }

    #[test]
    fn scalar_and_empty_shapes() {
        assert!(Tensor::new("s", DataType::Int64, vec![], Bytes::from(vec![0u8; 8])).is_ok());
        assert!(Tensor::new("e", DataType::Int64, vec![0, 3], Bytes::new()).is_ok());
    }

    #[test]
    fn overflowing_shape_is_an_error_not_a_panic() {
        let err = Tensor::new("x", DataType::Fp64, vec![usize::MAX, 2], Bytes::new()).unwrap_err();
        assert!(err.message.contains("too large"));
    }

    #[test]
    fn request_shapes_are_checked_and_name_the_field() {
        assert_eq!(shape_from_i64(&[2, 0, 3], "inputs[0].shape").unwrap(), vec![2, 0, 3]);
        assert_eq!(shape_from_i64(&[], "s").unwrap(), Vec::<usize>::new());
        let e = shape_from_i64(&[2, -3], "inputs[2].shape").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidArgument);
        assert_eq!(e.message, "inputs[2].shape: dimension 1 is -3; dimensions must not be negative");
        let e = shape_from_i64(&[i64::MAX, i64::MAX, 4], "data.tensor.shape").unwrap_err();
        assert_eq!(e.message, format!("data.tensor.shape: [{0}, {0}, 4] has too many elements", i64::MAX));
    }

    #[test]
    fn bool_values_must_be_zero_or_one() {
        assert!(Tensor::new("b", DataType::Bool, vec![2], Bytes::from_static(&[0, 1])).is_ok());
        assert!(Tensor::new("b", DataType::Bool, vec![2], Bytes::from_static(&[0, 2])).is_err());
    }

    #[test]
    fn bytes_elements_round_trip() {
        let t = Tensor::from_bytes_elements("s", vec![3], ["a", "", "hello"]).unwrap();
        let got: Vec<&[u8]> = t.bytes_elements().collect();
        assert_eq!(got, vec![&b"a"[..], b"", b"hello"]);
        assert_eq!(t.data.len(), 4 * 3 + 6);
    }

    #[test]
    fn bytes_count_and_truncation_are_checked() {
        let data = encode_bytes_elements(["ab", "c"]).unwrap();
        assert!(
            Tensor::new("s", DataType::Bytes, vec![3], data.clone()).unwrap_err().message.contains("needs 3")
        );
        let truncated = data.slice(..data.len() - 1);
        assert!(
            Tensor::new("s", DataType::Bytes, vec![2], truncated)
                .unwrap_err()
                .message
                .contains("declares 1 bytes")
        );
        let bad_prefix = Bytes::from_static(&[1, 0]);
        assert!(
            Tensor::new("s", DataType::Bytes, vec![1], bad_prefix).unwrap_err().message.contains("truncated")
        );
    }
}
