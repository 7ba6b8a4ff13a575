"""oxserve's Java binding: the `io.oxserve:oxserve` jar's runner serving examples/java-model's
`IrisLogistic` (a multinomial logistic regression in plain Java) with the coefficients that
scikit-learn fitted, the Rust core running inside the JVM and calling the model through JNI."""

from __future__ import annotations

from pathlib import Path

from . import V2_BINARY, V2_GRPC, V2_JSON, OxservePeer
from .oxserve import BATCH

MODEL_CLASS = "com.example.IrisLogistic"
# IrisLogistic declares its input as `x` (FP32 [-1, 4]) and answers `probabilities` only.
MODEL_INPUT = "x"


def runner(peer: OxservePeer, model_class: str, model: str, jvm_options: list[str]) -> list[str]:
    """The jar's runner serving `model_class` (found on ctx.java_models) as `model` on the peer's
    ports; `jvm_options` go before `-jar`."""
    return [
        "java",
        *jvm_options,
        "-jar",
        str(peer.ctx.java_jar),
        "--classpath",
        str(peer.ctx.java_models),
        "--model-class",
        model_class,
        "--model-name",
        model,
        "--host",
        "127.0.0.1",
        *peer.port_args(),
        "--log-level",
        "warning",
    ]


class OxserveJava(OxservePeer):
    key = "oxserve-java"
    label = "oxserve Java"
    install = "oxserve-java"
    models = ("iris",)
    protocols = (V2_JSON, V2_BINARY, V2_GRPC)
    http_port = 18580
    grpc_port = 18581
    note = (
        "the `io.oxserve:oxserve` jar built from this checkout (release native library), its runner "
        "(`java -jar`, JVM defaults) serving examples/java-model's `IrisLogistic` with the fitted "
        "coefficients; answers `probabilities` only (no `label`); 1 instance, no batching"
    )

    def command(self, work: Path, models: list[str]) -> list[str]:
        (model,) = models
        weights = f"-Diris.weights={self.model_file(model, 'coefficients.txt')}"
        return runner(self, MODEL_CLASS, model, [weights]) + self.batch_args()

    def payload(self, model: str) -> dict:
        return {**super().payload(model), "input": MODEL_INPUT}


class OxserveJavaBatch(OxserveJava):
    key = "oxserve-java-batch"
    label = "oxserve Java (batching)"
    http_port = 18590
    grpc_port = 18591
    batching = BATCH
    note = "as oxserve Java, with `--max-batch-size 32 --max-batch-time 0.002`"
