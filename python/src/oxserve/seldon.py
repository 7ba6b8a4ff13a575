"""The Seldon Core contract: a duck-typed user class served by ``oxserve-microservice``.

A class written for Seldon Core's Python wrapper runs unchanged: its methods are found with
``hasattr``, called the way the wrapper calls them (``predict(X, names, meta=...)``, retried
without ``meta`` on ``TypeError``; ``*_raw`` variants with the whole message), and its
``tags()``, ``metrics()`` and ``class_names`` end up in the answer's ``meta`` and names. The
Rust core decodes Seldon's REST and gRPC messages; this module turns its tensors back into what
the class expects.
"""

import argparse
import base64
import importlib
import json
import logging
import os
import sys

import numpy as np

from . import _seldon_protos as _protos
from . import _wire
from ._handler import DEFAULT_TIMEOUT, Handler, TensorSpec, scheduling
from .errors import MicroserviceException, ServerError, StartupError
from .server import serve

log = logging.getLogger("oxserve.seldon")

# The methods a class must have (one of each pair) to serve as each service type.
SERVICE_TYPES = {
    "MODEL": "predict",
    "ROUTER": "route",
    "TRANSFORMER": "transform_input",
    "OUTPUT_TRANSFORMER": "transform_output",
    "COMBINER": "aggregate",
}

# How Seldon's wrapper spells a method besides its high-level name: whole-message ``_raw``, and
# the deprecated ``_rest`` and ``_grpc``.
_WHOLE_MESSAGE_SUFFIXES = ("_raw", "_rest", "_grpc")


def implements(obj, method):
    """Whether the class or object ``obj`` has Seldon's ``method`` under any of its spellings."""
    return any(callable(getattr(obj, method + suffix, None)) for suffix in ("", *_WHOLE_MESSAGE_SUFFIXES))


METRIC_TYPES = ("COUNTER", "GAUGE", "TIMER")


class SeldonResponse:
    """A result with tags and metrics of this call only (Seldon's runtime tags and metrics)."""

    def __init__(self, data, tags=None, metrics=None):
        self.data = data
        self.tags = tags or {}
        self.metrics = metrics or []


# The input parameter in which the Rust core names the ``data`` form a message came in
# (``data.tensor``, ``data.ndarray`` or ``data.tftensor``; Rust's DATA_FORM_PARAMETER).
DATA_FORM_PARAMETER = "seldon_data_form"

# The request parameter with which the Rust core marks a call that came over gRPC (Rust's
# TRANSPORT_PARAMETER): Seldon hands ``*_raw`` methods a proto then.
TRANSPORT_PARAMETER = "seldon_transport"

# TensorFlow's dtype and TensorProto value list of each V2 datatype, for ``data.tftensor``.
_TF_TYPES = {
    "BOOL": ("DT_BOOL", "boolVal"),
    "UINT8": ("DT_UINT8", "intVal"),
    "INT8": ("DT_INT8", "intVal"),
    "UINT16": ("DT_UINT16", "intVal"),
    "INT16": ("DT_INT16", "intVal"),
    "INT32": ("DT_INT32", "intVal"),
    "INT64": ("DT_INT64", "int64Val"),
    "UINT32": ("DT_UINT32", "uint32Val"),
    "UINT64": ("DT_UINT64", "uint64Val"),
    "FP32": ("DT_FLOAT", "floatVal"),
    "FP64": ("DT_DOUBLE", "doubleVal"),
    "BYTES": ("DT_STRING", "stringVal"),
}
_TF_DTYPES = {dtype: (datatype, field) for datatype, (dtype, field) in _TF_TYPES.items()}


def _tftensor(array):
    """An array as a TensorProto in protobuf's JSON form, as a REST client sends ``tftensor``
    (64-bit integers as strings, strings as base64)."""
    array = np.asarray(array)
    datatype = "BYTES" if array.dtype.kind in "OUS" else _wire.datatype_of(array.dtype)
    if datatype not in _TF_TYPES:
        raise MicroserviceException(f"data.tftensor cannot carry {datatype} values", 500)
    dtype, field = _TF_TYPES[datatype]
    values = array.ravel().tolist()
    if datatype == "BYTES":
        values = [base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode() for v in values]
    elif datatype in ("INT64", "UINT64"):
        values = [str(v) for v in values]
    shape = {"dim": [{"size": str(d)} for d in array.shape]}
    return {"dtype": dtype, "tensorShape": shape, field: values}


