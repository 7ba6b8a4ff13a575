"""The per-model scheduler seen from outside: dynamic batching gives every caller its own
answer, a full queue answers 503 with Retry-After at once, a request past its `timeout` is
refused, and the scheduler's metrics appear under oxserve's and Triton's names."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient

from oxserve_e2e import TIMEOUT, binary_body, free_ports, parse_v2_response, repository_args


def write_settings(folder, **settings) -> None:
    (folder / "model-settings.json").write_text(json.dumps({"name": folder.name, **settings}))


@pytest.fixture
def batching_repo(tmp_path, model_repo):
    """iris and mlp with dynamic batching on; mlp with a one-request queue."""
    repo = tmp_path / "repo"
    for name in ("iris", "mlp"):
        shutil.copytree(model_repo / name, repo / name)
    write_settings(repo / "iris", parameters={"version": "1"}, max_batch_size=32, max_batch_time=0.005)
    write_settings(repo / "mlp", max_batch_size=4096, max_batch_time=0.001, max_queue_size=1)
    return repo


@pytest.fixture
def batching_server(spawn_server, batching_repo):
    http_port, grpc_port = free_ports(2)
    return spawn_server(repository_args(batching_repo, http_port, grpc_port), ports=(http_port, grpc_port))


def iris_infer(server, rows: np.ndarray, **parameters) -> requests.Response:
    body = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": list(rows.shape), "data": rows.ravel().tolist()}
        ],
        "outputs": [{"name": "probabilities"}],
    }
    if parameters:
        body["parameters"] = parameters
    return requests.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)


def test_batched_callers_each_get_their_own_answer(batching_server, reference):
    rng = np.random.default_rng(3)
    requests_rows = [
        rng.uniform(0, 8, size=(int(rng.integers(1, 5)), 4)).astype(np.float32) for _ in range(200)
    ]
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda rows: iris_infer(batching_server, rows), requests_rows))
    for rows, resp in zip(requests_rows, responses, strict=True):
        assert resp.status_code == 200, resp.text
        (out,) = resp.json()["outputs"]
        assert out["shape"] == [len(rows), 3]
        expected = reference.run("iris", {"input": rows})["probabilities"]
        np.testing.assert_allclose(
            np.array(out["data"]).reshape(out["shape"]), expected, rtol=1e-5, atol=1e-7
        )
    metrics = requests.get(batching_server.url("/metrics"), timeout=TIMEOUT).text
    batches = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('nv_inference_exec_count{model="iris"')
    )
    inferences = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('nv_inference_count{model="iris"')
    )
    assert inferences == sum(len(r) for r in requests_rows)
    print(f"{len(requests_rows)} requests ran in {batches:.0f} batches")
    assert 0 < batches < len(requests_rows), "16 concurrent callers never shared a batch"
    for name in ("oxserve_batch_size_bucket", "oxserve_queue_duration_seconds_bucket", "oxserve_queue_depth"):
        assert f'{name}{{model="iris"' in metrics, name


def test_model_config_reports_the_batch_size(batching_server):
    client = httpclient.InferenceServerClient(url=batching_server.http_target)
    config = client.get_model_config("iris")
    assert config["max_batch_size"] == 32
    assert config["input"][0]["dims"] == [4]


def test_a_full_queue_answers_503_with_retry_after(batching_server):
    """mlp's queue holds one request: of many large requests sent at once, some must be refused
    at once with 503 and Retry-After, and every other one must succeed."""
    x = np.zeros((4096, 64), dtype=np.float32)
    header = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [4096, 64]}]}
    header["inputs"][0]["parameters"] = {"binary_data_size": x.nbytes}
    body, headers = binary_body(header, [x.tobytes()])

    def send(_):
        return requests.post(
            batching_server.url("/v2/models/mlp/infer"), data=body, headers=headers, timeout=TIMEOUT
        )

    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(send, range(64)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    refused = [r for r in responses if r.status_code == 503]
    assert refused, "no request was refused with a one-request queue and 32 concurrent senders"
    for r in refused:
        assert r.headers["Retry-After"] == "1"
        assert "max_queue_size" in r.json()["error"]
    for r in responses:
        if r.status_code == 200:
            assert parse_v2_response(r)[0]["outputs"][0]["shape"] == [4096, 10]
    metrics = requests.get(batching_server.url("/metrics"), timeout=TIMEOUT).text
    assert 'oxserve_rejected_requests_total{model="mlp",reason="queue_full"}' in metrics


def test_a_bad_timeout_parameter_is_400(batching_server):
    resp = iris_infer(batching_server, np.ones((1, 4), np.float32), timeout="soon")
    assert resp.status_code == 400
    assert "timeout" in resp.json()["error"]


def test_a_generous_timeout_parameter_does_not_refuse(batching_server):
    resp = iris_infer(batching_server, np.ones((1, 4), np.float32), timeout=5_000_000)
    assert resp.status_code == 200, resp.text
