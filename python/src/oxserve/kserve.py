"""The KServe contract: subclass :class:`Model` as you would ``kserve.Model`` and serve it with
``ModelServer().start([model])``; V1 and V2 REST and V2 gRPC all reach the same methods."""

import inspect
import json

import numpy as np

from . import _wire
from ._handler import Handler, scheduling
from .errors import OxserveError, StartupError
from .server import serve


class InferInput:
    """One named input: ``as_numpy()`` is a read-only view of the request's buffer."""

    def __init__(self, name, shape, datatype, data=None, parameters=None):
        self.name = name
        self.shape = list(shape)
        self.datatype = datatype
        self.data = data
        self.parameters = parameters or {}

    def as_numpy(self):
        return np.asarray(self.data)

    def __repr__(self):
        return f"InferInput({self.name!r}, {self.shape}, {self.datatype!r})"


class InferOutput:
    """One named output; set its values with ``set_data_from_numpy`` or the ``data`` argument."""

    def __init__(self, name, shape=None, datatype=None, data=None, parameters=None):
        self.name = name
        self.shape = shape
        self.datatype = datatype
        self.data = data
        self.parameters = parameters or {}

    def set_data_from_numpy(self, array):
        self.data = array
        self.shape = list(np.shape(array))
        self.datatype = _wire.datatype_of(np.asarray(array).dtype)

    def as_numpy(self):
        return np.asarray(self.data)


class InferRequest:
    """A decoded request, whichever protocol it came in.

    ``payload["instances"]`` gives the rows as lists, as KServe's V1 dict does, so V1-style code
    runs for V2 and gRPC callers too: for one input, its values; for several, one dict per row.
    """

    def __init__(self, model_name, infer_inputs, request_id=None, parameters=None):
        self.model_name = model_name
        self.inputs = infer_inputs
        self.id = request_id
        self.parameters = parameters or {}

    @classmethod
    def from_wire(cls, message):
        """The request of a message, and the caller's headers that Rust added to its parameters
        (``{}`` unless the handler wants them)."""
        inputs = [
            InferInput(t[0], t[2], t[1], _wire.to_array(t), _wire.loads(t[4])) for t in message["tensors"]
        ]
        parameters = _wire.loads(message["parameters"])
        headers = parameters.pop(_wire.HEADERS_PARAMETER, {})
        return cls(message["model"], inputs, message["id"], parameters), headers

    def get_input_by_name(self, name):
        return next((i for i in self.inputs if i.name == name), None)

    def __getitem__(self, key):
        if key != "instances":
            raise KeyError(f"{key!r}: a request offers 'instances' (or use .inputs)")
        if len(self.inputs) == 1:
            return self.inputs[0].as_numpy().tolist()
        columns = {i.name: i.as_numpy().tolist() for i in self.inputs}
        rows = len(next(iter(columns.values()), []))
        return [{name: values[r] for name, values in columns.items()} for r in range(rows)]


class InferResponse:
    """A response built by the model: named outputs and optional parameters."""

    def __init__(self, model_name, infer_outputs, response_id=None, parameters=None):
        self.model_name = model_name
        self.outputs = infer_outputs
        self.id = response_id
        self.parameters = parameters or {}


class Model:
    """Base class of a KServe-shaped model. Override ``load`` (set ``self.ready = True``),
    ``predict`` and optionally ``preprocess``, ``postprocess`` and ``explain``; each may be
    ``async def``, and each that takes a second argument receives the request's headers (HTTP
    headers or gRPC metadata, lower-case names) as KServe passes them, unless the model batches
    (``max_batch_size`` above 1: one call then serves several callers, and it gets ``{}``).

    ``predict`` receives what ``preprocess`` returned (an :class:`InferRequest` by default) and may
    return a dict ``{"predictions": ...}``, a dict of output name to array, an array or list, or
    an :class:`InferResponse`. ``explain`` (``POST /v1/models/<name>:explain``) takes the same
    payload; its answer, after ``postprocess``, is sent as a JSON document, or as a prediction
    when it is an :class:`InferResponse`.
    """

    # Class defaults, so that a subclass whose __init__ does not call ours still works.
    _ready = False
    _readiness = None

    def __init__(self, name):
        self.name = name
        self.ready = False

    @property
    def ready(self):
        """Whether the model takes requests. Setting it while serving takes effect at once: a
        model that is not ready answers its health checks and calls with 503."""
        return self._ready

    @ready.setter
    def ready(self, value):
        self._ready = bool(value)
        if self._readiness is not None:
            self._readiness.set(self._ready)

    def load(self):
        self.ready = True
        return self.ready

    def preprocess(self, payload, headers=None):
        return payload

    def predict(self, payload, headers=None):
        raise NotImplementedError(f"model '{self.name}' does not override predict")

    def postprocess(self, result, headers=None):
        return result

    def explain(self, payload, headers=None):
        raise NotImplementedError(f"model '{self.name}' does not override explain")