def _from_tftensor(proto):
    """The array of a TensorProto in protobuf's JSON form (a ``*_raw`` answer's ``tftensor``)."""
    if proto.get("dtype") not in _TF_DTYPES:
        raise MicroserviceException(f"data.tftensor.dtype {proto.get('dtype')!r} is not supported", 500)
    datatype, field = _TF_DTYPES[proto["dtype"]]
    shape = [int(d.get("size", 0)) for d in proto.get("tensorShape", {}).get("dim", [])]
    values = proto.get(field, [])
    if datatype == "BYTES":
        return np.array([base64.b64decode(v) for v in values], dtype=object).reshape(shape)
    return np.array(values, dtype=_wire.numpy_dtype(datatype)).reshape(shape)


class Payload:
    """A decoded Seldon request: what the class's methods receive. ``form`` is the ``data`` form
    the caller used (``data.ndarray`` unless Rust said otherwise), for ``*_raw`` methods."""

    def __init__(self, features, names, kind, meta, form="data.ndarray", transport="rest"):
        self.features = features
        self.names = names
        self.kind = kind
        self.meta = meta
        self.form = form
        self.transport = transport

    @classmethod
    def from_wire(cls, message):
        payload = cls._decode(message)
        payload.transport = _wire.loads(message.get("parameters")).get(TRANSPORT_PARAMETER, "rest")
        return payload

    @classmethod
    def _decode(cls, message):
        meta = _wire.loads(message["meta"])
        if not message["tensors"]:
            return cls(np.array([]), [], "data", meta)
        tensor = message["tensors"][0]
        parameters = _wire.loads(tensor[4])
        content = parameters.get("content_type")
        data = tensor[3]
        if content == "json":
            return cls(json.loads(data[0]), [], "jsonData", meta)
        if content == "str":
            return cls(data[0].decode(), [], "strData", meta)
        if content == "bytes":
            return cls(data[0], [], "binData", meta)
        features = _wire.to_array(tensor)
        if tensor[1] == "BYTES":
            features = np.array([b.decode() for b in data], dtype=object).reshape(tensor[2])
        form = parameters.get(DATA_FORM_PARAMETER, "data.ndarray")
        return cls(features, parameters.get("names", []), "data", meta, form)

    def to_seldon(self):
        """The request as Seldon's JSON message dict, for ``*_raw`` methods: in the caller's form
        (``data.tensor``, ``data.ndarray``, ``data.tftensor``, ``jsonData``, ``strData``, ``binData``
        as base64), with ``meta``."""
        out = {"meta": self.meta} if self.meta else {}
        if self.kind == "jsonData":
            out["jsonData"] = self.features
        elif self.kind == "strData":
            out["strData"] = self.features
        elif self.kind == "binData":
            out["binData"] = base64.b64encode(self.features).decode()
        elif self.form == "data.tensor":
            array = np.asarray(self.features)
            tensor = {"shape": list(array.shape), "values": array.ravel().tolist()}
            out["data"] = {"names": list(self.names), "tensor": tensor}
        elif self.form == "data.tftensor":
            out["data"] = {"names": list(self.names), "tftensor": _tftensor(self.features)}
        else:
            out["data"] = {"names": list(self.names), "ndarray": np.asarray(self.features).tolist()}
        return out


def _from_seldon(message):
    """A ``*_raw`` method's answer (a Seldon message dict) as features, names and meta."""
    if not isinstance(message, dict):
        raise MicroserviceException(
            f"a *_raw method must return a Seldon message dict, got {type(message).__name__}", 500
        )
    if (
        "status" in message
        and isinstance(message["status"], dict)
        and message["status"].get("code", 200) >= 400
    ):
        status = message["status"]
        raise MicroserviceException(status.get("info", "failed"), status["code"])
    meta = message.get("meta", {})
    if "jsonData" in message:
        return message["jsonData"], [], meta, "jsonData"
    if "strData" in message:
        return message["strData"], [], meta, "strData"
    if "binData" in message:
        return base64.b64decode(message["binData"]), [], meta, "binData"
    data = message.get("data", {})
    names = data.get("names", [])
    if "tensor" in data:
        tensor = data["tensor"]
        return np.array(tensor.get("values", [])).reshape(tensor.get("shape", [-1])), names, meta, "data"
    if "tftensor" in data:
        return _from_tftensor(data["tftensor"]), names, meta, "data"
    return np.array(data.get("ndarray", [])), names, meta, "data"


