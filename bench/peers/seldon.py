"""Seldon Core's Python wrapper (`seldon-core-microservice`, gunicorn defaults): Seldon protocol only."""

from __future__ import annotations

from pathlib import Path

from . import SELDON_JSON, Peer

SERVERS = Path(__file__).parent / "servers"


class Seldon(Peer):
    key = "seldon"
    label = "Seldon wrapper"
    venv = "seldon"
    packages = ("seldon-core", "gunicorn", "scikit-learn")
    protocols = (SELDON_JSON,)
    per_model = True  # the wrapper serves one model class per process
    http_port = 18380
    grpc_port = 18381
    metrics_port = 18382
    note = (
        "speaks the Seldon protocol, not V2: measured with the Seldon ndarray JSON payload "
        '(`{"data": {"ndarray": [[...]]}}`), compared with oxserve\'s Seldon endpoint; '
        "gunicorn defaults (1 worker, 1 thread)"
    )

    def command(self, work: Path, models: list[str]) -> list[str]:
        return [
            self.ctx.venv_bin(self.venv, "seldon-core-microservice"),
            "SeldonModel",
            "--service-type",
            "MODEL",
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--metrics-port",
            str(self.metrics_port),
        ]

    def env(self, work: Path) -> dict[str, str]:
        return {"PYTHONPATH": str(SERVERS), "BENCH_MODEL_PATH": str(self._model_path)}

    def prepare(self, work: Path, models: list[str]) -> None:
        self._model_path = self.model_file(models[0], "model.joblib")

    def ready_path(self, models: list[str]) -> str:
        return "/health/ping"

    def infer_path(self, protocol: str, model: str) -> str:
        return "/api/v1.0/predictions"

    def ports(self) -> list[int]:
        return [self.http_port, self.grpc_port, self.metrics_port]
