"""Seldon Core's own Python client, `SeldonClient` from the seldon-core package, against
`oxserve-microservice`: the calls a Seldon user's scripts make, over REST (form-encoded `json=`, as
the client sends it) and gRPC, for models, routers and combiners, feedback, and the gateway path
of a deployment. The client runs in its own virtualenv (`$OXSERVE_SELDON_CLIENT_PYTHON`, made by
`make python-test`), since seldon-core's pins clash with this package's test dependencies."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import PARAMETERS, TIMEOUT, microservice

CLIENT_PYTHON = os.environ.get("OXSERVE_SELDON_CLIENT_PYTHON")
pytestmark = pytest.mark.skipif(
    not CLIENT_PYTHON, reason="OXSERVE_SELDON_CLIENT_PYTHON is not set (`make python-test` sets it)"
)
TRANSPORTS = ("rest", "grpc")


def seldon_client(*calls):
    """The results of `calls` made by SeldonClient (see seldon_client_calls.py)."""
    script = Path(__file__).with_name("seldon_client_calls.py")
    done = subprocess.run(
        [CLIENT_PYTHON, str(script)],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def endpoint(server, transport):
    return f"127.0.0.1:{server.http_port if transport == 'rest' else server.grpc_port}"


def call(server, transport, client_method="microservice", **kwargs):
    """A SeldonClient call on `server`'s microservice endpoint for `transport`."""
    kwargs.update(transport=transport, microservice_endpoint=endpoint(server, transport))
    return {"method": client_method, "kwargs": kwargs}


def feedback(server, transport, of, reward):
    """Feedback on the request and response of call number `of`."""
    return {**call(server, transport, "microservice_feedback", reward=reward), "feedback_of": of}


@pytest.fixture(scope="module")
def iris_server(iris):
    env = {"PREDICTIVE_UNIT_PARAMETERS": PARAMETERS % iris[0], "PREDICTIVE_UNIT_ID": "iris"}
    server = microservice("seldon_models.Iris", env=env).start("/health/ping")
    yield server
    server.stop()


def test_predict_ndarray_and_tensor_then_feedback(iris_server, iris):
    _, X, clf = iris
    calls = []
    for transport in TRANSPORTS:
        for payload in ("ndarray", "tensor"):
            calls.append(
                call(iris_server, transport, method="predict", data=X[:2].tolist(), payload_type=payload)
            )
            calls.append(feedback(iris_server, transport, of=len(calls) - 1, reward=1.0))
    results = seldon_client(*calls)
    for i in range(0, len(results), 2):
        predicted, fed_back = results[i], results[i + 1]
        assert predicted["success"], predicted
        data = predicted["response"]["data"]
        assert data["names"] == ["setosa", "versicolor", "virginica"]
        values = (
            data["ndarray"]
            if "ndarray" in data
            else np.reshape(data["tensor"]["values"], data["tensor"]["shape"])
        )
        np.testing.assert_allclose(values, clf.predict_proba(X[:2]), rtol=1e-6)
        assert predicted["response"]["meta"]["tags"] == {"threshold": 0.7}
        assert fed_back["success"], fed_back


def test_strings_and_json(tmp_path):
    server = microservice("seldon_models.Echo").start("/health/ping")
    try:
        calls = []
        for transport in TRANSPORTS:
            calls.append(call(server, transport, method="predict", str_data="oxserve"))
            calls.append(call(server, transport, method="predict", json_data={"a": [1, 2]}))
        results = seldon_client(*calls)
    finally:
        server.stop()
    for strings, json_answer in zip(results[::2], results[1::2]):
        assert strings["success"] and strings["response"]["strData"] == "evresxo", strings
        assert json_answer["success"], json_answer
        assert json_answer["response"]["jsonData"]["echo"] == {"a": [1, 2]}


def test_router_and_combiner():
    router = microservice("seldon_models.Router", "--service-type", "ROUTER").start("/health/ping")
    combiner = microservice("seldon_models.Combiner", "--service-type", "COMBINER").start("/health/ping")
    try:
        calls = []
        for transport in TRANSPORTS:
            calls.append(call(router, transport, method="route", data=[[7.0, 1.0]], payload_type="ndarray"))
            calls.append(call(router, transport, method="route", data=[[1.0, 1.0]], payload_type="ndarray"))
            calls.append(
                call(
                    combiner,
                    transport,
                    method="aggregate",
                    datas=[[[1.0, 2.0]], [[3.0, 6.0]]],
                    payload_type="ndarray",
                )
            )
        results = seldon_client(*calls)
    finally:
        router.stop()
        combiner.stop()
    for high, low, combined in zip(results[::3], results[1::3], results[2::3]):
        assert high["success"] and high["response"]["data"]["ndarray"] == [[1.0]], high
        assert low["success"] and low["response"]["data"]["ndarray"] == [[0.0]], low
        assert combined["success"] and combined["response"]["data"]["ndarray"] == [[2.0, 4.0]], combined


def test_gateway_predict_and_feedback(iris_server, iris):
    # The path an ingress gives a deployment: /seldon/<namespace>/<deployment>/api/v1.0/... over
    # REST, the `seldon` and `namespace` metadata over gRPC.
    _, X, clf = iris
    calls = []
    for transport in TRANSPORTS:
        gateway = {
            "gateway": "ambassador",
            "transport": transport,
            "gateway_endpoint": endpoint(iris_server, transport),
            "deployment_name": "iris",
            "namespace": "models",
        }
        calls.append(
            {"method": "predict", "kwargs": {**gateway, "data": X[:1].tolist(), "payload_type": "ndarray"}}
        )
        calls.append(
            {"method": "feedback", "kwargs": {**gateway, "reward": 0.5}, "feedback_of": len(calls) - 1}
        )
    results = seldon_client(*calls)
    for predicted, feedback in zip(results[::2], results[1::2]):
        assert predicted["success"], predicted
        np.testing.assert_allclose(
            predicted["response"]["data"]["ndarray"], clf.predict_proba(X[:1]), rtol=1e-6
        )
        assert feedback["success"], feedback
