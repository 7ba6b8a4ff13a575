"""Payloads and load generators: wrk for REST (JSON and binary), h2load for gRPC.

Every payload is one row of a model's input, built from `payload.json` written by models.py:

- V2 REST JSON: `{"inputs": [{"name", "datatype": "FP32", "shape": [1, F], "data": [...]}]}`
- V2 REST binary: the same header with `binary_data_size`, then the raw little-endian floats,
  `Inference-Header-Content-Length` naming the header's length
- V2 gRPC: a `ModelInferRequest` encoded here by hand (no generated stubs), in a gRPC frame
  (1 flag byte, 4 length bytes); `raw_input_contents` first, typed `fp32_contents` where a
  server refuses raw contents
- Seldon REST JSON: `{"data": {"ndarray": [[...]]}}`

The load generator runs as its own process pinned to the load core; a run is a warm-up whose
numbers are thrown away, then a measured run of fixed length.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"


@dataclass
class Body:
    """One request body and the headers that go with it."""

    data: bytes
    headers: dict[str, str] = field(default_factory=dict)


def v2_json(p: dict) -> Body:
    tensor = {"name": p["input"], "datatype": "FP32", "shape": [1, p["features"]], "data": p["row"]}
    body = json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()
    return Body(body, {"Content-Type": "application/json"})


def v2_binary(p: dict) -> Body:
    raw = struct.pack(f"<{p['features']}f", *p["row"])
    tensor = {
        "name": p["input"],
        "datatype": "FP32",
        "shape": [1, p["features"]],
        "parameters": {"binary_data_size": len(raw)},
    }
    header = json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()
    return Body(
        header + raw,
        {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
    )


def seldon_json(p: dict) -> Body:
    body = json.dumps({"data": {"ndarray": [p["row"]]}}, separators=(",", ":")).encode()
    return Body(body, {"Content-Type": "application/json"})


# --- protobuf, by hand: the few fields of inference.ModelInferRequest the benchmark sends ---


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def model_infer_request(model: str, p: dict, raw: bool) -> bytes:
    """ModelInferRequest{model_name=1, inputs=5{name=1, datatype=2, shape=3, contents=5}, raw=7}."""
    floats = struct.pack(f"<{p['features']}f", *p["row"])
    shape = _field(3, b"".join(_varint(d) for d in (1, p["features"])))
    tensor = _field(1, p["input"].encode()) + _field(2, b"FP32") + shape
    if not raw:
        tensor += _field(5, _field(6, floats))  # InferTensorContents.fp32_contents (packed)
    message = _field(1, model.encode()) + _field(5, tensor)
    if raw:
        message += _field(7, floats)
    return message


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message, for the wire types used here."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def model_infer_response_outputs(message: bytes) -> dict[str, list]:
    """Output name -> flat values of a ModelInferResponse (FP32, FP64 and INT64, raw or typed contents)."""
    outputs, raw = [], []
    for number, _, value in _fields(message):
        if number == 5:  # InferOutputTensor
            tensor = {"contents": b""}
            for n, _, v in _fields(value):
                if n == 1:
                    tensor["name"] = v.decode()
                elif n == 2:
                    tensor["datatype"] = v.decode()
                elif n == 5:
                    tensor["contents"] = v
            outputs.append(tensor)
        elif number == 6:
            raw.append(value)
    result = {}
    for i, tensor in enumerate(outputs):
        datatype = tensor.get("datatype", "")
        if i < len(raw):
            data = raw[i]
            if datatype == "FP32":
                result[tensor["name"]] = list(struct.unpack(f"<{len(data) // 4}f", data))
            elif datatype == "FP64":
                result[tensor["name"]] = list(struct.unpack(f"<{len(data) // 8}d", data))
            elif datatype == "INT64":
                result[tensor["name"]] = list(struct.unpack(f"<{len(data) // 8}q", data))
            continue
        for n, _, v in _fields(tensor["contents"]):
            if n == 6:  # fp32_contents, packed
                result[tensor["name"]] = list(struct.unpack(f"<{len(v) // 4}f", v))
            elif n == 7:  # fp64_contents, packed
                result[tensor["name"]] = list(struct.unpack(f"<{len(v) // 8}d", v))
            elif n == 3:  # int64_contents, packed
                values, pos = [], 0
                while pos < len(v):
                    value, pos = _read_varint(v, pos)
                    values.append(value)
                result[tensor["name"]] = values
    return result


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


# --- wrk ---

WRK_SCRIPT = """
local f = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def write_wrk_script(folder: Path, name: str, body: Body) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body_file = folder / f"{name}.body"
    body_file.write_bytes(body.data)
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in body.headers.items())
    script = folder / f"{name}.lua"
    script.write_text(WRK_SCRIPT.format(body=body_file, headers=headers))
    return script


def run_wrk(core: int, url: str, script: Path, concurrency: int, seconds: float) -> dict:
    """One wrk run; returns requests/s, latency percentiles (ms) and error counts."""
    cmd = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s"]
    cmd += ["--timeout", "10s", "--latency", "-s", str(script), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^BENCH_JSON (.*)$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(
            f"wrk failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout[-500:]}"
        )
    r = json.loads(match.group(1))
    socket_errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "requests": r["requests"],
        "seconds": r["duration_us"] / 1e6,
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "errors": r["non2xx"] + socket_errors,
        "error_detail": {k: r[k] for k in ("non2xx", "connect", "read", "write", "timeout") if r[k]},
    }


# --- h2load (gRPC) ---


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def run_h2load(
    core: int, url: str, body_file: Path, concurrency: int, seconds: float, log: Path, ok_body_bytes: int
) -> dict:
    """One h2load run of unary gRPC calls (`concurrency` connections, one stream each).

    h2load checks the HTTP status only; a gRPC error comes back as HTTP 200 with a non-zero
    `grpc-status` trailer and no message. Each good answer is a message of the size the probe
    saw (`ok_body_bytes`, frame included), so DATA bytes short of requests × that size count as
    errors.
    """
    cmd = ["taskset", "-c", str(core), "h2load", "-t1", f"-c{concurrency}", "-m1", f"-D{seconds:g}"]
    cmd += ["-d", str(body_file), "-H", "content-type: application/grpc", "-H", "te: trailers"]
    cmd += [f"--log-file={log}", url]
    if log.exists():
        log.unlink()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"h2load failed (exit {proc.returncode}): {proc.stderr.strip() or out[-500:]}")
    finished = re.search(r"finished in ([\d.]+)(m?s)", out)
    elapsed = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1) if finished else seconds
    counts = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out
    )
    data = re.search(r"traffic: .*?, .*?\((\d+)\) headers.*?, .*?\((\d+)\) data", out)
    statuses, latencies = [], []
    if log.exists():
        for line in log.read_text().splitlines():
            cols = line.split("\t")
            if len(cols) >= 3:
                statuses.append(int(cols[1]))
                latencies.append(int(cols[2]) / 1000)
    latencies.sort()
    done = len(latencies) if latencies else (int(counts.group(3)) if counts else 0)
    failed = int(counts.group(5)) if counts else 0
    non2xx = sum(1 for s in statuses if not 200 <= s <= 299)
    grpc_errors = 0
    if data and ok_body_bytes and done:
        good = int(data.group(2)) // ok_body_bytes
        grpc_errors = max(0, done - non2xx - good)
    return {
        "requests": done,
        "seconds": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "errors": non2xx + failed + grpc_errors,
        "error_detail": {
            k: v for k, v in (("non2xx", non2xx), ("failed", failed), ("grpc_status", grpc_errors)) if v
        },
    }
