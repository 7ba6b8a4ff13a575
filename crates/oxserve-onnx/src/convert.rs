//! Conversions between oxserve tensors (one little-endian buffer) and ort values.
//!
//! A fixed-size input whose bytes are aligned for its element type is lent to ONNX Runtime in
//! place; one that is not (bytes sliced at an odd offset of a request) is copied once into a
//! typed `Vec<T>` that ort then owns. Outputs are copied once from ort's buffer into the
//! response's bytes. Strings go through ONNX Runtime's element buffers directly, which also
//! keeps interior NUL bytes that ort's C-string helpers would reject.

use std::ffi::c_char;

use bytes::Bytes;
use half::{bf16, f16};
use ort::AsPointer;
use ort::memory::Allocator;
use ort::session::SessionInputValue;
use ort::value::{DynTensor, DynValue, PrimitiveTensorElementType, TensorElementType, TensorRef, ValueType};
use oxserve_core::{DataType, Error, Tensor};

/// The V2 datatype that carries an ONNX element type, if there is one.
pub(crate) fn datatype_of(ty: TensorElementType) -> Option<DataType> {
    Some(match ty {
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::Uint8 => DataType::Uint8,
        TensorElementType::Uint16 => DataType::Uint16,
        TensorElementType::Uint32 => DataType::Uint32,
        TensorElementType::Uint64 => DataType::Uint64,
        TensorElementType::Int8 => DataType::Int8,
        TensorElementType::Int16 => DataType::Int16,
        TensorElementType::Int32 => DataType::Int32,
        TensorElementType::Int64 => DataType::Int64,
        TensorElementType::Float16 => DataType::Fp16,
        TensorElementType::Float32 => DataType::Fp32,
        TensorElementType::Float64 => DataType::Fp64,
        TensorElementType::String => DataType::Bytes,
        TensorElementType::Bfloat16 => DataType::Bf16,
        _ => return None,
    })
}

/// An element type whose values are stored little-endian in a tensor buffer.
trait LeElement: PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static {
    const SIZE: usize;
    /// The elements read in place, when the buffer is suitably aligned and the host is
    /// little-endian; `None` means they must be copied with [`LeElement::decode`].
    fn view(bytes: &[u8]) -> Option<&[Self]>;
    fn decode(bytes: &[u8]) -> Vec<Self>;
    fn encode(values: &[Self]) -> Vec<u8>;
}

macro_rules! le_element {
    ($($t:ty),* $(,)?) => {$(
        impl LeElement for $t {
            const SIZE: usize = size_of::<$t>();

            fn view(bytes: &[u8]) -> Option<&[Self]> {
                if cfg!(target_endian = "little") { bytemuck::try_cast_slice(bytes).ok() } else { None }
            }

            fn decode(bytes: &[u8]) -> Vec<Self> {
                bytes
                    .chunks_exact(Self::SIZE)
                    .map(|chunk| {
                        let mut le = [0u8; size_of::<$t>()];
                        le.copy_from_slice(chunk);
                        <$t>::from_le_bytes(le)
                    })
                    .collect()
            }

            fn encode(values: &[Self]) -> Vec<u8> {
                #[cfg(target_endian = "little")]
                {
                    bytemuck::cast_slice(values).to_vec()
                }
                #[cfg(not(target_endian = "little"))]
                {
                    values.iter().flat_map(|v| v.to_le_bytes()).collect()
                }
            }
        }
    )*};
}

le_element!(u8, u16, u32, u64, i8, i16, i32, i64, f16, f32, f64, bf16);

impl LeElement for bool {
    const SIZE: usize = 1;

    /// Never in place: a request byte is not known to be a valid `bool` (0 or 1) by its type.
    fn view(_: &[u8]) -> Option<&[Self]> {
        None
    }

    fn decode(bytes: &[u8]) -> Vec<Self> {
        bytes.iter().map(|&b| b != 0).collect()
    }

    fn encode(values: &[Self]) -> Vec<u8> {
        values.iter().map(|&b| u8::from(b)).collect()
    }
}

/// Runs `$body` with `$t` bound to the Rust type of a fixed-size datatype; `$bytes` for BYTES.
macro_rules! with_element_type {
    ($datatype:expr, $t:ident => $body:expr, bytes => $bytes:expr) => {
        match $datatype {
            DataType::Bool => {
                type $t = bool;
                $body
            }
            DataType::Uint8 => {
                type $t = u8;
                $body
            }
            DataType::Uint16 => {
                type $t = u16;
                $body
            }
            DataType::Uint32 => {
                type $t = u32;
                $body
            }
            DataType::Uint64 => {
                type $t = u64;
                $body
            }
            DataType::Int8 => {
                type $t = i8;
                $body
            }
            DataType::Int16 => {
                type $t = i16;
                $body
            }
            DataType::Int32 => {
                type $t = i32;
                $body
            }
            DataType::Int64 => {
                type $t = i64;
                $body
            }
            DataType::Fp16 => {
                type $t = f16;
                $body
            }
            DataType::Fp32 => {
                type $t = f32;
                $body
            }
            DataType::Fp64 => {
                type $t = f64;
                $body
            }
            DataType::Bf16 => {
                type $t = bf16;
                $body
            }
            DataType::Bytes => $bytes,
        }
    };
}

fn ort_error(context: impl std::fmt::Display) -> impl FnOnce(ort::Error) -> Error {
    move |e| Error::internal(format!("{context}: {e}"))
}

