"""Fixtures for the end-to-end suite: one `oxserve` for the whole session over a generated model
repository, a factory for one-off servers, reference ONNX Runtime sessions and generated gRPC
stubs.

The server binary is `$OXSERVE_BIN` (default `target/debug/oxserve`); when it is missing every
test that needs it fails (it is never skipped).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import types
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import requests
from tritonclient.grpc import service_pb2_grpc

from oxserve_e2e import (
    GENERATED_DIR,
    GRPC_CHANNEL_OPTIONS,
    PROTO_ROOT,
    REPO,
    SESSION_MAX_REQUEST_SIZE,
    TEST_PROTO_DIR,
    ServerProcess,
    free_ports,
    repository_args,
)


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory) -> Path:
    """The example models plus the test-only ones, written by examples/make_models.py."""
    out = tmp_path_factory.mktemp("model-repository")
    script = REPO / "examples" / "make_models.py"
    done = subprocess.run(
        [sys.executable, str(script), str(out), "--with-test-models"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"make_models.py failed:\n{done.stdout}\n{done.stderr}")
    for name in ("iris", "mlp", "every_type", "reshape3"):
        assert (out / name / "model.onnx").is_file(), f"make_models.py wrote no {name}"
    return out


def start_or_explain(proc: ServerProcess) -> str | None:
    """Starts `proc`; returns why it could not start (outside the `except`, so pytest shows the
    server's own output rather than a chained traceback)."""
    try:
        proc.start()
    except RuntimeError as e:
        return str(e)
    return None


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def server(model_repo, log_dir):
    """The shared server: whole model repository, default model iris, an 8 MiB request limit."""
    http_port, grpc_port = free_ports(2)
    proc = ServerProcess(
        repository_args(
            model_repo, http_port, grpc_port, "--max-request-size", str(SESSION_MAX_REQUEST_SIZE)
        ),
        http_port,
        grpc_port,
        name="oxserve-session",
        log_dir=log_dir,
    )
    error = start_or_explain(proc)
    if error:
        pytest.fail(error, pytrace=False)
    yield proc
    alive = proc.alive()
    code = proc.stop()
    assert alive, f"the session server died during the tests\n{proc.logs()}"
    assert code == 0, f"the session server exited with {code} after SIGTERM\n{proc.logs()}"


@pytest.fixture
def spawn_server(log_dir):
    """Starts one-off servers (`spawn_server(args, env=None)` -> ServerProcess, already ready);
    any still running at the end of the test is killed."""
    started: list[ServerProcess] = []

    def spawn(args: list[str], env: dict[str, str] | None = None, ports: tuple[int, int] | None = None):
        http_port, grpc_port = ports or free_ports(2)
        proc = ServerProcess(args, http_port, grpc_port, env=env, name="oxserve-oneoff", log_dir=log_dir)
        started.append(proc)
        error = start_or_explain(proc)
        if error:
            pytest.fail(error, pytrace=False)
        return proc

    yield spawn
    for proc in started:
        proc.kill()


@pytest.fixture(scope="session")
def http() -> requests.Session:
    """A keep-alive HTTP session."""
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="session")
def grpc_channel(server):
    channel = grpc.insecure_channel(server.grpc_target, options=GRPC_CHANNEL_OPTIONS)
    yield channel
    channel.close()


@pytest.fixture(scope="session")
def v2_stub(grpc_channel):
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc_channel)


class Reference:
    """The models run by onnxruntime's own Python InferenceSession: the expected answers."""

    def __init__(self, repo: Path):
        self.repo = repo
        self._sessions: dict[str, ort.InferenceSession] = {}

    def session(self, model: str) -> ort.InferenceSession:
        if model not in self._sessions:
            self._sessions[model] = ort.InferenceSession(
                str(self.repo / model / "model.onnx"), providers=["CPUExecutionProvider"]
            )
        return self._sessions[model]

    def run(self, model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        s = self.session(model)
        names = [o.name for o in s.get_outputs()]
        return dict(zip(names, s.run(names, feeds), strict=True))

    def error(self, model: str, feeds: dict[str, np.ndarray]) -> str:
        """The tail of ONNX Runtime's own message when `feeds` fails inside the model."""
        try:
            self.run(model, feeds)
        except Exception as e:  # onnxruntime raises its own exception types
            msg = str(e).strip()
        else:
            raise AssertionError(f"{model} did not fail on {feeds}")
        # Python prefixes "[ONNXRuntimeError] : N : CODE : "; the part after the C++ check that
        # failed is the same text the C API hands to any other binding.
        return msg.split("was false.")[-1].strip()


@pytest.fixture(scope="session")
def reference(model_repo) -> Reference:
    return Reference(model_repo)


# --------------------------------------------------------------------------------------------
# Generated stubs


def _protoc(include: Path, protos: list[Path]) -> None:
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{include}",
        f"--python_out={GENERATED_DIR}",
        f"--grpc_python_out={GENERATED_DIR}",
        *[str(p.relative_to(include)) for p in protos],
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=include)
    if done.returncode != 0:
        pytest.fail(f"protoc failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def generated_dir() -> Path:
    """tests/e2e/_generated, emptied once per session and put on sys.path."""
    shutil.rmtree(GENERATED_DIR, ignore_errors=True)
    GENERATED_DIR.mkdir(parents=True)
    if str(GENERATED_DIR) not in sys.path:
        sys.path.insert(0, str(GENERATED_DIR))
    importlib.invalidate_caches()
    return GENERATED_DIR


@pytest.fixture(scope="session")
def seldon_pb(generated_dir) -> types.SimpleNamespace:
    """Python stubs for `seldon.protos` generated from the repository's own proto files."""
    prediction = PROTO_ROOT / "seldon" / "prediction.proto"
    tf_dir = PROTO_ROOT / "tensorflow" / "core" / "framework"
    tf_protos = sorted(tf_dir.glob("*.proto"))
    if not prediction.is_file() or not tf_protos:
        pytest.fail(f"Seldon proto files missing: need {prediction} and {tf_dir}/*.proto", pytrace=False)
    _protoc(PROTO_ROOT, [prediction, *tf_protos])
    importlib.invalidate_caches()
    return types.SimpleNamespace(
        pb=importlib.import_module("seldon.prediction_pb2"),
        grpc=importlib.import_module("seldon.prediction_pb2_grpc"),
        tensor=importlib.import_module("tensorflow.core.framework.tensor_pb2"),
        types=importlib.import_module("tensorflow.core.framework.types_pb2"),
    )


@pytest.fixture(scope="session")
def health_pb(generated_dir) -> types.SimpleNamespace:
    """Stubs for `grpc.health.v1.Health` from tests/e2e/protos/oxserve_e2e_health.proto."""
    _protoc(TEST_PROTO_DIR, [TEST_PROTO_DIR / "oxserve_e2e_health.proto"])
    importlib.invalidate_caches()
    return types.SimpleNamespace(
        pb=importlib.import_module("oxserve_e2e_health_pb2"),
        grpc=importlib.import_module("oxserve_e2e_health_pb2_grpc"),
    )