def _encode(result, names, meta, request_kind):
    """A result as the one tensor the Rust core turns into a Seldon message; a list or scalar is
    JSON when ``request_kind`` (the request's, or a ``*_raw`` answer's own) is ``jsonData``."""
    if isinstance(result, str):
        tensor = _wire.encode_tensor("strData", [result.encode()], {"content_type": "str"}, "BYTES")
    elif isinstance(result, bytes):
        tensor = _wire.encode_tensor("binData", [result], {"content_type": "bytes"}, "BYTES")
    elif isinstance(result, dict) or (request_kind == "jsonData" and not isinstance(result, np.ndarray)):
        encoded = json.dumps(result, default=_wire._json_default).encode()
        tensor = _wire.encode_tensor("jsonData", [encoded], {"content_type": "json"}, "BYTES")
    else:
        tensor = _wire.encode_tensor("data", result, {"names": list(names)} if names else None)
    return _wire.message([tensor], meta=meta)


def _check_metrics(metrics):
    if not isinstance(metrics, list):
        raise MicroserviceException(f"metrics must be a list of dicts, got {type(metrics).__name__}", 500)
    for i, metric in enumerate(metrics):
        ok = (
            isinstance(metric, dict)
            and isinstance(metric.get("key"), str)
            and metric.get("type") in METRIC_TYPES
            and isinstance(metric.get("value"), (int, float))
            and not isinstance(metric.get("value"), bool)
        )
        if not ok:
            raise MicroserviceException(
                f"metrics[{i}]: a metric needs a string 'key', a 'type' of {', '.join(METRIC_TYPES)} and a "
                f"numeric 'value'; got {metric!r}",
                500,
                reason="MICROSERVICE_BAD_METRIC",
            )
    return metrics


