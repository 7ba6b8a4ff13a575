"""`GET /metrics` (Prometheus text: per-protocol request counters, a latency histogram, process
metrics) and graceful shutdown on SIGTERM with requests in flight."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from oxserve_e2e import TIMEOUT, free_ports, port_open, repository_args

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(http, server) -> list[tuple[str, dict[str, str], float]]:
    r = http.get(server.url("/metrics"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    samples = []
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def total(samples, name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items()))


def requests_total(http, server, model, protocol, outcome) -> float:
    return total(
        scrape(http, server), "oxserve_requests_total", model=model, protocol=protocol, outcome=outcome
    )


IRIS_JSON = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}


def v2_rest_ok(server, http):
    r = http.post(server.url("/v2/models/iris/infer"), json=IRIS_JSON, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def v2_rest_bad(server, http):
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2]}]}
    assert http.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT).status_code == 400


def v2_grpc_ok(server, v2_stub):
    req = service_pb2.ModelInferRequest(model_name="iris")
    req.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    req.raw_input_contents.append(np.array([[5.1, 3.5, 1.4, 0.2]], np.float32).tobytes())
    v2_stub.ModelInfer(req, timeout=TIMEOUT)


def seldon_rest_ok(server, http):
    r = http.post(
        server.url("/api/v1.0/predictions"),
        json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text


def v1_rest_ok(server, http):
    r = http.post(
        server.url("/v1/models/iris:predict"), json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=TIMEOUT
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "protocol, send",
    [("v2_rest", v2_rest_ok), ("seldon_rest", seldon_rest_ok), ("v1_rest", v1_rest_ok)],
)
def test_success_counter_per_rest_protocol(server, http, protocol, send):
    before = requests_total(http, server, "iris", protocol, "success")
    for _ in range(3):
        send(server, http)
    after = requests_total(http, server, "iris", protocol, "success")
    assert after - before >= 3, (protocol, before, after)


def test_success_counter_v2_grpc(server, http, v2_stub):
    before = requests_total(http, server, "iris", "v2_grpc", "success")
    for _ in range(3):
        v2_grpc_ok(server, v2_stub)
    assert requests_total(http, server, "iris", "v2_grpc", "success") - before >= 3


def test_success_counter_seldon_grpc(server, http, seldon_pb):
    before = requests_total(http, server, "iris", "seldon_grpc", "success")
    with grpc.insecure_channel(server.grpc_target) as ch:
        stub = seldon_pb.grpc.ModelStub(ch)
        for _ in range(3):
            req = seldon_pb.pb.SeldonMessage()
            req.data.tensor.shape.extend([1, 4])
            req.data.tensor.values.extend([5.1, 3.5, 1.4, 0.2])
            stub.Predict(req, timeout=TIMEOUT)
    assert requests_total(http, server, "iris", "seldon_grpc", "success") - before >= 3


def test_client_and_server_error_outcomes(server, http):
    before = requests_total(http, server, "iris", "v2_rest", "client_error")
    v2_rest_bad(server, http)
    assert requests_total(http, server, "iris", "v2_rest", "client_error") - before >= 1
    before = requests_total(http, server, "reshape3", "v2_rest", "server_error")
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}
    assert http.post(server.url("/v2/models/reshape3/infer"), json=body, timeout=TIMEOUT).status_code == 500
    assert requests_total(http, server, "reshape3", "v2_rest", "server_error") - before >= 1


def test_duration_histogram_and_process_metrics(server, http):
    v2_rest_ok(server, http)
    samples = scrape(http, server)
    buckets = [
        ls
        for n, ls, _ in samples
        if n == "oxserve_request_duration_seconds_bucket" and ls.get("model") == "iris"
    ]
    assert buckets, 'no oxserve_request_duration_seconds_bucket{model="iris"} samples'
    assert all("le" in ls for ls in buckets)
    assert any(ls["le"] == "+Inf" for ls in buckets)
    before = total(samples, "oxserve_request_duration_seconds_count", model="iris", protocol="v2_rest")
    assert before >= 1
    v2_rest_ok(server, http)
    after = total(
        scrape(http, server), "oxserve_request_duration_seconds_count", model="iris", protocol="v2_rest"
    )
    assert after > before
    assert total(samples, "process_resident_memory_bytes") > 0


# --------------------------------------------------------------------------------------------
# Graceful shutdown


def start_request(port: int, path: str, body: bytes, sent: int) -> socket.socket:
    """Opens a connection and sends the request head plus the first `sent` bytes of the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:sent])
    return sock


def finish_request(sock: socket.socket, body: bytes, sent: int, results: list, index: int) -> None:
    try:
        sock.sendall(body[sent:])
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        results[index] = (resp.status, resp.read())
    except Exception as e:  # reported by the test
        results[index] = ("exception", repr(e))
    finally:
        sock.close()


def test_sigterm_drains_in_flight_requests(spawn_server, model_repo, reference):
    http_port, grpc_port = free_ports(2)
    srv = spawn_server(
        repository_args(model_repo, http_port, grpc_port, "--drain-timeout", "30"),
        ports=(http_port, grpc_port),
    )
    rng = np.random.default_rng(9)
    batches = [rng.normal(size=(2048, 64)).astype(np.float32) for _ in range(4)]
    bodies = [
        json.dumps(
            {
                "id": f"drain-{i}",
                "inputs": [{"name": "input", "shape": [2048, 64], "datatype": "FP32", "data": x.tolist()}],
            }
        ).encode()
        for i, x in enumerate(batches)
    ]
    # Every request is on the wire (head and half its body) before the signal, so each one is
    # in flight; the rest of each body is sent after SIGTERM, from its own thread.
    socks = [start_request(http_port, "/v2/models/mlp/infer", b, len(b) // 2) for b in bodies]
    time.sleep(0.5)
    srv.terminate()
    time.sleep(0.2)
    results: list = [None] * len(bodies)
    threads = [
        threading.Thread(target=finish_request, args=(s, b, len(b) // 2, results, i))
        for i, (s, b) in enumerate(zip(socks, bodies, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, (result, x) in enumerate(zip(results, batches, strict=True)):
        assert result is not None and result[0] == 200, (i, result and result[:2], srv.logs())
        out = json.loads(result[1])
        assert out["id"] == f"drain-{i}"
        scores = np.array(out["outputs"][0]["data"], np.float32).reshape(2048, 10)
        np.testing.assert_allclose(scores, reference.run("mlp", {"input": x})["scores"], rtol=1e-5, atol=1e-7)
    code = srv.wait(timeout=30)
    assert code == 0, srv.logs()
    assert not port_open(http_port), "HTTP port still accepts connections after exit"
    assert not port_open(grpc_port), "gRPC port still accepts connections after exit"
