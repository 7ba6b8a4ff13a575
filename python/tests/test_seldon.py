"""The Seldon Core contract: plain user classes served by `oxserve-microservice` with Seldon's
flags and environment variables; Seldon REST and gRPC, tags, metrics, class names, raw methods,
exceptions with their status."""

import json

import grpc
import numpy as np
import pytest
import requests
from google.protobuf import json_format

from conftest import PARAMETERS, TIMEOUT, microservice


@pytest.fixture(scope="module")
def iris_server(iris):
    path, _, _ = iris
    server = microservice(
        "seldon_models.Iris",
        "--service-type",
        "MODEL",
        "--persistence",
        "0",
        "--single-threaded",
        "0",
        "--access-log",
        env={"PREDICTIVE_UNIT_PARAMETERS": PARAMETERS % path, "PREDICTIVE_UNIT_ID": "iris-unit"},
    ).start("/health/ping")
    yield server
    server.stop()


def predict(server, body):
    return requests.post(server.url("/api/v1.0/predictions"), json=body, timeout=TIMEOUT)


def test_ndarray_prediction_with_class_names_tags_and_metrics(iris_server, iris):
    _, X, clf = iris
    response = predict(iris_server, {"data": {"names": ["a", "b", "c", "d"], "ndarray": X[:2].tolist()}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["names"] == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(body["data"]["ndarray"], clf.predict_proba(X[:2]))
    assert body["meta"]["tags"] == {"threshold": 0.7}  # typed from PREDICTIVE_UNIT_PARAMETERS
    assert body["meta"]["metrics"] == [{"key": "iris_requests_total", "type": "COUNTER", "value": 1.0}]
    assert list(body["meta"]["requestPath"]) == ["iris-unit"]  # PREDICTIVE_UNIT_ID


def test_tensor_request_answers_as_tensor_and_keeps_puid(iris_server, iris):
    _, X, clf = iris
    body = {
        "meta": {
            "puid": "abc",
            "tags": {"caller": "x"},
            "metrics": [{"key": "injected_by_client", "type": "COUNTER", "value": 100}],
        },
        "data": {"tensor": {"shape": [1, 4], "values": X[0].tolist()}},
    }
    out = predict(iris_server, body).json()
    assert out["data"]["tensor"]["shape"] == [1, 3]
    assert out["meta"]["puid"] == "abc"
    assert out["meta"]["tags"] == {"caller": "x", "threshold": 0.7}
    # The request's metrics travel on (Seldon's meta merge) but only the unit's are published.
    assert [m["key"] for m in out["meta"]["metrics"]] == ["injected_by_client", "iris_requests_total"]
    assert "injected_by_client" not in requests.get(iris_server.url("/metrics"), timeout=TIMEOUT).text


def test_custom_metrics_reach_prometheus(iris_server, iris):
    _, X, _ = iris
    assert predict(iris_server, {"data": {"ndarray": X[:1].tolist()}}).status_code == 200
    text = requests.get(iris_server.url("/metrics"), timeout=TIMEOUT).text
    assert "iris_requests_total{" in text
    # Seldon's metrics port (PREDICTIVE_UNIT_METRICS_SERVICE_PORT), where the Seldon operator's
    # scrape annotations point: /prometheus, and /metrics; nothing else.
    metrics = f"http://127.0.0.1:{iris_server.metrics_port}"
    for path in ("/prometheus", "/metrics"):
        assert "iris_requests_total{" in requests.get(metrics + path, timeout=TIMEOUT).text, path
    other = requests.get(metrics + "/api/v1.0/predictions", timeout=TIMEOUT)
    assert other.status_code == 404 and "/prometheus" in other.json()["error"]


def test_seldon_grpc_predict(iris_server, iris, seldon_pb):
    _, X, clf = iris
    pb, pb_grpc = seldon_pb
    with grpc.insecure_channel(iris_server.grpc_target) as channel:
        stub = pb_grpc.ModelStub(channel)
        request = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[1, 4], values=X[1].tolist())))
        response = stub.Predict(request, timeout=TIMEOUT)
    assert list(response.data.names) == ["setosa", "versicolor", "virginica"]
    assert list(response.data.tensor.values) == pytest.approx(clf.predict_proba(X[1:2]).ravel().tolist())


def test_user_exception_with_status_code_answers_that_status(iris_server):
    response = predict(iris_server, {"data": {"ndarray": [1, 2, 3]}})
    assert response.status_code == 400
    assert response.json()["status"]["info"] == "expected rows of 4 features, got shape [3]"


