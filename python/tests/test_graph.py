"""Inference graphs whose units are Python classes and prepackaged servers, run in one process
by ``python -m oxserve --graph`` (and by ``oxserve run``, which hands such a graph to it), beside
ONNX models and built-in units; the classes and model files are written here."""

import json
import textwrap

import joblib
import numpy as np
import pytest
import requests

from conftest import TIMEOUT, Server, onnx_doubler, python_command, rust_command

# Seldon-style classes, duck-typed as Seldon's documentation teaches.
SCALER = '''
import numpy as np

class Scaler:
    """A TRANSFORMER dividing the features by its `factor` parameter."""

    def __init__(self, factor):
        self.factor = float(factor)

    def transform_input(self, X, features_names=None):
        return np.asarray(X) / self.factor

    def tags(self):
        return {"scaled_by": self.factor}
'''

UNITS = '''
import numpy as np

class Tripler:
    def predict(self, X, features_names=None):
        return np.asarray(X) * 3

class Mean:
    def aggregate(self, Xs, features_names=None):
        return np.mean([np.asarray(x) for x in Xs], axis=0)

class Learner:
    """Routes to child 1 until it is rewarded, then to child 0."""

    def __init__(self):
        self.rewards = []

    def route(self, X, features_names=None):
        return 0 if self.rewards else 1

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        self.rewards.append(reward)

class Broken:
    def predict(self, X, features_names=None):
        if np.asarray(X)[0][0] < 0:
            raise ValueError("negative features")
        return X
'''

KSERVE = """
import oxserve

class Doubler(oxserve.Model):
    def predict(self, payload, headers=None):
        return {"predictions": [[2 * v for v in row] for row in payload["instances"]]}
"""


def seldon_predict(server, rows):
    return requests.post(
        server.url("/api/v1.0/predictions"), json={"data": {"ndarray": rows}}, timeout=TIMEOUT
    )


def graph_command(path):
    return python_command(
        "-m", "oxserve", "--graph", str(path), "--http-port", "{http}", "--grpc-port", "{grpc}"
    )


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def seldon_graph(tmp_path_factory, iris):
    """A SeldonDeployment: a Python TRANSFORMER from a source folder built for Seldon's Python
    wrapper (`.s2i/environment`) in front of Seldon's SKLEARN_SERVER on the iris joblib file."""
    root = tmp_path_factory.mktemp("seldon-graph")
    write(root, "scaler/Scaler.py", SCALER)
    write(root, "scaler/.s2i/environment", "MODEL_NAME=Scaler\nSERVICE_TYPE=TRANSFORMER\n")
    (root / "iris").mkdir()
    joblib.dump(iris[2], root / "iris" / "model.joblib")
    manifest = """
        apiVersion: machinelearning.seldon.io/v1
        kind: SeldonDeployment
        metadata: {name: scaled-iris}
        spec:
          predictors:
          - name: default
            graph:
              name: scaler
              type: TRANSFORMER
              modelUri: scaler
              parameters: [{name: factor, value: "10", type: FLOAT}]
              children:
              - {name: classifier, type: MODEL, implementation: SKLEARN_SERVER, modelUri: iris}
    """
    return write(root, "graph.yaml", manifest)


@pytest.fixture(scope="module")
def seldon_server(seldon_graph):
    server = Server(graph_command(seldon_graph)).start()
    yield server
    server.stop()


def test_seldon_transformer_and_sklearn_server_in_one_process(seldon_server, iris):
    X, model = iris[1], iris[2]
    response = seldon_predict(seldon_server, (X[:2] * 10).tolist())
    assert response.status_code == 200, response.text
    body = response.json()
    # Seldon's SKLEARN_SERVER answers predict_proba by default.
    np.testing.assert_allclose(body["data"]["ndarray"], model.predict_proba(X[:2]), rtol=1e-5)
    path = body["meta"]["requestPath"]
    assert path["scaler"] == "python:Scaler", path
    assert path["classifier"].startswith("SKLEARN_SERVER:"), path
    assert body["meta"]["tags"]["scaled_by"] == 10.0


