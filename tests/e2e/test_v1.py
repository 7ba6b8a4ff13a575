"""KServe V1 (TF-Serving style) REST: model status, `:predict` in row (`instances`) and columnar
(`inputs`) form, for a two-output model (iris) and a one-output model (mlp)."""

from __future__ import annotations

import numpy as np
import pytest

from oxserve_e2e import TIMEOUT

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def assert_error(resp, status: int, *needles: str) -> None:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    msg = resp.json()["error"]
    assert isinstance(msg, str) and msg
    assert any(n.lower() in msg.lower() for n in needles), (msg, needles)


def test_model_status(server, http):
    r = http.get(server.url("/v1/models/iris"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "iris", "ready": True}


def test_unknown_model_status_is_404(server, http):
    assert_error(http.get(server.url("/v1/models/no_such_model"), timeout=TIMEOUT), 404, "no_such_model")


def test_instances_two_outputs(server, http, reference):
    r = http.post(server.url("/v1/models/iris:predict"), json={"instances": IRIS_ROWS}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    expected = reference.run("iris", {"input": np.array(IRIS_ROWS, np.float32)})
    assert len(preds) == len(IRIS_ROWS)
    for i, p in enumerate(preds):
        assert set(p) == {"probabilities", "label"}, p
        np.testing.assert_allclose(p["probabilities"], expected["probabilities"][i], rtol=1e-5, atol=1e-7)
        assert p["label"] == int(expected["label"][i])
        assert isinstance(p["label"], int)


def test_instances_with_signature_name(server, http, reference):
    body = {"signature_name": "serving_default", "instances": IRIS_ROWS[:1]}
    r = http.post(server.url("/v1/models/iris:predict"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 1


def test_columnar_two_outputs(server, http, reference):
    r = http.post(server.url("/v1/models/iris:predict"), json={"inputs": IRIS_ROWS}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    expected = reference.run("iris", {"input": np.array(IRIS_ROWS, np.float32)})
    assert set(outputs) == {"probabilities", "label"}
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-7)
    assert outputs["label"] == expected["label"].tolist()


def test_instances_one_output(server, http, reference):
    x = np.random.default_rng(4).normal(size=(2, 64)).astype(np.float32)
    r = http.post(server.url("/v1/models/mlp:predict"), json={"instances": x.tolist()}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    np.testing.assert_allclose(np.array(preds), reference.run("mlp", {"input": x})["scores"], rtol=1e-5)


def test_columnar_one_output(server, http, reference):
    x = np.random.default_rng(5).normal(size=(2, 64)).astype(np.float32)
    r = http.post(server.url("/v1/models/mlp:predict"), json={"inputs": x.tolist()}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    np.testing.assert_allclose(np.array(outputs), reference.run("mlp", {"input": x})["scores"], rtol=1e-5)


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"instances": IRIS_ROWS, "inputs": IRIS_ROWS}, "instances"),
        ({"instances": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]]}, "instances"),
        ({}, "instances"),
    ],
    ids=["both-forms", "ragged", "neither"],
)
def test_bad_bodies_are_400(server, http, body, needle):
    assert_error(http.post(server.url("/v1/models/iris:predict"), json=body, timeout=TIMEOUT), 400, needle)


def test_unknown_model_predict_is_404(server, http):
    r = http.post(
        server.url("/v1/models/no_such_model:predict"), json={"instances": IRIS_ROWS}, timeout=TIMEOUT
    )
    assert_error(r, 404, "no_such_model")


def test_model_failure_is_500(server, http):
    r = http.post(server.url("/v1/models/reshape3:predict"), json={"instances": [1.0, 2.0]}, timeout=TIMEOUT)
    assert r.status_code == 500, r.text
    assert "reshape" in r.json()["error"].lower()
