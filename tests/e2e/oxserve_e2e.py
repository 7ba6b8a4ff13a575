"""Helpers shared by the end-to-end tests: starting an `oxserve` process, building V2 binary
bodies, the every-type fixtures and small decoders.

Nothing here knows about pytest fixtures; `conftest.py` wires these into fixtures.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import requests

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
GENERATED_DIR = E2E_DIR / "_generated"
PROTO_ROOT = REPO / "crates" / "oxserve-protocol" / "proto"
TEST_PROTO_DIR = E2E_DIR / "protos"

# Seconds any single network call may take before the test fails instead of hanging.
TIMEOUT = 30
# The session server runs with a small body limit so the 413 / RESOURCE_EXHAUSTED checks stay
# cheap; the gRPC "> 4 MiB" checks use messages between 4 MiB and this limit.
SESSION_MAX_REQUEST_SIZE = 8 * 1024 * 1024
# Client options that lift grpcio's 4 MiB default on both directions.
GRPC_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]

HEADER_LENGTH = "Inference-Header-Content-Length"


# --------------------------------------------------------------------------------------------
# The server process


def oxserve_bin() -> Path:
    return Path(os.environ.get("OXSERVE_BIN", REPO / "target" / "debug" / "oxserve"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (all held open at once so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the server runs in: ours, with the venv's bin folder first on PATH.

    ORT_DYLIB_PATH is deliberately not set: the server must find the ONNX Runtime library of the
    venv's `onnxruntime` wheel by itself (it runs with the repository as its working folder).
    """
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.setdefault("RUST_BACKTRACE", "1")
    if extra:
        env.update(extra)
    return env


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def repository_args(model_repo: Path, http_port: int, grpc_port: int, *extra: str) -> list[str]:
    """`serve` arguments for the whole test repository on loopback, default model iris."""
    return [
        "--model-repository",
        str(model_repo),
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--default-model",
        "iris",
        *extra,
    ]


class ServerProcess:
    """One `oxserve serve` process on loopback ports, with its output kept in log files."""

    def __init__(
        self,
        args: list[str],
        http_port: int,
        grpc_port: int,
        env: dict[str, str] | None = None,
        name: str = "oxserve",
        log_dir: Path | None = None,
    ):
        self.args = args
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.env = server_env(env)
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        # Logs go to files (a pipe nobody reads could fill up and stall the server); pytest's
        # temporary folders keep them for the last few runs.
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="oxserve-e2e-"))
        stem = f"{name}-{http_port}"
        self.stdout_path = log_dir / f"{stem}.stdout"
        self.stderr_path = log_dir / f"{stem}.stderr"

    # Addresses ------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def http_target(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    # Life cycle -----------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [str(oxserve_bin()), "serve", *self.args]

    def start(self, ready_timeout: float = 30.0) -> ServerProcess:
        binary = oxserve_bin()
        if not binary.is_file():
            raise RuntimeError(
                f"oxserve binary not found at {binary}: build it (cargo build -p oxserve-cli) "
                "or point OXSERVE_BIN at it"
            )
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env, cwd=REPO
            )
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before it was ready\n"
                    f"command: {' '.join(self.command())}\n{self.logs()}"
                )
            try:
                r = requests.get(self.url("/v2/health/ready"), timeout=1)
                last = f"GET /v2/health/ready -> {r.status_code}"
                if r.status_code == 200 and port_open(self.grpc_port):
                    return
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        command = " ".join(self.command())
        raise RuntimeError(
            f"{self.name} was not ready within {timeout} s ({last})\ncommand: {command}\n{self.logs()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Sends SIGTERM (graceful drain) without waiting."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(
                f"{self.name} did not exit within {timeout} s of SIGTERM\n{self.logs()}"
            ) from None
        return self.returncode

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then waits for the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.terminate()
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def logs(self, limit: int = 8000) -> str:
        parts = []
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                text = ""
            if len(text) > limit:
                text = "…" + text[-limit:]
            parts.append(f"--- {self.name} {label} ---\n{text}")
        return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# V2 binary tensor extension


def bytes_tensor(items) -> bytes:
    """Serializes BYTES elements: each a 4-byte little-endian length, then the bytes."""
    out = bytearray()
    for item in items:
        if isinstance(item, str):
            item = item.encode("utf-8")
        out += struct.pack("<I", len(item)) + item
    return bytes(out)


def parse_bytes_tensor(blob: bytes) -> list[bytes]:
    items, i = [], 0
    while i < len(blob):
        (n,) = struct.unpack_from("<I", blob, i)
        items.append(blob[i + 4 : i + 4 + n])
        i += 4 + n
    return items


def binary_body(header: dict, blobs: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """A V2 binary request: JSON header then the blobs, plus the headers that describe it."""
    head = json.dumps(header).encode()
    body = head + b"".join(blobs)
    return body, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


def parse_v2_response(resp: requests.Response) -> tuple[dict, dict[str, bytes]]:
    """Splits a V2 response into its JSON header and the raw bytes of every binary output."""
    length = resp.headers.get(HEADER_LENGTH)
    if length is None:
        return resp.json(), {}
    n = int(length)
    content = resp.content
    header = json.loads(content[:n])
    blobs, pos = {}, n
    for out in header.get("outputs", []):
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            blobs[out["name"]] = content[pos : pos + size]
            pos += size
    assert pos == len(content), f"binary response has {len(content) - pos} trailing bytes"
    return header, blobs


def outputs_by_name(header: dict) -> dict[str, dict]:
    return {o["name"]: o for o in header["outputs"]}


# --------------------------------------------------------------------------------------------
# Datatypes and the every_type model

# V2 datatype -> numpy dtype used for the raw bytes (BF16 is carried as its uint16 bit pattern).
NP_DTYPE = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BF16": np.uint16,
}

# The inputs of every_type in the order the model (and every request built here) lists them, so
# that `inputs[i]` in an error message names the same tensor as the model's i-th input.
EVERY_TYPE_ORDER = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
    "BF16",
]
BINARY_ONLY = ("FP16", "BF16")


