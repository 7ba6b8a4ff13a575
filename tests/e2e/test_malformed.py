"""Malformed requests: 1,000 of them over many distinct kinds (V2 REST JSON and binary, Seldon,
KServe V1, V2 gRPC). Each must get its exact 4xx status (never a 500) or gRPC code, and a message
that names the offending field or thing; afterwards the server still serves.

Needles are matched case-insensitively; a kind lists more than one only where several spellings
name the same thing (the field path or the quoted input name).
"""

from __future__ import annotations

import json
import struct
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
import requests
from tritonclient.grpc import service_pb2

from oxserve_e2e import (
    EVERY_TYPE_ORDER,
    HEADER_LENGTH,
    SESSION_MAX_REQUEST_SIZE,
    TIMEOUT,
    binary_body,
    bytes_tensor,
    every_type_index,
    every_type_request,
    every_type_values,
)

TOTAL_REQUESTS = 1000
BAD_DATA = "MICROSERVICE_BAD_DATA"

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
IRIS_X = np.array([IRIS_ROW], dtype=np.float32)
JSON_SYNTAX = ("json", "column", "line ")
# Errors found when checking a request against the model's own inputs may name the input by its
# path in the request or by its quoted name.
IRIS_INPUT = ("inputs[0]", "'input'", '"input"', "`input`")


@dataclass(frozen=True)
class Kind:
    name: str
    flavor: str  # "v2" / "v1" ({"error": ...}), "seldon" ({"status": {...}}), "grpc"
    expect: int | grpc.StatusCode
    needles: tuple[str, ...]
    send: Callable[[SimpleNamespace], object]


# --------------------------------------------------------------------------------------------
# Request builders


def v2_post(model="iris", body=None, raw=None, headers=None, path=None):
    def send(ctx):
        url = ctx.server.url(path or f"/v2/models/{model}/infer")
        if raw is not None:
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            return ctx.http.post(url, data=raw, headers=hdrs, timeout=TIMEOUT)
        return ctx.http.post(url, json=body, headers=headers, timeout=TIMEOUT)

    return send


def iris_json(**input_fields):
    entry = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": IRIS_ROW}
    entry.update(input_fields)
    return {"inputs": [entry]}


def every_type_post(dtype: str, **fields):
    """every_type with all inputs valid (JSON, FP16/BF16 binary) except `dtype`'s, changed by
    `fields` (`_blob` gives that input's binary bytes)."""
    values = every_type_values()
    json_types = [t for t in EVERY_TYPE_ORDER if t not in ("FP16", "BF16")]
    entry = {"datatype": dtype, "shape": list(values[dtype].shape)}
    entry.update(fields)
    body, headers = every_type_request(values, json_types=json_types, overrides={dtype: entry})
    return v2_post(path="/v2/models/every_type/infer", raw=body, headers=headers)


def every_type_needles(dtype: str) -> tuple[str, ...]:
    return (f"inputs[{every_type_index(dtype)}]", f"in_{dtype.lower()}")


def iris_binary(declared_size: int, blob: bytes, header_length: str | None = None, **extra):
    entry = {
        "name": "input",
        "shape": [1, 4],
        "datatype": "FP32",
        "parameters": {"binary_data_size": declared_size},
    }
    entry.update(extra)
    body, headers = binary_body({"inputs": [entry]}, [blob])
    if header_length is not None:
        headers[HEADER_LENGTH] = header_length
    return v2_post(raw=body, headers=headers)


def oversized(ctx):
    # Its own connection: the server may close it after answering without reading the body
    # (test_v2_rest checks that it then says so), and that must not touch the other kinds.
    return requests.post(
        ctx.server.url("/v2/models/iris/infer"),
        data=ctx.oversized_body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )


def wrong_method(ctx):
    return ctx.http.get(ctx.server.url("/v2/models/iris/infer"), timeout=TIMEOUT)