def test_other_exceptions_are_500_and_serving_goes_on(iris_server, iris):
    _, X, _ = iris
    response = predict(iris_server, {"data": {"ndarray": [[-1, 1, 1, 1]]}})
    assert response.status_code == 500
    assert "RuntimeError: negative sepal length" in response.json()["status"]["info"]
    assert predict(iris_server, {"data": {"ndarray": X[:1].tolist()}}).status_code == 200


def test_feedback(iris_server, iris):
    _, X, _ = iris
    body = {"request": {"data": {"ndarray": X[:1].tolist()}}, "reward": 1.0}
    response = requests.post(iris_server.url("/api/v1.0/feedback"), json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def test_json_str_and_runtime_tags(server_factory):
    del server_factory
    server = microservice("seldon_models.Echo").start("/health/ping")
    try:
        out = predict(server, {"jsonData": {"a": [1, 2]}, "meta": {"puid": "p"}}).json()
        assert out["jsonData"] == {"echo": {"a": [1, 2]}, "puid_seen": True}
        assert predict(server, {"strData": "abc"}).json()["strData"] == "cba"
        out = predict(server, {"data": {"ndarray": [[1, 2]]}}).json()
        assert out["data"]["ndarray"] == [[2, 4]]
        assert out["meta"]["tags"] == {"runtime": True}
    finally:
        server.stop()


def test_predict_raw_gets_the_whole_message():
    server = microservice("seldon_models.Raw").start("/health/ping")
    try:
        out = predict(server, {"data": {"ndarray": [[1, 2], [3, 4]]}}).json()
        assert out["data"] == {"names": ["sum"], "ndarray": [[3], [7]]}
        assert out["meta"]["tags"] == {"raw": 1}
    finally:
        server.stop()


def test_invalid_custom_metric_is_a_500_naming_it():
    server = microservice("seldon_models.BadMetric").start("/health/ping")
    try:
        response = predict(server, {"data": {"ndarray": [[1]]}})
        assert response.status_code == 500
        assert "metrics[0]" in response.json()["status"]["info"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["seldon_models.NoMethods"], {}, "class NoMethods cannot serve as MODEL: it has no method predict"),
        (
            ["seldon_models.Iris", "--service-type", "ROUTER"],
            {},
            "class Iris cannot serve as ROUTER: it has no method route",
        ),
        (["missing_module.Model"], {}, "class Model: cannot import module 'missing_module'"),
        (
            ["seldon_models.Iris"],
            {"PREDICTIVE_UNIT_PARAMETERS": '[{"name":"threshold","value":"x","type":"FLOAT"}]'},
            "parameters[0]",
        ),
        (
            ["seldon_models.Iris"],
            {"PREDICTIVE_UNIT_PARAMETERS": "[]"},
            "class Iris cannot be built from parameters []",
        ),
    ],
)
def test_startup_errors_are_clear(args, env, message):
    server = microservice(*args, env=env)
    assert server.run() == 1
    assert message in server.output()


def test_metadata_from_model_metadata_declares_and_checks_inputs():
    metadata = {"name": "scaler", "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, 2]}]}
    env = {"MODEL_METADATA": json.dumps(metadata)}
    server = microservice("seldon_models.Transformer", "--service-type", "TRANSFORMER", env=env)
    server.start("/health/ping")
    try:
        body = requests.get(server.url("/metadata"), timeout=TIMEOUT).json()
        assert body["name"] == "scaler"
        assert body["inputs"] == metadata["inputs"]
        ok = requests.post(
            server.url("/transform-input"), json={"data": {"ndarray": [[10, 20]]}}, timeout=TIMEOUT
        )
        assert ok.json()["data"]["ndarray"] == [[1.0, 2.0]]
        bad = requests.post(
            server.url("/transform-input"), json={"data": {"ndarray": [[1, 2, 3]]}}, timeout=TIMEOUT
        )
        assert bad.status_code == 400, bad.text
    finally:
        server.stop()


@pytest.mark.parametrize(
    "interface_name, service_type, path, body, expected",
    [
        (
            "seldon_models.Transformer",
            "TRANSFORMER",
            "/transform-input",
            {"data": {"names": ["a", "b"], "ndarray": [[10, 20]]}},
            {"names": ["t:0", "t:1"], "ndarray": [[1.0, 2.0]]},  # Seldon names a 2-D result, not its input
        ),
        (
            "seldon_models.Router",
            "ROUTER",
            "/route",
            {"data": {"ndarray": [[10, 20]]}},
            {"names": ["t:0"], "ndarray": [[1]]},
        ),
        (
            "seldon_models.Combiner",
            "COMBINER",
            "/aggregate",
            {"seldonMessages": [{"data": {"ndarray": [[1, 2]]}}, {"data": {"ndarray": [[3, 4]]}}]},
            {"names": ["t:0", "t:1"], "ndarray": [[2.0, 3.0]]},
        ),
    ],
)
def test_service_types_over_rest(interface_name, service_type, path, body, expected):
    server = microservice(interface_name, "--service-type", service_type).start("/health/ping")
    try:
        response = requests.post(server.url(path), json=body, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == expected
    finally:
        server.stop()


def test_router_over_grpc(seldon_pb):
    pb, pb_grpc = seldon_pb
    server = microservice("seldon_models.Router", "--service-type", "ROUTER").start("/health/ping")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            request = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[1, 2], values=[1, 2])))
            response = pb_grpc.RouterStub(channel).Route(request, timeout=TIMEOUT)
        assert list(response.data.tensor.values) == [0]
    finally:
        server.stop()