class SeldonHandler(Handler):
    """Serves one Seldon-style user object for every operation it implements."""

    def __init__(self, user, name, settings=None):
        self.user = user
        metadata = {}
        if hasattr(user, "init_metadata"):
            metadata = user.init_metadata() or {}
            if not isinstance(metadata, dict):
                raise StartupError(f"{type(user).__qualname__}.init_metadata() must return a dict")
        metadata.update(_metadata_from_env())
        super().__init__(
            metadata.get("name", name),
            inputs=_specs(metadata.get("inputs")),
            outputs=_specs(metadata.get("outputs")),
            platform=metadata.get("platform", "python"),
            versions=metadata.get("versions", []),
            settings=settings,
        )
        # Every operation is served, as Seldon's wrapper serves every endpoint: predict and
        # send_feedback answer empty data, the transforms are identities and the health status is
        # "healthy" when the class lacks them; only route and aggregate need the class's method.
        self.operations = ["predict", "transform_input", "transform_output", "send_feedback", "health_status"]
        self.operations += [op for op in ("route", "aggregate") if implements(user, op)]

    def load(self):
        if hasattr(self.user, "load"):
            self.user.load()

    # The high-level call and the response building shared by predict and both transforms.
    def _whole_message(self, method, transport):
        """The class's method taking the whole message for ``method``, in Seldon's precedence, and
        whether it takes a proto: the deprecated ``predict_rest`` or ``predict_grpc`` (by
        transport), or for the other methods ``<m>_rest`` then ``<m>_grpc`` whatever the
        transport; else ``<m>_raw``, handed a proto over gRPC (``send_feedback_raw`` always)."""
        if method == "predict":
            deprecated = ("predict_grpc",) if transport == "grpc" else ("predict_rest",)
        else:
            deprecated = (method + "_rest", method + "_grpc")
        for name in (*deprecated, method + "_raw"):
            function = getattr(self.user, name, None)
            if function is not None:
                raw_proto = transport == "grpc" or method == "send_feedback"
                return function, name.endswith("_grpc") or (name.endswith("_raw") and raw_proto)
        return None, False

    def _call_whole(self, method, transport, message, proto_name):
        """Calls the whole-message method for ``method`` (if the class has one) with Seldon's JSON
        ``message``, as the proto ``proto_name`` when it takes one; its answer as a dict, or
        ``None`` when the class has no such method."""
        function, proto = self._whole_message(method, transport)
        if function is None:
            return None
        answer = function(_protos.to_proto(proto_name, message) if proto else message)
        return {} if answer is None else _protos.to_dict(answer)

    def _call(self, request, method):
        payload = Payload.from_wire(request)
        answer = self._call_whole(method, payload.transport, payload.to_seldon(), "SeldonMessage")
        if answer is not None:
            return _encode(*_from_seldon(answer))
        function = getattr(self.user, method, None)
        if function is None:
            if method == "predict":
                return _encode([], [], {}, payload.kind)
            return _encode(payload.features, payload.names, {}, payload.kind)
        try:
            result = function(payload.features, payload.names, meta=payload.meta)
        except TypeError:
            result = function(payload.features, payload.names)
        return self._respond(result, payload)

    def _respond(self, result, payload):
        """The answer to a high-level call: Seldon's names (``class_names`` for a 2-D result,
        else the Rust core's ``t:0…`` default or none) and this call's tags and metrics (the
        class's, then the call's own). The server lays them over the request's ``meta`` as
        Seldon does, and publishes only these metrics on /metrics."""
        runtime_tags, runtime_metrics = {}, []
        if isinstance(result, SeldonResponse):
            result, runtime_tags, runtime_metrics = result.data, result.tags, result.metrics
        tags = dict(self.user.tags() or {}) if hasattr(self.user, "tags") else {}
        tags.update(runtime_tags)
        metrics = _check_metrics(self.user.metrics() or []) if hasattr(self.user, "metrics") else []
        metrics += _check_metrics(runtime_metrics)
        names = []
        if not isinstance(result, (dict, str, bytes)) and np.ndim(result) == 2:
            class_names = getattr(self.user, "class_names", None)
            names = list(class_names() if callable(class_names) else class_names or [])
        meta = {}
        if tags:
            meta["tags"] = tags
        if metrics:
            meta["metrics"] = metrics
        return _encode(result, names, meta, payload.kind)

    def predict(self, request):
        return self._call(request, "predict")

    def transform_input(self, request):
        return self._call(request, "transform_input")

    def transform_output(self, request):
        return self._call(request, "transform_output")

    def route(self, request):
        payload = Payload.from_wire(request)
        answer = self._call_whole("route", payload.transport, payload.to_seldon(), "SeldonMessage")
        if isinstance(answer, dict):
            # Seldon's route_raw answers a message whose data holds the branch number.
            branch = np.ravel(_from_seldon(answer)[0])
            if branch.size != 1:
                raise MicroserviceException(
                    f"route_raw must answer one branch, got {branch.size} values", 400
                )
            result = branch[0].item()
            result = int(result) if isinstance(result, float) and result.is_integer() else result
        elif answer is not None:
            result = answer
        else:
            try:
                result = self.user.route(payload.features, payload.names, meta=payload.meta)
            except TypeError:
                result = self.user.route(payload.features, payload.names)
        if isinstance(result, SeldonResponse):
            result = result.data
        if isinstance(result, (bool, np.bool_)) or not isinstance(result, (int, np.integer)):
            raise MicroserviceException(f"route must return an int, got {type(result).__name__}", 400)
        return int(result)

    def aggregate(self, responses):
        payloads = [Payload.from_wire(r) for r in responses]
        transport = payloads[0].transport if payloads else "rest"
        function, proto = self._whole_message("aggregate", transport)
        if function is not None:
            # Seldon hands a JSON list over REST and a SeldonMessageList over gRPC.
            messages = [p.to_seldon() for p in payloads]
            argument = (
                _protos.to_proto("SeldonMessageList", {"seldonMessages": messages}) if proto else messages
            )
            return _encode(*_from_seldon(_protos.to_dict(function(argument))))
        result = self.user.aggregate([p.features for p in payloads], [p.names for p in payloads])
        first = payloads[0] if payloads else Payload(np.array([]), [], "data", {})
        return self._respond(result, first)

    def health_status(self):
        """Seldon's /health/status: ``health_status_raw()``'s message, else ``health_status()``'s
        value (``"healthy"`` without one) answered as a prediction is, with the class's tags and
        metrics. A raising check answers 500 (or its exception's ``status_code``)."""
        if hasattr(self.user, "health_status_raw"):
            return _encode(*_from_seldon(self.user.health_status_raw()))
        result = self.user.health_status() if hasattr(self.user, "health_status") else "healthy"
        return self._respond(result, Payload(np.array([]), [], "data", {}))

    def send_feedback(self, feedback):
        request = Payload.from_wire(feedback["request"]) if feedback["request"] else None
        truth = Payload.from_wire(feedback["truth"]) if feedback["truth"] else None
        routing = None
        if feedback["response"]:
            routing_table = _wire.loads(feedback["response"]["meta"]).get("routing", {})
            routing = routing_table.get(os.environ.get("PREDICTIVE_UNIT_ID", "0"))
        function, proto = self._whole_message("send_feedback", request.transport if request else "rest")
        if function is not None:
            response = Payload.from_wire(feedback["response"]) if feedback["response"] else None
            message = {"reward": feedback["reward"]}
            for field, payload in (("request", request), ("response", response), ("truth", truth)):
                if payload is not None:
                    message[field] = payload.to_seldon()
            function(_protos.to_proto("Feedback", message) if proto else message)
            result = []
        elif not hasattr(self.user, "send_feedback"):
            result = []
        else:
            features = request.features if request else None
            names = request.names if request else []
            result = self.user.send_feedback(
                features, names, feedback["reward"], truth.features if truth else None, routing=routing
            )
        empty = Payload(np.array([]), [], request.kind if request else "data", {})
        return self._respond([] if result is None else result, empty)


