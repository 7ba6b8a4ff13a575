"""MLServer with its scikit-learn runtime serving the joblib models (`mlserver start <repo>`)."""

from __future__ import annotations

from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, Peer, link, write_json


class MLServer(Peer):
    key = "mlserver"
    label = "MLServer"
    venv = "mlserver"
    packages = ("mlserver", "mlserver-sklearn", "scikit-learn")
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18180
    grpc_port = 18181
    metrics_port = 18182
    batching: dict = {}
    note = "mlserver-sklearn runtime, MLServer's default settings (parallel_workers 1) but the ports"

    def prepare(self, work: Path, models: list[str]) -> None:
        repo = work / "repository"
        write_json(
            repo / "settings.json",
            {"http_port": self.http_port, "grpc_port": self.grpc_port, "metrics_port": self.metrics_port},
        )
        for model in models:
            folder = repo / model
            folder.mkdir(parents=True, exist_ok=True)
            link(self.model_file(model, "model.joblib"), folder / "model.joblib")
            settings = {
                "name": model,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
            write_json(folder / "model-settings.json", {**settings, **self.batching})

    def command(self, work: Path, models: list[str]) -> list[str]:
        return [self.ctx.venv_bin(self.venv, "mlserver"), "start", str(work / "repository")]

    def ports(self) -> list[int]:
        return [self.http_port, self.grpc_port, self.metrics_port]


class MLServerBatch(MLServer):
    key = "mlserver-batch"
    label = "MLServer (adaptive batching)"
    http_port = 18190
    grpc_port = 18191
    metrics_port = 18192
    batching = {"max_batch_size": 32, "max_batch_time": 0.002}
    note = "as MLServer, with adaptive batching: `max_batch_size` 32, `max_batch_time` 0.002"
