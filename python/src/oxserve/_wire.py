"""The border form that the Rust core and the Python handlers exchange.

Rust hands a handler a message ``dict`` (``id``, ``model``, ``parameters`` and ``meta`` as JSON
text, ``tensors``, and ``outputs`` on requests) whose tensors are tuples ``(name, datatype, shape,
data, parameters)``; ``data`` is a read-only NumPy array over the request's own buffer, or a list
of ``bytes`` for ``BYTES``. Handlers answer in the same form, built with :func:`encode_tensor` and
:func:`message`, so Rust can lend their arrays to the response without copying them.
"""

import asyncio
import inspect
import json
import threading

import numpy as np

_DATATYPES = {
    ("b", 1): "BOOL",
    ("u", 1): "UINT8",
    ("u", 2): "UINT16",
    ("u", 4): "UINT32",
    ("u", 8): "UINT64",
    ("i", 1): "INT8",
    ("i", 2): "INT16",
    ("i", 4): "INT32",
    ("i", 8): "INT64",
    ("f", 2): "FP16",
    ("f", 4): "FP32",
    ("f", 8): "FP64",
}
NUMPY_DTYPES = {name: np.dtype(f"{kind}{size}") for (kind, size), name in _DATATYPES.items()}

# The request parameter under which Rust passes the caller's headers (lower-case name to value) to
# a handler whose ``wants_headers`` is set (Rust's ``oxserve_core::HEADERS_PARAMETER``).
HEADERS_PARAMETER = "oxserve_headers"


def datatype_of(dtype):
    """The V2 datatype of a NumPy dtype; ``BYTES`` for strings, bytes and objects."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OUS":
        return "BYTES"
    try:
        return _DATATYPES[(dtype.kind, dtype.itemsize)]
    except KeyError:
        raise TypeError(f"NumPy dtype {dtype} has no V2 datatype") from None


def numpy_dtype(datatype):
    """The NumPy dtype of a V2 datatype (``object`` for ``BYTES``)."""
    if datatype == "BYTES":
        return np.dtype(object)
    try:
        return NUMPY_DTYPES[datatype]
    except KeyError:
        raise TypeError(f"unknown datatype {datatype!r}") from None


def loads(text):
    """JSON text from Rust as a Python value; ``{}`` for the empty text of an empty map."""
    return json.loads(text) if text else {}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value):
    """A Python map as JSON text for Rust; ``""`` when it is empty. NumPy scalars and arrays are
    written as numbers and lists."""
    return json.dumps(value, default=_json_default) if value else ""


def to_array(tensor):
    """The data of a request tensor as a NumPy array (``object`` of ``bytes`` for ``BYTES``)."""
    _name, datatype, shape, data, _parameters = tensor
    if datatype != "BYTES":
        return data
    array = np.empty(len(data), dtype=object)
    array[:] = data
    return array.reshape(shape)


def encode_tensor(name, value, parameters=None, datatype=None):
    """A tensor tuple for Rust from an array-like ``value``.

    Numeric arrays are passed on as they are when C-contiguous and native-endian, so Rust lends
    their memory to the response; strings and objects become ``BYTES`` (UTF-8). ``datatype``, when
    given, converts the values to it.
    """
    if datatype is not None and datatype != "BYTES":
        array = np.asarray(value, dtype=numpy_dtype(datatype))
    else:
        array = np.asarray(value)
    if datatype == "BYTES" or array.dtype.kind in "OUS":
        elements = [x if isinstance(x, bytes) else str(x).encode() for x in array.ravel().tolist()]
        return (name, "BYTES", array.shape, elements, dumps(parameters))
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    array = np.ascontiguousarray(array)
    return (name, datatype_of(array.dtype), array.shape, array, dumps(parameters))


def message(tensors, parameters=None, meta=None, outputs=None):
    """A message for Rust from encoded tensors."""
    out = {"tensors": list(tensors), "parameters": dumps(parameters), "meta": dumps(meta)}
    if outputs is not None:
        out["outputs"] = list(outputs)
    return out


_loops = threading.local()


def resolve(value):
    """The value of ``value``, running it to completion first when it is awaitable, so that users
    may write ``async def`` methods. Each worker thread keeps one event loop for this."""
    if not inspect.isawaitable(value):
        return value
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(value)
