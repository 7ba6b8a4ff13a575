"""Open Inference Protocol over gRPC (`inference.GRPCInferenceService`) with the unmodified
`tritonclient.grpc`, hand-built typed requests through the generated stub, streaming, large
messages, status codes, and `grpc.health.v1.Health/Check`."""

from __future__ import annotations

import queue

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from oxserve_e2e import (
    EVERY_TYPE_ORDER,
    GRPC_CHANNEL_OPTIONS,
    NP_DTYPE,
    SESSION_MAX_REQUEST_SIZE,
    TIMEOUT,
    assert_every_type_echo_result,
    every_type_values,
    to_ml_bf16,
)

IRIS_X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


@pytest.fixture(scope="module")
def client(server):
    c = grpcclient.InferenceServerClient(url=server.grpc_target, channel_args=GRPC_CHANNEL_OPTIONS)
    yield c
    c.close()


def iris_input(x=IRIS_X):
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return inp


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        call(*args, timeout=TIMEOUT, **kwargs)
    return e.value


TYPED_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def output_array(resp: service_pb2.ModelInferResponse, name: str) -> np.ndarray:
    """An output of a raw ModelInferResponse, from raw_output_contents or typed contents."""
    for i, out in enumerate(resp.outputs):
        if out.name == name:
            if resp.raw_output_contents:
                arr = np.frombuffer(resp.raw_output_contents[i], dtype=NP_DTYPE[out.datatype])
            else:
                arr = np.array(getattr(out.contents, TYPED_FIELD[out.datatype]), dtype=NP_DTYPE[out.datatype])
            return arr.reshape(list(out.shape))
    raise AssertionError(f"no output {name} in {[o.name for o in resp.outputs]}")


def typed_iris_request(x=IRIS_X, **fields) -> service_pb2.ModelInferRequest:
    req = service_pb2.ModelInferRequest(model_name="iris", **fields)
    inp = req.inputs.add()
    inp.name = "input"
    inp.datatype = "FP32"
    inp.shape.extend(x.shape)
    inp.contents.fp32_contents.extend(x.flatten().tolist())
    return req


# --------------------------------------------------------------------------------------------
# Health and metadata


def test_server_live_ready_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "1")
    assert client.is_model_ready("every_type")
    meta = client.get_server_metadata()
    assert meta.name and meta.version
    assert "binary_tensor_data" in meta.extensions


def test_model_config(client):
    config = client.get_model_config("iris", as_json=True)["config"]
    assert config["name"] == "iris"
    assert config["backend"] == "onnxruntime"
    assert config["input"] == [{"name": "input", "data_type": "TYPE_FP32", "dims": ["-1", "4"]}]
    assert [o["name"] for o in config["output"]] == ["probabilities", "label"]


def test_model_metadata(client):
    meta = client.get_model_metadata("iris")
    assert meta.name == "iris"
    assert "1" in meta.versions
    assert [(i.name, i.datatype, list(i.shape)) for i in meta.inputs] == [("input", "FP32", [-1, 4])]
    assert sorted((o.name, o.datatype, list(o.shape)) for o in meta.outputs) == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 3]),
    ]
    meta = client.get_model_metadata("iris", "1")
    assert meta.name == "iris"
    every = client.get_model_metadata("every_type")
    assert {(i.name, i.datatype, tuple(i.shape)) for i in every.inputs} == {
        (f"in_{t.lower()}", t, (-1, -1)) for t in EVERY_TYPE_ORDER
    }


