"""oxserve's Java binding: the `io.oxserve:oxserve` jar's runner serving examples/java-model's
`IrisLogistic` (a multinomial logistic regression in plain Java) with the coefficients that
scikit-learn fitted, the Rust core running inside the JVM and calling the model through JNI."""

from __future__ import annotations

from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, Peer
from .oxserve import BATCH

MODEL_CLASS = "com.example.IrisLogistic"
# IrisLogistic declares its input as `x` (FP32 [-1, 4]) and answers `probabilities` only.
MODEL_INPUT = "x"


class OxserveJava(Peer):
    key = "oxserve-java"
    label = "oxserve Java"
    install = "oxserve-java"
    models = ("iris",)
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18580
    grpc_port = 18581
    batching: dict = {}
    note = (
        "the `io.oxserve:oxserve` jar built from this checkout (release native library), its runner "
        "(`java -jar`, JVM defaults) serving examples/java-model's `IrisLogistic` with the fitted "
        "coefficients; answers `probabilities` only (no `label`); 1 instance, no batching"
    )

    def command(self, work: Path, models: list[str]) -> list[str]:
        (model,) = models
        cmd = [
            "java",
            f"-Diris.weights={self.model_file(model, 'coefficients.txt')}",
            "-jar",
            str(self.ctx.java_jar),
            "--classpath",
            str(self.ctx.java_models),
            "--model-class",
            MODEL_CLASS,
            "--model-name",
            model,
            "--host",
            "127.0.0.1",
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--log-level",
            "warning",
        ]
        if self.batching:
            cmd += ["--max-batch-size", str(self.batching["max_batch_size"])]
            cmd += ["--max-batch-time", str(self.batching["max_batch_time"])]
        return cmd

    def payload(self, model: str) -> dict:
        return {**super().payload(model), "input": MODEL_INPUT}

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/metrics"


class OxserveJavaBatch(OxserveJava):
    key = "oxserve-java-batch"
    label = "oxserve Java (batching)"
    http_port = 18590
    grpc_port = 18591
    batching = BATCH
    note = "as oxserve Java, with `--max-batch-size 32 --max-batch-time 0.002`"
