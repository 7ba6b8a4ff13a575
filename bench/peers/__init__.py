"""The servers under test: one small class per peer that says how to install, start and reach it.

A peer only describes itself; `bench/run.py` installs, starts (pinned to the server core), waits for
health, probes, loads and stops it. Each peer serves the same trained models (`bench/models.py`):
ONNX for oxserve, the joblib scikit-learn model for the Python servers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

V2_JSON = "V2 REST JSON"
V2_BINARY = "V2 REST binary"
V2_GRPC = "V2 gRPC"
SELDON_JSON = "Seldon REST JSON"
PROTOCOLS = (V2_JSON, V2_BINARY, V2_GRPC, SELDON_JSON)


@dataclass
class Context:
    """Paths a peer needs: the repository, the bench folder, its venvs, the trained models and
    what run.py built from this checkout."""

    root: Path
    bench: Path
    venvs: Path
    models: Path
    oxserve_bin: Path
    java_jar: Path  # the io.oxserve:oxserve jar (its runner), release native library inside
    java_models: Path  # class folder: examples/java-model's IrisLogistic and bench/java's Echo
    r_library: Path  # R library folder holding the oxserve R package

    def venv_bin(self, venv: str, tool: str) -> str:
        return str(self.venvs / venv / "bin" / tool)


class Peer:
    """One server configuration under test."""

    key = ""  # identifies the run in the raw JSON and the logs
    label = ""  # the row name in RESULTS.md
    venv: str | None = None  # bench/.venvs/<venv>, installed from bench/requirements/<venv>.txt
    install: str | None = None  # run.py's install step it needs (default: its venv's)
    models: tuple[str, ...] | None = None  # the models it serves, when not all of them
    needs: type[Peer] | None = None  # a server that must run while this one is measured
    packages: tuple[str, ...] = ()  # distributions whose versions the report lists
    protocols: tuple[str, ...] = (V2_JSON, V2_BINARY, V2_GRPC)
    per_model = False  # True: one server process per model (it serves only one)
    http_port = 0
    grpc_port = 0
    startup_timeout = 180.0
    note = ""  # printed under the tables: what is special about this peer's setup
    metrics_url = ""  # Prometheus text with Triton's nv_inference_count / nv_inference_exec_count

    def __init__(self, ctx: Context):
        self.ctx = ctx

    @property
    def install_step(self) -> str | None:
        """The name under which run.py reports a failed install of what this peer runs."""
        return self.install or self.venv

    def prepare(self, work: Path, models: list[str]) -> None:
        """Write what the server reads (a model repository, a script) into `work`."""

    def command(self, work: Path, models: list[str]) -> list[str]:
        raise NotImplementedError

    def env(self, work: Path) -> dict[str, str]:
        """Environment variables added to the server's."""
        return {}

    def ready_path(self, models: list[str]) -> str:
        return "/v2/health/ready"

    def infer_path(self, protocol: str, model: str) -> str:
        return f"/v2/models/{model}/infer"

    def ports(self) -> list[int]:
        return [p for p in (self.http_port, self.grpc_port) if p]

    # helpers for subclasses
    def model_file(self, model: str, name: str) -> Path:
        return self.ctx.models / model / name

    def payload(self, model: str) -> dict:
        return json.loads(self.model_file(model, "payload.json").read_text())


class OxservePeer(Peer):
    """A server built on oxserve's Rust core (the binary or a language binding). They all take the
    same port and batching flags and serve Prometheus text at /metrics, so these live here once."""

    batching: dict = {}  # max_batch_size / max_batch_time; empty: no batching

    def port_args(self) -> list[str]:
        """The flags that put the HTTP and gRPC servers on this peer's ports."""
        return ["--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port)]

    def batch_args(self) -> list[str]:
        """The flags that turn on batching with `batching`'s settings (none when it is empty)."""
        if not self.batching:
            return []
        return [
            "--max-batch-size",
            str(self.batching["max_batch_size"]),
            "--max-batch-time",
            str(self.batching["max_batch_time"]),
        ]

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/metrics"


def link(src: Path, dst: Path) -> None:
    """Make `dst` a copy-free link to `src` (replacing what is there)."""
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    os.symlink(src.resolve(), dst)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def all_peers():
    """Every peer class in the order the report lists them (oxserve first: the ratio base)."""
    from .kserve import KServe
    from .mlserver import MLServer, MLServerBatch
    from .oxserve import Oxserve, OxserveBatch
    from .oxserve_java import OxserveJava, OxserveJavaBatch
    from .oxserve_python import OxservePython, OxservePythonBatch
    from .oxserve_r import OxserveR, OxserveRBatch
    from .seldon import Seldon
    from .triton import Triton

    return [
        Oxserve,
        OxserveBatch,
        OxservePython,
        OxservePythonBatch,
        OxserveJava,
        OxserveJavaBatch,
        OxserveR,
        OxserveRBatch,
        MLServer,
        MLServerBatch,
        KServe,
        Triton,
        Seldon,
    ]
