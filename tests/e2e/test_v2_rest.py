"""Open Inference Protocol (KServe V2) over REST: health, metadata, JSON and binary inference,
errors; with plain `requests` and with the unmodified `tritonclient.http`."""

from __future__ import annotations

import http.client as http_client
import json
import socket
import threading
import time

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from oxserve_e2e import (
    EVERY_TYPE_ORDER,
    HEADER_LENGTH,
    NP_DTYPE,
    SESSION_MAX_REQUEST_SIZE,
    TIMEOUT,
    assert_every_type_echo_result,
    binary_body,
    bytes_tensor,
    every_type_request,
    every_type_values,
    free_ports,
    outputs_by_name,
    parse_bytes_tensor,
    parse_v2_response,
    raw_bytes,
    to_ml_bf16,
)

IRIS_X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)
EVERY_TYPE_OUTPUTS = [f"out_{t.lower()}" for t in EVERY_TYPE_ORDER]


def assert_error(resp, status: int, *needles: str) -> str:
    """`resp` has `status` and a JSON `{"error": "..."}` body naming one of `needles`."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    assert "json" in resp.headers.get("Content-Type", ""), resp.headers
    body = resp.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    if needles:
        low = body["error"].lower()
        assert any(n.lower() in low for n in needles), f"{body['error']!r} names none of {needles}"
    return body["error"]


def check_iris(reference, header: dict, blobs: dict, x: np.ndarray) -> None:
    expected = reference.run("iris", {"input": x})
    outs = outputs_by_name(header)
    assert set(outs) == {"probabilities", "label"}, header
    p, label = outs["probabilities"], outs["label"]
    assert (p["datatype"], p["shape"]) == ("FP32", [len(x), 3])
    assert (label["datatype"], label["shape"]) == ("INT64", [len(x)])
    probs = (
        np.frombuffer(blobs["probabilities"], np.float32)
        if "probabilities" in blobs
        else np.array(p["data"], np.float32)
    )
    labels = (
        np.frombuffer(blobs["label"], np.int64) if "label" in blobs else np.array(label["data"], np.int64)
    )
    np.testing.assert_allclose(probs.reshape(len(x), 3), expected["probabilities"], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(labels, expected["label"])


# --------------------------------------------------------------------------------------------
# Health, server and model metadata


def test_health_live_and_ready(server, http):
    for path in ("/v2/health/live", "/v2/health/ready"):
        r = http.get(server.url(path), timeout=TIMEOUT)
        assert r.status_code == 200, (path, r.text)
        assert r.content == b"", (path, r.content)


def test_server_metadata(server, http):
    r = http.get(server.url("/v2"), timeout=TIMEOUT)
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body["name"], str) and body["name"]
    assert isinstance(body["version"], str) and body["version"]
    assert {"binary_tensor_data", "feedback"} <= set(body["extensions"])


def test_model_list(server, http):
    r = http.get(server.url("/v2/models"), timeout=TIMEOUT)
    assert r.status_code == 200
    models = r.json()["models"]
    names = {m if isinstance(m, str) else m["name"] for m in models}
    assert {"iris", "mlp", "every_type", "reshape3"} <= names


@pytest.mark.parametrize("prefix", ["/v2/models/iris", "/v2/models/iris/versions/1"])
def test_iris_metadata_and_ready(server, http, prefix):
    r = http.get(server.url(prefix), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["name"] == "iris"
    assert "1" in meta.get("versions", [])
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert sorted(meta["outputs"], key=lambda o: o["name"]) == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
    ]
    r = http.get(server.url(prefix + "/ready"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def test_every_type_metadata_comes_from_the_onnx_graph(server, http):
    meta = http.get(server.url("/v2/models/every_type"), timeout=TIMEOUT).json()
    assert meta["name"] == "every_type"
    ins = {i["name"]: (i["datatype"], i["shape"]) for i in meta["inputs"]}
    outs = {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]}
    assert ins == {f"in_{t.lower()}": (t, [-1, -1]) for t in EVERY_TYPE_ORDER}
    assert outs == {f"out_{t.lower()}": (t, [-1, -1]) for t in EVERY_TYPE_ORDER}


def test_mlp_metadata(server, http):
    meta = http.get(server.url("/v2/models/mlp"), timeout=TIMEOUT).json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"] == [{"name": "scores", "datatype": "FP32", "shape": [-1, 10]}]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/no_such_model",
        "/v2/models/no_such_model/ready",
        "/v2/models/no_such_model/versions/1",
        "/v2/models/iris/versions/7",
        "/v2/models/iris/versions/7/ready",
    ],
)
def test_unknown_model_or_version_is_404(server, http, path):
    r = http.get(server.url(path), timeout=TIMEOUT)
    assert_error(r, 404, "no_such_model" if "no_such_model" in path else "7")


def test_unknown_path_is_404(server, http):
    r = http.get(server.url("/v2/no/such/route"), timeout=TIMEOUT)
    assert r.status_code == 404


def test_wrong_method_is_405(server, http):
    r = http.get(server.url("/v2/models/iris/infer"), timeout=TIMEOUT)
    assert r.status_code == 405


# --------------------------------------------------------------------------------------------
# JSON inference


@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_iris_json(server, http, reference, layout):
    data = IRIS_X.tolist() if layout == "nested" else IRIS_X.flatten().tolist()
    body = {
        "id": f"req-{layout}",
        "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": data}],
    }
    r = http.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert "json" in r.headers["Content-Type"]
    assert HEADER_LENGTH.lower() not in {k.lower() for k in r.headers}
    out = r.json()
    assert out["id"] == f"req-{layout}"
    assert out["model_name"] == "iris"
    assert out["model_version"] == "1"
    check_iris(reference, out, {}, IRIS_X)


def test_iris_json_versioned_route_without_id_and_with_parameters(server, http, reference):
    body = {
        "parameters": {"custom": "value", "flag": True, "n": 3},
        "inputs": [
            {
                "name": "input",
                "shape": [1, 4],
                "datatype": "FP32",
                "data": [[5.1, 3.5, 1.4, 0.2]],
                "parameters": {},
            }
        ],
    }
    r = http.post(server.url("/v2/models/iris/versions/1/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "iris"
    check_iris(reference, out, {}, IRIS_X[:1])


def test_requested_outputs_only(server, http, reference):
    body = {
        "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": IRIS_X.tolist()}],
        "outputs": [{"name": "label"}],
    }
    r = http.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert [o["name"] for o in outs] == ["label"]
    np.testing.assert_array_equal(outs[0]["data"], reference.run("iris", {"input": IRIS_X})["label"])


def test_mlp_json(server, http, reference):
    x = np.random.default_rng(1).normal(size=(5, 64)).astype(np.float32)
    body = {"inputs": [{"name": "input", "shape": [5, 64], "datatype": "FP32", "data": x.tolist()}]}
    r = http.post(server.url("/v2/models/mlp/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("scores", "FP32", [5, 10])
    np.testing.assert_allclose(
        np.array(out["data"], np.float32).reshape(5, 10),
        reference.run("mlp", {"input": x})["scores"],
        rtol=1e-5,
    )


def every_type_outputs(binary: bool | None = None) -> list[dict]:
    """Every output; FP16/BF16 always binary, the others JSON unless `binary`."""
    outs = []
    for t in EVERY_TYPE_ORDER:
        entry = {"name": f"out_{t.lower()}"}
        entry["parameters"] = {"binary_data": bool(binary) or t in ("FP16", "BF16")}
        outs.append(entry)
    return outs


def assert_every_type_echo(values, header, blobs, json_outputs):
    outs = outputs_by_name(header)
    assert set(outs) == set(EVERY_TYPE_OUTPUTS), header
    for t in EVERY_TYPE_ORDER:
        name = f"out_{t.lower()}"
        out = outs[name]
        assert out["datatype"] == t, out
        assert out["shape"] == [2, 3], out
        expected = values[t]
        if t in json_outputs:
            assert "data" in out and name not in blobs, out
            if t == "BYTES":
                assert out["data"] == [b.decode() for b in expected.flatten()], name
            else:
                got = np.array(out["data"], dtype=NP_DTYPE[t])
                # Bit-for-bit: -0.0, subnormals and extremes must survive the JSON round trip.
                assert got.tobytes() == raw_bytes(t, expected), (name, out["data"], expected)
        else:
            assert name in blobs, (name, out)
            assert out["parameters"]["binary_data_size"] == len(blobs[name])
            assert blobs[name] == raw_bytes(t, expected), name


def test_every_type_json_with_binary_fp16_bf16(server, http):
    """Mixed request: every type as JSON except FP16/BF16, which are binary; JSON outputs except
    FP16/BF16."""
    values = every_type_values()
    json_types = [t for t in EVERY_TYPE_ORDER if t not in ("FP16", "BF16")]
    body, headers = every_type_request(values, json_types=json_types, outputs=every_type_outputs())
    r = http.post(server.url("/v2/models/every_type/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/octet-stream")
    header, blobs = parse_v2_response(r)
    assert header["model_name"] == "every_type"
    assert_every_type_echo(values, header, blobs, json_outputs=json_types)


def test_every_type_all_binary(server, http):
    values = every_type_values()
    # Binary BYTES may carry any bytes: NULs, and sequences that are not UTF-8.
    values["BYTES"] = np.array(
        [[b"a\x00b", b"\xff\xfe", "日本語".encode()], [b"\x80" * 5, b"", b"\x00"]], dtype=np.object_
    )
    body, headers = every_type_request(values, parameters={"binary_data_output": True})
    r = http.post(server.url("/v2/models/every_type/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    header, blobs = parse_v2_response(r)
    assert_every_type_echo(values, header, blobs, json_outputs=())
    assert parse_bytes_tensor(blobs["out_bytes"]) == values["BYTES"].flatten().tolist()


def test_non_utf8_bytes_output_asked_as_json_is_never_invalid_json(server, http):
    """A BYTES output that is not UTF-8 cannot be a JSON string: it comes back in binary form (or
    as an error), never as broken JSON."""
    values = every_type_values()
    values["BYTES"] = np.array([[b"\xff\xfe", b"", b"abc"], [b"\x80", b"z", b"y"]], dtype=np.object_)
    body, headers = every_type_request(values, outputs=every_type_outputs())
    r = http.post(server.url("/v2/models/every_type/infer"), data=body, headers=headers, timeout=TIMEOUT)
    if r.status_code != 200:
        assert_error(r, r.status_code, "out_bytes", "utf-8", "utf8")
        return
    header, blobs = parse_v2_response(r)
    out = outputs_by_name(header)["out_bytes"]
    assert "data" not in out and "out_bytes" in blobs, out
    assert parse_bytes_tensor(blobs["out_bytes"]) == values["BYTES"].flatten().tolist()


def test_fp16_as_json_is_400(server, http):
    values = every_type_values()
    override = {
        "FP16": {"datatype": "FP16", "shape": [2, 3], "data": values["FP16"].astype(float).flatten().tolist()}
    }
    body, headers = every_type_request(values, overrides=override)
    r = http.post(server.url("/v2/models/every_type/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert_error(r, 400, "inputs[9]", "in_fp16")


def test_reshape3_json(server, http, reference):
    body = {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]}
    r = http.post(server.url("/v2/models/reshape3/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["name"] == "y" and out["data"] == [1.0, 2.0, 3.0]


def test_model_failure_is_500_with_the_runtime_message(server, http, reference):
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}
    r = http.post(server.url("/v2/models/reshape3/infer"), json=body, timeout=TIMEOUT)
    message = assert_error(r, 500)
    expected = reference.error("reshape3", {"x": np.array([1, 2], np.float32)})
    assert expected in message, (message, expected)
    # The server keeps serving after a model failure.
    ok = {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]}
    assert http.post(server.url("/v2/models/reshape3/infer"), json=ok, timeout=TIMEOUT).status_code == 200


# --------------------------------------------------------------------------------------------
# Binary tensor extension


def iris_binary(x, outputs=None, parameters=None, header_name=HEADER_LENGTH):
    header = {
        "inputs": [
            {
                "name": "input",
                "shape": list(x.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes},
            }
        ]
    }
    if outputs is not None:
        header["outputs"] = outputs
    if parameters is not None:
        header["parameters"] = parameters
    body, headers = binary_body(header, [x.tobytes()])
    if header_name != HEADER_LENGTH:
        headers[header_name] = headers.pop(HEADER_LENGTH)
    return body, headers


def test_binary_input_json_output(server, http, reference):
    body, headers = iris_binary(IRIS_X)
    r = http.post(server.url("/v2/models/iris/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert "json" in r.headers["Content-Type"]
    check_iris(reference, r.json(), {}, IRIS_X)


def test_binary_input_header_name_is_case_insensitive(server, http, reference):
    body, headers = iris_binary(IRIS_X, header_name=HEADER_LENGTH.lower())
    r = http.post(server.url("/v2/models/iris/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    check_iris(reference, r.json(), {}, IRIS_X)


def test_binary_data_output_makes_every_output_binary(server, http, reference):
    body, headers = iris_binary(IRIS_X, parameters={"binary_data_output": True})
    r = http.post(server.url("/v2/models/iris/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/octet-stream")
    header, blobs = parse_v2_response(r)
    assert set(blobs) == {"probabilities", "label"}
    for out in header["outputs"]:
        assert "data" not in out
    check_iris(reference, header, blobs, IRIS_X)


def test_per_output_binary_choice(server, http, reference):
    body = {
        "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": IRIS_X.tolist()}],
        "outputs": [
            {"name": "probabilities", "parameters": {"binary_data": True}},
            {"name": "label", "parameters": {"binary_data": False}},
        ],
    }
    r = http.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    header, blobs = parse_v2_response(r)
    assert set(blobs) == {"probabilities"}
    assert [o["name"] for o in header["outputs"]] == ["probabilities", "label"]
    check_iris(reference, header, blobs, IRIS_X)


def test_output_binary_false_overrides_binary_data_output(server, http, reference):
    body, headers = iris_binary(
        IRIS_X,
        outputs=[{"name": "probabilities"}, {"name": "label", "parameters": {"binary_data": False}}],
        parameters={"binary_data_output": True},
    )
    r = http.post(server.url("/v2/models/iris/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    header, blobs = parse_v2_response(r)
    assert set(blobs) == {"probabilities"}
    check_iris(reference, header, blobs, IRIS_X)


def test_mixed_binary_and_json_inputs_with_bytes_prefixes(server, http):
    """BYTES binary (length prefixes) beside JSON inputs of other types."""
    values = every_type_values()
    json_types = ["BOOL", "INT64", "FP32", "UINT8"]
    body, headers = every_type_request(values, json_types=json_types, outputs=every_type_outputs(binary=True))
    r = http.post(server.url("/v2/models/every_type/infer"), data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    header, blobs = parse_v2_response(r)
    assert_every_type_echo(values, header, blobs, json_outputs=())
    assert blobs["out_bytes"] == bytes_tensor(values["BYTES"].flatten().tolist())


def test_body_over_the_limit_is_413(server, http):
    body = b'{"inputs": []}' + b" " * (SESSION_MAX_REQUEST_SIZE + 4096)
    r = http.post(
        server.url("/v2/models/iris/infer"),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_error(r, 413)


def early_answer_then_reuse(port: int, path: str, body: bytes, delay: float) -> tuple[int, str, int | None]:
    """Sends a POST head, then (after `delay`, from a thread) its body; reads the answer, then asks
    `GET /v2/health/live` on the same connection unless the answer said `Connection: close`.
    Returns (status, Connection header, status of the second request or None)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head)

        def send_body():
            time.sleep(delay)
            try:
                sock.sendall(body)
            except OSError:
                pass  # the server may have stopped reading; its answer is what counts

        writer = threading.Thread(target=send_body)
        writer.start()
        first = http_client.HTTPResponse(sock)
        first.begin()
        first.read()
        writer.join()
        connection = (first.getheader("Connection") or "").lower()
        if "close" in connection:
            return first.status, connection, None
        second = http_client.HTTPResponse(sock)
        try:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            second.begin()
        except (OSError, http_client.HTTPException) as e:
            raise AssertionError(
                f"the server closed the connection after its {first.status} without saying "
                f"'Connection: close' ({e!r}); keep-alive clients then fail their next request"
            ) from None
        return first.status, connection, second.status
    finally:
        sock.close()


