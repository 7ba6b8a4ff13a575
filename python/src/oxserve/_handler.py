"""The object the Rust core serves for each model, whatever contract the user's class follows."""

import json

from ._wire import datatype_of

# A Python call that does not answer within this many seconds answers 504 (a model's `timeout`
# setting changes it; 0 turns the bound off). The worker thread running it stays busy until
# Python returns, since a Python call cannot be interrupted from outside.
DEFAULT_TIMEOUT = 60.0


class TensorSpec:
    """A declared input or output: name, V2 datatype (or a NumPy dtype) and shape, ``-1`` for a
    variable dimension."""

    def __init__(self, name, datatype, shape):
        self.name = name
        self.datatype = datatype if isinstance(datatype, str) else datatype_of(datatype)
        self.shape = [int(d) for d in shape]

    def to_dict(self):
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}

    def __repr__(self):
        return f"TensorSpec({self.name!r}, {self.datatype!r}, {self.shape})"


class Handler:
    """Base of the three adapters (Seldon, KServe, typed): what Rust reads before serving
    (``metadata_json``, ``settings_json``, ``operations``) and ``load``, called once in each
    serving process before the first request. Subclasses define one method per operation named in
    ``operations``, each taking and returning the border form of ``_wire``."""

    operations = ("predict",)
    # Whether calls read the caller's HTTP headers / gRPC metadata; when set, Rust adds them to
    # each request's parameters under ``_wire.HEADERS_PARAMETER``.
    wants_headers = False

    def __init__(self, name, inputs=(), outputs=(), platform="", versions=(), settings=None):
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.platform = platform
        self.versions = list(versions)
        self.settings = {"timeout": DEFAULT_TIMEOUT}
        self.settings.update(settings or {})

    def load(self):
        """Loads the model in the serving process; the default has nothing to load."""

    def attach_readiness(self, readiness):
        """Called by the server before it serves, with the handle (``readiness.set(bool)``) that
        marks the model ready or not; a model is ready unless its handler says otherwise."""

    @property
    def metadata_json(self):
        return json.dumps(
            {
                "name": self.name,
                "versions": self.versions,
                "platform": self.platform,
                "inputs": [s.to_dict() for s in self.inputs],
                "outputs": [s.to_dict() for s in self.outputs],
            }
        )

    @property
    def settings_json(self):
        return json.dumps(self.settings)


def scheduling(max_batch_size=0, max_batch_time=0.0, instances=1, max_queue_size=0, timeout=DEFAULT_TIMEOUT):
    """Model settings for the Rust scheduler, under MLServer's names (see model-settings.json)."""
    return {
        "max_batch_size": int(max_batch_size),
        "max_batch_time": float(max_batch_time),
        "instances": int(instances),
        "max_queue_size": int(max_queue_size),
        "timeout": float(timeout),
    }