/// Builds the ort value for one request input (its datatype and shape were checked against the
/// model's metadata already). Aligned fixed-size inputs are lent to ONNX Runtime as they are, so
/// the request's buffer is the runtime's input; others are copied once.
pub(crate) fn to_ort(tensor: &Tensor) -> Result<SessionInputValue<'_>, Error> {
    let name = &tensor.name;
    let count = oxserve_core::element_count(&tensor.shape)
        .ok_or_else(|| Error::invalid(format!("input '{name}': shape {:?} is too large", tensor.shape)))?;
    let shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
    with_element_type!(tensor.datatype,
        T => fixed_to_ort::<T>(tensor, count, shape),
        bytes => strings_to_ort(tensor, count, shape)
    )
}

fn fixed_to_ort<T: LeElement>(
    tensor: &Tensor,
    count: usize,
    shape: Vec<i64>,
) -> Result<SessionInputValue<'_>, Error> {
    // `Tensor`'s fields are public, so a tensor may not have come through `Tensor::new`'s checks.
    if Some(tensor.data.len()) != count.checked_mul(T::SIZE) {
        return Err(Error::invalid(format!(
            "input '{}': {} bytes do not hold {count} {} elements",
            tensor.name,
            tensor.data.len(),
            tensor.datatype
        )));
    }
    let context = format_args!("input '{}'", tensor.name);
    if let Some(values) = T::view(&tensor.data) {
        let view = TensorRef::from_array_view((shape, values)).map_err(ort_error(context))?;
        return Ok(view.into());
    }
    let value =
        ort::value::Tensor::from_array((shape, T::decode(&tensor.data))).map_err(ort_error(context))?;
    Ok(value.into())
}

fn strings_to_ort(
    tensor: &Tensor,
    count: usize,
    shape: Vec<i64>,
) -> Result<SessionInputValue<'static>, Error> {
    let name = &tensor.name;
    // Count before allocating ORT memory, so a bad request costs nothing. ONNX strings are
    // passed through as bytes, whatever their encoding, as Triton's ONNX backend does.
    let found = tensor.bytes_elements().count();
    if found != count {
        return Err(Error::invalid(format!(
            "input '{name}': shape needs {count} BYTES elements, got {found}"
        )));
    }

    let context = format_args!("input '{name}'");
    let mut value = DynTensor::new(&Allocator::default(), TensorElementType::String, shape)
        .map_err(ort_error(context))?;
    let api = ort::api();
    for (i, element) in tensor.bytes_elements().enumerate() {
        let mut buffer: *mut c_char = std::ptr::null_mut();
        // SAFETY: `value` is a live CPU string tensor of `count` elements and `i < count`; ORT
        // resizes element `i` to `element.len()` bytes and returns its buffer, which we fill
        // completely before anything else touches the tensor.
        unsafe {
            let status =
                (api.GetResizedStringTensorElementBuffer)(value.ptr_mut(), i, element.len(), &mut buffer);
            ort::Error::result_from_status(status).map_err(ort_error(context))?;
            if !element.is_empty() {
                std::ptr::copy_nonoverlapping(element.as_ptr(), buffer.cast::<u8>(), element.len());
            }
        }
    }
    Ok(value.into())
}

/// Turns one ort output into a response tensor. The element type is the actual tensor's, which
/// is what the graph produced even where its declaration says otherwise.
pub(crate) fn from_ort(name: &str, value: &DynValue) -> Result<Tensor, Error> {
    let ValueType::Tensor { ty, shape, .. } = value.dtype() else {
        return Err(Error::internal(format!(
            "output '{name}' is a {}, not a tensor; only tensors can be returned",
            value.dtype()
        )));
    };
    let datatype = datatype_of(*ty).ok_or_else(|| {
        Error::internal(format!("output '{name}' has ONNX element type {ty}, which no V2 datatype carries"))
    })?;
    let dims: Vec<usize> = shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
    let count = shape.num_elements();
    let context = format_args!("output '{name}'");
    let data = with_element_type!(datatype,
        T => {
            let (_, values) = value.try_extract_tensor::<T>().map_err(ort_error(context))?;
            T::encode(values)
        },
        bytes => strings_from_ort(value, count).map_err(ort_error(context))?
    );
    Tensor::new(name, datatype, dims, Bytes::from(data)).map_err(|e| Error::internal(e.message))
}

/// Copies a string tensor straight into the length-prefixed BYTES layout. ONNX strings are passed
/// through as bytes, whatever their encoding.
fn strings_from_ort(value: &DynValue, count: usize) -> ort::Result<Vec<u8>> {
    let api = ort::api();
    let mut total = 0usize;
    // SAFETY: `value` is a live CPU string tensor with `count` elements (checked by the caller's
    // type match); each element's buffer is sized from ORT's own length before it is written.
    unsafe {
        ort::Error::result_from_status((api.GetStringTensorDataLength)(value.ptr(), &mut total))?;
        let mut out = Vec::with_capacity(total + 4 * count);
        for i in 0..count {
            let mut len = 0usize;
            ort::Error::result_from_status((api.GetStringTensorElementLength)(value.ptr(), i, &mut len))?;
            let prefix = u32::try_from(len)
                .map_err(|_| ort::Error::new(format!("string element {i} is 4 GiB or longer")))?;
            out.extend_from_slice(&prefix.to_le_bytes());
            let start = out.len();
            out.resize(start + len, 0);
            if len > 0 {
                let target = out[start..].as_mut_ptr().cast();
                ort::Error::result_from_status((api.GetStringTensorElement)(value.ptr(), len, i, target))?;
            }
        }
        Ok(out)
    }
}
