"""oxserve's Python package: the joblib model in a typed Python class, served by the Rust core
running inside the Python process (protocols, batching and metrics in Rust, predict in Python)."""

from __future__ import annotations

from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, OxservePeer
from .oxserve import BATCH

SERVER = Path(__file__).parent / "servers" / "oxserve_python_server.py"


class OxservePython(OxservePeer):
    key = "oxserve-python"
    label = "oxserve Python"
    venv = "oxserve-python"
    packages = ("oxserve", "scikit-learn")
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18480
    grpc_port = 18481
    note = "the `oxserve` Python package built from this checkout (release), typed API, 1 worker, no batching"

    def command(self, work: Path, models: list[str]) -> list[str]:
        cmd = [self.ctx.venv_bin(self.venv, "python"), str(SERVER), "--models-dir", str(self.ctx.models)]
        for model in models:
            cmd += ["--model", model]
        return cmd + self.port_args() + self.batch_args()


class OxservePythonBatch(OxservePython):
    key = "oxserve-python-batch"
    label = "oxserve Python (batching)"
    http_port = 18490
    grpc_port = 18491
    batching = BATCH
    note = "as oxserve Python, with `max_batch_size` 32 and `max_batch_time` 0.002"
