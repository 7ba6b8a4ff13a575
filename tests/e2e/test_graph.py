"""Inference graphs: `oxserve run` on the examples in examples/graphs, and graphs whose units are
other `oxserve` processes on loopback, reached over REST and gRPC.

The example files are copied next to a `models` folder holding the models they name, so the
files under test are the ones the README shows.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from conftest import start_or_explain

from oxserve_e2e import REPO, TIMEOUT, ServerProcess, free_ports, oxserve_bin

GRAPHS = REPO / "examples" / "graphs"
FLOWER = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
# What examples/graphs/make_graph_models.py scales by.
MEAN = np.array([5.84, 3.06, 3.76, 1.20], dtype=np.float32)
STD = np.array([0.83, 0.44, 1.77, 0.76], dtype=np.float32)


class GraphProcess(ServerProcess):
    """`oxserve run GRAPH` on loopback ports."""

    def command(self) -> list[str]:
        return [str(oxserve_bin()), "run", *self.args]


class LiveGraphProcess(GraphProcess):
    """A graph that is not expected to become ready (a unit cannot be reached): started once it
    answers /v2/health/live."""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}\n{self.logs()}")
            try:
                if requests.get(self.url("/v2/health/live"), timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not live within {timeout} s\n{self.logs()}")


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory, model_repo) -> Path:
    """examples/graphs/*.yaml in graphs/, beside models/ with iris and iris_scaler."""
    root = tmp_path_factory.mktemp("graph-examples")
    models = root / "models"
    models.mkdir()
    (models / "iris").symlink_to(model_repo / "iris")
    done = subprocess.run(
        [sys.executable, str(GRAPHS / "make_graph_models.py"), str(models)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    shutil.copytree(
        GRAPHS, root / "graphs", ignore=shutil.ignore_patterns("make_graph_models.py", "__pycache__")
    )
    return root


@pytest.fixture
def start(log_dir):
    """Starts processes (`start(GraphProcess | ServerProcess class, args)`), killed after the test."""
    started: list[ServerProcess] = []

    def spawn(
        kind: type[ServerProcess], args: list[str], name: str = "graph", ports: tuple[int, int] | None = None
    ) -> ServerProcess:
        http_port, grpc_port = ports or free_ports(2)
        ports = ["--host", "127.0.0.1", "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
        proc = kind([*args, *ports], http_port, grpc_port, name=name, log_dir=log_dir)
        started.append(proc)
        error = start_or_explain(proc)
        if error:
            pytest.fail(error, pytrace=False)
        return proc

    yield spawn
    for proc in started:
        proc.kill()


def predict(proc: ServerProcess, rows=FLOWER) -> dict:
    r = requests.post(proc.url("/api/v1.0/predictions"), json={"data": {"ndarray": rows}}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def feedback(proc: ServerProcess, prediction: dict, reward: float) -> None:
    body = {"request": {"data": {"ndarray": FLOWER}}, "response": prediction, "reward": reward}
    r = requests.post(proc.url("/api/v1.0/feedback"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def probabilities(answer: dict) -> np.ndarray:
    return np.array(answer["data"]["ndarray"])


def scaled(rows) -> np.ndarray:
    return (np.array(rows, dtype=np.float32) - MEAN) / STD


def test_python_chain_is_handed_to_the_python_package(start, graph_dir, reference):
    """examples/graphs/python-chain.yaml: a Python TRANSFORMER class before the ONNX model, in the
    process `oxserve run` becomes (python -m oxserve --graph) with this interpreter."""
    graph = str(graph_dir / "graphs" / "python-chain.yaml")
    proc = start(GraphProcess, [graph, "--python", sys.executable])
    typo = [[51.0, 3.5, 1.4, 0.2]]
    answer = predict(proc, typo)
    expected = reference.run("iris", {"input": np.array([[8.0, 3.5, 1.4, 0.2]], dtype=np.float32)})
    np.testing.assert_allclose(probabilities(answer), expected["probabilities"], rtol=1e-5)
    assert answer["meta"]["requestPath"]["clip"] == "python:clip.Clip"
    assert answer["meta"]["tags"]["clipped_so_far"] == 1


def test_chain_runs_the_transformer_then_the_model(start, graph_dir, reference):
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "chain.yaml")])
    answer = predict(proc)
    expected = reference.run("iris", {"input": scaled(FLOWER)})["probabilities"]
    np.testing.assert_allclose(probabilities(answer), expected, rtol=1e-5)
    assert {"scaler", "classifier"} <= set(answer["meta"]["requestPath"])
    # The graph is a model to every protocol: V2 metadata shows the first unit's input.
    meta = requests.get(proc.url("/v2/models/iris-chain"), timeout=TIMEOUT).json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4], "data": FLOWER}]}
    r = requests.post(proc.url("/v2/models/iris-chain/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    np.testing.assert_allclose(np.array(out["probabilities"]["data"]).reshape(2, 3), expected, rtol=1e-5)


def test_ab_test_splits_traffic_and_reports_the_choice(start, graph_dir):
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "ab-test.yaml")])
    choices = [predict(proc)["meta"]["routing"]["ab"] for _ in range(40)]
    assert set(choices) == {0, 1}, choices
    assert choices.count(0) > choices.count(1), "ratioA is 0.75"


def test_ensemble_averages_its_children(start, graph_dir, reference):
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "ensemble.yaml")])
    raw = reference.run("iris", {"input": np.array(FLOWER, dtype=np.float32)})["probabilities"]
    after = reference.run("iris", {"input": scaled(FLOWER)})["probabilities"]
    answer = predict(proc)
    np.testing.assert_allclose(probabilities(answer), (raw + after) / 2, rtol=1e-5)
    assert {"raw", "scaled", "after-scaling", "mean"} <= set(answer["meta"]["requestPath"])


@pytest.mark.parametrize("example,router", [("epsilon-greedy", "eg-router"), ("thompson", "ts-router")])
def test_bandit_learns_from_feedback(start, graph_dir, example, router):
    """Branch 1 is always right and branch 0 never: after feedback, most traffic goes to 1."""
    proc = start(GraphProcess, [str(graph_dir / "graphs" / f"{example}.yaml")])
    late = []
    for i in range(60):
        answer = predict(proc)
        branch = answer["meta"]["routing"][router]
        feedback(proc, answer, 1.0 if branch == 1 else 0.0)
        if i >= 40:
            late.append(branch)
    assert late.count(1) >= 15, late
    metrics = requests.get(proc.url("/metrics"), timeout=TIMEOUT).text
    assert f'oxserve_router_successes_total{{branch="b",router="{router}"}}' in metrics
    assert f'oxserve_router_branch_value{{branch="b",router="{router}"}} ' in metrics


def test_feedback_over_grpc_reaches_the_router(start, graph_dir, seldon_pb):
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "thompson.yaml")])
    pb = seldon_pb.pb
    with grpc.insecure_channel(proc.grpc_target) as channel:
        stub = seldon_pb.grpc.SeldonStub(channel)
        request = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[1, 4], values=FLOWER[0])))
        answer = stub.Predict(request, timeout=TIMEOUT)
        branch = answer.meta.routing["ts-router"]
        stub.SendFeedback(pb.Feedback(request=request, response=answer, reward=1.0), timeout=TIMEOUT)
    metrics = requests.get(proc.url("/metrics"), timeout=TIMEOUT).text
    name = ["a", "b"][branch]
    assert f'oxserve_router_successes_total{{branch="{name}",router="ts-router"}} 1' in metrics


def test_v2_clients_get_the_routing_and_send_feedback(start, graph_dir):
    """V2 has no meta: routing comes back as `routing.<router>` parameters, and the V2 feedback
    extension takes the echoed response."""
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "thompson.yaml")])
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4], "data": FLOWER}]}
    answer = requests.post(proc.url("/v2/models/iris-thompson/infer"), json=body, timeout=TIMEOUT).json()
    branch = answer["parameters"]["routing.ts-router"]
    feedback = {"request": body, "response": answer, "reward": 0.5}
    r = requests.post(proc.url("/v2/models/iris-thompson/feedback"), json=feedback, timeout=TIMEOUT)
    assert (r.status_code, r.json()) == (200, {}), r.text
    metrics = requests.get(proc.url("/metrics"), timeout=TIMEOUT).text
    name = ["a", "b"][branch]
    # Two rows at reward 0.5: one success, one failure.
    assert f'oxserve_router_successes_total{{branch="{name}",router="ts-router"}} 1' in metrics
    assert f'oxserve_router_failures_total{{branch="{name}",router="ts-router"}} 1' in metrics
    bad = {"response": {"parameters": {"routing.ts-router": "a"}}, "reward": 1}
    r = requests.post(proc.url("/v2/models/iris-thompson/feedback"), json=bad, timeout=TIMEOUT)
    assert r.status_code == 400 and "response.parameters.routing.ts-router" in r.json()["error"], r.text


def test_v2_feedback_to_a_plain_model_is_accepted(start, graph_dir):
    proc = serve_model(start, graph_dir, "iris", "iris")
    r = requests.post(proc.url("/v2/models/iris/feedback"), json={"reward": 1}, timeout=TIMEOUT)
    assert (r.status_code, r.json()) == (200, {}), r.text


def test_feedback_without_routing_is_a_400_naming_the_field(start, graph_dir):
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "epsilon-greedy.yaml")])
    body = {"request": {"data": {"ndarray": FLOWER}}, "reward": 1.0}
    r = requests.post(proc.url("/api/v1.0/feedback"), json=body, timeout=TIMEOUT)
    assert r.status_code == 400, r.text
    assert "response.meta.routing.eg-router: missing" in r.json()["status"]["info"]


# ------------------------------------------------------------------------------------------------
# Remote units: each model in its own `oxserve serve` process.


def serve_model(start, graph_dir: Path, model: str, name: str) -> ServerProcess:
    path = graph_dir / "models" / model / "model.onnx"
    return start(ServerProcess, ["--model", str(path), "--name", name], name=name)


def write_graph(graph_dir: Path, name: str, text: str) -> Path:
    path = graph_dir / f"{name}.yaml"
    path.write_text(text)
    return path


def test_remote_units_over_rest_and_grpc(start, graph_dir, reference):
    """scaler (Seldon REST) -> classifier (Seldon gRPC), beside the same classifier over V2 gRPC and
    V2 REST; the combiner's mean of three equal answers is that answer."""
    scaler = serve_model(start, graph_dir, "iris_scaler", "scaler")
    seldon = serve_model(start, graph_dir, "iris", "classifier")
    v2 = serve_model(start, graph_dir, "iris", "classifier-v2")
    path = write_graph(
        graph_dir,
        "remote",
        f"""
name: remote
graph:
  name: mean
  implementation: AVERAGE_COMBINER
  children:
    - name: scaler
      endpoint: {{host: 127.0.0.1, port: {scaler.http_port}, transport: rest}}
      children:
        - name: classifier
          endpoint: {{host: 127.0.0.1, port: {seldon.grpc_port}, transport: grpc}}
    - name: pre-scaled
      type: TRANSFORMER
      model: models/iris_scaler/model.onnx
      children:
        - name: classifier-v2
          endpoint: {{host: 127.0.0.1, port: {v2.grpc_port}, transport: grpc, protocol: v2}}
    - name: scaled-again
      type: TRANSFORMER
      model: models/iris_scaler/model.onnx
      children:
        - name: over-v2-rest
          endpoint: {{host: 127.0.0.1, port: {v2.http_port}, protocol: v2, model: classifier-v2}}
""",
    )
    proc = start(GraphProcess, [str(path)])
    answer = predict(proc)
    expected = reference.run("iris", {"input": scaled(FLOWER)})["probabilities"]
    np.testing.assert_allclose(probabilities(answer), expected, rtol=1e-5)
    path_ = answer["meta"]["requestPath"]
    assert path_["classifier"] == f"seldon+grpc://127.0.0.1:{seldon.grpc_port}"
    assert path_["scaler"] == f"seldon+http://127.0.0.1:{scaler.http_port}"


def test_remote_transformers_over_rest_and_grpc(start, graph_dir, reference):
    """Remote TRANSFORMER (REST /transform-input) and OUTPUT_TRANSFORMER (gRPC TransformOutput)
    around a local model; a plain model's transforms are identities."""
    before = serve_model(start, graph_dir, "iris_scaler", "before")
    after = serve_model(start, graph_dir, "iris", "after")
    path = write_graph(
        graph_dir,
        "remote-transformers",
        f"""
graph:
  name: before
  type: TRANSFORMER
  endpoint: {{host: 127.0.0.1, port: {before.http_port}}}
  children:
    - name: after
      type: OUTPUT_TRANSFORMER
      endpoint: {{host: 127.0.0.1, port: {after.grpc_port}, transport: grpc}}
      children:
        - {{name: local, model: models/iris/model.onnx}}
""",
    )
    proc = start(GraphProcess, [str(path)])
    answer = predict(proc)
    expected = reference.run("iris", {"input": np.array(FLOWER, dtype=np.float32)})["probabilities"]
    np.testing.assert_allclose(probabilities(answer), expected, rtol=1e-5)
    assert {"before", "after", "local"} <= set(answer["meta"]["requestPath"])


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_graph_as_a_remote_unit_learns_from_forwarded_feedback(start, graph_dir, transport):
    """A graph process as a unit of another graph: its routing reaches the client through the
    outer graph, and feedback to the outer graph reaches the inner router."""
    inner = start(GraphProcess, [str(graph_dir / "graphs" / "thompson.yaml")], name="inner")
    port = inner.http_port if transport == "rest" else inner.grpc_port
    path = write_graph(
        graph_dir,
        f"outer-{transport}",
        f"graph:\n  name: inner\n  endpoint: {{host: 127.0.0.1, port: {port}, transport: {transport}}}\n",
    )
    outer = start(GraphProcess, [str(path)], name="outer")
    answer = predict(outer)
    branch = answer["meta"]["routing"]["ts-router"]
    assert {"inner", "ts-router"} <= set(answer["meta"]["requestPath"])
    feedback(outer, answer, 1.0)
    metrics = requests.get(inner.url("/metrics"), timeout=TIMEOUT).text
    name = ["a", "b"][branch]
    assert f'oxserve_router_successes_total{{branch="{name}",router="ts-router"}} 2' in metrics


def test_kserve_inference_graph_over_v2_rest(start, graph_dir, reference):
    """A KServe Sequence (scaler, then an Ensemble of two classifiers) of V2 model servers."""
    scaler = serve_model(start, graph_dir, "iris_scaler", "scaler")
    iris = serve_model(start, graph_dir, "iris", "iris")
    url = "http://127.0.0.1:{}/v2/models/{}/infer"
    path = write_graph(
        graph_dir,
        "kserve",
        f"""
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: iris-kserve}}
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - {{name: scale, serviceUrl: "{url.format(scaler.http_port, "scaler")}"}}
      - {{nodeName: both, data: $response}}
    both:
      routerType: Ensemble
      steps:
      - {{name: first, serviceUrl: "{url.format(iris.http_port, "iris")}"}}
      - {{name: second, serviceUrl: "{url.format(iris.http_port, "iris")}"}}
      - {{name: gone, serviceUrl: "{url.format(iris.http_port, "gone")}"}}
""",
    )
    proc = start(GraphProcess, [str(path)])
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4], "data": FLOWER}]}
    r = requests.post(proc.url("/v2/models/iris-kserve/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    outputs = {o["name"]: np.array(o["data"]) for o in r.json()["outputs"]}
    assert set(outputs) == {"first.probabilities", "first.label", "second.probabilities", "second.label"}
    expected = reference.run("iris", {"input": scaled(FLOWER)})["probabilities"]
    np.testing.assert_allclose(outputs["second.probabilities"].reshape(2, 3), expected, rtol=1e-5)
    # A step is a soft dependency by default, as in KServe: the ensemble answers without it and
    # names its error; a Hard one fails the request.
    assert "unit 'gone'" in r.json()["parameters"]["gone.error"], r.text
    hard = write_graph(graph_dir, "kserve-hard", path.read_text().replace('"}\n', '", dependency: Hard}\n'))
    proc = start(GraphProcess, [str(hard)])
    r = requests.post(proc.url("/v2/models/iris-kserve/infer"), json=body, timeout=TIMEOUT)
    assert r.status_code == 500 and "unit 'gone'" in r.text, r.text


def test_kserve_switch_routes_by_condition(start, graph_dir, reference):
    """A KServe Switch: requests asking for the scaled pipeline (a request parameter) go to a
    Sequence whose classifier step runs only when a scaled feature is above 1.5, the others
    straight to the classifier; a request no condition matches is a 404 naming the conditions."""
    scaler = serve_model(start, graph_dir, "iris_scaler", "scaler")
    iris = serve_model(start, graph_dir, "iris", "iris")
    url = "http://127.0.0.1:{}/v2/models/{}/infer"
    path = write_graph(
        graph_dir,
        "kserve-switch",
        f"""
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: iris-switch}}
spec:
  nodes:
    root:
      routerType: Switch
      steps:
      - {{nodeName: scaled, condition: '[@this].#(parameters.pipeline=="scaled")'}}
      - {{name: raw, serviceUrl: "{url.format(iris.http_port, "iris")}",
         condition: 'inputs.#(datatype=="FP32")'}}
    scaled:
      routerType: Sequence
      steps:
      - {{name: scale, serviceUrl: "{url.format(scaler.http_port, "scaler")}"}}
      - {{name: classify, serviceUrl: "{url.format(iris.http_port, "iris")}", data: $response,
         condition: 'outputs.0.data.#(>1.5)'}}
""",
    )
    proc = start(GraphProcess, [str(path)])

    def infer(rows, datatype="FP32", **parameters):
        body = {"inputs": [{"name": "input", "datatype": datatype, "shape": [len(rows), 4], "data": rows}]}
        if parameters:
            body["parameters"] = parameters
        return requests.post(proc.url("/v2/models/iris-switch/infer"), json=body, timeout=TIMEOUT)

    def outputs(r) -> dict:
        assert r.status_code == 200, r.text
        return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in r.json()["outputs"]}

    raw = infer(FLOWER)
    expected = reference.run("iris", {"input": np.array(FLOWER, dtype=np.float32)})["probabilities"]
    np.testing.assert_allclose(outputs(raw)["probabilities"], expected, rtol=1e-5)
    assert raw.json()["parameters"]["routing.root"] == 1
    # FLOWER scaled has no feature above 1.5: the sequence ends with the scaler's answer.
    stopped = infer(FLOWER, pipeline="scaled")
    np.testing.assert_allclose(outputs(stopped)["scaled"], scaled(FLOWER), rtol=1e-5)
    assert stopped.json()["parameters"]["routing.root"] == 0
    big = [[7.7, 3.8, 6.7, 2.2]]
    classified = outputs(infer(big, pipeline="scaled"))
    expected = reference.run("iris", {"input": scaled(big)})["probabilities"]
    np.testing.assert_allclose(classified["probabilities"], expected, rtol=1e-5)
    # The Seldon protocol reaches the same graph; its ndarray arrives as FP64, which no step takes.
    r = requests.post(proc.url("/api/v1.0/predictions"), json={"data": {"ndarray": FLOWER}}, timeout=TIMEOUT)
    assert r.status_code == 404, r.text
    assert "no step's condition matches the request ('[@this]" in r.json()["status"]["info"], r.text
    r = infer(FLOWER, datatype="FP64")
    assert r.status_code == 404 and "unit 'root': no step's condition matches" in r.json()["error"], r.text


@pytest.mark.parametrize(
    ("transport", "call"),
    [("rest", "seldon+http://127.0.0.1:{}: POST /predict"), ("grpc", "seldon+grpc://127.0.0.1:{}")],
)
def test_a_failing_remote_unit_is_a_5xx_naming_it(start, graph_dir, transport, call):
    (closed,) = free_ports(1)
    path = write_graph(
        graph_dir,
        f"unreachable-{transport}",
        "graph:\n  name: gone\n"
        f"  endpoint: {{host: 127.0.0.1, port: {closed}, transport: {transport}, retries: 1}}\n",
    )
    proc = start(LiveGraphProcess, [str(path)])
    # Seldon's readiness: a graph is ready only while every unit's address accepts connections
    # (V2 answers "not ready" with 400, as Triton does).
    assert requests.get(proc.url("/v2/health/ready"), timeout=TIMEOUT).status_code == 400
    assert requests.get(proc.url("/health/status"), timeout=TIMEOUT).status_code == 503
    r = requests.post(proc.url("/api/v1.0/predictions"), json={"data": {"ndarray": FLOWER}}, timeout=TIMEOUT)
    assert r.status_code == 503, r.text
    assert f"unit 'gone': {call.format(closed)}" in r.json()["status"]["info"], r.text
    assert requests.get(proc.url("/v2/health/live"), timeout=TIMEOUT).status_code == 200


def test_a_graph_starts_before_its_unit_and_is_ready_once_it_is_up(start, graph_dir, reference):
    ports = free_ports(2)
    path = write_graph(
        graph_dir, "late", f"graph:\n  name: late\n  endpoint: {{host: 127.0.0.1, port: {ports[0]}}}\n"
    )
    graph = start(LiveGraphProcess, [str(path)])
    assert requests.get(graph.url("/v2/health/ready"), timeout=TIMEOUT).status_code == 400
    model = graph_dir / "models" / "iris" / "model.onnx"
    start(ServerProcess, ["--model", str(model), "--name", "late"], name="late", ports=ports)
    deadline = time.monotonic() + 10
    while requests.get(graph.url("/v2/health/ready"), timeout=TIMEOUT).status_code != 200:
        assert time.monotonic() < deadline, "the graph did not become ready after its unit came up"
        time.sleep(0.1)
    expected = reference.run("iris", {"input": np.array(FLOWER, dtype=np.float32)})["probabilities"]
    np.testing.assert_allclose(probabilities(predict(graph)), expected, rtol=1e-5)


def test_a_slow_remote_unit_times_out(start, graph_dir):
    """A listener that never answers: the unit's timeout_ms bounds the call (504)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        path = write_graph(
            graph_dir,
            "silent",
            f"graph:\n  name: mute\n  endpoint: {{host: 127.0.0.1, port: {port}, timeout_ms: 300}}\n",
        )
        proc = start(GraphProcess, [str(path)])
        r = requests.post(
            proc.url("/api/v1.0/predictions"), json={"data": {"ndarray": FLOWER}}, timeout=TIMEOUT
        )
    assert r.status_code == 504, r.text
    assert (
        "unit 'mute'" in r.json()["status"]["info"] and "no answer within 300ms" in r.json()["status"]["info"]
    )


# ------------------------------------------------------------------------------------------------
# Start-up failures


@pytest.mark.parametrize(
    "text,expected",
    [
        ("graph:\n  name: m\n  modle: x.onnx\n", "graph: unknown field `modle`"),
        ("graph:\n  name: m\n  model: missing.onnx\n", "missing.onnx"),
        (
            "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nspec:\n  predictors:\n"
            "  - graph: {name: m, type: MODEL}\n",
            "node 'm' runs in a container",
        ),
        ("graph:\n  name: m\n  model: models\n", "models: no model here"),
        (
            "apiVersion: serving.kserve.io/v1alpha1\nkind: InferenceGraph\nspec:\n  nodes:\n    root:\n"
            "      routerType: Switch\n      steps:\n"
            "      - {serviceUrl: 'http://127.0.0.1:1/v2/models/m/infer', condition: 'inputs|0'}\n",
            "spec.nodes.root.steps[0].condition: 'inputs|0' is not a condition oxserve reads: the pipe",
        ),
    ],
)
def test_a_bad_graph_stops_the_start_with_the_field(graph_dir, text, expected):
    path = write_graph(graph_dir, "bad", text)
    done = subprocess.run(
        [str(oxserve_bin()), "run", str(path), "--http-port", "0", "--grpc-port", "0"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 1
    assert expected in done.stderr, done.stderr


# ------------------------------------------------------------------------------------------------
# Graph metadata


def test_graph_metadata_over_rest_and_grpc(start, graph_dir, seldon_pb):
    proc = start(GraphProcess, [str(graph_dir / "graphs" / "chain.yaml")])
    graph = requests.get(proc.url("/api/v1.0/metadata"), timeout=TIMEOUT).json()
    assert graph["name"] == "iris-chain"
    assert set(graph["models"]) == {"scaler", "classifier"}
    assert graph["graphinputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert graph["graphoutputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}
    assert graph["models"]["scaler"]["outputs"] == [{"name": "scaled", "datatype": "FP32", "shape": [-1, 4]}]
    node = requests.get(proc.url("/api/v1.0/metadata/classifier"), timeout=TIMEOUT)
    assert node.status_code == 200 and node.json()["name"] == "classifier"
    missing = requests.get(proc.url("/api/v1.0/metadata/nope"), timeout=TIMEOUT)
    assert missing.status_code == 404 and "no unit is named 'nope'" in missing.text
    with grpc.insecure_channel(proc.grpc_target) as channel:
        stub = seldon_pb.grpc.SeldonStub(channel)
        answer = stub.GraphMetadata(seldon_pb.pb.google_dot_protobuf_dot_empty__pb2.Empty(), timeout=TIMEOUT)
        assert (answer.name, sorted(answer.models)) == ("iris-chain", ["classifier", "scaler"])
        assert [i.name for i in answer.inputs] == ["input"]
        node = stub.ModelMetadata(seldon_pb.pb.SeldonModelMetadataRequest(name="scaler"), timeout=TIMEOUT)
        assert [o.name for o in node.outputs] == ["scaled"]
