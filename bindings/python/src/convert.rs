//! Messages across the border between Rust and Python.
//!
//! The Python half of the package (`oxserve/_wire.py`) reads and writes one plain form, chosen so
//! that Rust builds it with a handful of calls and Python needs no class from this module:
//!
//! - a message (request or response) is a `dict` with `id` (`str` or `None`), `model` (`str`),
//!   `parameters` and `meta` (JSON text, `""` when empty, so that a model that never reads them
//!   never pays for parsing them), `tensors` (a list of tensors) and, on requests, `outputs` (the
//!   names of the outputs the caller asked for);
//! - a tensor is a tuple `(name, datatype, shape, data, parameters)`: `datatype` is the V2
//!   spelling, `shape` a tuple, `parameters` JSON text as above, and `data` a NumPy array for the
//!   fixed-size types or a `list` of `bytes` for `BYTES`.
//!
//! Numeric data crosses without copies: a request tensor becomes a read-only NumPy array over
//! the request's own buffer, which a [`SharedBytes`] object keeps alive as the array's base; an
//! answer's array becomes the tensor's [`Bytes`] through [`Bytes::from_owner`], which keeps the
//! array alive instead of copying it.

use std::os::raw::c_void;

use bytes::Bytes;
use numpy::npyffi::{self, PY_ARRAY_API, npy_intp};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use oxserve_core::{
    DataType, Error, Feedback, InferenceRequest, InferenceResponse, Meta, Parameters, RequestedOutput,
    Result, Tensor,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

#[cfg(target_endian = "big")]
compile_error!(
    "tensors are little-endian and NumPy arrays native-endian: oxserve's Python binding needs a little-endian target"
);

/// The owner of a request buffer that NumPy arrays view: the array's `base`, so the buffer lives
/// as long as any array over it.
#[pyclass(frozen, module = "oxserve._native")]
pub struct SharedBytes {
    _bytes: Bytes,
}

/// A NumPy array lent to a response tensor as its buffer.
struct ArrayOwner {
    /// Holds a reference so that the memory behind `ptr` stays put; dropping it without the GIL
    /// is safe (pyo3 defers the decrement until some thread holds the GIL).
    _array: Py<PyAny>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the array's memory is never written through this owner, and the owner keeps the array
// (and so the memory) alive; NumPy arrays are shared between threads under the same rule.
unsafe impl Send for ArrayOwner {}

impl AsRef<[u8]> for ArrayOwner {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` and `len` describe the data of a C-contiguous array that `_array` keeps
        // alive; an array with other references cannot be resized by NumPy.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The NumPy dtype of a fixed-size datatype; `None` for BYTES and for BF16, which NumPy lacks.
fn numpy_dtype(py: Python<'_>, datatype: DataType) -> Option<Bound<'_, PyArrayDescr>> {
    use half::f16;
    Some(match datatype {
        DataType::Bool => numpy::dtype::<bool>(py),
        DataType::Uint8 => numpy::dtype::<u8>(py),
        DataType::Uint16 => numpy::dtype::<u16>(py),
        DataType::Uint32 => numpy::dtype::<u32>(py),
        DataType::Uint64 => numpy::dtype::<u64>(py),
        DataType::Int8 => numpy::dtype::<i8>(py),
        DataType::Int16 => numpy::dtype::<i16>(py),
        DataType::Int32 => numpy::dtype::<i32>(py),
        DataType::Int64 => numpy::dtype::<i64>(py),
        DataType::Fp16 => numpy::dtype::<f16>(py),
        DataType::Fp32 => numpy::dtype::<f32>(py),
        DataType::Fp64 => numpy::dtype::<f64>(py),
        DataType::Bytes | DataType::Bf16 => return None,
    })
}

/// The datatype of a NumPy dtype, by kind and size; `None` for anything without a V2 form.
fn datatype_of(dtype: &Bound<'_, PyArrayDescr>) -> Option<DataType> {
    if dtype.byteorder() == b'>' {
        return None;
    }
    Some(match (dtype.kind(), dtype.itemsize()) {
        (b'b', 1) => DataType::Bool,
        (b'u', 1) => DataType::Uint8,
        (b'u', 2) => DataType::Uint16,
        (b'u', 4) => DataType::Uint32,
        (b'u', 8) => DataType::Uint64,
        (b'i', 1) => DataType::Int8,
        (b'i', 2) => DataType::Int16,
        (b'i', 4) => DataType::Int32,
        (b'i', 8) => DataType::Int64,
        (b'f', 2) => DataType::Fp16,
        (b'f', 4) => DataType::Fp32,
        (b'f', 8) => DataType::Fp64,
        _ => return None,
    })
}

/// A read-only NumPy array viewing `tensor`'s buffer; NumPy marks it unaligned by itself when the
/// buffer is (a binary request body puts tensors at any offset), which costs speed, not
/// correctness.
fn array_view<'py>(
    py: Python<'py>,
    tensor: &Tensor,
    dtype: Bound<'py, PyArrayDescr>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut dims: Vec<npy_intp> = tensor.shape.iter().map(|&d| d as npy_intp).collect();
    let owner = Bound::new(py, SharedBytes { _bytes: tensor.data.clone() })?;
    // SAFETY: the descriptor reference is stolen by PyArray_NewFromDescr, as the API requires;
    // `data` holds `element_count × itemsize` bytes (checked by `Tensor::new`) and outlives the
    // array because the array's base owns a clone of it. Flags without WRITEABLE make the array
    // read-only, so the shared buffer is never written.
    unsafe {
        let array = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            dtype.into_dtype_ptr(),
            dims.len() as i32,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            tensor.data.as_ptr() as *mut c_void,
            0,
            std::ptr::null_mut(),
        );
        let array = Bound::from_owned_ptr_or_err(py, array)?;
        if PY_ARRAY_API.PyArray_SetBaseObject(py, array.as_ptr().cast(), owner.into_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(array)
    }
}

/// A tensor as the tuple `(name, datatype, shape, data, parameters)`.
fn tensor_to_py<'py>(py: Python<'py>, tensor: &Tensor, field: &str) -> Result<Bound<'py, PyTuple>> {
    let data = match numpy_dtype(py, tensor.datatype) {
        Some(dtype) => array_view(py, tensor, dtype).map_err(|e| internal(py, e))?,
        None if tensor.datatype == DataType::Bytes => {
            PyList::new(py, tensor.bytes_elements().map(|e| PyBytes::new(py, e)))
                .map_err(|e| internal(py, e))?
                .into_any()
        }
        None => {
            return Err(Error::invalid(format!(
                "{field}.datatype: tensor '{}' is {}, which Python models cannot take (NumPy has no such type)",
                tensor.name, tensor.datatype
            )));
        }
    };
    let shape = PyTuple::new(py, &tensor.shape).map_err(|e| internal(py, e))?;
    let items = (tensor.name.as_str(), tensor.datatype.as_str(), shape, data, json_text(&tensor.parameters));
    items.into_pyobject(py).map_err(|e| internal(py, e))
}

/// JSON text of a map, or `""` when it is empty.
fn json_text(map: &Parameters) -> String {
    if map.is_empty() { String::new() } else { serde_json::Value::Object(map.clone()).to_string() }
}

fn meta_text(meta: &Meta) -> String {
    if meta.is_empty() { String::new() } else { serde_json::to_string(meta).unwrap_or_default() }
}

fn message_to_py<'py>(
    py: Python<'py>,
    id: &Option<String>,
    model: &str,
    parameters: &Parameters,
    tensors: &[Tensor],
    field: &str,
    meta: &Meta,
) -> Result<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let list = PyList::empty(py);
    for (i, tensor) in tensors.iter().enumerate() {
        list.append(tensor_to_py(py, tensor, &format!("{field}[{i}]"))?).map_err(|e| internal(py, e))?;
    }
    (|| {
        dict.set_item("id", id.as_deref())?;
        dict.set_item("model", model)?;
        dict.set_item("parameters", json_text(parameters))?;
        dict.set_item("meta", meta_text(meta))?;
        dict.set_item("tensors", list)
    })()
    .map_err(|e| internal(py, e))?;
    Ok(dict)
}

/// A request in the border form (see the module documentation).
pub fn request_to_py<'py>(py: Python<'py>, request: &InferenceRequest) -> Result<Bound<'py, PyDict>> {
    let dict = message_to_py(
        py,
        &request.id,
        &request.model_name,
        &request.parameters,
        &request.inputs,
        "inputs",
        &request.meta,
    )?;
    let outputs =
        PyList::new(py, request.outputs.iter().map(|o| o.name.as_str())).map_err(|e| internal(py, e))?;
    dict.set_item("outputs", outputs).map_err(|e| internal(py, e))?;
    Ok(dict)
}

/// A response in the border form.
pub fn response_to_py<'py>(py: Python<'py>, response: &InferenceResponse) -> Result<Bound<'py, PyDict>> {
    message_to_py(
        py,
        &response.id,
        &response.model_name,
        &response.parameters,
        &response.outputs,
        "outputs",
        &response.meta,
    )
}

/// Feedback as a dict with `request`, `response`, `truth` (messages or `None`) and `reward`.
pub fn feedback_to_py<'py>(py: Python<'py>, feedback: &Feedback) -> Result<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let none = || py.None().into_bound(py);
    let request = match &feedback.request {
        Some(r) => request_to_py(py, r)?.into_any(),
        None => none(),
    };
    let response = match &feedback.response {
        Some(r) => response_to_py(py, r)?.into_any(),
        None => none(),
    };
    let truth = match &feedback.truth {
        Some(r) => request_to_py(py, r)?.into_any(),
        None => none(),
    };
    for (key, value) in [("request", request), ("response", response), ("truth", truth)] {
        dict.set_item(key, value).map_err(|e| internal(py, e))?;
    }
    dict.set_item("reward", feedback.reward).map_err(|e| internal(py, e))?;
    Ok(dict)
}

/// The parts of a message that Python wrote: tensors, parameters and meta.
struct Message {
    tensors: Vec<Tensor>,
    parameters: Parameters,
    meta: Meta,
}

fn message_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> Result<Message> {
    let dict = obj.cast::<PyDict>().map_err(|_| {
        Error::internal(format!("{what} must be a dict from oxserve's wire helpers, got {}", type_name(obj)))
    })?;
    let tensors = match dict.get_item("tensors").map_err(|e| internal(py, e))? {
        Some(list) => {
            let list = list
                .cast_into::<PyList>()
                .map_err(|_| Error::internal(format!("{what}['tensors'] must be a list")))?;
            list.iter().map(|t| tensor_from_py(py, &t)).collect::<Result<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    let text = |key: &str| -> Result<String> {
        match dict.get_item(key).map_err(|e| internal(py, e))? {
            Some(v) if !v.is_none() => v
                .extract::<String>()
                .map_err(|_| Error::internal(format!("{what}['{key}'] must be JSON text"))),
            _ => Ok(String::new()),
        }
    };
    let parameters = match text("parameters")? {
        t if t.is_empty() => Parameters::new(),
        t => serde_json::from_str(&t)
            .map_err(|e| Error::internal(format!("{what}: parameters are not a JSON object: {e}")))?,
    };
    let meta = match text("meta")? {
        t if t.is_empty() => Meta::default(),
        t => serde_json::from_str(&t).map_err(|e| Error::internal(format!("{what}: meta: {e}")))?,
    };
    Ok(Message { tensors, parameters, meta })
}

/// A tensor from the tuple `(name, datatype, shape, data, parameters)`.
fn tensor_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> Result<Tensor> {
    let (name, datatype, shape, data, parameters): (String, String, Vec<usize>, Bound<'_, PyAny>, String) =
        obj.extract().map_err(|e| internal(py, e))?;
    let datatype = DataType::parse(&datatype)
        .ok_or_else(|| Error::internal(format!("output '{name}': unknown datatype '{datatype}'")))?;
    let bytes = if let Ok(array) = data.cast::<PyUntypedArray>() {
        let dtype = array.dtype();
        if datatype_of(&dtype) != Some(datatype) || !array.is_c_contiguous() || array.shape() != shape {
            return Err(Error::internal(format!(
                "output '{name}': the array's dtype, shape or layout disagrees with {datatype} {shape:?}, C order"
            )));
        }
        let len = array.len() * dtype.itemsize();
        // SAFETY: a NumPy array object's `data` points at `len` bytes for a C-contiguous array.
        let ptr = unsafe { (*npyffi::_PyArray_GET_ITEM_DATA(array.as_array_ptr())).data as *const u8 };
        Bytes::from_owner(ArrayOwner { _array: array.clone().unbind().into_any(), ptr, len })
    } else {
        let list = data.cast::<PyList>().map_err(|_| {
            Error::internal(format!("output '{name}': data must be a NumPy array or a list of bytes"))
        })?;
        let elements: Vec<Bound<'_, PyBytes>> =
            list.iter().map(|e| e.cast_into::<PyBytes>()).collect::<std::result::Result<_, _>>().map_err(
                |_| Error::internal(format!("output '{name}': BYTES data must be a list of bytes")),
            )?;
        oxserve_core::encode_bytes_elements(elements.iter().map(|e| e.as_bytes()))?
    };
    let parameters = if parameters.is_empty() {
        Parameters::new()
    } else {
        serde_json::from_str(&parameters)
            .map_err(|e| Error::internal(format!("output '{name}': parameters are not a JSON object: {e}")))?
    };
    Ok(Tensor::new(name, datatype, shape, bytes)
        .map_err(|e| Error::internal(e.message))?
        .with_parameters(parameters))
}

/// The request a transform returned, keeping the original's id, model and requested outputs
/// unless Python replaced them.
pub fn request_from_py(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    original: &InferenceRequest,
) -> Result<InferenceRequest> {
    let message = message_from_py(py, obj, "the returned request")?;
    let mut outputs = original.outputs.clone();
    if let Ok(dict) = obj.cast::<PyDict>()
        && let Some(names) = dict.get_item("outputs").map_err(|e| internal(py, e))?
    {
        let names: Vec<String> = names.extract().map_err(|e| internal(py, e))?;
        outputs = names.into_iter().map(|name| RequestedOutput { name, ..Default::default() }).collect();
    }
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

/// The response Python returned, answering for `model` to the request with `id`.
pub fn response_from_py(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    id: Option<String>,
    model: &str,
    version: Option<String>,
) -> Result<InferenceResponse> {
    let message = message_from_py(py, obj, "the returned response")?;
    Ok(InferenceResponse {
        id,
        model_name: model.to_string(),
        model_version: version,
        parameters: message.parameters,
        outputs: message.tensors,
        meta: message.meta,
    })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_string())
}

/// A failure of the border itself (not of the user's code): a bug to report, so a 500.
fn internal(py: Python<'_>, err: PyErr) -> Error {
    Error::internal(err.value(py).to_string())
}