V2_IRIS_BODY = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/v2/models/no_such_model/infer", V2_IRIS_BODY, 404),
        ("/v1/models/no_such_model:predict", {"instances": [[1, 2, 3, 4]]}, 404),
        ("/seldon/ns/no_such_model/api/v1.0/predictions", {"data": {"ndarray": [[1, 2, 3, 4]]}}, 404),
        ("/v2/health/live", V2_IRIS_BODY, 405),
    ],
    ids=["v2-404", "v1-404", "seldon-404", "post-to-get-405"],
)
def test_keep_alive_after_an_early_error(server, path, body, status):
    """An error may be answered before the body arrives; the connection must then either carry the
    next request or be announced closed (`Connection: close`)."""
    got, _, second = early_answer_then_reuse(server.http_port, path, json.dumps(body).encode(), 0.3)
    assert got == status
    assert second in (None, 200)


def test_keep_alive_after_a_413(server):
    body = b" " * (SESSION_MAX_REQUEST_SIZE + 4096)
    status, _, second = early_answer_then_reuse(server.http_port, "/v2/models/iris/infer", body, 0.1)
    assert status == 413
    assert second in (None, 200)


def test_error_names_the_field(server, http):
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}
    r = http.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)
    assert_error(r, 400, "inputs[0]")
    body = {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    r = http.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT)
    assert_error(r, 400, "features")
    r = http.post(server.url("/v2/models/no_such_model/infer"), json=body, timeout=TIMEOUT)
    assert_error(r, 404, "no_such_model")


