"""The JNI crossing: one model that does nothing, served natively and from Java.

`identity` (bench/models.py) answers its FP32 input unchanged as `output`; oxserve serves it with
ONNX Runtime, and the jar's runner serves bench/java/Echo.java, which does the same in Java. The
server times each call into the model (`oxserve_compute_duration_seconds`), so the two per-call
times differ by what crossing into Java and back costs beyond a native call that does nothing.
"""

from __future__ import annotations

from pathlib import Path

from . import V2_JSON, OxservePeer
from .oxserve_java import runner

MODEL = "identity"


class IdentityOnnx(OxservePeer):
    key = "crossing-onnx"
    label = "ONNX `Identity`, native"
    models = (MODEL,)
    protocols = (V2_JSON,)
    http_port = 18780
    grpc_port = 18781
    note = "`oxserve serve --model identity.onnx` (release binary, ONNX Runtime)"

    def command(self, work: Path, models: list[str]) -> list[str]:
        return [
            str(self.ctx.oxserve_bin),
            "serve",
            "--model",
            str(self.model_file(MODEL, "model.onnx")),
            "--name",
            MODEL,
            "--host",
            "127.0.0.1",
            *self.port_args(),
        ]

    def env(self, work: Path) -> dict[str, str]:
        return {"OXSERVE_LOG": "warn"}


class EchoJava(IdentityOnnx):
    key = "crossing-java"
    label = "Java `Echo`, through JNI"
    install = "oxserve-java"
    http_port = 18790
    grpc_port = 18791
    note = "the jar's runner serving bench/java/Echo.java (answers its input's array as it got it)"

    def command(self, work: Path, models: list[str]) -> list[str]:
        return runner(self, "oxservebench.Echo", MODEL, [])

    def env(self, work: Path) -> dict[str, str]:
        return {}


def crossing_peers():
    """The two servers of the JNI crossing measurement, the native one first (the base)."""
    return [IdentityOnnx, EchoJava]