def seldon_post(body=None, raw=None, path="/api/v1.0/predictions"):
    def send(ctx):
        url = ctx.server.url(path)
        if raw is not None:
            return ctx.http.post(url, data=raw, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        return ctx.http.post(url, json=body, timeout=TIMEOUT)

    return send


def v1_post(body=None, raw=None, model="iris"):
    def send(ctx):
        url = ctx.server.url(f"/v1/models/{model}:predict")
        if raw is not None:
            return ctx.http.post(url, data=raw, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        return ctx.http.post(url, json=body, timeout=TIMEOUT)

    return send


def grpc_infer(build):
    def send(ctx):
        try:
            return ctx.stub.ModelInfer(build(), timeout=TIMEOUT)
        except grpc.RpcError as e:
            return e

    return send


def raw_iris(model="iris", datatype="FP32", name="input", raws=None, version=""):
    def build():
        req = service_pb2.ModelInferRequest(model_name=model, model_version=version)
        req.inputs.add(name=name, datatype=datatype, shape=[1, 4])
        req.raw_input_contents.extend(raws if raws is not None else [IRIS_BLOB])
        return req

    return build


def typed_iris(values=IRIS_ROW, field="fp32_contents", also_raw=False):
    def build():
        req = service_pb2.ModelInferRequest(model_name="iris")
        inp = req.inputs.add(name="input", datatype="FP32", shape=[1, 4])
        getattr(inp.contents, field).extend(values)
        if also_raw:
            req.raw_input_contents.append(IRIS_X.tobytes())
        return req

    return build


# --------------------------------------------------------------------------------------------
# The kinds

IRIS_BLOB = IRIS_X.tobytes()  # 16 bytes

KINDS: list[Kind] = [
    # V2 REST: the body as JSON
    Kind("v2_malformed_json", "v2", 400, JSON_SYNTAX, v2_post(raw=b'{"inputs": [{"name": "input",, }]}')),
    Kind(
        "v2_truncated_json",
        "v2",
        400,
        (*JSON_SYNTAX, "eof", "end of"),
        v2_post(raw=b'{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2'),
    ),
    Kind("v2_non_object_json", "v2", 400, ("object", "map", "struct", "json"), v2_post(raw=b"[1, 2, 3]")),
    Kind("v2_empty_body", "v2", 400, (*JSON_SYNTAX, "eof", "empty", "body"), v2_post(raw=b"")),
    # V2 REST: models and routes
    Kind("v2_unknown_model", "v2", 404, ("no_such_model",), v2_post(model="no_such_model", body=iris_json())),
    Kind(
        "v2_unknown_version",
        "v2",
        404,
        ("99",),
        v2_post(path="/v2/models/iris/versions/99/infer", body=iris_json()),
    ),
    Kind("v2_wrong_method", "v2", 405, ("method",), wrong_method),
    Kind("v2_oversized_body", "v2", 413, ("too large", "limit", "size"), oversized),
    # V2 REST: the inputs
    Kind("v2_missing_inputs", "v2", 400, ("inputs",), v2_post(body={"id": "no-inputs"})),
    Kind("v2_inputs_not_a_list", "v2", 400, ("inputs",), v2_post(body={"inputs": {"name": "input"}})),
    Kind(
        "v2_missing_model_input",
        "v2",
        400,
        ("in_",),
        v2_post(path="/v2/models/every_type/infer", body={"inputs": []}),
    ),
    Kind("v2_wrong_input_name", "v2", 400, ("features",), v2_post(body=iris_json(name="features"))),
    Kind("v2_unknown_datatype", "v2", 400, ("FLOAT32",), v2_post(body=iris_json(datatype="FLOAT32"))),
    Kind("v2_lowercase_datatype", "v2", 400, ("fp32",), v2_post(body=iris_json(datatype="fp32"))),
    Kind("v2_datatype_mismatch", "v2", 400, (*IRIS_INPUT, "FP64"), v2_post(body=iris_json(datatype="FP64"))),
    Kind("v2_count_mismatch", "v2", 400, ("inputs[0]",), v2_post(body=iris_json(data=[1.0, 2.0, 3.0]))),
    Kind(
        "v2_ragged_nested_data",
        "v2",
        400,
        ("inputs[0]",),
        v2_post(body=iris_json(shape=[2, 4], data=[IRIS_ROW, [1.0, 2.0]])),
    ),
    Kind("v2_negative_dim", "v2", 400, ("inputs[0]",), v2_post(body=iris_json(shape=[-1, 4]))),
    Kind(
        "v2_shape_vs_model",
        "v2",
        400,
        IRIS_INPUT,
        v2_post(body=iris_json(shape=[1, 3], data=[1.0, 2.0, 3.0])),
    ),
    Kind("v2_rank_vs_model", "v2", 400, IRIS_INPUT, v2_post(body=iris_json(shape=[4]))),
    Kind(
        "v2_string_for_number", "v2", 400, ("inputs[0]",), v2_post(body=iris_json(data=["a", "b", "c", "d"]))
    ),
    Kind(
        "v2_bool_for_number",
        "v2",
        400,
        ("inputs[0]",),
        v2_post(body=iris_json(data=[True, False, True, True])),
    ),
    Kind("v2_null_data", "v2", 400, ("inputs[0]",), v2_post(body=iris_json(data=None))),
    Kind(
        "v2_fraction_for_int64",
        "v2",
        400,
        every_type_needles("INT64"),
        every_type_post("INT64", data=[1, 2, 1.5, 4, 5, 6]),
    ),
    Kind(
        "v2_int64_overflow",
        "v2",
        400,
        every_type_needles("INT64"),
        every_type_post("INT64", data=[1, 2, 9223372036854775808, 4, 5, 6]),
    ),
    Kind(
        "v2_uint8_out_of_range",
        "v2",
        400,
        every_type_needles("UINT8"),
        every_type_post("UINT8", data=[1, 2, 256, 4, 5, 6]),
    ),
    Kind(
        "v2_negative_uint32",
        "v2",
        400,
        every_type_needles("UINT32"),
        every_type_post("UINT32", data=[1, 2, -1, 4, 5, 6]),
    ),
    Kind(
        "v2_int8_out_of_range",
        "v2",
        400,
        every_type_needles("INT8"),
        every_type_post("INT8", data=[1, 2, -129, 4, 5, 6]),
    ),
    Kind(
        "v2_number_for_bytes",
        "v2",
        400,
        every_type_needles("BYTES"),
        every_type_post("BYTES", data=[1, 2, 3, 4, 5, 6]),
    ),
    Kind(
        "v2_fp16_as_json",
        "v2",
        400,
        every_type_needles("FP16"),
        every_type_post("FP16", data=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
    ),
    Kind(
        "v2_bf16_as_json",
        "v2",
        400,
        every_type_needles("BF16"),
        every_type_post("BF16", data=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
    ),
    Kind(
        "v2_unknown_output",
        "v2",
        400,
        ("nope_out",),
        v2_post(body={**iris_json(), "outputs": [{"name": "nope_out"}]}),
    ),
    # V2 REST: the binary extension
    Kind(
        "v2_header_length_negative",
        "v2",
        400,
        (HEADER_LENGTH,),
        iris_binary(16, IRIS_BLOB, header_length="-5"),
    ),
    Kind(
        "v2_header_length_not_a_number",
        "v2",
        400,
        (HEADER_LENGTH,),
        iris_binary(16, IRIS_BLOB, header_length="abc"),
    ),
    Kind(
        "v2_header_length_past_body",
        "v2",
        400,
        (HEADER_LENGTH,),
        iris_binary(16, IRIS_BLOB, header_length="100000"),
    ),
    Kind("v2_binary_size_vs_shape", "v2", 400, ("binary_data_size",), iris_binary(12, IRIS_BLOB[:12])),
    Kind("v2_binary_size_past_body", "v2", 400, ("binary_data_size",), iris_binary(16, IRIS_BLOB[:8])),
    Kind("v2_binary_size_not_a_number", "v2", 400, ("binary_data_size",), iris_binary("sixteen", IRIS_BLOB)),
    Kind("v2_data_and_binary", "v2", 400, ("inputs[0]",), iris_binary(16, IRIS_BLOB, data=IRIS_ROW)),
    Kind(
        "v2_truncated_bytes_prefix",
        "v2",
        400,
        every_type_needles("BYTES"),
        every_type_post(
            "BYTES",
            shape=[1, 1],
            parameters={"binary_data_size": 6},
            _blob=struct.pack("<I", 10) + b"ab",
        ),
    ),
    Kind(
        "v2_bytes_count_vs_shape",
        "v2",
        400,
        every_type_needles("BYTES"),
        every_type_post(
            "BYTES",
            shape=[2, 3],
            parameters={"binary_data_size": len(bytes_tensor([b"a"] * 5))},
            _blob=bytes_tensor([b"a"] * 5),
        ),
    ),
    # Seldon REST
    Kind(
        "seldon_malformed_json",
        "seldon",
        400,
        JSON_SYNTAX,
        seldon_post(raw=b'{"data": {"ndarray": [[1,2,3,4]]'),
    ),
    Kind(
        "seldon_ragged_ndarray",
        "seldon",
        400,
        ("ndarray",),
        seldon_post({"data": {"ndarray": [IRIS_ROW, [1.0]]}}),
    ),
    Kind(
        "seldon_two_payloads",
        "seldon",
        400,
        ("strData",),
        seldon_post({"data": {"ndarray": [IRIS_ROW]}, "strData": "x"}),
    ),
    Kind(
        "seldon_unknown_field",
        "seldon",
        400,
        ("bogus",),
        seldon_post({"data": {"ndarray": [IRIS_ROW], "bogus": 1}}),
    ),
    Kind("seldon_json_data", "seldon", 400, ("jsonData",), seldon_post({"jsonData": {"a": 1}})),
    Kind("seldon_bin_data", "seldon", 400, ("binData",), seldon_post({"binData": "AAEC"})),
    Kind(
        "seldon_tensor_count",
        "seldon",
        400,
        ("tensor",),
        seldon_post({"data": {"tensor": {"shape": [1, 4], "values": [1.0, 2.0, 3.0]}}}),
    ),
    Kind(
        "seldon_tftensor_dtype",
        "seldon",
        400,
        ("dtype", "DT_BOGUS"),
        seldon_post({"data": {"tftensor": {"dtype": "DT_BOGUS", "tensorShape": {"dim": [{"size": "4"}]}}}}),
    ),
    Kind("seldon_no_payload", "seldon", 400, ("data",), seldon_post({"meta": {"puid": "p"}})),
    Kind(
        "seldon_unknown_model",
        "seldon",
        404,
        ("no_such_model",),
        seldon_post({"data": {"ndarray": [IRIS_ROW]}}, path="/seldon/ns/no_such_model/api/v1.0/predictions"),
    ),
    # KServe V1
    Kind("v1_malformed_json", "v1", 400, JSON_SYNTAX, v1_post(raw=b'{"instances": [[1, 2, 3, 4]],}')),
    Kind(
        "v1_both_forms", "v1", 400, ("instances",), v1_post({"instances": [IRIS_ROW], "inputs": [IRIS_ROW]})
    ),
    Kind("v1_ragged_instances", "v1", 400, ("instances",), v1_post({"instances": [IRIS_ROW, [1.0, 2.0]]})),
    Kind(
        "v1_neither_form", "v1", 400, ("instances", "inputs"), v1_post({"signature_name": "serving_default"})
    ),
    Kind("v1_instances_not_a_list", "v1", 400, ("instances",), v1_post({"instances": 5})),
    Kind(
        "v1_unknown_model",
        "v1",
        404,
        ("no_such_model",),
        v1_post({"instances": [IRIS_ROW]}, model="no_such_model"),
    ),
    # V2 gRPC
    Kind(
        "grpc_mixed_raw_typed",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("contents",),
        grpc_infer(typed_iris(also_raw=True)),
    ),
    Kind(
        "grpc_raw_size_mismatch",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("inputs[0]", "raw_input_contents"),
        grpc_infer(raw_iris(raws=(IRIS_BLOB[:12],))),
    ),
    Kind(
        "grpc_raw_entries_vs_inputs",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("raw_input_contents",),
        grpc_infer(raw_iris(raws=(IRIS_BLOB, IRIS_BLOB))),
    ),
    Kind(
        "grpc_typed_count_mismatch",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("inputs[0]",),
        grpc_infer(typed_iris(values=[1.0, 2.0, 3.0])),
    ),
    Kind(
        "grpc_wrong_typed_field",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("inputs[0]",),
        grpc_infer(typed_iris(values=[1, 2, 3, 4], field="int_contents")),
    ),
    Kind(
        "grpc_unknown_model",
        "grpc",
        grpc.StatusCode.NOT_FOUND,
        ("no_such_model",),
        grpc_infer(raw_iris(model="no_such_model")),
    ),
    Kind(
        "grpc_unknown_version", "grpc", grpc.StatusCode.NOT_FOUND, ("99",), grpc_infer(raw_iris(version="99"))
    ),
    Kind(
        "grpc_wrong_input_name",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("features",),
        grpc_infer(raw_iris(name="features")),
    ),
    Kind(
        "grpc_bad_datatype",
        "grpc",
        grpc.StatusCode.INVALID_ARGUMENT,
        ("FLOAT32",),
        grpc_infer(raw_iris(datatype="FLOAT32")),
    ),
]


def test_kinds_are_distinct_and_enough():
    names = [k.name for k in KINDS]
    assert len(set(names)) == len(names)
    assert len(KINDS) >= 20


# --------------------------------------------------------------------------------------------
# Checking one answer


def problem(kind: Kind, answer) -> str | None:
    """None when `answer` is what `kind` must get, else a description of what is wrong."""
    if kind.flavor == "grpc":
        if not isinstance(answer, grpc.RpcError):
            return f"expected {kind.expect.name}, the call succeeded"
        if answer.code() != kind.expect:
            return f"expected {kind.expect.name}, got {answer.code().name}: {answer.details()!r}"
        message = answer.details() or ""
    else:
        if answer.status_code != kind.expect:
            return f"expected HTTP {kind.expect}, got {answer.status_code}: {answer.text[:300]!r}"
        try:
            body = answer.json()
        except ValueError:
            return f"body is not JSON: {answer.text[:300]!r}"
        if kind.flavor == "seldon":
            status = body.get("status") if isinstance(body, dict) else None
            if not isinstance(status, dict):
                return f"no Seldon status object: {body!r}"
            expected = {"code": kind.expect, "status": "FAILURE"}
            if kind.expect == 400:
                expected["reason"] = BAD_DATA
            wrong = {k: status.get(k) for k, v in expected.items() if status.get(k) != v}
            if wrong:
                return f"status fields {wrong} (want {expected}): {body!r}"
            message = status.get("info")
        else:
            message = body.get("error") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            return f"no error message: {body!r}"
    low = message.lower()
    if not any(n.lower() in low for n in kind.needles):
        return f"message {message!r} names none of {kind.needles}"
    return None


def ask(ctx, kind: Kind) -> str | None:
    try:
        answer = kind.send(ctx)
    except (requests.RequestException, OSError) as e:
        return f"request failed: {e!r}"
    return problem(kind, answer)


@pytest.fixture(scope="module")
def ctx(server, http, v2_stub):
    return SimpleNamespace(
        server=server,
        http=http,
        stub=v2_stub,
        oversized_body=b'{"inputs": []}' + b" " * (SESSION_MAX_REQUEST_SIZE + 1024),
    )


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_kind(ctx, kind):
    p = ask(ctx, kind)
    assert p is None, f"{kind.name}: {p}"


def test_thousand_malformed_requests_then_still_serving(ctx, reference):
    failures: dict[str, list[str]] = defaultdict(list)
    started = time.monotonic()
    previous = None
    for i in range(TOTAL_REQUESTS):
        kind = KINDS[i % len(KINDS)]
        p = ask(ctx, kind)
        if p is not None:
            failures[kind.name].append(f"{p} (request #{i}, after {previous})")
        previous = kind.name
    elapsed = time.monotonic() - started

    # The server is still alive and still answers a valid request correctly.
    assert ctx.server.alive(), f"server died during the malformed requests\n{ctx.server.logs()}"
    r = ctx.http.post(
        ctx.server.url("/v2/models/iris/infer"),
        data=json.dumps(iris_json()),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    probs = next(o for o in r.json()["outputs"] if o["name"] == "probabilities")["data"]
    np.testing.assert_allclose(
        np.array(probs, np.float32).reshape(1, 3),
        reference.run("iris", {"input": IRIS_X})["probabilities"],
        rtol=1e-5,
    )

    summary = "\n".join(f"  {name} ({len(ps)}x): {ps[0]}" for name, ps in sorted(failures.items()))
    bad = sum(len(ps) for ps in failures.values())
    assert not failures, (
        f"{bad} of {TOTAL_REQUESTS} malformed requests got a wrong answer ({elapsed:.1f} s):\n{summary}"
    )
