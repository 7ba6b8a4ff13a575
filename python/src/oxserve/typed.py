"""oxserve's own typed API: a function or class that takes named NumPy arrays and returns named
arrays, with declared inputs and outputs, and opt-in batching by the Rust scheduler."""

import inspect

from . import _wire
from ._handler import DEFAULT_TIMEOUT, Handler, TensorSpec, scheduling
from .errors import StartupError


class TypedModel(Handler):
    """A model served through :func:`model`.

    Each request calls the target with one keyword argument per input (a NumPy array; ``BYTES``
    inputs are ``object`` arrays of ``bytes``). It returns a dict of output name to array, or a
    single array when one output is declared. With ``max_batch_size`` above 1 the Rust scheduler
    stacks concurrent requests along the first dimension into one call and splits the answer by
    rows, so the target must treat the first dimension as the batch.
    """

    def __init__(self, target, name, inputs, outputs, settings):
        super().__init__(name, inputs=inputs, outputs=outputs, platform="python", settings=settings)
        self.target = target
        self.call = None
        if inspect.isclass(target) and not callable(getattr(target, "predict", None)):
            raise StartupError(f"class {target.__qualname__} has no method predict(**inputs)")

    def load(self):
        if inspect.isclass(self.target):
            instance = self.target()
            _wire.resolve(getattr(instance, "load", lambda: None)())
            self.call = instance.predict
        else:
            self.call = self.target

    def predict(self, request):
        arrays = {t[0]: _wire.to_array(t) for t in request["tensors"]}
        result = _wire.resolve(self.call(**arrays))
        if not isinstance(result, dict):
            if len(self.outputs) != 1:
                raise TypeError(
                    f"model '{self.name}' must return a dict of output name to array "
                    f"(a bare array is accepted only with one declared output), got {type(result).__name__}"
                )
            result = {self.outputs[0].name: result}
        wanted = request.get("outputs") or None
        if self.outputs:
            missing = [s.name for s in self.outputs if s.name not in result]
            if missing:
                raise KeyError(f"model '{self.name}' did not return declared output(s) {missing}")
            specs = [(s.name, s.datatype) for s in self.outputs]
        else:
            specs = [(name, None) for name in result]
        tensors = [
            _wire.encode_tensor(name, result[name], datatype=datatype)
            for name, datatype in specs
            if wanted is None or name in wanted
        ]
        return _wire.message(tensors)


def model(
    name=None,
    *,
    inputs=(),
    outputs=(),
    max_batch_size=0,
    max_batch_time=0.0,
    instances=1,
    max_queue_size=0,
    timeout=DEFAULT_TIMEOUT,
):
    """Declares a typed model; use as ``@oxserve.model(inputs=[...], outputs=[...])`` on a
    function, or on a class whose ``__init__`` loads and whose ``predict(**inputs)`` predicts.

    ``inputs`` and ``outputs`` are :class:`TensorSpec` or ``(name, datatype, shape)`` tuples;
    requests are checked against the inputs (a 400 names the field). ``max_batch_size`` above 1
    turns batching on (inputs and outputs need ``-1`` as first dimension); ``max_batch_time`` is
    the longest, in seconds, that a request may wait for others; ``instances`` is how many calls
    may run at once (each on its own Python thread); ``timeout`` bounds a call, in seconds.
    """

    def spec(s):
        return s if isinstance(s, TensorSpec) else TensorSpec(*s)

    def wrap(target):
        settings = scheduling(max_batch_size, max_batch_time, instances, max_queue_size, timeout)
        return TypedModel(
            target, name or target.__name__, [spec(s) for s in inputs], [spec(s) for s in outputs], settings
        )

    return wrap
