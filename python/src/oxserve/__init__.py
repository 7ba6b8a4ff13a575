"""oxserve for Python: serve a model class from oxserve's Rust core.

Three ways to write a model, all served over V2 (Open Inference) REST and gRPC, Seldon REST and
gRPC, and KServe v1 REST, with batching, queue limits and metrics in Rust:

- a Seldon Core class, unchanged: ``oxserve-microservice MyModel --service-type MODEL``;
- a KServe-shaped :class:`Model` subclass: ``ModelServer().start([model])`` or
  ``python -m oxserve --model-class module:Class``;
- oxserve's typed API: ``@oxserve.model(inputs=[...], outputs=[...])`` on a function or class
  taking named NumPy arrays, served with :func:`serve`.

Seldon classes and prepackaged servers also run as units of an inference graph:
:func:`serve_graph` or ``python -m oxserve --graph FILE``.
"""

from ._handler import TensorSpec
from ._native import core_version
from .errors import (
    InvalidInput,
    MicroserviceException,
    ModelNotReady,
    OxserveError,
    ServerError,
    StartupError,
)
from .kserve import InferInput, InferOutput, InferRequest, InferResponse, Model, ModelServer
from .seldon import SeldonResponse
from .server import serve as _serve
from .server import serve_graph
from .typed import TypedModel, model


def serve(models, *, http_port=None, grpc_port=None, workers=1, **options):
    """Serves typed models (made with :func:`model`) until SIGTERM or Ctrl-C; ports left out come
    from ``OXSERVE_HTTP_PORT`` and ``OXSERVE_GRPC_PORT``, else 8080 and 8081."""
    models = list(models)
    _serve(lambda: models, http_port=http_port, grpc_port=grpc_port, workers=workers, **options)


__all__ = [
    "InferInput",
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "InvalidInput",
    "MicroserviceException",
    "Model",
    "ModelNotReady",
    "ModelServer",
    "OxserveError",
    "SeldonResponse",
    "ServerError",
    "StartupError",
    "TensorSpec",
    "TypedModel",
    "core_version",
    "model",
    "serve",
    "serve_graph",
]
