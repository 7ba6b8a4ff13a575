"""The KServe contract: an `oxserve.Model` subclass served by `python -m oxserve --model-class`
(or `ModelServer().start`), answering V1 and V2 REST and V2 gRPC."""

import concurrent.futures
import socket

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient

from conftest import TIMEOUT, Server, python_command


def kserve_server(iris, model_class, *flags):
    path, _, _ = iris
    args = python_command(
        "-m",
        "oxserve",
        "--model-class",
        model_class,
        "--http-port",
        "{http}",
        "--grpc-port",
        "{grpc}",
        *flags,
    )
    return Server(args, env={"IRIS_MODEL": str(path)})


@pytest.fixture(scope="module")
def server(iris):
    server = kserve_server(iris, "kserve_models:KServeIris", "--model-name", "iris", "--timeout", "1").start()
    yield server
    server.stop()


def test_v1_instances_in_predictions_out(server, iris):
    _, X, clf = iris
    response = requests.post(
        server.url("/v1/models/iris:predict"), json={"instances": X[:4].tolist()}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": clf.predict(X[:4]).tolist()}
    assert requests.get(server.url("/v1/models/iris"), timeout=TIMEOUT).json()["ready"] is True


def test_v2_rest_reaches_the_same_methods(server, iris):
    _, X, clf = iris
    body = {
        "inputs": [
            {"name": "instances", "datatype": "FP32", "shape": [2, 4], "data": X[60:62].ravel().tolist()}
        ]
    }
    out = requests.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT).json()
    assert out["outputs"][0]["name"] == "predictions"
    assert out["outputs"][0]["data"] == clf.predict(X[60:62]).tolist()


def test_v2_grpc(server, iris):
    _, X, clf = iris
    client = grpcclient.InferenceServerClient(server.grpc_target)
    x = grpcclient.InferInput("instances", [3, 4], "FP32")
    x.set_data_from_numpy(X[100:103])
    assert client.infer("iris", [x]).as_numpy("predictions").tolist() == clf.predict(X[100:103]).tolist()


def test_exception_is_a_500_and_serving_goes_on(server, iris):
    _, X, _ = iris
    response = requests.post(
        server.url("/v1/models/iris:predict"), json={"instances": [[-1, 1, 1, 1]]}, timeout=TIMEOUT
    )
    assert response.status_code == 500
    assert "sepal length cannot be negative" in response.json()["error"]
    response = requests.post(
        server.url("/v1/models/iris:predict"), json={"instances": X[:1].tolist()}, timeout=TIMEOUT
    )
    assert response.status_code == 200


def test_hung_predict_answers_504_after_the_timeout(server):
    response = requests.post(
        server.url("/v1/models/iris:predict"), json={"instances": [[99, 1, 1, 1]]}, timeout=TIMEOUT
    )
    assert response.status_code == 504
    assert requests.get(server.url("/v2/health/live"), timeout=2).status_code == 200


def test_opt_in_batching_gathers_concurrent_requests(iris, server_factory):
    _, X, clf = iris
    path, _, _ = iris
    args = ["--model-name", "iris", "--max-batch-size", "32", "--max-batch-time", "0.005"]
    server = server_factory(
        python_command(
            "-m",
            "oxserve",
            "--model-class",
            "kserve_models:KServeIris",
            "--http-port",
            "{http}",
            "--grpc-port",
            "{grpc}",
            *args,
        ),
        env={"IRIS_MODEL": str(path)},
    )

    def one(i):
        # Callers' headers differ; they must not keep requests out of a shared batch.
        body = {"instances": X[i : i + 1].tolist()}
        headers = {"x-request-id": str(i)}
        url = server.url("/v1/models/iris:predict")
        return requests.post(url, json=body, headers=headers, timeout=TIMEOUT).json()["predictions"][0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert list(pool.map(one, range(100))) == clf.predict(X[:100]).tolist()
    text = requests.get(server.url("/metrics"), timeout=TIMEOUT).text
    counts = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("nv_inference_count{", "nv_inference_exec_count{"))
    }
    assert counts["nv_inference_count"] == 100
    assert counts["nv_inference_exec_count"] < 100