def test_v2_and_graph_metadata_of_a_python_graph(seldon_server, iris):
    X, model = iris[1], iris[2]
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": (X[0] * 10).tolist()}]}
    response = requests.post(seldon_server.url("/v2/models/scaled-iris/infer"), json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(
        response.json()["outputs"][0]["data"], model.predict_proba(X[:1])[0], rtol=1e-5
    )
    metadata = requests.get(seldon_server.url("/api/v1.0/metadata"), timeout=TIMEOUT).json()
    assert (metadata["name"], sorted(metadata["models"])) == ("scaled-iris", ["classifier", "scaler"]), (
        metadata
    )


@pytest.fixture(scope="module")
def native_graph(tmp_path_factory):
    """oxserve's native form: a Python ROUTER, learning from feedback, choosing between an ONNX
    model and a Python COMBINER of the ONNX model and a Python MODEL."""
    root = tmp_path_factory.mktemp("native-graph")
    write(root, "classes/units.py", UNITS)
    onnx_doubler(root / "doubler.onnx")
    graph = """
        name: mixed
        graph:
          name: router
          type: ROUTER
          implementation: PYTHON
          class: units.Learner
          classpath: classes
          children:
            - {name: doubler, model: doubler.onnx}
            - name: mean
              type: COMBINER
              implementation: PYTHON
              class: units.Mean
              classpath: [classes]
              children:
                - {name: twice, model: doubler.onnx}
                - {name: thrice, implementation: PYTHON, class: units.Tripler, classpath: classes}
    """
    return write(root, "graph.yaml", graph)


def test_python_router_combiner_and_model_beside_onnx(native_graph, server_factory):
    server = server_factory(graph_command(native_graph))
    response = seldon_predict(server, [[1.0, 2.0]])
    assert response.status_code == 200, response.text
    body = response.json()
    # The router picks child 1, the combiner averages 2x (ONNX) and 3x (Python).
    np.testing.assert_allclose(body["data"]["ndarray"], [[2.5, 5.0]])
    assert body["meta"]["routing"] == {"router": 1}
    assert {"router", "mean", "twice", "thrice"} <= set(body["meta"]["requestPath"])
    feedback = {"request": {"data": {"ndarray": [[1.0, 2.0]]}}, "response": body, "reward": 1.0}
    response = requests.post(server.url("/api/v1.0/feedback"), json=feedback, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    # The reward reached the router's send_feedback: it now picks the ONNX model.
    after = seldon_predict(server, [[1.0, 2.0]]).json()
    assert (after["meta"]["routing"], after["data"]["ndarray"]) == ({"router": 0}, [[2.0, 4.0]])


def test_workers_each_build_the_graph(native_graph, server_factory):
    server = server_factory(graph_command(native_graph) + ["--workers", "2"])
    for _ in range(8):
        response = seldon_predict(server, [[1.0, 2.0]])
        assert response.status_code == 200, response.text
        assert response.json()["meta"]["routing"] == {"router": 1}


def test_rust_command_hands_a_python_graph_to_the_package(native_graph, server_factory):
    server = server_factory(rust_command("run", str(native_graph)))
    response = seldon_predict(server, [[2.0, 4.0]])
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["data"]["ndarray"], [[5.0, 10.0]])
    assert "serving from the oxserve Python package" in server.output()


def test_kserve_model_class_and_a_failing_unit(tmp_path, server_factory):
    write(tmp_path, "kserve_units.py", KSERVE)
    write(tmp_path, "units.py", UNITS)
    graph = """
        name: chain
        graph:
          name: check
          implementation: PYTHON
          class: units.Broken
          children:
            - {name: double, implementation: PYTHON, class: "kserve_units:Doubler"}
    """
    server = server_factory(graph_command(write(tmp_path, "graph.yaml", graph)))
    ok = seldon_predict(server, [[1.0, 2.0]])
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["ndarray"] == [[2.0, 4.0]]
    failing = seldon_predict(server, [[-1.0, 2.0]])
    assert failing.status_code == 500, failing.text
    assert "negative features" in failing.text and "'check'" in failing.text
    again = seldon_predict(server, [[3.0, 1.0]])
    assert again.status_code == 200, again.text
    assert again.json()["data"]["ndarray"] == [[6.0, 2.0]]


def start_failure(tmp_path, graph_text, files=()):
    for name, text in files:
        write(tmp_path, name, text)
    graph = write(tmp_path, "graph.yaml", graph_text)
    server = Server(graph_command(graph))
    assert server.run() == 1, server.output()
    return server.output()


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (
            "graph: {name: m, implementation: PYTHON, class: nowhere.Model}\n",
            "graph: node 'm': class Model: cannot import module 'nowhere'",
        ),
        (
            "graph: {name: m, implementation: PYTHON, class: units.Nothing}\n",
            "graph: node 'm': module 'units' has no class Nothing",
        ),
        (
            "graph: {name: r, type: ROUTER, implementation: PYTHON, class: units.Tripler,"
            " children: [{name: a, implementation: PYTHON, class: units.Tripler}]}\n",
            "graph: node 'r': class Tripler has no method route (or route_raw)",
        ),
        (
            "graph: {name: m, implementation: PYTHON, class: units.Tripler, parameters: {speed: 2}}\n",
            "graph: node 'm': class Tripler cannot be built from parameters ['speed']",
        ),
        (
            "graph: {name: m, type: TRANSFORMER, implementation: PYTHON, class: 'kserve_units:Doubler',"
            " children: [{name: a, implementation: PYTHON, class: units.Tripler}]}\n",
            "class Doubler is a KServe model, which answers predict only",
        ),
        (
            "graph: {name: m, implementation: CATBOOST_SERVER, model: .}\n",
            "graph: node 'm': CATBOOST_SERVER on",
        ),
        (
            "graph:\n  name: m\n  type: TRANSFORMER\n  implementation: PYTHON\n  class: units.Tripler\n"
            "  children: [{name: j, implementation: JAVA, class: com.example.M}]\n",
            "node 'j' runs in JAVA but node 'm' (graph) runs in PYTHON",
        ),
    ],
)
def test_startup_errors_name_the_node(tmp_path, graph, expected):
    output = start_failure(tmp_path, graph, [("units.py", UNITS), ("kserve_units.py", KSERVE)])
    assert expected in output, output


def test_graph_file_errors_are_reported(tmp_path):
    output = start_failure(tmp_path, "graph: {name: m, implementation: PYTHON, class: A, modle: x}\n")
    assert "unknown field `modle`" in output, output


def test_model_folder_with_python_settings_in_a_graph(tmp_path, server_factory, iris):
    folder = tmp_path / "iris"
    folder.mkdir()
    joblib.dump(iris[2], folder / "model.joblib")
    (folder / "model-settings.json").write_text(json.dumps({"name": "iris", "implementation": "sklearn"}))
    graph = write(tmp_path, "graph.yaml", "graph: {name: classifier, model: iris}\n")
    server = server_factory(graph_command(graph))
    X, model = iris[1], iris[2]
    response = seldon_predict(server, X[:3].tolist())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["ndarray"] == model.predict(X[:3]).tolist()