def _metadata_from_env():
    """``MODEL_METADATA``, which Seldon merges over ``init_metadata()``: JSON, or YAML when PyYAML
    is installed."""
    text = os.environ.get("MODEL_METADATA")
    if not text:
        return {}
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as e:
        try:
            import yaml
        except ImportError:
            raise StartupError(
                f"MODEL_METADATA is not JSON ({e}), and PyYAML is not installed to read YAML"
            ) from None
        metadata = yaml.safe_load(text)
    if not isinstance(metadata, dict):
        raise StartupError("MODEL_METADATA must be a mapping")
    return metadata


def _specs(entries):
    """V2-style tensor entries of ``init_metadata()``; Seldon's ``messagetype`` entries cannot be
    checked against a tensor and are left out."""
    specs = []
    for entry in entries or []:
        if isinstance(entry, dict) and {"name", "datatype", "shape"} <= entry.keys():
            specs.append(TensorSpec(entry["name"], entry["datatype"], entry["shape"]))
    return specs


_PARAMETER_TYPES = {
    "INT": int,
    "FLOAT": float,
    "DOUBLE": float,
    "STRING": str,
    "BOOL": lambda v: _strtobool(str(v)),
    "JSON": lambda v: json.loads(v) if isinstance(v, str) else v,
}


