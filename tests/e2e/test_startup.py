"""Start-up failures: each stops `oxserve serve` at once with exit code 1 and a message that says
what is wrong and where, never a panic or a hang."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest

from oxserve_e2e import TIMEOUT, free_ports, oxserve_bin, server_env


def start(
    args: list[str], env: dict[str, str] | None = None, http_port: int | None = None
) -> subprocess.CompletedProcess:
    free_http, grpc_port = free_ports(2)
    command = [str(oxserve_bin()), "serve", "--host", "127.0.0.1"]
    command += ["--http-port", str(http_port or free_http), "--grpc-port", str(grpc_port), *args]
    return subprocess.run(command, env=server_env(env), capture_output=True, text=True, timeout=TIMEOUT)


def assert_refused(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stderr}"
    assert "panicked" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"


@pytest.fixture
def repo(tmp_path, model_repo):
    """A private copy of the iris model folder, to break in different ways."""
    shutil.copytree(model_repo / "iris", tmp_path / "repo" / "iris")
    return tmp_path / "repo"


def test_missing_repository(tmp_path):
    assert_refused(start(["--model-repository", str(tmp_path / "nope")]), "--model-repository", "nope")


def test_repository_without_models(tmp_path):
    assert_refused(start(["--model-repository", str(tmp_path)]), "no models found")


def test_missing_model_file(tmp_path):
    assert_refused(start(["--model", str(tmp_path / "gone.onnx")]), "gone.onnx")


def test_model_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    assert_refused(start(["--model", str(bad)]), "bad.onnx")


def test_settings_that_are_not_json(repo):
    (repo / "iris" / "model-settings.json").write_text("{not json")
    assert_refused(start(["--model-repository", str(repo)]), "model-settings.json")


def test_settings_with_a_wrong_field_type(repo):
    (repo / "iris" / "model-settings.json").write_text(json.dumps({"name": "iris", "instances": "two"}))
    assert_refused(start(["--model-repository", str(repo)]), "instances")


def test_python_implementation_without_the_python_package(repo, tmp_path):
    # A repository with a prepackaged Python server is handed to the oxserve Python package; an
    # interpreter without it is refused up front, naming the model and what to install.
    settings = {"name": "iris", "implementation": "mlserver_sklearn.SKLearnModel"}
    (repo / "iris" / "model-settings.json").write_text(json.dumps(settings))
    bare = tmp_path / "bare-venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(bare)], check=True, timeout=TIMEOUT)
    result = start(["--model-repository", str(repo), "--python", str(bare / "bin" / "python")])
    assert_refused(result, "'iris' (mlserver_sklearn.SKLearnModel)", "oxserve Python package", "pip install")


def test_declared_input_that_the_model_lacks(repo):
    settings = {"name": "iris", "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]}
    (repo / "iris" / "model-settings.json").write_text(json.dumps(settings))
    assert_refused(start(["--model-repository", str(repo)]), "features")


def test_unknown_default_model(repo):
    assert_refused(start(["--model-repository", str(repo), "--default-model", "nope"]), "--default-model")


def test_missing_onnxruntime_library(repo, tmp_path):
    result = start(
        ["--model-repository", str(repo)], env={"ORT_DYLIB_PATH": str(tmp_path / "libonnxruntime.so")}
    )
    assert_refused(result, "ORT_DYLIB_PATH", "onnxruntime")


def test_port_in_use(repo):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = start(["--model-repository", str(repo)], http_port=port)
    assert_refused(result, "--http-port", str(port))
