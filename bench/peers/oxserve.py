"""oxserve: the release binary serving the ONNX exports from a model repository folder."""

from __future__ import annotations

from pathlib import Path

from . import SELDON_JSON, V2_BINARY, V2_GRPC, V2_JSON, OxservePeer, link, write_json

BATCH = {"max_batch_size": 32, "max_batch_time": 0.002}


class Oxserve(OxservePeer):
    key = "oxserve"
    label = "oxserve"
    protocols = (V2_JSON, V2_BINARY, V2_GRPC, SELDON_JSON)
    http_port = 18080
    grpc_port = 18081
    note = "release build, ONNX export of the model, default settings (1 instance)"

    def prepare(self, work: Path, models: list[str]) -> None:
        for model in models:
            folder = work / "repository" / model
            folder.mkdir(parents=True, exist_ok=True)
            link(self.model_file(model, "model.onnx"), folder / "model.onnx")
            settings = {"name": model, "implementation": "onnx", "parameters": {"uri": "./model.onnx"}}
            write_json(folder / "model-settings.json", {**settings, **self.batching})

    def command(self, work: Path, models: list[str]) -> list[str]:
        return [
            str(self.ctx.oxserve_bin),
            "serve",
            "--model-repository",
            str(work / "repository"),
            "--host",
            "127.0.0.1",
            *self.port_args(),
            "--default-model",
            models[0],
        ]

    def env(self, work: Path) -> dict[str, str]:
        return {"OXSERVE_LOG": "warn"}

    def infer_path(self, protocol: str, model: str) -> str:
        if protocol == SELDON_JSON:
            return f"/seldon/bench/{model}/api/v1.0/predictions"
        return super().infer_path(protocol, model)


class OxserveBatch(Oxserve):
    key = "oxserve-batch"
    label = "oxserve (batching)"
    http_port = 18090
    grpc_port = 18091
    batching = BATCH
    note = "as oxserve, with `max_batch_size` 32 and `max_batch_time` 0.002 in model-settings.json"