# --------------------------------------------------------------------------------------------
# tritonclient.http, unmodified


@pytest.fixture(scope="module")
def triton_http(server):
    client = httpclient.InferenceServerClient(
        url=server.http_target, connection_timeout=TIMEOUT, network_timeout=TIMEOUT
    )
    yield client
    client.close()


def test_tritonclient_http_health_and_metadata(triton_http):
    assert triton_http.is_server_live()
    assert triton_http.is_server_ready()
    assert triton_http.is_model_ready("iris")
    assert triton_http.is_model_ready("iris", "1")
    assert "binary_tensor_data" in triton_http.get_server_metadata()["extensions"]
    meta = triton_http.get_model_metadata("iris")
    assert meta["inputs"][0]["name"] == "input"


def test_tritonclient_http_model_config(triton_http):
    assert "model_configuration" in triton_http.get_server_metadata()["extensions"]
    for version in ("", "1"):
        config = triton_http.get_model_config("iris", version)
        assert config["name"] == "iris"
        assert config["backend"] == "onnxruntime"
        assert config["max_batch_size"] == 0
        assert config["input"] == [{"name": "input", "data_type": "TYPE_FP32", "dims": [-1, 4]}]
        assert {o["name"]: o["data_type"] for o in config["output"]} == {
            "probabilities": "TYPE_FP32",
            "label": "TYPE_INT64",
        }
    with pytest.raises(InferenceServerException) as e:
        triton_http.get_model_config("no_such_model")
    assert "no_such_model" in str(e.value)


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_http_iris(triton_http, reference, binary):
    inp = httpclient.InferInput("input", list(IRIS_X.shape), "FP32")
    inp.set_data_from_numpy(IRIS_X, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
        httpclient.InferRequestedOutput("label", binary_data=binary),
    ]
    result = triton_http.infer("iris", [inp], outputs=outputs, request_id="tc-1")
    expected = reference.run("iris", {"input": IRIS_X})
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    assert result.get_response()["id"] == "tc-1"


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_tritonclient_http_compression(triton_http, reference, algorithm):
    """Compressed request bodies (Content-Encoding) and responses (Accept-Encoding)."""
    inp = httpclient.InferInput("input", list(IRIS_X.shape), "FP32")
    inp.set_data_from_numpy(IRIS_X, binary_data=True)
    result = triton_http.infer(
        "iris",
        [inp],
        outputs=[httpclient.InferRequestedOutput("probabilities", binary_data=True)],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    expected = reference.run("iris", {"input": IRIS_X})["probabilities"]
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-5, atol=1e-7)


