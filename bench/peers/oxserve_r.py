"""oxserve's R package: the iris model as base R (softmax over the coefficients scikit-learn
fitted), served by the Rust core running inside the R process; every call runs on R's main
thread, one at a time."""

from __future__ import annotations

from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, OxservePeer
from .oxserve import BATCH

SERVER = Path(__file__).parent / "servers" / "oxserve_r_server.R"


class OxserveR(OxservePeer):
    key = "oxserve-r"
    label = "oxserve R"
    install = "oxserve-r"
    models = ("iris",)
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18680
    grpc_port = 18681
    note = (
        "the `oxserve` R package built from this checkout (release), `oxserve::serve()` with a base-R "
        "softmax over the fitted coefficients (`peers/servers/oxserve_r_server.R`); answers the "
        "probabilities as one FP64 matrix `predict`; no batching"
    )

    def command(self, work: Path, models: list[str]) -> list[str]:
        (model,) = models
        cmd = ["Rscript", "--vanilla", str(SERVER)]
        cmd += ["--coefficients", str(self.model_file(model, "coefficients.txt")), "--model", model]
        return cmd + self.port_args() + self.batch_args()

    def env(self, work: Path) -> dict[str, str]:
        return {"R_LIBS": str(self.ctx.r_library)}


class OxserveRBatch(OxserveR):
    key = "oxserve-r-batch"
    label = "oxserve R (batching)"
    http_port = 18690
    grpc_port = 18691
    batching = BATCH
    note = "as oxserve R, with `max_batch_size` 32 and `max_batch_time` 0.002"
