"""KServe's Python model server with a small custom `kserve.Model` over the joblib file."""

from __future__ import annotations

from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, Peer

SERVER = Path(__file__).parent / "servers" / "kserve_server.py"


class KServe(Peer):
    key = "kserve"
    label = "KServe"
    venv = "kserve"
    packages = ("kserve", "scikit-learn")
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18280
    grpc_port = 18281
    note = "`kserve.ModelServer` defaults (1 uvicorn worker, gRPC on), custom Model calling predict_proba"

    def command(self, work: Path, models: list[str]) -> list[str]:
        cmd = [self.ctx.venv_bin(self.venv, "python"), str(SERVER), "--models_dir", str(self.ctx.models)]
        for model in models:
            cmd += ["--model", model]
        return cmd + ["--http_port", str(self.http_port), "--grpc_port", str(self.grpc_port)]
