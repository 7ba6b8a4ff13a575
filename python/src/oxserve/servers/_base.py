"""What every prepackaged server shares: reading its folder's settings, finding and loading the
model file with a startup error that names the folder, and turning request tensors into the
features a framework takes."""

import importlib
from pathlib import Path

import numpy as np

from .. import _wire
from .._handler import DEFAULT_TIMEOUT, Handler, TensorSpec
from ..errors import InvalidInput, StartupError


class PrepackagedModel(Handler):
    """A model file served without user code, chosen by ``implementation`` in its folder's
    ``model-settings.json``.

    Subclasses name their framework (``implementation``, the ``module`` to import and the
    ``package`` that provides it), the file names looked for when ``parameters.uri`` is absent,
    and define ``load_model(framework, path)`` and ``infer(arrays, requested)``. ``requested``
    (the outputs a request names) lets a server compute only those; whatever it answers, outputs
    not requested are dropped here and a requested name no output has is a 400. The settings file
    goes to the Rust scheduler as it is, so its batching fields (``max_batch_size``,
    ``max_batch_time``, ``instances``, ``max_queue_size``, ``timeout``) apply unchanged.
    """

    implementation = ""
    module = ""
    package = ""
    model_files = ()

    def __init__(self, folder, settings):
        folder = Path(folder)
        parameters = settings.get("parameters") or {}
        version = parameters.get("version")
        super().__init__(
            settings.get("name") or folder.name,
            inputs=[TensorSpec(s["name"], s["datatype"], s["shape"]) for s in settings.get("inputs", [])],
            outputs=[TensorSpec(s["name"], s["datatype"], s["shape"]) for s in settings.get("outputs", [])],
            platform=self.implementation,
            versions=[version] if version else [],
            settings={"timeout": DEFAULT_TIMEOUT, **settings},
        )
        self.folder = folder
        self.uri = parameters.get("uri")
        self.extra = parameters.get("extra") or {}
        self.model = None

    def fail(self, cause):
        """A startup error naming this model's folder, which is what a user must go and fix."""
        return StartupError(f"model folder {self.folder} ({self.implementation}): {cause}")

    def model_path(self):
        """The model artefact: ``parameters.uri`` (relative to the folder), else the first of
        ``model_files`` present in the folder."""
        if self.uri:
            path = self.folder / self.uri
            if not path.exists():
                raise self.fail(f"parameters.uri names {path}, which does not exist")
            return path
        for name in self.model_files:
            if (self.folder / name).exists():
                return self.folder / name
        raise self.fail(f"no model file: expected one of {', '.join(self.model_files)} or parameters.uri")

    def load(self):
        try:
            framework = importlib.import_module(self.module)
        except ImportError as e:
            raise self.fail(
                f"needs the Python package '{self.package}', which cannot be imported ({e}); "
                f"install it with: pip install {self.package}"
            ) from e
        path = self.model_path()
        try:
            self.model = self.load_model(framework, path)
        except StartupError:
            raise
        except Exception as e:
            raise self.fail(f"cannot load {path}: {type(e).__name__}: {e}") from e

    def predict(self, request):
        arrays = {t[0]: _array(t) for t in request["tensors"]}
        requested = request.get("outputs") or []
        outputs = self.infer(arrays, requested)
        if requested:
            unknown = [name for name in requested if name not in outputs]
            if unknown:
                raise InvalidInput(f"model '{self.name}' has no output {unknown}; it answers {list(outputs)}")
            outputs = {name: outputs[name] for name in requested}
        return _wire.message([_wire.encode_tensor(name, value) for name, value in outputs.items()])


def _array(tensor):
    """A request tensor as NumPy; ``BYTES`` become ``str`` so text models get text."""
    array = _wire.to_array(tensor)
    if tensor[1] == "BYTES":
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array)
    return array


def features(arrays):
    """The one feature table tabular frameworks take: the only input as it is, or, for several
    inputs, a pandas DataFrame with one column per input in request order, named by the input, so
    that models trained on a DataFrame find their columns by name."""
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    try:
        import pandas
    except ImportError:
        raise InvalidInput(
            "several inputs are passed to the model as one DataFrame, which needs pandas: "
            "send one input tensor, or pip install pandas"
        ) from None
    columns = {}
    for name, array in arrays.items():
        if array.ndim > 2 or (array.ndim == 2 and array.shape[1] != 1):
            raise InvalidInput(
                f"input '{name}' has shape {list(array.shape)}; with several inputs each is one "
                "column, of shape [N] or [N, 1]"
            )
        columns[name] = array.reshape(-1)
    return pandas.DataFrame(columns)