def test_a_route_that_is_not_an_int_is_a_400():
    server = microservice("seldon_models.BadRouter", "--service-type", "ROUTER").start("/health/ping")
    try:
        response = requests.post(server.url("/route"), json={"data": {"ndarray": [[1]]}}, timeout=TIMEOUT)
        assert response.status_code == 400
        assert "route must return an int, got str" in response.json()["status"]["info"]
    finally:
        server.stop()


def test_absent_methods_answer_as_seldons_wrapper_does():
    server = microservice("seldon_models.Transformer", "--service-type", "TRANSFORMER").start("/health/ping")
    try:
        empty = predict(server, {"data": {"ndarray": [[10, 20]]}})
        assert empty.status_code == 200 and empty.json()["data"] == {"names": [], "ndarray": []}
        body = {"meta": {"tags": {"a": 1}}, "data": {"names": ["x", "y"], "ndarray": [[10, 20]]}}
        identity = requests.post(server.url("/transform-output"), json=body, timeout=TIMEOUT).json()
        assert identity["data"] == body["data"] and identity["meta"]["tags"] == {"a": 1}
        route = requests.post(server.url("/route"), json=body, timeout=TIMEOUT)
        assert route.status_code >= 400 and "does not implement route" in route.json()["status"]["info"]
    finally:
        server.stop()


def health_status(server, path="/health/status"):
    return requests.get(server.url(path), timeout=TIMEOUT)


def test_default_health_status_carries_the_class_tags_and_metrics(iris_server):
    for path in ("/health/status", "/api/v1.0/health/status"):
        response = health_status(iris_server, path)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["strData"] == "healthy"
        assert body["meta"]["tags"] == {"threshold": 0.7}
        assert [m["key"] for m in body["meta"]["metrics"]] == ["iris_requests_total"]


@pytest.mark.parametrize(
    "interface_name, expected",
    [
        # Numbers answer as data.tensor (a health check has no request form to mirror), with
        # Seldon's default class names for a 2-D result.
        (
            "HealthArray",
            {"data": {"names": ["t:0", "t:1"], "tensor": {"shape": [1, 2], "values": [1.0, 2.0]}}},
        ),
        ("HealthJson", {"jsonData": {"db": "up"}}),
        ("HealthRaw", {"strData": "raw ok", "meta": {"tags": {"raw": 1}}}),
    ],
)
def test_health_status_answers_the_class_check(interface_name, expected):
    server = microservice(f"seldon_models.{interface_name}").start("/health/ping")
    try:
        response = health_status(server)
        assert response.status_code == 200, response.text
        body = response.json()
        for key, value in expected.items():
            assert body[key] == value
        if interface_name == "HealthArray":
            assert body["meta"]["tags"] == {"checked": True}
            text = requests.get(server.url("/metrics"), timeout=TIMEOUT).text
            series = [line for line in text.splitlines() if line.startswith("health_checks_total{")]
            assert series and 'method="health"' in series[0], text
    finally:
        server.stop()


@pytest.mark.parametrize(
    "interface_name, status, words",
    [("HealthFails", 500, "RuntimeError: database unreachable"), ("HealthUnavailable", 503, "warming up")],
)
def test_failing_health_status_answers_its_error(interface_name, status, words):
    server = microservice(f"seldon_models.{interface_name}").start("/health/ping")
    try:
        response = health_status(server)
        assert response.status_code == status, response.text
        assert words in response.json()["status"]["info"]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def raw_echo():
    server = microservice("seldon_models.RawEcho").start("/health/ping")
    yield server
    server.stop()