def every_type_index(dtype: str) -> int:
    return EVERY_TYPE_ORDER.index(dtype)


def every_type_values() -> dict[str, np.ndarray]:
    """A [2, 3] array per datatype, edge values included (BYTES: object array of bytes, all valid
    UTF-8 so the same values can travel as JSON; BF16: uint16 bit patterns)."""
    v = {
        "BOOL": np.array([[True, False, True], [False, False, True]]),
        "UINT8": np.array([[0, 255, 7], [128, 1, 254]], dtype=np.uint8),
        "UINT16": np.array([[0, 65535, 7], [32768, 1, 300]], dtype=np.uint16),
        "UINT32": np.array([[0, 4294967295, 7], [2147483648, 1, 70000]], dtype=np.uint32),
        "UINT64": np.array([[0, 18446744073709551615, 7], [1 << 63, 1, 1 << 40]], dtype=np.uint64),
        "INT8": np.array([[-128, 127, 0], [-1, 1, 42]], dtype=np.int8),
        "INT16": np.array([[-32768, 32767, 0], [-1, 1, 4242]], dtype=np.int16),
        "INT32": np.array([[-2147483648, 2147483647, 0], [-1, 1, 424242]], dtype=np.int32),
        "INT64": np.array([[-(1 << 63), (1 << 63) - 1, 0], [-1, 1, 1 << 53]], dtype=np.int64),
        "FP16": np.array([[0.5, -2.0, 65504.0], [0.0009765625, -0.0, 3.140625]], dtype=np.float16),
        "FP32": np.array(
            [[0.1, -3.4028235e38, 1.17549435e-38], [3.14159265, -0.0, 1e-45]],
            dtype=np.float32,
        ),
        "FP64": np.array([[0.1, -1e300, 5e-324], [3.141592653589793, -0.0, 1.7976931348623157e308]]),
        "BYTES": np.array(
            [[b"hello", b"", "ünïcødé ✓".encode()], [b"x" * 300, b"a b\tc", b"{}\"'"]],
            dtype=np.object_,
        ),
        # 1.0, -2.0, largest finite, smallest subnormal, 0.25, +0.0
        "BF16": np.array([[0x3F80, 0xC000, 0x7F7F], [0x0001, 0x3E80, 0x0000]], dtype=np.uint16),
    }
    assert list(v) == EVERY_TYPE_ORDER
    return v