def test_tritonclient_http_every_type_binary(triton_http):
    values = every_type_values()
    inputs = []
    for t in EVERY_TYPE_ORDER:
        arr = to_ml_bf16(values[t]) if t == "BF16" else values[t]
        inp = httpclient.InferInput(f"in_{t.lower()}", list(arr.shape), t)
        inp.set_data_from_numpy(arr, binary_data=True)
        inputs.append(inp)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=True) for n in EVERY_TYPE_OUTPUTS]
    result = triton_http.infer("every_type", inputs, outputs=outputs)
    assert_every_type_echo_result(result, values)


def test_tritonclient_http_fp16_json_is_rejected(triton_http):
    values = every_type_values()
    inputs = []
    for t in EVERY_TYPE_ORDER:
        arr = to_ml_bf16(values[t]) if t == "BF16" else values[t]
        inp = httpclient.InferInput(f"in_{t.lower()}", list(arr.shape), t)
        inp.set_data_from_numpy(arr, binary_data=t in ("BF16", "BYTES"))
        inputs.append(inp)
    with pytest.raises(InferenceServerException) as e:
        triton_http.infer("every_type", inputs)
    assert e.value.status() == "400"
    assert "fp16" in e.value.message().lower()


def test_tritonclient_http_unknown_model(triton_http):
    inp = httpclient.InferInput("input", [1, 4], "FP32")
    inp.set_data_from_numpy(IRIS_X[:1])
    with pytest.raises(InferenceServerException) as e:
        triton_http.infer("no_such_model", [inp])
    assert e.value.status() == "404"
    assert "no_such_model" in e.value.message()