def _strtobool(text):
    lowered = text.lower()
    if lowered in ("y", "yes", "t", "true", "on", "1"):
        return True
    if lowered in ("n", "no", "f", "false", "off", "0"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def parse_parameters(text):
    """The constructor arguments of ``PREDICTIVE_UNIT_PARAMETERS`` (a JSON list of
    ``{"name", "value", "type"}``). A bad entry is a start-up error naming it."""
    try:
        entries = json.loads(text or "[]")
    except json.JSONDecodeError as e:
        raise StartupError(f"--parameters / PREDICTIVE_UNIT_PARAMETERS is not JSON: {e}") from None
    if not isinstance(entries, list):
        raise StartupError("--parameters / PREDICTIVE_UNIT_PARAMETERS must be a JSON list")
    parameters = {}
    for i, entry in enumerate(entries):
        try:
            kind = entry.get("type", "STRING")
            parameters[entry["name"]] = _PARAMETER_TYPES[kind](entry["value"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StartupError(f"parameters[{i}] ({entry!r}): {type(e).__name__}: {e}") from None
    return parameters


def load_class(interface_name):
    """The user class ``module:Class``, ``Module.Class``, or ``Class`` from ``Class.py``, imported
    with the working folder on the path as Seldon's wrapper imports it."""
    if ":" in interface_name:
        module_name, _, class_name = interface_name.partition(":")
    else:
        module_name, _, class_name = interface_name.rpartition(".")
        module_name = module_name or class_name
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise StartupError(
            f"class {class_name}: cannot import module '{module_name}': {type(e).__name__}: {e}"
        ) from e
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise StartupError(f"module '{module_name}' has no class {class_name}") from None


def check_service_type(cls, service_type):
    """Fails at start-up when ``cls`` lacks the method its service type needs."""
    if service_type not in SERVICE_TYPES:
        raise StartupError(f"--service-type {service_type}: expected one of {', '.join(SERVICE_TYPES)}")
    method = SERVICE_TYPES[service_type]
    if not implements(cls, method):
        raise StartupError(
            f"class {cls.__qualname__} cannot serve as {service_type}: it has no method {method} "
            f"(or {method}_raw)"
        )


_SELDON_ONLY_FLAGS = (
    "--debug",
    "--tracing",
    "--max-requests",
    "--max-requests-jitter",
    "--keepalive",
    "--single-threaded",
    "--access-log",
    "--pidfile",
    "--grpc-threads",
    "--grpc-workers",
)


def _env(name, default):
    return os.environ.get(name, default)


def main(argv=None):
    """``oxserve-microservice <interface_name> [flags]``: Seldon's microservice command."""
    parser = argparse.ArgumentParser(prog="oxserve-microservice", description=main.__doc__)
    parser.add_argument("interface_name", help="Module.Class, or Class defined in Class.py")
    parser.add_argument("--service-type", default=_env("SERVICE_TYPE", "MODEL"), choices=list(SERVICE_TYPES))
    parser.add_argument("--parameters", default=_env("PREDICTIVE_UNIT_PARAMETERS", "[]"))
    parser.add_argument("--persistence", type=int, default=int(_env("PERSISTENCE", "0")), choices=[0, 1])
    parser.add_argument(
        "--log-level", default=_env("SELDON_LOG_LEVEL", "INFO"), choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--http-port", type=int, default=int(_env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "9000"))
    )
    parser.add_argument(
        "--grpc-port", type=int, default=int(_env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "5000"))
    )
    parser.add_argument(
        "--metrics-port", type=int, default=int(_env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "6000"))
    )
    parser.add_argument("--workers", type=int, default=int(_env("GUNICORN_WORKERS", "1")))
    parser.add_argument("--threads", type=int, default=int(_env("GUNICORN_THREADS", "1")))
    parser.add_argument("--max-batch-size", type=int, default=0)
    parser.add_argument("--max-batch-time", type=float, default=0.0)
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds a call may take (0: no bound)"
    )
    # Flags of Seldon's gunicorn/Flask/Jaeger set-up, which has no counterpart here: accepted so
    # that existing deployments start unchanged, and reported when given.
    for flag in _SELDON_ONLY_FLAGS:
        parser.add_argument(flag, nargs="?", const="1", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level)
    for flag in _SELDON_ONLY_FLAGS:
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            log.info("%s has no effect in oxserve (Seldon's gunicorn/Flask/tracing setting)", flag)
    try:
        handler = _handler(args)
        serve(
            lambda: [handler],
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            workers=args.workers,
            log_level=args.log_level,
            seldon_unit_id=os.environ.get("PREDICTIVE_UNIT_ID"),
            seldon_unit_image=os.environ.get("PREDICTIVE_UNIT_IMAGE"),
            # As Seldon's wrapper: /prometheus (and /metrics) on their own port, which the Seldon
            # operator scrapes; the HTTP port keeps /metrics too.
            metrics_port=None if args.metrics_port in (args.http_port, args.grpc_port) else args.metrics_port,
        )
    except (StartupError, ServerError) as e:
        print(f"oxserve-microservice: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def _handler(args):
    """The user's object, built once before any worker starts (as Seldon does), in its handler."""
    if args.persistence:
        raise StartupError("--persistence 1 is not supported (Seldon deprecated it); use 0")
    cls = load_class(args.interface_name)
    check_service_type(cls, args.service_type)
    parameters = parse_parameters(args.parameters)
    try:
        user = cls(**parameters)
    except TypeError as e:
        raise StartupError(
            f"class {cls.__qualname__} cannot be built from parameters {sorted(parameters)}: {e}"
        ) from e
    name = os.environ.get("PREDICTIVE_UNIT_ID", cls.__name__)
    settings = scheduling(args.max_batch_size, args.max_batch_time, args.threads, 0, args.timeout)
    return SeldonHandler(user, name, settings)
