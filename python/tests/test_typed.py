"""oxserve's typed API: named NumPy arrays in and out, declared metadata, Rust-side batching,
served from the user's own process; driven by requests and tritonclient (HTTP and gRPC)."""

import concurrent.futures

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from conftest import MODELS_DIR, TIMEOUT, python_command


@pytest.fixture(scope="module")
def server(iris):
    from conftest import Server

    path, _, _ = iris
    server = Server(
        python_command(str(MODELS_DIR / "typed_models.py"), str(path), "{http}", "{grpc}")
    ).start()
    yield server
    server.stop()


def test_declared_metadata(server):
    body = requests.get(server.url("/v2/models/iris"), timeout=TIMEOUT).json()
    assert body["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in body["outputs"]] == ["label", "proba"]
    assert body["platform"] == "python"


def test_v2_json_matches_scikit_learn(server, iris):
    _, X, clf = iris
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 4], "data": X[:3].ravel().tolist()}]}
    out = requests.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT).json()
    outputs = {o["name"]: o for o in out["outputs"]}
    assert outputs["label"]["datatype"] == "INT64"
    assert outputs["label"]["data"] == clf.predict(X[:3]).tolist()
    np.testing.assert_allclose(np.reshape(outputs["proba"]["data"], (3, 3)), clf.predict_proba(X[:3]))


def test_tritonclient_http_binary_and_grpc(server, iris):
    _, X, clf = iris
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    x = httpclient.InferInput("x", [10, 4], "FP32")
    x.set_data_from_numpy(X[:10], binary_data=True)
    result = http.infer("iris", [x], outputs=[httpclient.InferRequestedOutput("label", binary_data=True)])
    assert result.as_numpy("label").tolist() == clf.predict(X[:10]).tolist()
    assert result.as_numpy("proba") is None  # only the requested output comes back

    grpc = grpcclient.InferenceServerClient(server.grpc_target)
    assert grpc.is_model_ready("iris")
    x = grpcclient.InferInput("x", [5, 4], "FP32")
    x.set_data_from_numpy(X[50:55])
    result = grpc.infer("iris", [x])
    np.testing.assert_allclose(result.as_numpy("proba"), clf.predict_proba(X[50:55]))


def test_inputs_are_read_only_views_on_a_python_worker_thread(server):
    x = np.arange(8, dtype=np.float32)
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    inp = httpclient.InferInput("x", [8], "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    result = http.infer("inspect", [inp])
    assert result.as_numpy("zero_copy").tolist() == [True]
    assert result.as_numpy("writeable").tolist() == [False]
    # User code runs on the model's own worker threads, never on the server's (tokio) threads.
    assert result.as_numpy("thread")[0].decode().startswith("oxserve-py-")
    np.testing.assert_array_equal(result.as_numpy("doubled"), x * 2)


def test_bytes_in_and_out(server):
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["hello", "wörld"]}]}
    out = requests.post(server.url("/v2/models/words/infer"), json=body, timeout=TIMEOUT).json()
    assert out["outputs"][0]["datatype"] == "BYTES"
    assert out["outputs"][0]["data"] == ["HELLO", "WÖRLD"]


def test_concurrent_requests_are_batched_into_one_call(server, iris):
    _, X, clf = iris

    def one(i):
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": X[i].tolist()}]}
        out = requests.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT).json()
        return out["outputs"][0]["data"][0]

    def counters():
        text = requests.get(server.url("/metrics"), timeout=TIMEOUT).text
        values = {}
        for line in text.splitlines():
            for name in ("nv_inference_count", "nv_inference_exec_count"):
                if line.startswith(name + '{model="iris"'):
                    values[name] = float(line.rsplit(" ", 1)[1])
        return values

    before = counters()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        labels = list(pool.map(one, range(150)))
    assert labels == clf.predict(X[:150]).tolist()
    after = counters()
    requests_served = after["nv_inference_count"] - before["nv_inference_count"]
    calls = after["nv_inference_exec_count"] - before["nv_inference_exec_count"]
    assert requests_served == 150
    assert calls < requests_served, f"{calls} Python calls for {requests_served} requests: no batching"


def test_bad_input_is_a_400_naming_the_field(server):
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    response = requests.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert "inputs[0].datatype" in response.json()["error"]


def test_exception_is_a_500_with_its_message_and_serving_goes_on(server):
    bad = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [-1]}]}
    response = requests.post(server.url("/v2/models/flaky/infer"), json=bad, timeout=TIMEOUT)
    assert response.status_code == 500
    assert "ValueError: negative input -1.0" in response.json()["error"]
    good = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [3]}]}
    response = requests.post(server.url("/v2/models/flaky/infer"), json=good, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [3]


def test_invalid_input_raised_by_the_model_is_a_400(server):
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [7]}]}
    response = requests.post(server.url("/v2/models/flaky/infer"), json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json()["error"] == "7 is not a valid x"


def test_hung_predict_is_bounded_by_the_timeout(server):
    hang = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [99]}]}
    response = requests.post(server.url("/v2/models/flaky/infer"), json=hang, timeout=TIMEOUT)
    assert response.status_code == 504
    assert "did not answer within" in response.json()["error"]
    # Other models never waited for it: their calls run on their own threads.
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["ok"]}]}
    assert requests.post(server.url("/v2/models/words/infer"), json=body, timeout=2).status_code == 200


def test_a_datatype_numpy_lacks_is_a_400(server):
    header = b'{"inputs":[{"name":"x","datatype":"BF16","shape":[1],"parameters":{"binary_data_size":2}}]}'
    response = requests.post(
        server.url("/v2/models/inspect/infer"),
        data=header + b"\x80\x3f",
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "inputs[0].datatype" in response.json()["error"] and "BF16" in response.json()["error"]


def test_a_missing_declared_output_is_a_500_naming_it(server):
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}
    response = requests.post(server.url("/v2/models/broken/infer"), json=body, timeout=TIMEOUT)
    assert response.status_code == 500
    assert "did not return declared output(s) ['y']" in response.json()["error"]


def test_the_request_timeout_parameter_bounds_a_call_too(server):
    hang = {
        "parameters": {"timeout": 200_000},  # microseconds, as V2 defines it
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [99]}],
    }
    response = requests.post(server.url("/v2/models/flaky/infer"), json=hang, timeout=TIMEOUT)
    assert response.status_code == 504
    assert "within 200ms (the request's timeout parameter)" in response.json()["error"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"drain_timeout": -1}, "drain_timeout: must be a non-negative number of seconds"),
        ({"host": "localhost:80"}, "host 'localhost:80': invalid IP address syntax"),
    ],
)
def test_bad_listening_options_stop_the_start_naming_them(options, expected):
    import oxserve

    @oxserve.model(inputs=[("x", "FP32", [-1])], outputs=[("y", "FP32", [-1])])
    def identity(x):
        return x

    with pytest.raises(oxserve.ServerError, match=expected):
        oxserve.serve([identity], http_port=0, grpc_port=0, **options)