def test_unknown_model_metadata_is_not_found(v2_stub):
    err = rpc_error(v2_stub.ModelMetadata, service_pb2.ModelMetadataRequest(name="no_such_model"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "no_such_model" in err.details()


def test_grpc_health_check(server, health_pb):
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb.grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService", "seldon.protos.Model", "seldon.protos.Seldon"):
            resp = stub.Check(health_pb.pb.HealthCheckRequest(service=service), timeout=TIMEOUT)
            assert resp.status == health_pb.pb.HealthCheckResponse.SERVING, service


def test_both_ports_answer_both_protocols(server):
    """gRPC is also served on the HTTP port, and REST on the gRPC port."""
    c = grpcclient.InferenceServerClient(url=server.http_target)
    try:
        assert c.is_server_live()
    finally:
        c.close()
    r = requests.get(f"http://{server.grpc_target}/v2/health/ready", timeout=TIMEOUT)
    assert r.status_code == 200


# --------------------------------------------------------------------------------------------
# Inference


def test_tritonclient_infer_raw(client, reference):
    outputs = [grpcclient.InferRequestedOutput("probabilities"), grpcclient.InferRequestedOutput("label")]
    result = client.infer("iris", [iris_input()], outputs=outputs, request_id="g-1")
    expected = reference.run("iris", {"input": IRIS_X})
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    resp = result.get_response()
    assert resp.id == "g-1"
    assert resp.model_name == "iris"
    assert resp.model_version == "1"
    # Triton's layout: output bytes in raw_output_contents, one entry per output.
    assert len(resp.raw_output_contents) == len(resp.outputs) == 2


def test_tritonclient_infer_all_outputs_by_default(client, reference):
    result = client.infer("iris", [iris_input()], model_version="1")
    expected = reference.run("iris", {"input": IRIS_X})
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-7
    )


def test_typed_contents_via_generated_stub(v2_stub, reference):
    resp = v2_stub.ModelInfer(typed_iris_request(id="typed-1"), timeout=TIMEOUT)
    assert resp.id == "typed-1"
    expected = reference.run("iris", {"input": IRIS_X})
    np.testing.assert_allclose(
        output_array(resp, "probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_array_equal(output_array(resp, "label"), expected["label"])


def test_typed_contents_mlp(v2_stub, reference):
    x = np.random.default_rng(5).normal(size=(3, 64)).astype(np.float32)
    req = service_pb2.ModelInferRequest(model_name="mlp")
    inp = req.inputs.add(name="input", datatype="FP32", shape=[3, 64])
    inp.contents.fp32_contents.extend(x.flatten().tolist())
    req.outputs.add(name="scores")
    resp = v2_stub.ModelInfer(req, timeout=TIMEOUT)
    np.testing.assert_allclose(
        output_array(resp, "scores"), reference.run("mlp", {"input": x})["scores"], rtol=1e-5
    )


def every_type_inputs(values, big_fp32: np.ndarray | None = None):
    inputs = []
    for t in EVERY_TYPE_ORDER:
        arr = values[t]
        if t == "BF16":
            arr = to_ml_bf16(arr)
        if t == "FP32" and big_fp32 is not None:
            arr = big_fp32
        inp = grpcclient.InferInput(f"in_{t.lower()}", list(arr.shape), t)
        inp.set_data_from_numpy(arr)
        inputs.append(inp)
    return inputs


def test_every_type_raw_round_trip(client):
    values = every_type_values()
    values["BYTES"] = np.array(
        [[b"a\x00b", b"", b"\xff\xfe"], [b"\x80" * 9, b"z", "é".encode()]], dtype=np.object_
    )
    result = client.infer("every_type", every_type_inputs(values))
    assert_every_type_echo_result(result, values)


def test_messages_larger_than_4_mib_both_ways(client):
    values = every_type_values()
    n = 1_300_000  # 5.2 MB of FP32 in the request and again in the response
    big = np.arange(n, dtype=np.float32).reshape(1, n)
    assert 4 * 1024 * 1024 < big.nbytes < SESSION_MAX_REQUEST_SIZE - 65536
    result = client.infer(
        "every_type",
        every_type_inputs(values, big_fp32=big),
        outputs=[grpcclient.InferRequestedOutput("out_fp32")],
    )
    got = result.as_numpy("out_fp32")
    assert got.shape == (1, n)
    assert got.tobytes() == big.tobytes()


def test_message_over_the_limit_is_resource_exhausted(v2_stub):
    x = np.zeros((SESSION_MAX_REQUEST_SIZE // 256 + 1000, 64), dtype=np.float32)
    req = service_pb2.ModelInferRequest(model_name="mlp")
    req.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
    req.raw_input_contents.append(x.tobytes())
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (err.code(), err.details())


# --------------------------------------------------------------------------------------------
# Errors


def test_unknown_model_is_not_found(client, v2_stub):
    with pytest.raises(InferenceServerException) as e:
        client.infer("no_such_model", [iris_input()])
    assert e.value.status() == "StatusCode.NOT_FOUND"
    assert "no_such_model" in e.value.message()
    req = typed_iris_request()
    req.model_version = "7"
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_mixed_raw_and_typed_is_invalid_argument(v2_stub):
    req = typed_iris_request()
    req.raw_input_contents.append(IRIS_X.tobytes())
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "contents" in err.details()


def test_raw_size_mismatch_is_invalid_argument(v2_stub):
    req = service_pb2.ModelInferRequest(model_name="iris")
    req.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    req.raw_input_contents.append(IRIS_X.tobytes()[:-4])
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "inputs[0]" in err.details() or "raw_input_contents" in err.details(), err.details()


def test_typed_count_mismatch_is_invalid_argument(v2_stub):
    req = typed_iris_request()
    req.inputs[0].contents.fp32_contents.append(1.0)
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "inputs[0]" in err.details(), err.details()


def test_wrong_input_name_and_datatype_are_invalid_argument(v2_stub):
    req = typed_iris_request()
    req.inputs[0].name = "features"
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "features" in err.details()
    req = service_pb2.ModelInferRequest(model_name="iris")
    req.inputs.add(name="input", datatype="FLOAT32", shape=[2, 4])
    req.raw_input_contents.append(IRIS_X.tobytes())
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "FLOAT32" in err.details()


def test_model_failure_is_internal_with_the_runtime_message(v2_stub, reference):
    req = service_pb2.ModelInferRequest(model_name="reshape3")
    req.inputs.add(name="x", datatype="FP32", shape=[2])
    req.raw_input_contents.append(np.array([1, 2], np.float32).tobytes())
    err = rpc_error(v2_stub.ModelInfer, req)
    assert err.code() == grpc.StatusCode.INTERNAL
    expected = reference.error("reshape3", {"x": np.array([1, 2], np.float32)})
    assert expected in err.details(), (err.details(), expected)


# --------------------------------------------------------------------------------------------
# Streaming


def test_stream_keeps_going_after_a_bad_request(client, reference):
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    try:
        good = iris_input()
        bad = grpcclient.InferInput("features", [2, 4], "FP32")
        bad.set_data_from_numpy(IRIS_X)
        client.async_stream_infer("iris", [good], request_id="s-1")
        client.async_stream_infer("iris", [bad], request_id="s-2")
        client.async_stream_infer("iris", [good], request_id="s-3")
        got = [results.get(timeout=TIMEOUT) for _ in range(3)]
    finally:
        client.stop_stream()
    errors = [e for r, e in got if e is not None]
    oks = [r for r, e in got if e is None]
    assert len(errors) == 1, [str(e) for e in errors]
    assert "features" in errors[0].message()
    assert sorted(r.get_response().id for r in oks) == ["s-1", "s-3"]
    expected = reference.run("iris", {"input": IRIS_X})
    for r in oks:
        np.testing.assert_array_equal(r.as_numpy("label"), expected["label"])


def test_raw_stream_via_generated_stub(v2_stub):
    bad = typed_iris_request(id="r-2")
    bad.model_name = "no_such_model"
    reqs = [typed_iris_request(id="r-1"), bad, typed_iris_request(id="r-3")]
    responses = list(v2_stub.ModelStreamInfer(iter(reqs), timeout=TIMEOUT))
    assert len(responses) == 3
    errs = [r.error_message for r in responses if r.error_message]
    assert len(errs) == 1 and "no_such_model" in errs[0], errs
    assert sorted(r.infer_response.id for r in responses if not r.error_message) == ["r-1", "r-3"]


def test_stub_can_talk_to_service(server):
    """The service name and package are exactly `inference.GRPCInferenceService`."""
    with grpc.insecure_channel(server.grpc_target) as ch:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(ch)
        assert stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=TIMEOUT).live
        assert stub.ModelReady(service_pb2.ModelReadyRequest(name="mlp"), timeout=TIMEOUT).ready
