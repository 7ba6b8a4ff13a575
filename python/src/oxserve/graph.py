"""The Python units of an inference graph (``python -m oxserve --graph FILE``).

The Rust core reads the graph file and calls :func:`build_unit` once for each node that Python
runs, before serving: a user's class (Seldon-style, duck-typed, or a KServe-shaped
:class:`oxserve.Model`), a prepackaged server on a model folder (Seldon's ``SKLEARN_SERVER`` and
the like), or a model folder whose ``model-settings.json`` names one. Every failure here is a
:class:`StartupError` that Rust prefixes with the node's place in the file.
"""

import json
import sys
from pathlib import Path

from .errors import StartupError
from .kserve import KServeHandler, Model
from .repository import prepackaged, read_folder
from .seldon import SeldonHandler, implements, load_class

# The operations a node may need that a Seldon class need not implement: Seldon's wrapper
# answers feedback with an empty message for a class without ``send_feedback``.
_OPTIONAL = ("send_feedback",)


def build_unit(node, kind, target, paths, parameters_json, operations):
    """The loaded handler of graph node ``node``.

    ``kind`` is ``class`` (``target`` a class, imported with ``paths`` first on ``sys.path``),
    ``server`` (``target`` a prepackaged server's implementation, ``paths[0]`` its model folder)
    or ``folder`` (``paths[0]`` a model folder with its settings). ``parameters_json`` holds the
    node's parameters, a class's constructor arguments as Seldon passes them; ``operations`` are
    the calls the node's place in the graph makes.
    """
    parameters = json.loads(parameters_json)
    if kind == "class":
        handler = _class_handler(node, target, [str(p) for p in paths], parameters, operations)
    elif kind == "server":
        handler = _server_handler(node, target, Path(paths[0]), parameters)
    else:
        handler = read_folder(Path(paths[0]))
    handler.load()
    return handler


def _class_handler(node, target, paths, parameters, operations):
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    cls = load_class(target)
    if isinstance(cls, type) and issubclass(cls, Model):
        needed = [op for op in operations if op not in ("predict", *_OPTIONAL)]
        if needed:
            raise StartupError(
                f"class {cls.__qualname__} is a KServe model, which answers predict only, but its place in "
                f"the graph calls {', '.join(needed)}; make the node a MODEL"
            )
        return KServeHandler(_construct(cls, parameters, node))
    for operation in operations:
        if operation in _OPTIONAL:
            continue
        if not implements(cls, operation):
            raise StartupError(
                f"class {cls.__qualname__} has no method {operation} (or {operation}_raw), which its place "
                "in the graph calls"
            )
    return SeldonHandler(_construct(cls, parameters), node)


def _construct(cls, parameters, *leading):
    try:
        return cls(*leading, **parameters)
    except TypeError as e:
        raise StartupError(
            f"class {cls.__qualname__} cannot be built from parameters {sorted(parameters)}: {e}"
        ) from e


def _server_handler(node, implementation, folder, parameters):
    extra = dict(parameters)
    # Seldon's SKLEARN_SERVER answers predict_proba unless its `method` parameter says otherwise.
    if implementation == "SKLEARN_SERVER":
        extra.setdefault("method", "predict_proba")
    settings = {"name": node, "implementation": implementation, "parameters": {"extra": extra}}
    return prepackaged(implementation, folder, settings, f"{implementation} on {folder}", "parameters")
