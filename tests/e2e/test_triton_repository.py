"""Triton model repositories of ONNX models serve unchanged: `config.pbtxt` beside numeric version
folders, the version policy, `max_batch_size` / `dynamic_batching` / `instance_group`, folders
without a config (Triton's auto-complete), checked with the unmodified `tritonclient` (HTTP and
gRPC) against ONNX Runtime's own answers; a broken config stops the start with its file and line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from oxserve_e2e import (
    GRPC_CHANNEL_OPTIONS,
    TIMEOUT,
    free_ports,
    oxserve_bin,
    repository_args,
    server_env,
)

IRIS_X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)
MLP_X = np.random.default_rng(11).normal(0, 1, (5, 64)).astype(np.float32)

# Lines are numbered by the tests below, so keep each field on its own line.
IRIS_CONFIG = """\
# The iris classifier, as a Triton user would write it.
name: "iris"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "input"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
output [
  {
    name: "probabilities"
    data_type: TYPE_FP32
    dims: [ 3 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
  default_queue_policy { max_queue_size: 64 }
}
instance_group [
  {
    count: 2
    kind: KIND_CPU
  }
]
"""

MLP_CONFIG = """\
backend: 'onnxruntime'
max_batch_size: 16
input: [ { name: 'input', data_type: TYPE_FP32, dims: [64] } ]
output: [ { name: 'scores', data_type: TYPE_FP32, dims: [10] } ]
instance_group { kind: KIND_AUTO }
version_policy: { specific { versions: [ 2 ] } }
parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
optimization { graph { level: 1 } }
model_warmup [ { name: "zeros" batch_size: 1 } ]
"""

NOT_A_MODEL = b"this version is not the one the policy serves, so it is never opened"


def build_repository(root: Path, model_repo: Path) -> Path:
    """iris (versions 1 and 3, latest serves 3), mlp (versions 1 and 2, `specific` serves 2),
    iris_auto (no config.pbtxt) and a folder with both settings files (settings win)."""
    repo = root / "triton-repository"
    iris, mlp = model_repo / "iris" / "model.onnx", model_repo / "mlp" / "model.onnx"
    for folder, config in (("iris", IRIS_CONFIG), ("mlp", MLP_CONFIG)):
        (repo / folder).mkdir(parents=True)
        (repo / folder / "config.pbtxt").write_text(config)
    for path, content in (("iris/1", NOT_A_MODEL), ("mlp/1", NOT_A_MODEL)):
        (repo / path).mkdir()
        (repo / path / "model.onnx").write_bytes(content)
    for path, source in (("iris/3", iris), ("mlp/2", mlp), ("iris_auto/1", iris), ("both/7", mlp)):
        (repo / path).mkdir(parents=True)
        shutil.copy(source, repo / path / "model.onnx")
    (repo / "both" / "config.pbtxt").write_text("this config is ignored, so its syntax does not matter {")
    settings = {"name": "both", "parameters": {"uri": "7/model.onnx", "version": "7"}}
    (repo / "both" / "model-settings.json").write_text(json.dumps(settings))
    return repo


@pytest.fixture(scope="module")
def triton_repo(tmp_path_factory, model_repo) -> Path:
    return build_repository(tmp_path_factory.mktemp("triton"), model_repo)


@pytest.fixture
def triton_server(spawn_server, triton_repo):
    http_port, grpc_port = free_ports(2)
    return spawn_server(repository_args(triton_repo, http_port, grpc_port), ports=(http_port, grpc_port))


def port_args() -> list[str]:
    http_port, grpc_port = free_ports(2)
    return ["--http-port", str(http_port), "--grpc-port", str(grpc_port)]


@pytest.fixture
def http_client(triton_server):
    client = httpclient.InferenceServerClient(
        url=triton_server.http_target, connection_timeout=TIMEOUT, network_timeout=TIMEOUT
    )
    yield client
    client.close()


@pytest.fixture
def grpc_client(triton_server):
    client = grpcclient.InferenceServerClient(
        url=triton_server.grpc_target, channel_args=GRPC_CHANNEL_OPTIONS
    )
    yield client
    client.close()


# What each model serves: versions, inputs and outputs as (name, datatype, shape).
EXPECTED_METADATA = {
    "iris": (["3"], [("input", "FP32", [-1, 4])], [("probabilities", "FP32", [-1, 3])]),
    "mlp": (["2"], [("input", "FP32", [-1, 64])], [("scores", "FP32", [-1, 10])]),
    "iris_auto": (
        ["1"],
        [("input", "FP32", [-1, 4])],
        [("probabilities", "FP32", [-1, 3]), ("label", "INT64", [-1])],
    ),
    "both": (["7"], [("input", "FP32", [-1, 64])], [("scores", "FP32", [-1, 10])]),
}


def test_every_folder_is_a_model(triton_server, http_client, grpc_client):
    index = sorted(m.name for m in grpc_client.get_model_repository_index().models)
    assert index == sorted(EXPECTED_METADATA)
    listed = requests.get(triton_server.url("/v2/models"), timeout=TIMEOUT).json()["models"]
    assert sorted(listed) == index
    for model in EXPECTED_METADATA:
        assert http_client.is_model_ready(model)
        assert grpc_client.is_model_ready(model)


@pytest.mark.parametrize("model", sorted(EXPECTED_METADATA))
def test_metadata_has_the_served_version_and_the_batch_dimension(http_client, grpc_client, model):
    versions, inputs, outputs = EXPECTED_METADATA[model]
    meta = http_client.get_model_metadata(model)
    assert meta["name"] == model
    assert meta["versions"] == versions
    assert meta["platform"] == "onnxruntime_onnx"
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == inputs
    assert [(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]] == outputs

    meta = grpc_client.get_model_metadata(model)
    assert list(meta.versions) == versions
    assert [(i.name, i.datatype, list(i.shape)) for i in meta.inputs] == inputs
    assert [(o.name, o.datatype, list(o.shape)) for o in meta.outputs] == outputs


def full_shapes(config: dict) -> dict[str, list[int]]:
    """Each tensor's shape as a client derives it from a model config: `dims`, behind a batch
    dimension when `max_batch_size` > 0."""
    batch = [-1] if int(config.get("max_batch_size", 0)) > 0 else []
    return {t["name"]: batch + [int(d) for d in t["dims"]] for t in config["input"] + config["output"]}


def test_model_config_over_http_and_grpc(http_client, grpc_client):
    http_config = http_client.get_model_config("iris")
    grpc_config = grpc_client.get_model_config("iris", as_json=True)["config"]
    for config in (http_config, grpc_config):
        assert config["name"] == "iris"
        assert [(i["name"], i["data_type"]) for i in config["input"]] == [("input", "TYPE_FP32")]
        assert [(o["name"], o["data_type"]) for o in config["output"]] == [("probabilities", "TYPE_FP32")]
        assert full_shapes(config) == {"input": [-1, 4], "probabilities": [-1, 3]}
    assert full_shapes(http_client.get_model_config("iris", "3")) == full_shapes(http_config)


def test_only_the_served_version_answers(triton_server, http_client, grpc_client):
    assert requests.get(triton_server.url("/v2/models/iris/versions/3"), timeout=TIMEOUT).status_code == 200
    for path in ("/v2/models/iris/versions/1", "/v2/models/iris/versions/1/ready"):
        response = requests.get(triton_server.url(path), timeout=TIMEOUT)
        assert response.status_code == 404, path
        assert "version '1'" in response.json()["error"]
    response = requests.post(
        triton_server.url("/v2/models/iris/versions/1/infer"),
        json={"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]},
        timeout=TIMEOUT,
    )
    assert response.status_code == 404
    assert http_client.is_model_ready("iris", "3")
    assert not http_client.is_model_ready("iris", "1")
    for call in (grpc_client.is_model_ready, grpc_client.get_model_metadata):
        with pytest.raises(InferenceServerException) as e:
            call("iris", "1")
        assert e.value.status() == "StatusCode.NOT_FOUND"
        assert "version '1'" in e.value.message()


CASES = [
    ("iris", "3", "input", IRIS_X, "probabilities"),
    ("mlp", "2", "input", MLP_X, "scores"),
    ("iris_auto", "1", "input", IRIS_X, "label"),
]


@pytest.mark.parametrize(("model", "version", "input_name", "x", "output"), CASES)
def test_infer_matches_onnxruntime(
    http_client, grpc_client, reference, model, version, input_name, x, output
):
    expected = reference.run(model.removesuffix("_auto"), {input_name: x})[output]
    for requested_version in ("", version):
        inp = httpclient.InferInput(input_name, list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        result = http_client.infer(
            model,
            [inp],
            model_version=requested_version,
            outputs=[httpclient.InferRequestedOutput(output, binary_data=True)],
        )
        np.testing.assert_allclose(result.as_numpy(output), expected, rtol=1e-5, atol=1e-7)
        assert result.get_response()["model_version"] == version

        inp = grpcclient.InferInput(input_name, list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        result = grpc_client.infer(
            model, [inp], model_version=requested_version, outputs=[grpcclient.InferRequestedOutput(output)]
        )
        np.testing.assert_allclose(result.as_numpy(output), expected, rtol=1e-5, atol=1e-7)
        assert result.get_response().model_version == version


def test_a_batch_larger_than_the_first_dimension_shape_is_refused(http_client):
    """The batch dimension is the only variable one: a wrong feature count is a 400."""
    inp = httpclient.InferInput("input", [2, 5], "FP32")
    inp.set_data_from_numpy(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(InferenceServerException) as e:
        http_client.infer("iris", [inp])
    assert "shape" in str(e.value)


# --------------------------------------------------------------------------------------------
# Start-up failures


def start(repo: Path) -> subprocess.CompletedProcess:
    command = [str(oxserve_bin()), "serve", "--model-repository", str(repo), "--host", "127.0.0.1"]
    return subprocess.run(
        command + port_args(), env=server_env(), capture_output=True, text=True, timeout=TIMEOUT
    )


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of `text` containing `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def broken_repository(tmp_path: Path, model_repo: Path, config: str) -> Path:
    repo = tmp_path / "broken"
    (repo / "iris" / "1").mkdir(parents=True)
    shutil.copy(model_repo / "iris" / "model.onnx", repo / "iris" / "1" / "model.onnx")
    (repo / "iris" / "config.pbtxt").write_text(config)
    return repo


def missing_brace(config: str) -> str:
    """IRIS_CONFIG without the `}` that closes dynamic_batching."""
    lines = config.splitlines(keepends=True)
    close = line_of(config, "default_queue_policy") + 1
    assert lines[close - 1].strip() == "}"
    return "".join(lines[: close - 1] + lines[close:])


def bad_enum(config: str) -> str:
    return config.replace("kind: KIND_CPU", "kind: KIND_TPU")


def bad_platform(config: str) -> str:
    return config.replace('"onnxruntime_onnx"', '"tensorrt_plan"')


def bad_name(config: str) -> str:
    return config.replace('name: "iris"', 'name: "iris_v2"')


def bad_reshape(config: str) -> str:
    return config.replace("dims: [ 4 ]", "dims: [ 4 ]\n    reshape { shape: [ 2, 2 ] }")


@pytest.mark.parametrize(
    ("breaks", "at", "needles"),
    [
        (bad_enum, "KIND_TPU", ["instance_group.kind", "KIND_TPU", "KIND_CPU"]),
        (missing_brace, None, ["missing '}' to close 'dynamic_batching' opened at line 19"]),
        (bad_platform, "tensorrt_plan", ["platform", "tensorrt_plan", "onnxruntime_onnx"]),
        (bad_name, "iris_v2", ["name", "'iris_v2'", "'iris'"]),
        (bad_reshape, "reshape", ["input[0].reshape", "not supported"]),
    ],
    ids=["bad-enum", "missing-brace", "other-platform", "name-differs-from-folder", "reshape"],
)
def test_a_broken_config_stops_the_start_naming_file_and_line(tmp_path, model_repo, breaks, at, needles):
    config = breaks(IRIS_CONFIG)
    repo = broken_repository(tmp_path, model_repo, config)
    result = start(repo)
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stderr}"
    assert "panicked" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    # A missing brace is noticed at the end of the file.
    line = line_of(config, at) if at else len(config.splitlines()) + 1
    location = f"{repo / 'iris' / 'config.pbtxt'}:{line}:"
    assert location in last, f"{location!r} not in {last!r}"
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"


def test_a_policy_selecting_several_versions_stops_the_start(tmp_path, model_repo):
    config = IRIS_CONFIG + "version_policy: { all {} }\n"
    repo = broken_repository(tmp_path, model_repo, config)
    (repo / "iris" / "2").mkdir()
    shutil.copy(model_repo / "iris" / "model.onnx", repo / "iris" / "2" / "model.onnx")
    result = start(repo)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "version_policy all: selects versions 1, 2" in last, last


def test_a_config_without_version_folders_stops_the_start(tmp_path, model_repo):
    repo = broken_repository(tmp_path, model_repo, IRIS_CONFIG)
    shutil.move(repo / "iris" / "1" / "model.onnx", repo / "iris" / "model.onnx")
    (repo / "iris" / "1").rmdir()
    result = start(repo)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "numeric version folders" in last and "1/model.onnx" in last, last
