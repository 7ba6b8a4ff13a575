"""Triton Inference Server as shipped by the `nvidia-pytriton` wheel, Python-backed sklearn models."""

from __future__ import annotations

import os
from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, Peer

SERVER = Path(__file__).parent / "servers" / "triton_server.py"


class Triton(Peer):
    key = "triton"
    label = "Triton (PyTriton)"
    venv = "triton"
    packages = ("nvidia-pytriton", "scikit-learn")
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18480
    grpc_port = 18481
    metrics_port = 18482
    note = "PyTriton defaults, `max_batch_size` 32 (its default dynamic batcher); model in Python"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self, work: Path, models: list[str]) -> list[str]:
        cmd = [self.ctx.venv_bin(self.venv, "python"), str(SERVER), "--models-dir", str(self.ctx.models)]
        for model in models:
            cmd += ["--model", model]
        ports = [
            "--http-port",
            self.http_port,
            "--grpc-port",
            self.grpc_port,
            "--metrics-port",
            self.metrics_port,
        ]
        return cmd + [str(p) for p in ports]

    def env(self, work: Path) -> dict[str, str]:
        # PyTriton keeps its workspace under $HOME/.cache; keep it inside the run's folder.
        env = {"PYTRITON_HOME": str(work / "pytriton")}
        # The Python backend stub links libpython3.11.so.1.0 and runs the venv's standard library:
        # both must come from the same Python. A Python of its own (pyenv, built shared) comes
        # first, else the dynamic linker picks Debian's 3.11.2, whose RLock lacks the
        # `_recursion_count` a newer 3.11 standard library calls, and the model fails to load.
        lib = self.base_python_lib()
        if lib:
            env["LD_LIBRARY_PATH"] = ":".join(filter(None, [str(lib), os.environ.get("LD_LIBRARY_PATH")]))
        return env

    def base_python_lib(self) -> Path | None:
        cfg = self.ctx.venvs / self.venv / "pyvenv.cfg"
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                lib = Path(value.strip()).parent / "lib"
                return lib if (lib / "libpython3.11.so.1.0").exists() else None
        return None

    def ports(self) -> list[int]:
        return [self.http_port, self.grpc_port, self.metrics_port]