def raw_bytes(dtype: str, array: np.ndarray) -> bytes:
    """The V2 binary / gRPC raw form of `array`."""
    if dtype == "BYTES":
        return bytes_tensor(array.flatten().tolist())
    return np.ascontiguousarray(array, dtype=NP_DTYPE[dtype]).tobytes()


def json_data(dtype: str, array: np.ndarray) -> list:
    """The flat JSON `data` for `array` (not valid for FP16/BF16)."""
    if dtype == "BYTES":
        return [b.decode("utf-8") for b in array.flatten().tolist()]
    return array.flatten().tolist()


def to_ml_bf16(bits: np.ndarray) -> np.ndarray:
    """The uint16 BF16 bit patterns as an `ml_dtypes.bfloat16` array (what tritonclient takes)."""
    return np.ascontiguousarray(bits, dtype=np.uint16).view(ml_dtypes.bfloat16)


def every_type_request(
    values: dict[str, np.ndarray],
    json_types=(),
    overrides: dict[str, dict] | None = None,
    outputs: list[dict] | None = None,
    parameters: dict | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A V2 REST request for every_type: the types in `json_types` travel as JSON `data`, the rest
    as binary. `overrides[dtype]` replaces that input's JSON entry (with `_blob` giving its binary
    bytes, if any)."""
    overrides = overrides or {}
    inputs, blobs = [], []
    for dtype in EVERY_TYPE_ORDER:
        name = f"in_{dtype.lower()}"
        arr = values[dtype]
        if dtype in overrides:
            entry = dict(overrides[dtype])
            blob = entry.pop("_blob", None)
            entry.setdefault("name", name)
            inputs.append(entry)
            if blob is not None:
                blobs.append(blob)
            continue
        entry = {"name": name, "datatype": dtype, "shape": list(arr.shape)}
        if dtype in json_types:
            entry["data"] = json_data(dtype, arr)
        else:
            blob = raw_bytes(dtype, arr)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        inputs.append(entry)
    header: dict = {"inputs": inputs}
    if outputs is not None:
        header["outputs"] = outputs
    if parameters is not None:
        header["parameters"] = parameters
    if not blobs:
        return json.dumps(header).encode(), {"Content-Type": "application/json"}
    return binary_body(header, blobs)


# --------------------------------------------------------------------------------------------
# Decoding helpers


def tftensor_values(t: dict) -> tuple[list[int], np.ndarray]:
    """Shape and float values of a TensorFlow TensorProto in its proto3 JSON form."""
    dims = [int(d.get("size", 0)) for d in t.get("tensorShape", {}).get("dim", [])]
    dtype = t.get("dtype")
    if t.get("tensorContent"):
        import base64

        np_type = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64}[dtype]
        vals = np.frombuffer(base64.b64decode(t["tensorContent"]), dtype=np_type)
    elif "floatVal" in t:
        vals = np.array(t["floatVal"], dtype=np.float64)
    elif "doubleVal" in t:
        vals = np.array(t["doubleVal"], dtype=np.float64)
    else:
        raise AssertionError(f"tftensor without float values: {t}")
    return dims, vals.astype(np.float64)


def assert_every_type_echo_result(result, values: dict[str, np.ndarray]) -> None:
    """A tritonclient (HTTP or gRPC) result of `every_type` echoes `values` ([2, 3] each) exactly."""
    for t in EVERY_TYPE_ORDER:
        got = result.as_numpy(f"out_{t.lower()}")
        assert got.shape == (2, 3), t
        if t == "BYTES":
            assert got.flatten().tolist() == values[t].flatten().tolist()
        elif t == "BF16":
            assert got.view(np.uint16).tobytes() == values[t].tobytes()
        else:
            assert got.tobytes() == values[t].tobytes(), t
