"""Seldon Core v1 protocol: REST (`/api/v1.0/predictions`, `/predict`, the ingress form,
metadata, health) and gRPC (`seldon.protos.Model` / `seldon.protos.Seldon`, model chosen by the
`seldon` metadata key), with ndarray, tensor and tftensor payloads."""

from __future__ import annotations

import base64
import json

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from oxserve_e2e import TIMEOUT, tftensor_values

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
IRIS_NAMES = ["t:0", "t:1", "t:2"]
BAD_DATA = "MICROSERVICE_BAD_DATA"
INTERNAL = "MICROSERVICE_INTERNAL_ERROR"


def iris_probs(reference, rows) -> np.ndarray:
    return reference.run("iris", {"input": np.array(rows, dtype=np.float32)})["probabilities"]


def assert_seldon_error(resp, code: int, reason: str | None, *needles: str) -> str:
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text[:500]}"
    status = resp.json()["status"]
    assert status["code"] == code, status
    assert status["status"] == "FAILURE", status
    if reason is None:
        assert status["reason"] in (BAD_DATA, INTERNAL), status
    else:
        assert status["reason"] == reason, status
    assert isinstance(status["info"], str) and status["info"], status
    if needles:
        assert any(n.lower() in status["info"].lower() for n in needles), (status["info"], needles)
    return status["info"]


def predict(http, server, body, path="/api/v1.0/predictions", **kw):
    return http.post(server.url(path), json=body, timeout=TIMEOUT, **kw)


# --------------------------------------------------------------------------------------------
# REST


@pytest.mark.parametrize("path", ["/api/v1.0/predictions", "/predict"])
def test_ndarray_to_default_model(server, http, reference, path):
    r = predict(http, server, {"data": {"ndarray": IRIS_ROWS}}, path=path)
    assert r.status_code == 200, r.text
    body = r.json()
    data = body["data"]
    assert data["names"] == IRIS_NAMES
    assert set(data) == {"names", "ndarray"}
    np.testing.assert_allclose(
        np.array(data["ndarray"]), iris_probs(reference, IRIS_ROWS), rtol=1e-5, atol=1e-7
    )
    meta = body["meta"]
    assert isinstance(meta["puid"], str) and meta["puid"], meta
    assert isinstance(meta.get("requestPath"), dict), meta


def test_multipart_form_fields_are_message_fields(server, http, reference):
    fields = {
        "data": (None, json.dumps({"ndarray": IRIS_ROWS})),
        "meta": (None, json.dumps({"puid": "mp-1"})),
    }
    r = http.post(server.url("/predict"), files=fields, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["puid"] == "mp-1"
    np.testing.assert_allclose(
        np.array(body["data"]["ndarray"]), iris_probs(reference, IRIS_ROWS), rtol=1e-5, atol=1e-7
    )
    r = http.post(server.url("/predict"), files={"meta": (None, "{oops")}, timeout=TIMEOUT)
    assert r.status_code == 400
    assert_seldon_error(r, 400, "MICROSERVICE_BAD_DATA", "meta")


@pytest.mark.parametrize(
    "path",
    ["/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback", "/seldon/ns/iris/api/v1.0/feedback"],
)
def test_feedback_to_a_plain_model_is_accepted(server, http, path):
    feedback = {"request": {"data": {"ndarray": IRIS_ROWS}}, "response": {"data": {"ndarray": [[1, 0, 0]]}}}
    r = http.post(server.url(path), json={**feedback, "reward": 1.0}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"names": [], "ndarray": []}
    r = http.post(server.url(path), json={"rewards": 1.0}, timeout=TIMEOUT)
    assert_seldon_error(r, 400, "MICROSERVICE_BAD_DATA", "rewards")


def test_puid_and_tags_echoed(server, http):
    body = {"meta": {"puid": "req-42", "tags": {"team": "risk", "n": 3}}, "data": {"ndarray": IRIS_ROWS[:1]}}
    r = predict(http, server, body)
    assert r.status_code == 200, r.text
    meta = r.json()["meta"]
    assert meta["puid"] == "req-42"
    assert meta["tags"]["team"] == "risk" and meta["tags"]["n"] == 3


def test_generated_puids_differ(server, http):
    a = predict(http, server, {"data": {"ndarray": IRIS_ROWS[:1]}}).json()["meta"]["puid"]
    b = predict(http, server, {"data": {"ndarray": IRIS_ROWS[:1]}}).json()["meta"]["puid"]
    assert a and b and a != b


def test_names_are_accepted(server, http, reference):
    body = {"data": {"names": ["sl", "sw", "pl", "pw"], "ndarray": IRIS_ROWS}}
    r = predict(http, server, body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(
        np.array(r.json()["data"]["ndarray"]), iris_probs(reference, IRIS_ROWS), rtol=1e-5, atol=1e-7
    )


def test_tensor_in_tensor_out(server, http, reference):
    values = np.array(IRIS_ROWS).flatten().tolist()
    r = predict(http, server, {"data": {"tensor": {"shape": [2, 4], "values": values}}})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert set(data) == {"names", "tensor"}
    assert data["names"] == IRIS_NAMES
    assert data["tensor"]["shape"] == [2, 3]
    np.testing.assert_allclose(
        np.array(data["tensor"]["values"]).reshape(2, 3),
        iris_probs(reference, IRIS_ROWS),
        rtol=1e-5,
        atol=1e-7,
    )


def test_tftensor_in_tftensor_out(server, http, reference):
    tft = {
        "dtype": "DT_FLOAT",
        "tensorShape": {"dim": [{"size": "2"}, {"size": "4"}]},
        "floatVal": np.array(IRIS_ROWS).flatten().tolist(),
    }
    r = predict(http, server, {"data": {"tftensor": tft}})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert set(data) == {"names", "tftensor"}
    assert data["tftensor"]["dtype"] == "DT_FLOAT"
    dims, vals = tftensor_values(data["tftensor"])
    assert dims == [2, 3]
    np.testing.assert_allclose(vals.reshape(2, 3), iris_probs(reference, IRIS_ROWS), rtol=1e-5, atol=1e-7)


def test_ingress_path_selects_the_model(server, http, reference):
    x = np.random.default_rng(11).normal(size=(2, 64)).astype(np.float32)
    r = predict(
        http, server, {"data": {"ndarray": x.tolist()}}, path="/seldon/default/mlp/api/v1.0/predictions"
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["names"] == [f"t:{i}" for i in range(10)]
    np.testing.assert_allclose(
        np.array(data["ndarray"]), reference.run("mlp", {"input": x})["scores"], rtol=1e-5
    )


def test_ingress_unknown_model_is_404(server, http):
    r = predict(
        http,
        server,
        {"data": {"ndarray": IRIS_ROWS}},
        path="/seldon/default/no_such_model/api/v1.0/predictions",
    )
    assert_seldon_error(r, 404, None, "no_such_model")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"jsonData": {"query": "red shoes"}}, "jsonData"),
        ({"strData": "free text"}, "strData"),
        ({"binData": base64.b64encode(b"\x89PNG").decode()}, "binData"),
    ],
)
def test_non_tensor_payloads_to_iris_are_400(server, http, body, field):
    assert_seldon_error(predict(http, server, body), 400, BAD_DATA, field)