def _takes_headers(method):
    """Whether ``method`` accepts a second argument (KServe passes the request headers)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def encode_explanation(result):
    """The tensors of an explanation: a JSON document (one BYTES element marked ``content_type``
    ``json``, which the V1 route sends as it is), or an :class:`InferResponse`'s outputs."""
    if isinstance(result, InferResponse):
        return encode_result(result)
    document = json.dumps(result, default=_wire._json_default).encode()
    return _wire.message([_wire.encode_tensor("explanation", [document], {"content_type": "json"}, "BYTES")])


def encode_result(result):
    """The tensors of what ``postprocess`` returned."""
    if isinstance(result, InferResponse):
        tensors = [_wire.encode_tensor(o.name, o.data, o.parameters, o.datatype) for o in result.outputs]
        return _wire.message(tensors, result.parameters)
    if isinstance(result, dict):
        return _wire.message(_wire.encode_tensor(name, value) for name, value in result.items())
    return _wire.message([_wire.encode_tensor("output-0", result)])


class KServeHandler(Handler):
    """Serves one :class:`Model`: preprocess, predict (or explain) and postprocess in turn."""

    def __init__(self, model, settings=None):
        if not isinstance(model, Model):
            raise StartupError(f"{type(model).__qualname__} is not an oxserve.Model")
        if type(model).predict is Model.predict:
            raise StartupError(f"class {type(model).__qualname__} does not override method predict")
        super().__init__(model.name, platform="python", settings=settings)
        self.model = model
        # Each method with whether it takes the headers argument.
        self.takes_headers = {
            method: _takes_headers(getattr(model, method))
            for method in ("preprocess", "predict", "postprocess", "explain")
        }
        if type(model).explain is not Model.explain:
            self.operations = ("predict", "explain")
        # Rust adds the headers to requests only when a method of the user's own reads them.
        self.wants_headers = any(
            self.takes_headers[method] and getattr(type(model), method) is not getattr(Model, method)
            for method in ("preprocess", "postprocess", *self.operations)
        )

    def load(self):
        if not self.model.ready:
            loaded = _wire.resolve(self.model.load())
            if not (self.model.ready or loaded is True):
                raise StartupError(
                    f"model '{self.name}': {type(self.model).__qualname__}.load() left it not ready"
                )
            self.model.ready = True

    def attach_readiness(self, readiness):
        self.model._readiness = readiness
        readiness.set(self.model.ready)

    def _run(self, request, verb):
        value, headers = InferRequest.from_wire(request)
        for name in ("preprocess", verb, "postprocess"):
            method = getattr(self.model, name)
            try:
                value = _wire.resolve(method(value, headers) if self.takes_headers[name] else method(value))
            except NotImplementedError as e:
                # KServe's server answers any NotImplementedError with 501.
                raise OxserveError(str(e) or f"{name} is not implemented", 501) from e
        return value

    def predict(self, request):
        return encode_result(self._run(request, "predict"))

    def explain(self, request):
        return encode_explanation(self._run(request, "explain"))


class ModelServer:
    """Serves KServe-shaped models from the Rust core: V1 (``/v1/models/<name>:predict``) and V2
    REST on ``http_port``, V2 gRPC on ``grpc_port`` (left out: ``OXSERVE_HTTP_PORT`` and
    ``OXSERVE_GRPC_PORT``, else 8080 and 8081).

    ``max_batch_size`` above 1 lets the Rust scheduler batch concurrent requests into one
    ``predict`` call (stacked along the first dimension); ``workers`` starts that many processes
    on the same ports, each loading the models once.
    """

    def __init__(
        self,
        http_port=None,
        grpc_port=None,
        workers=1,
        host="0.0.0.0",
        log_level="info",
        max_batch_size=0,
        max_batch_time=0.0,
        instances=1,
        drain_timeout=30.0,
        max_request_size=64 * 1024 * 1024,
        **scheduling_options,
    ):
        self.options = dict(
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            workers=workers,
            log_level=log_level,
            drain_timeout=drain_timeout,
            max_request_size=max_request_size,
        )
        self.settings = scheduling(max_batch_size, max_batch_time, instances, **scheduling_options)

    def start(self, models):
        handlers = [KServeHandler(m, self.settings) for m in models]
        serve(lambda: handlers, **self.options)
