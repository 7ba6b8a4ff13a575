"""Graph hops: what one more unit on a request's path costs, in process and across processes.

Every configuration serves the iris model under the name `iris`, answering what the ONNX export
answers, so the same probe and payload serve all of them:

- `graph-0`: `oxserve run` of a graph whose only node is the iris model (the base);
- `graph-local`: the same behind a chain of `LOCAL_HOPS` TRANSFORMER nodes, each running the ONNX
  `identity` model (bench/models.py) in the same process;
- `direct`: a second oxserve process serving iris (`oxserve serve`), called directly;
- `graph-remote-rest`, `graph-remote-grpc`: a graph whose only node is a remote V2 unit, that
  second process, reached over REST or gRPC.

The added latency per local hop is (graph-local − graph-0) / LOCAL_HOPS; per remote hop it is
graph-remote − direct: the first process decodes, calls the second, and encodes its answer.

Seldon Core's orchestrator (its Go executor, `--protocol v2`) in front of the same `direct`
server is the remote hop's yardstick (`seldon-executor-rest`, `-grpc`). The Go module proxy does
not serve seldon-core's modules, so the harness cannot build it: the configurations run only when
`SELDON_EXECUTOR` names an executor binary built from Seldon Core's sources (bench/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import V2_JSON, Peer

LOCAL_HOPS = 8
MODEL = "iris"
REMOTE_HTTP_PORT = 18880
REMOTE_GRPC_PORT = 18881


class Direct(Peer):
    """oxserve serving the iris model alone: the remote units' server, and the base they add to."""

    key = "direct"
    label = "iris served directly (`oxserve serve`)"
    models = (MODEL,)
    protocols = (V2_JSON,)
    http_port = REMOTE_HTTP_PORT
    grpc_port = REMOTE_GRPC_PORT

    def command(self, work: Path, models: list[str]) -> list[str]:
        cmd = [str(self.ctx.oxserve_bin), "serve", "--model", str(self.model_file(MODEL, "model.onnx"))]
        return cmd + ["--name", MODEL, *self.listen()]

    def listen(self) -> list[str]:
        return ["--host", "127.0.0.1", "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port)]

    def env(self, work: Path) -> dict[str, str]:
        return {"OXSERVE_LOG": "warn"}


class Graph(Direct):
    """`oxserve run` of a graph served as `iris`; `nodes` lists the path, the last one answers."""

    http_port = 18980
    grpc_port = 18981

    def __init__(self, ctx, key: str, label: str, nodes: list[dict], needs: type[Peer] | None = None):
        super().__init__(ctx)
        self.key, self.label, self.nodes, self.needs = key, label, nodes, needs

    def prepare(self, work: Path, models: list[str]) -> None:
        (work / "graph.yaml").write_text(graph_yaml(MODEL, self.nodes))

    def command(self, work: Path, models: list[str]) -> list[str]:
        return [str(self.ctx.oxserve_bin), "run", str(work / "graph.yaml"), *self.listen()]


class SeldonExecutor(Peer):
    """Seldon Core's executor serving a one-node SeldonDeployment whose unit is the `direct`
    server, speaking V2 to it over REST or gRPC."""

    models = (MODEL,)
    protocols = (V2_JSON,)
    http_port = 18780
    grpc_port = 18781
    needs = Direct

    def __init__(self, ctx, binary: Path, transport: str):
        super().__init__(ctx)
        self.binary, self.transport = binary, transport
        self.key = f"seldon-executor-{transport}"
        label = "REST" if transport == "rest" else "gRPC"
        self.label = f"graph: iris behind Seldon's executor, V2 over {label}"

    def prepare(self, work: Path, models: list[str]) -> None:
        # The executor dials httpPort/grpcPort; service_port is what Seldon's operator fills in.
        endpoint = (
            f"{{service_host: 127.0.0.1, service_port: {REMOTE_HTTP_PORT}, httpPort: {REMOTE_HTTP_PORT}, "
            f"grpcPort: {REMOTE_GRPC_PORT}, type: {self.transport.upper()}}}"
        )
        (work / "seldon-deployment.yaml").write_text(
            "# Written by bench/run.py (bench/peers/graphs.py) for Seldon's executor.\n"
            "apiVersion: machinelearning.seldon.io/v1\n"
            "kind: SeldonDeployment\n"
            f"metadata: {{name: {MODEL}}}\n"
            "spec:\n"
            "  predictors:\n"
            "  - name: default\n"
            f"    graph: {{name: {MODEL}, type: MODEL, endpoint: {endpoint}}}\n"
        )

    def command(self, work: Path, models: list[str]) -> list[str]:
        return [
            str(self.binary),
            *("--sdep", MODEL, "--namespace", "default", "--predictor", "default"),
            *("--file", str(work / "seldon-deployment.yaml"), "--protocol", "v2"),
            *("--transport", self.transport, "--http_port", str(self.http_port)),
            *("--grpc_port", str(self.grpc_port)),
        ]

    def env(self, work: Path) -> dict[str, str]:
        return {"JAEGER_DISABLED": "true"}

    def ready_path(self, models: list[str]) -> str:
        return "/ready"


def seldon_executor() -> Path | None:
    """The executor binary named by SELDON_EXECUTOR, if it is one."""
    path = os.environ.get("SELDON_EXECUTOR")
    return Path(path) if path and os.access(path, os.X_OK) else None


def graph_yaml(name: str, nodes: list[dict]) -> str:
    """oxserve's native graph form: each node the only child of the one before it."""
    lines = [
        "# Written by bench/run.py (bench/peers/graphs.py): one chain of nodes, the last answers.",
        f"name: {name}",
        "graph:",
    ]
    indent = "  "
    for i, node in enumerate(nodes):
        if i:
            lines.append(f"{indent}children:")
            indent += "  "
            lines.append(f"{indent[:-2]}- name: {node['name']}")
        else:
            lines.append(f"{indent}name: {node['name']}")
        for key, value in node.items():
            if key != "name":
                lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines) + "\n"


def hop_peers(ctx) -> list[Peer]:
    """The configurations in the order they run; each base comes before what is compared to it."""
    iris = {"name": "classifier", "model": ctx.models / MODEL / "model.onnx"}
    identity = ctx.models / "identity" / "model.onnx"
    hops = [{"name": f"hop-{i + 1}", "type": "TRANSFORMER", "model": identity} for i in range(LOCAL_HOPS)]

    def remote(transport: str) -> dict:
        port = REMOTE_HTTP_PORT if transport == "rest" else REMOTE_GRPC_PORT
        endpoint = f"{{host: 127.0.0.1, port: {port}, transport: {transport}, protocol: v2, model: {MODEL}}}"
        return {"name": "classifier", "endpoint": endpoint}

    return [
        Graph(ctx, "graph-0", "graph: the iris model alone", [iris]),
        Graph(ctx, "graph-local", f"graph: {LOCAL_HOPS} identity transformers, then iris", [*hops, iris]),
        Direct(ctx),
        Graph(
            ctx, "graph-remote-rest", "graph: iris as a remote V2 unit over REST", [remote("rest")], Direct
        ),
        Graph(
            ctx, "graph-remote-grpc", "graph: iris as a remote V2 unit over gRPC", [remote("grpc")], Direct
        ),
        *(
            SeldonExecutor(ctx, executor, t)
            for executor in filter(None, [seldon_executor()])
            for t in ("rest", "grpc")
        ),
    ]