def test_async_def_model_with_infer_response(iris, server_factory):
    _, X, clf = iris
    path, _, _ = iris
    server = server_factory(
        python_command(
            "-m",
            "oxserve",
            "--model-class",
            "kserve_models.AsyncIris",
            "--http-port",
            "{http}",
            "--grpc-port",
            "{grpc}",
        ),
        env={"IRIS_MODEL": str(path)},
    )
    body = {
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [2, 4], "data": X[:2].astype(float).ravel().tolist()}
        ]
    }
    out = requests.post(server.url("/v2/models/AsyncIris/infer"), json=body, timeout=TIMEOUT).json()
    assert out["outputs"][0]["name"] == "proba"
    np.testing.assert_allclose(
        np.reshape(out["outputs"][0]["data"], (2, 3)), clf.predict_proba(X[:2]), rtol=1e-6
    )


@pytest.mark.parametrize(
    "model_class, message",
    [
        ("kserve_models:NoPredict", "class NoPredict does not override method predict"),
        ("no_such_module:Model", "class Model: cannot import module 'no_such_module'"),
        ("kserve_models:Missing", "module 'kserve_models' has no class Missing"),
    ],
)
def test_startup_errors_name_the_class_and_method(iris, model_class, message):
    server = kserve_server(iris, model_class)
    assert server.run() == 1
    assert message in server.output()


def test_a_port_in_use_is_a_clear_startup_error(iris):
    server = kserve_server(iris, "kserve_models:KServeIris")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", server.http_port))
        taken.listen()
        assert server.run() == 1
    assert f"--http-port: cannot listen on 0.0.0.0:{server.http_port}" in server.output()
    assert "Traceback" not in server.output()


def test_model_ready_flag_drives_health_and_admission(server_factory):
    server = server_factory(
        python_command(
            "-m",
            "oxserve",
            "--model-class",
            "kserve_models:Retiring",
            "--http-port",
            "{http}",
            "--grpc-port",
            "{grpc}",
        )
    )
    assert requests.get(server.url("/v2/models/Retiring/ready"), timeout=TIMEOUT).status_code == 200
    retire = requests.post(
        server.url("/v1/models/Retiring:predict"), json={"instances": [[0]]}, timeout=TIMEOUT
    )
    assert retire.status_code == 200
    assert requests.get(server.url("/v1/models/Retiring"), timeout=TIMEOUT).status_code == 503
    assert requests.get(server.url("/v2/health/ready"), timeout=TIMEOUT).status_code != 200
    refused = requests.post(
        server.url("/v1/models/Retiring:predict"), json={"instances": [[1]]}, timeout=TIMEOUT
    )
    assert refused.status_code == 503
    assert "model 'Retiring' is not ready" in refused.json()["error"]


@pytest.fixture(scope="module")
def explained(iris):
    server = kserve_server(iris, "kserve_models:Explained").start()
    yield server
    server.stop()


def test_explain_answers_the_model_explanation_with_the_caller_headers(explained):
    response = requests.post(
        explained.url("/v1/models/Explained:explain"),
        json={"instances": [[1, 2], [3, 4]]},
        headers={"X-Caller": "alice"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"explanations": {"rows": 2, "caller": "alice"}}


def test_predict_gets_the_headers_over_every_protocol(explained):
    response = requests.post(
        explained.url("/v1/models/Explained:predict"),
        json={"instances": [[1, 2]]},
        headers={"X-Caller": "v1"},
        timeout=TIMEOUT,
    )
    assert response.json() == {"predictions": ["v1"]}
    body = {"inputs": [{"name": "instances", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    out = requests.post(
        explained.url("/v2/models/Explained/infer"), json=body, headers={"x-caller": "v2"}, timeout=TIMEOUT
    ).json()
    assert out["outputs"][0]["data"] == ["v2"]
    client = grpcclient.InferenceServerClient(explained.grpc_target)
    x = grpcclient.InferInput("instances", [1, 2], "FP32")
    x.set_data_from_numpy(np.ones((1, 2), dtype=np.float32))
    answer = client.infer("Explained", [x], headers={"x-caller": "grpc"})
    assert answer.as_numpy("predictions").tolist() == [b"grpc"]


def test_explain_without_an_explainer_is_501(server):
    response = requests.post(
        server.url("/v1/models/iris:explain"), json={"instances": [[1, 2, 3, 4]]}, timeout=TIMEOUT
    )
    assert response.status_code == 501
    assert "explain" in response.json()["error"]


def test_not_implemented_error_is_501_as_in_kserve(iris):
    server = kserve_server(iris, "kserve_models:NoExplainer").start()
    try:
        url = server.url("/v1/models/NoExplainer:explain")
        response = requests.post(url, json={"instances": [[1]]}, timeout=TIMEOUT)
        assert response.status_code == 501, response.text
        assert "does not override explain" in response.json()["error"]
    finally:
        server.stop()
