"""Serving a model repository from Python: the folders whose ``implementation`` is a
prepackaged Python server become handlers, and every other folder (ONNX, in MLServer's or
Triton's layout) goes to the Rust repository loader, so one process serves the whole repository.
"""

import importlib.util
import json
import os
from pathlib import Path

from .errors import StartupError
from .servers import ALIASES, SERVERS, server_for

SETTINGS_FILE = "model-settings.json"

# The implementations the Rust core loads itself (see crates/oxserve-server/src/repository.rs);
# a folder without one is also Rust's, which infers ONNX from the model file.
NATIVE = ("onnx", "onnxruntime", "onnxruntime_onnx")


def read_repository(directory):
    """The prepackaged handlers (not loaded yet) and the folders left to Rust, in name order.

    Settings are read here, before any worker starts, so that a bad settings file or an unknown
    implementation stops the start at once with the folder's name.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise StartupError(f"--model-repository {directory}: not a folder")
    handlers, native = [], []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        handler = read_folder(folder)
        if handler is None:
            native.append(folder)
        else:
            handlers.append(handler)
    if not handlers and not native:
        raise StartupError(f"--model-repository {directory}: no model folders")
    return handlers, native


def read_folder(folder):
    """The prepackaged handler (not loaded yet) of one model folder, or ``None`` when the Rust
    core serves it (no settings file, or an ONNX implementation)."""
    settings_path = folder / SETTINGS_FILE
    if not settings_path.is_file():
        return None
    try:
        settings = json.loads(settings_path.read_text())
    except (OSError, ValueError) as e:
        raise StartupError(f"model folder {folder}: cannot read {SETTINGS_FILE}: {e}") from e
    if not isinstance(settings, dict):
        raise StartupError(f"model folder {folder}: {SETTINGS_FILE} must hold a JSON object")
    implementation = settings.get("implementation")
    if implementation is None or implementation in NATIVE:
        return None
    return prepackaged(implementation, folder, settings, f"model folder {folder}", SETTINGS_FILE)


def prepackaged(implementation, folder, settings, where, source):
    """The prepackaged server ``implementation`` on ``folder``, with MLServer-style ``settings``;
    a bad name is a start-up error starting with ``where``, a bad settings field one naming also
    the ``source`` of the settings."""
    server = server_for(implementation)
    if server is None:
        known = sorted([*SERVERS, *ALIASES, *NATIVE])
        raise StartupError(f"{where}: unknown implementation '{implementation}'; known: {', '.join(known)}")
    try:
        return server(folder, settings)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        # A settings field of the wrong shape, such as an input without a name.
        raise StartupError(f"{where}: {source}: {type(e).__name__}: {e}") from e


def point_rust_at_onnxruntime():
    """Tells the Rust core where this interpreter's ``onnxruntime`` package keeps its library.

    Rust searches ``$VIRTUAL_ENV`` and ``python3`` on its own, which need not be the interpreter
    serving (a venv used without activating it); the package this interpreter imports is the one
    the user installed for it. A path the user set in ``ORT_DYLIB_PATH`` is kept, and without the
    package Rust's own search reports what is missing.
    """
    spec = importlib.util.find_spec("onnxruntime")
    if spec is not None and spec.submodule_search_locations:
        os.environ.setdefault("ORT_DYLIB_PATH", str(Path(spec.submodule_search_locations[0]) / "capi"))
