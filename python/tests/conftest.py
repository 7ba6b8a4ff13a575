"""Fixtures for the Python package's tests: a scikit-learn model trained here, user model files
under models/, and servers started as real processes (the way users start them) on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MODELS_DIR = Path(__file__).parent / "models"
REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "crates" / "oxserve-protocol" / "proto"
# Seconds any single call may take before a test fails instead of hanging.
TIMEOUT = 30


def free_ports(n):
    """`n` distinct free loopback ports."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Server:
    """One serving process (a command users run), its output in log files."""

    def __init__(self, args, env=None, cwd=MODELS_DIR):
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        self.args = [a.format(http=self.http_port, grpc=self.grpc_port) for a in args]
        # Seldon's microservice listens on a metrics port too (6000 unless told).
        self.env = {
            **os.environ,
            "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(self.metrics_port),
            **(env or {}),
        }
        self.cwd = cwd
        logs = Path(tempfile.mkdtemp(prefix="oxserve-py-"))
        self.stdout_path, self.stderr_path = logs / "stdout", logs / "stderr"
        self.proc = None

    def url(self, path):
        return f"http://127.0.0.1:{self.http_port}{path}"

    @property
    def grpc_target(self):
        return f"127.0.0.1:{self.grpc_port}"

    def output(self):
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def run(self, timeout=TIMEOUT):
        """Runs to completion (for start-up failures); returns the exit code."""
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            return subprocess.run(
                self.args, stdout=out, stderr=err, env=self.env, cwd=self.cwd, timeout=timeout
            ).returncode

    def start(self, ready_path="/v2/health/ready"):
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url(ready_path), timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready within {TIMEOUT} s:\n{self.output()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def server_factory():
    """Starts servers for one test and stops them after it."""
    started = []

    def start(args, env=None, ready_path="/v2/health/ready"):
        server = Server(args, env).start(ready_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def iris(tmp_path_factory):
    """A logistic regression trained on iris, saved with joblib, and the data it can be checked
    against: (path, X as float32, the fitted model)."""
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    path = tmp_path_factory.mktemp("iris") / "model.joblib"
    joblib.dump(model, path)
    return path, X.astype(np.float32), model


def python_command(*args):
    """A command run by this interpreter (the one oxserve is installed in)."""
    return [sys.executable, *args]


def onnx_doubler(path):
    """An ONNX model answering y = 2x for FP32 x of shape [-1, 2]."""
    from onnx import TensorProto, helper, save

    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])],
        "doubler",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, path)


def rust_command(command, *args):
    """The Rust `oxserve` binary running `command` with `args` on the test's ports, with this
    interpreter for any Python it hands over to."""
    binary = Path(os.environ.get("OXSERVE_BIN", REPO / "target" / "debug" / "oxserve"))
    assert binary.is_file(), f"{binary}: build it with `cargo build --bin oxserve` (or set OXSERVE_BIN)"
    ports = ["--host", "127.0.0.1", "--http-port", "{http}", "--grpc-port", "{grpc}"]
    return [str(binary), command, *args, *ports, "--python", sys.executable]


def microservice_command(*args):
    """`oxserve-microservice` from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "oxserve-microservice"), *args]


# PREDICTIVE_UNIT_PARAMETERS for seldon_models.Iris, with the path of its joblib file to fill in.
PARAMETERS = (
    '[{"name":"model_path","value":"%s","type":"STRING"},{"name":"threshold","value":"0.7","type":"FLOAT"}]'
)


def microservice(interface_name, *flags, env=None):
    """`oxserve-microservice` serving `interface_name` (not started yet)."""
    server = Server(microservice_command(interface_name, *flags), env=env)
    # Seldon's variables name the ports, as the Seldon operator sets them.
    server.env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] = str(server.http_port)
    server.env["PREDICTIVE_UNIT_GRPC_SERVICE_PORT"] = str(server.grpc_port)
    return server


@pytest.fixture(scope="session")
def seldon_pb(tmp_path_factory):
    """Python stubs of Seldon's prediction.proto, generated from the repository's copy."""
    out = tmp_path_factory.mktemp("seldon-stubs")
    prediction = PROTO_ROOT / "seldon" / "prediction.proto"
    tf_protos = sorted((PROTO_ROOT / "tensorflow" / "core" / "framework").glob("*.proto"))
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *[str(p.relative_to(PROTO_ROOT)) for p in [prediction, *tf_protos]],
    ]
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
    sys.path.insert(0, str(out))
    import seldon.prediction_pb2 as pb
    import seldon.prediction_pb2_grpc as pb_grpc

    return pb, pb_grpc
