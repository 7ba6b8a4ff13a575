"""Seldon component endpoints served for a plain ONNX model: the transforms answer their input
(the wrapper's identity), route and aggregate answer the wrapper's "not defined" errors, over REST
(`/transform-input`, `/transform-output`, `/route`, `/aggregate`) and gRPC (`Generic`,
`Transformer`, `OutputTransformer`, `Router`, `Combiner`) with real clients."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from google.protobuf import json_format
from test_seldon import IRIS_ROWS, assert_seldon_error

from oxserve_e2e import TIMEOUT

BAD_DATA = "MICROSERVICE_BAD_DATA"


@pytest.mark.parametrize("path", ["/transform-input", "/transform-output"])
def test_transforms_of_a_model_answer_their_input(server, http, path):
    body = {"data": {"names": ["a", "b", "c", "d"], "ndarray": IRIS_ROWS}, "meta": {"puid": "c-1"}}
    r = http.post(server.url(path), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["data"]["names"] == ["a", "b", "c", "d"]
    np.testing.assert_allclose(np.array(answer["data"]["ndarray"]), IRIS_ROWS, rtol=1e-6)
    assert answer["meta"]["puid"] == "c-1"
    r = http.get(server.url(path), params={"json": json.dumps(body)}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def test_route_and_aggregate_of_a_model_are_400(server, http):
    message = {"data": {"ndarray": IRIS_ROWS}}
    r = http.post(server.url("/route"), json=message, timeout=TIMEOUT)
    assert_seldon_error(r, 400, BAD_DATA, "does not route")
    r = http.post(server.url("/aggregate"), json={"seldonMessages": [message]}, timeout=TIMEOUT)
    assert_seldon_error(r, 400, BAD_DATA, "does not aggregate")
    r = http.post(server.url("/aggregate"), json=[], timeout=TIMEOUT)
    assert_seldon_error(r, 400, BAD_DATA, "seldonMessages: the list is empty")


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch


def iris_message(seldon_pb):
    return json_format.ParseDict(
        {"meta": {"puid": "g-1"}, "data": {"ndarray": IRIS_ROWS}}, seldon_pb.pb.SeldonMessage()
    )


@pytest.mark.parametrize(
    "service, method",
    [
        ("Generic", "TransformInput"),
        ("Generic", "TransformOutput"),
        ("Transformer", "TransformInput"),
        ("OutputTransformer", "TransformOutput"),
    ],
)
def test_grpc_transforms_of_a_model_answer_their_input(seldon_pb, channel, service, method):
    stub = getattr(seldon_pb.grpc, f"{service}Stub")(channel)
    answer = getattr(stub, method)(iris_message(seldon_pb), timeout=TIMEOUT)
    got = json_format.MessageToDict(answer)
    np.testing.assert_allclose(np.array(got["data"]["ndarray"]), IRIS_ROWS, rtol=1e-6)
    assert got["meta"]["puid"] == "g-1"


@pytest.mark.parametrize("service", ["Generic", "Router"])
def test_grpc_route_of_a_model_is_unimplemented(seldon_pb, channel, service):
    stub = getattr(seldon_pb.grpc, f"{service}Stub")(channel)
    with pytest.raises(grpc.RpcError) as e:
        stub.Route(iris_message(seldon_pb), timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "does not route" in e.value.details()


@pytest.mark.parametrize("service", ["Generic", "Combiner"])
def test_grpc_aggregate_of_a_model_is_unimplemented(seldon_pb, channel, service):
    stub = getattr(seldon_pb.grpc, f"{service}Stub")(channel)
    messages = seldon_pb.pb.SeldonMessageList(seldonMessages=[iris_message(seldon_pb)])
    with pytest.raises(grpc.RpcError) as e:
        stub.Aggregate(messages, timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.RpcError) as e:
        stub.Aggregate(seldon_pb.pb.SeldonMessageList(), timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "seldonMessages: the list is empty" in e.value.details()
