"""The Python examples run as their READMEs say: train, serve, answer."""

import shutil
import subprocess
import sys

import requests

from conftest import REPO, TIMEOUT, Server, microservice_command, python_command

EXAMPLES = REPO / "examples"
ROW = [5.1, 3.5, 1.4, 0.2]


def prepared(name, tmp_path):
    """A copy of the example folder with its model trained."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    subprocess.run([sys.executable, "train.py"], cwd=folder, check=True, timeout=TIMEOUT, capture_output=True)
    return folder


def start(args, folder, env_ports):
    server = Server(args)
    server.cwd = folder
    for variable, port in zip(env_ports, (server.http_port, server.grpc_port)):
        server.env[variable] = str(port)
    return server


def test_python_sklearn(tmp_path):
    folder = prepared("python-sklearn", tmp_path)
    server = start(python_command("serve.py"), folder, ["OXSERVE_HTTP_PORT", "OXSERVE_GRPC_PORT"]).start()
    try:
        body = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": ROW}]}
        out = requests.post(server.url("/v2/models/iris/infer"), json=body, timeout=TIMEOUT).json()
        assert out["outputs"][0] == {"name": "label", "datatype": "INT64", "shape": [1], "data": [0]}
    finally:
        server.stop()


def test_python_seldon_class(tmp_path):
    folder = prepared("python-seldon-class", tmp_path)
    ports = ["PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT"]
    server = start(microservice_command("IrisClassifier", "--service-type", "MODEL"), folder, ports)
    server.start("/health/ping")
    try:
        body = {"data": {"ndarray": [ROW]}}
        out = requests.post(server.url("/api/v1.0/predictions"), json=body, timeout=TIMEOUT).json()
        assert out["data"]["names"] == ["setosa", "versicolor", "virginica"]
        assert out["meta"]["tags"] == {"model": "iris-logistic-regression"}
    finally:
        server.stop()


def test_python_kserve_class(tmp_path):
    folder = prepared("python-kserve-class", tmp_path)
    server = start(
        python_command("iris_model.py"), folder, ["OXSERVE_HTTP_PORT", "OXSERVE_GRPC_PORT"]
    ).start()
    try:
        out = requests.post(server.url("/v1/models/iris:predict"), json={"instances": [ROW]}, timeout=TIMEOUT)
        assert out.json() == {"predictions": [0]}
    finally:
        server.stop()