# --------------------------------------------------------------------------------------------
# One file, no settings


def test_single_onnx_file_with_env_ports(spawn_server, model_repo, reference):
    """`serve --model FILE --name NAME`, ports from OXSERVE_HTTP_PORT / OXSERVE_GRPC_PORT."""
    http_port, grpc_port = free_ports(2)
    srv = spawn_server(
        ["--model", str(model_repo / "mlp" / "model.onnx"), "--name", "scorer", "--host", "127.0.0.1"],
        env={"OXSERVE_HTTP_PORT": str(http_port), "OXSERVE_GRPC_PORT": str(grpc_port)},
        ports=(http_port, grpc_port),
    )
    with requests.Session() as s:
        models = s.get(srv.url("/v2/models"), timeout=TIMEOUT).json()["models"]
        assert [m if isinstance(m, str) else m["name"] for m in models] == ["scorer"]
        meta = s.get(srv.url("/v2/models/scorer"), timeout=TIMEOUT).json()
        assert meta["name"] == "scorer"
        assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
        assert meta["outputs"] == [{"name": "scores", "datatype": "FP32", "shape": [-1, 10]}]
        x = np.random.default_rng(3).normal(size=(2, 64)).astype(np.float32)
        body = {
            "inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": x.flatten().tolist()}]
        }
        r = s.post(srv.url("/v2/models/scorer/infer"), data=json.dumps(body), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        (out,) = r.json()["outputs"]
        np.testing.assert_allclose(
            np.array(out["data"], np.float32).reshape(2, 10),
            reference.run("mlp", {"input": x})["scores"],
            rtol=1e-5,
        )
    assert srv.stop() == 0, srv.logs()


def test_requests_without_a_body_keep_the_connection_alive(server):
    """Health probes, metadata and /metrics scrapes reuse one connection."""
    conn = http_client.HTTPConnection("127.0.0.1", server.http_port, timeout=TIMEOUT)
    try:
        for path in ["/v2/health/ready", "/v2/models/iris", "/metrics", "/v2/health/live"]:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, path
            assert "close" not in (resp.getheader("Connection") or "").lower(), path
    finally:
        conn.close()