TFTENSOR = {
    "dtype": "DT_DOUBLE",
    "tensorShape": {"dim": [{"size": "1"}, {"size": "2"}]},
    "doubleVal": [1.5, 2.5],
}


@pytest.mark.parametrize(
    "payload",
    [
        {"data": {"names": ["a", "b"], "tensor": {"shape": [1, 2], "values": [1.5, 2.5]}}},
        {"data": {"names": ["a", "b"], "ndarray": [[1.5, 2.5]]}},
        {"data": {"names": ["a", "b"], "tftensor": TFTENSOR}},
        {"strData": "hello"},
        {"binData": "AAEC"},
        {"jsonData": {"k": [1, 2]}},
    ],
)
def test_predict_raw_gets_the_message_in_the_callers_form(raw_echo, payload):
    sent = {**payload, "meta": {"puid": "p1", "tags": {"caller": "x"}}}
    response = predict(raw_echo, sent)
    assert response.status_code == 200, response.text
    assert response.json()["jsonData"] == sent


def test_predict_raw_over_grpc_gets_a_proto_in_the_tensor_form(raw_echo, seldon_pb):
    pb, pb_grpc = seldon_pb
    with grpc.insecure_channel(raw_echo.grpc_target) as channel:
        request = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[1, 2], values=[1.5, 2.5])))
        answer = pb_grpc.ModelStub(channel).Predict(request, timeout=TIMEOUT)
    received = json_format.MessageToDict(answer.jsonData)
    assert received["data"]["tensor"] == {"shape": [1, 2], "values": [1.5, 2.5]}
    # As Seldon's gRPC server does, predict_raw got a SeldonMessage proto (a dict over REST).
    assert answer.meta.tags["received"].string_value == "SeldonMessage"
    assert predict(raw_echo, {"data": {"ndarray": [[1]]}}).json()["meta"]["tags"]["received"] == "dict"


def test_aggregate_raw_gets_each_message_in_its_form(raw_echo, seldon_pb):
    messages = [
        {"data": {"names": ["a"], "tensor": {"shape": [1, 1], "values": [1.5]}}},
        {"data": {"names": ["a"], "ndarray": [[2.5]]}},
    ]
    response = requests.post(raw_echo.url("/aggregate"), json=messages, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    # Each message keeps its form (the server adds a puid to each).
    assert [{"data": m["data"]} for m in response.json()["jsonData"]] == messages
    assert response.json()["meta"]["tags"]["received"] == "list"
    pb, pb_grpc = seldon_pb
    with grpc.insecure_channel(raw_echo.grpc_target) as channel:
        listed = pb.SeldonMessageList(
            seldonMessages=[json_format.ParseDict(m, pb.SeldonMessage()) for m in messages]
        )
        answer = pb_grpc.CombinerStub(channel).Aggregate(listed, timeout=TIMEOUT)
    assert json_format.MessageToDict(answer.jsonData)[0]["data"]["tensor"] == {
        "shape": [1, 1],
        "values": [1.5],
    }
    assert answer.meta.tags["received"].string_value == "SeldonMessageList"


def test_send_feedback_raw_gets_a_feedback_proto_even_over_rest(raw_echo):
    feedback = {"request": {"data": {"ndarray": [[1.0]]}}, "reward": 1.0}
    response = requests.post(raw_echo.url("/send-feedback"), json=feedback, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["tags"]["feedback"] == "Feedback:1.0"


def test_deprecated_rest_and_grpc_spellings(seldon_pb):
    server = microservice("seldon_models.Legacy").start("/health/ping")
    try:
        assert predict(server, {"data": {"ndarray": [[1]]}}).json()["strData"] == "rest:dict"
        pb, pb_grpc = seldon_pb
        with grpc.insecure_channel(server.grpc_target) as channel:
            answer = pb_grpc.ModelStub(channel).Predict(pb.SeldonMessage(strData="x"), timeout=TIMEOUT)
        assert answer.strData == "grpc:SeldonMessage"
        route = requests.post(server.url("/route"), json={"data": {"ndarray": [[1]]}}, timeout=TIMEOUT)
        assert route.status_code == 200, route.text
        assert route.json()["data"]["ndarray"] == [[1]]
    finally:
        server.stop()


def test_raw_answer_in_tftensor_form_is_decoded():
    server = microservice("seldon_models.RawTfTensor").start("/health/ping")
    try:
        response = predict(server, {"data": {"ndarray": [[1, 2]]}})
        assert response.status_code == 200, response.text
        assert response.json()["data"] == {"names": ["a", "b"], "ndarray": [[2.0, 4.0]]}
    finally:
        server.stop()