def test_bad_ndarray_is_400(server, http):
    r = predict(http, server, {"data": {"ndarray": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]]}})
    assert_seldon_error(r, 400, BAD_DATA, "ndarray")


def test_wrong_width_is_400(server, http):
    r = predict(http, server, {"data": {"ndarray": [[1.0, 2.0, 3.0]]}})
    assert_seldon_error(r, 400, BAD_DATA)


def test_two_payload_kinds_is_400(server, http):
    r = predict(http, server, {"data": {"ndarray": IRIS_ROWS}, "strData": "x"})
    assert_seldon_error(r, 400, BAD_DATA, "strData")


def test_model_failure_is_500(server, http, reference):
    r = predict(
        http, server, {"data": {"ndarray": [1.0, 2.0]}}, path="/seldon/ns/reshape3/api/v1.0/predictions"
    )
    info = assert_seldon_error(r, 500, INTERNAL)
    expected = reference.error("reshape3", {"x": np.array([1, 2], np.float32)})
    assert expected in info, (info, expected)


def test_metadata(server, http):
    r = http.get(server.url("/api/v1.0/metadata"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, dict)
    assert "iris" in r.text


def test_health_ping_and_status(server, http):
    r = http.get(server.url("/health/ping"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text.strip() == "pong"
    r = http.get(server.url("/health/status"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------------------------
# gRPC


@pytest.fixture(scope="module")
def seldon_channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch


def message(seldon_pb, body: dict):
    return json_format.ParseDict(body, seldon_pb.pb.SeldonMessage())


def as_dict(msg) -> dict:
    return json_format.MessageToDict(msg)


def tf_values(seldon_pb, t) -> tuple[list[int], np.ndarray]:
    dims = [d.size for d in t.tensor_shape.dim]
    if t.tensor_content:
        np_type = {seldon_pb.types.DT_FLOAT: np.float32, seldon_pb.types.DT_DOUBLE: np.float64}[t.dtype]
        vals = np.frombuffer(t.tensor_content, dtype=np_type)
    elif len(t.float_val):
        vals = np.array(t.float_val)
    else:
        vals = np.array(t.double_val)
    return dims, vals.astype(np.float64)


@pytest.mark.parametrize("service", ["Model", "Seldon"])
def test_grpc_tensor_default_model(seldon_pb, seldon_channel, reference, service):
    stub = getattr(seldon_pb.grpc, f"{service}Stub")(seldon_channel)
    req = seldon_pb.pb.SeldonMessage()
    req.data.tensor.shape.extend([2, 4])
    req.data.tensor.values.extend(np.array(IRIS_ROWS).flatten().tolist())
    resp = stub.Predict(req, timeout=TIMEOUT)
    assert resp.data.WhichOneof("data_oneof") == "tensor"
    assert list(resp.data.names) == IRIS_NAMES
    assert list(resp.data.tensor.shape) == [2, 3]
    np.testing.assert_allclose(
        np.array(resp.data.tensor.values).reshape(2, 3),
        iris_probs(reference, IRIS_ROWS),
        rtol=1e-5,
        atol=1e-7,
    )
    assert resp.meta.puid


def test_grpc_ndarray(seldon_pb, seldon_channel, reference):
    stub = seldon_pb.grpc.ModelStub(seldon_channel)
    req = message(seldon_pb, {"meta": {"puid": "g-7", "tags": {"a": "b"}}, "data": {"ndarray": IRIS_ROWS}})
    resp = stub.Predict(req, timeout=TIMEOUT)
    body = as_dict(resp)
    assert "ndarray" in body["data"], body
    np.testing.assert_allclose(
        np.array(body["data"]["ndarray"]), iris_probs(reference, IRIS_ROWS), rtol=1e-5, atol=1e-7
    )
    assert body["meta"]["puid"] == "g-7"
    assert body["meta"]["tags"]["a"] == "b"


def test_grpc_tftensor(seldon_pb, seldon_channel, reference):
    stub = seldon_pb.grpc.ModelStub(seldon_channel)
    req = seldon_pb.pb.SeldonMessage()
    t = req.data.tftensor
    t.dtype = seldon_pb.types.DT_FLOAT
    for size in (2, 4):
        t.tensor_shape.dim.add(size=size)
    t.float_val.extend(np.array(IRIS_ROWS).flatten().tolist())
    resp = stub.Predict(req, timeout=TIMEOUT)
    assert resp.data.WhichOneof("data_oneof") == "tftensor"
    assert resp.data.tftensor.dtype == seldon_pb.types.DT_FLOAT
    dims, vals = tf_values(seldon_pb, resp.data.tftensor)
    assert dims == [2, 3]
    np.testing.assert_allclose(vals.reshape(2, 3), iris_probs(reference, IRIS_ROWS), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("service", ["Model", "Seldon"])
def test_grpc_seldon_metadata_key_selects_the_model(seldon_pb, seldon_channel, reference, service):
    stub = getattr(seldon_pb.grpc, f"{service}Stub")(seldon_channel)
    x = np.random.default_rng(2).normal(size=(1, 64)).astype(np.float32)
    req = message(seldon_pb, {"data": {"ndarray": x.tolist()}})
    resp = stub.Predict(req, metadata=[("seldon", "mlp")], timeout=TIMEOUT)
    body = as_dict(resp)
    assert body["data"]["names"] == [f"t:{i}" for i in range(10)]
    np.testing.assert_allclose(
        np.array(body["data"]["ndarray"]), reference.run("mlp", {"input": x})["scores"], rtol=1e-5
    )


def test_grpc_unknown_model_is_not_found(seldon_pb, seldon_channel):
    stub = seldon_pb.grpc.SeldonStub(seldon_channel)
    req = message(seldon_pb, {"data": {"ndarray": IRIS_ROWS}})
    with pytest.raises(grpc.RpcError) as e:
        stub.Predict(req, metadata=[("seldon", "no_such_model")], timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no_such_model" in e.value.details()


def test_grpc_bad_tensor_is_invalid_argument(seldon_pb, seldon_channel):
    stub = seldon_pb.grpc.ModelStub(seldon_channel)
    req = seldon_pb.pb.SeldonMessage()
    req.data.tensor.shape.extend([1, 4])
    req.data.tensor.values.extend([1.0, 2.0, 3.0])
    with pytest.raises(grpc.RpcError) as e:
        stub.Predict(req, timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tensor" in e.value.details()


def test_grpc_model_failure_is_internal(seldon_pb, seldon_channel, reference):
    stub = seldon_pb.grpc.ModelStub(seldon_channel)
    req = message(seldon_pb, {"data": {"ndarray": [1.0, 2.0]}})
    with pytest.raises(grpc.RpcError) as e:
        stub.Predict(req, metadata=[("seldon", "reshape3")], timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert reference.error("reshape3", {"x": np.array([1, 2], np.float32)}) in e.value.details()


@pytest.mark.parametrize("service", ["Model", "Seldon"])
def test_grpc_feedback_to_a_plain_model_is_accepted(seldon_pb, seldon_channel, service):
    stub = getattr(seldon_pb.grpc, f"{service}Stub")(seldon_channel)
    feedback = seldon_pb.pb.Feedback(reward=1.0)
    feedback.request.data.tensor.shape.extend([1, 4])
    feedback.request.data.tensor.values.extend(IRIS_ROWS[0])
    resp = stub.SendFeedback(feedback, timeout=TIMEOUT)
    assert resp.data.WhichOneof("data_oneof") == "ndarray"
    assert len(resp.data.ndarray.values) == 0
