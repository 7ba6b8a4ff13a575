"""Prepackaged servers: a model repository of model files and model-settings.json, no user code,
served by ``python -m oxserve --model-repository`` (or by ``oxserve serve``, which hands such a
repository to it); the models are trained here, the ONNX folder
beside them is served by the same process, and requests come from requests and tritonclient."""

import concurrent.futures
import json
import shutil
import subprocess
import sys

import joblib
import lightgbm
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import xgboost
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from conftest import REPO, TIMEOUT, Server, onnx_doubler, python_command, rust_command


def serve_repository(repository, *options):
    """The command that serves `repository` on the test's ports."""
    return python_command(
        "-m",
        "oxserve",
        "--model-repository",
        str(repository),
        "--http-port",
        "{http}",
        "--grpc-port",
        "{grpc}",
        *options,
    )


def write_folder(repository, name, settings):
    """A model folder holding `settings` as its model-settings.json."""
    folder = repository / name
    folder.mkdir(parents=True)
    (folder / "model-settings.json").write_text(json.dumps(settings))
    return folder


@pytest.fixture(scope="module")
def repository(tmp_path_factory, iris):
    """One folder per framework, under oxserve's names and MLServer's, and an ONNX folder."""
    root = tmp_path_factory.mktemp("repository")
    path, X, y = iris[0], iris[1], iris[2].predict(iris[1])

    sklearn = write_folder(root, "sklearn", {"implementation": "sklearn"})
    shutil.copy(path, sklearn / "model.joblib")
    # MLServer's name, probabilities by default, batched by the Rust scheduler.
    proba = write_folder(
        root,
        "sklearn-proba",
        {
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./classifier.pkl", "extra": {"method": "predict_proba"}},
            "max_batch_size": 16,
            "max_batch_time": 0.02,
        },
    )
    shutil.copy(path, proba / "classifier.pkl")
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    columns = write_folder(root, "columns", {"implementation": "sklearn"})
    joblib.dump(LinearRegression().fit(frame, X[:, 2]), columns / "model.joblib")

    # Text in, string labels out: BYTES both ways.
    reviews = make_pipeline(CountVectorizer(), LogisticRegression())
    reviews.fit(["good movie", "great film", "bad movie", "awful film"], ["pos", "pos", "neg", "neg"])
    joblib.dump(reviews, write_folder(root, "reviews", {"implementation": "sklearn"}) / "model.joblib")

    booster = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y).get_booster()
    for name, file in [("xgboost", "model.json"), ("xgboost-ubj", "model.ubj")]:
        folder = write_folder(
            root,
            name,
            {"implementation": "mlserver_xgboost.XGBoostModel" if file == "model.ubj" else "xgboost"},
        )
        booster.save_model(folder / file)

    lgb = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "min_data_in_leaf": 5},
        lightgbm.Dataset(X, y),
        num_boost_round=5,
    )
    lgb.save_model(write_folder(root, "lightgbm", {"implementation": "lightgbm"}) / "model.txt")

    onnx_doubler(write_folder(root, "onnx", {"implementation": "onnx"}) / "model.onnx")
    return root, X, y, {"booster": booster, "lgb": lgb, "columns": columns}


@pytest.fixture(scope="module")
def server(repository):
    server = Server(serve_repository(repository[0], "--default-model", "sklearn")).start()
    yield server
    server.stop()


def infer(server, model, inputs, outputs=None):
    body = {"inputs": inputs}
    if outputs:
        body["outputs"] = [{"name": name} for name in outputs]
    return requests.post(server.url(f"/v2/models/{model}/infer"), json=body, timeout=TIMEOUT)


def fp32(name, array):
    return {"name": name, "datatype": "FP32", "shape": list(array.shape), "data": array.ravel().tolist()}


def test_every_folder_is_one_ready_model(server):
    for model in [
        "sklearn",
        "sklearn-proba",
        "columns",
        "reviews",
        "xgboost",
        "xgboost-ubj",
        "lightgbm",
        "onnx",
    ]:
        assert requests.get(server.url(f"/v2/models/{model}/ready"), timeout=TIMEOUT).status_code == 200
    assert requests.get(server.url("/v2/models/sklearn"), timeout=TIMEOUT).json()["platform"] == "sklearn"


def test_sklearn_predict_and_the_methods_a_request_names(server, repository, iris):
    X, clf = repository[1], iris[2]
    out = infer(server, "sklearn", [fp32("x", X[:3])]).json()
    assert out["outputs"][0]["name"] == "predict"
    assert out["outputs"][0]["data"] == clf.predict(X[:3]).tolist()

    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    x = httpclient.InferInput("x", [3, 4], "FP32")
    x.set_data_from_numpy(X[:3], binary_data=True)
    wanted = [httpclient.InferRequestedOutput(m, binary_data=True) for m in ("predict", "decision_function")]
    result = http.infer("sklearn", [x], outputs=wanted)
    np.testing.assert_allclose(result.as_numpy("decision_function"), clf.decision_function(X[:3]), rtol=1e-6)


def test_kserve_v1_and_seldon_reach_the_default_model(server, iris):
    X, clf = iris[1], iris[2]
    rows = X[:2].tolist()
    v1 = requests.post(server.url("/v1/models/sklearn:predict"), json={"instances": rows}, timeout=TIMEOUT)
    assert v1.json() == {"predictions": clf.predict(X[:2]).tolist()}
    body = {"data": {"ndarray": rows}}
    seldon = requests.post(server.url("/api/v1.0/predictions"), json=body, timeout=TIMEOUT).json()
    assert seldon["data"]["ndarray"] == clf.predict(X[:2]).tolist()


def test_sklearn_method_setting_and_batching(server, repository, iris):
    X, clf = repository[1], iris[2]
    grpc = grpcclient.InferenceServerClient(server.grpc_target)

    def one(i):
        x = grpcclient.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(X[i : i + 1])
        return grpc.infer("sklearn-proba", [x]).as_numpy("predict_proba")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        rows = list(pool.map(one, range(48)))
    np.testing.assert_allclose(np.concatenate(rows), clf.predict_proba(X[:48]), rtol=1e-6)
    # The Rust scheduler gathered concurrent requests: fewer model calls than requests.
    metrics = requests.get(server.url("/metrics"), timeout=TIMEOUT).text
    calls = next(
        line
        for line in metrics.splitlines()
        if line.startswith('oxserve_batch_size_count{model="sklearn-proba"')
    )
    assert 0 < float(calls.split()[-1]) < 48


def test_several_inputs_are_dataframe_columns(server, repository):
    X = repository[1]
    regression = joblib.load(repository[3]["columns"] / "model.joblib")
    inputs = [fp32("a", X[:4, 0]), fp32("b", X[:4, 1])]
    out = infer(server, "columns", inputs).json()
    frame = pd.DataFrame({"a": X[:4, 0], "b": X[:4, 1]})
    np.testing.assert_allclose(out["outputs"][0]["data"], regression.predict(frame), rtol=1e-5)
    bad = infer(server, "columns", [fp32("a", X[:4, :2]), fp32("b", X[:4, 1])])
    assert bad.status_code == 400
    assert "input 'a' has shape [4, 2]" in bad.json()["error"]


def test_text_in_and_string_labels_out(server):
    text = {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a great film", "awful"]}
    out = infer(server, "reviews", [text]).json()["outputs"][0]
    assert (out["datatype"], out["data"]) == ("BYTES", ["pos", "neg"])


def test_xgboost_json_and_ubj_boosters(server, repository):
    X, booster = repository[1], repository[3]["booster"]
    expected = booster.inplace_predict(X[:5])
    grpc = grpcclient.InferenceServerClient(server.grpc_target)
    for model in ["xgboost", "xgboost-ubj"]:
        x = grpcclient.InferInput("x", [5, 4], "FP32")
        x.set_data_from_numpy(X[:5])
        np.testing.assert_allclose(grpc.infer(model, [x]).as_numpy("predict"), expected, rtol=1e-6)
    unknown = infer(server, "xgboost", [fp32("x", X[:1])], outputs=["predict_proba"])
    assert unknown.status_code == 400
    assert (
        "model 'xgboost' has no output ['predict_proba']; it answers ['predict']" in unknown.json()["error"]
    )


def test_lightgbm(server, repository):
    X, lgb = repository[1], repository[3]["lgb"]
    out = infer(server, "lightgbm", [fp32("x", X[:2])]).json()["outputs"][0]
    assert out["shape"] == [2, 3]
    np.testing.assert_allclose(np.reshape(out["data"], (2, 3)), lgb.predict(X[:2]), rtol=1e-6)


def test_onnx_folder_served_by_the_same_process(server):
    out = infer(server, "onnx", [fp32("x", np.array([[1.0, 2.5]], dtype=np.float32))]).json()
    assert out["outputs"][0]["data"] == [2.0, 5.0]


def test_prediction_error_is_500_with_its_message_and_serving_goes_on(server, repository, iris):
    X = repository[1]
    failed = infer(server, "sklearn", [fp32("x", X[:2, :3])])
    assert failed.status_code == 500
    assert "X has 3 features" in failed.json()["error"]
    unknown = infer(server, "sklearn", [fp32("x", X[:2])], outputs=["transform"])
    assert unknown.status_code == 400
    assert "has no output 'transform'" in unknown.json()["error"]
    assert (
        infer(server, "sklearn", [fp32("x", X[:2])]).json()["outputs"][0]["data"]
        == iris[2].predict(X[:2]).tolist()
    )


def test_mlflow_pyfunc_folder(tmp_path, server_factory, iris):
    _, X, clf = iris
    repository = tmp_path / "repository"
    folder = write_folder(
        repository,
        "iris",
        {"implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": "./model"}},
    )
    mlflow.sklearn.save_model(clf, str(folder / "model"), serialization_format="cloudpickle")
    # A model with a column signature, its MLmodel at the folder's top: named inputs are its columns.
    frame = pd.DataFrame({"a": X[:, 0].astype(float), "b": X[:, 1].astype(float)})
    regression = LinearRegression().fit(frame, X[:, 2])
    columns = repository / "columns"
    mlflow.sklearn.save_model(
        regression,
        str(columns),
        serialization_format="cloudpickle",
        signature=mlflow.models.infer_signature(frame, regression.predict(frame)),
    )
    (columns / "model-settings.json").write_text(json.dumps({"implementation": "mlflow"}))
    server = server_factory(serve_repository(repository))
    rows = X[:3].astype(float)
    out = infer(
        server, "iris", [{"name": "x", "datatype": "FP64", "shape": [3, 4], "data": rows.ravel().tolist()}]
    )
    assert out.json()["outputs"][0]["data"] == clf.predict(X[:3]).tolist()
    named = [
        {"name": n, "datatype": "FP64", "shape": [3], "data": rows[:, i].tolist()} for i, n in enumerate("ab")
    ]
    out = infer(server, "columns", named).json()["outputs"][0]
    np.testing.assert_allclose(out["data"], regression.predict(frame[:3]))


def test_tensorflow_saved_model(tmp_path, server_factory):
    tf = pytest.importorskip("tensorflow")

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * 2}

    module = Doubler()
    repository = tmp_path / "repository"
    folder = write_folder(repository, "doubler", {"implementation": "tensorflow"})
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    server = server_factory(serve_repository(repository))
    out = infer(server, "doubler", [fp32("x", np.array([[1.0, 2.0]], dtype=np.float32))]).json()
    assert out["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [2.0, 4.0]}]
    # KServe v1 rows carry no input name and arrive as FP64: the one argument takes them as FP32.
    v1 = requests.post(
        server.url("/v1/models/doubler:predict"), json={"instances": [[1, 2]]}, timeout=TIMEOUT
    )
    assert v1.json() == {"predictions": [[2.0, 4.0]]}


def rust_serve_repository(repository):
    """`oxserve serve` (the Rust command) on `repository`, with this interpreter for Python."""
    return rust_command("serve", "--model-repository", str(repository))


def test_rust_command_hands_a_python_repository_to_the_package(repository, server_factory, iris):
    # `oxserve serve` runs no Python itself: it becomes `python -m oxserve` on the same repository,
    # so the scikit-learn folder and the ONNX folder beside it answer on its ports.
    server = server_factory(rust_serve_repository(repository[0]) + ["--default-model", "sklearn"])
    X, model = iris[1], iris[2]
    out = infer(server, "sklearn", [fp32("input-0", X[:3])]).json()
    assert out["outputs"][0]["data"] == model.predict(X[:3]).tolist()
    out = infer(server, "onnx", [fp32("x", np.array([[1.0, 2.0]], dtype=np.float32))]).json()
    assert out["outputs"][0]["data"] == [2.0, 4.0]
    assert "serving from the oxserve Python package" in server.output()


def test_rust_command_reports_the_python_packages_startup_error(tmp_path):
    folder = write_folder(tmp_path, "m", {"implementation": "mlserver_catboost.CatboostModel"})
    server = Server(rust_serve_repository(tmp_path))
    assert server.run() == 1, server.output()
    assert (
        f"model folder {folder}: unknown implementation 'mlserver_catboost.CatboostModel'" in server.output()
    )


def start_failure(repository):
    """Runs the server on `repository`, expecting it to stop at start-up; returns its output."""
    server = Server(serve_repository(repository))
    assert server.run() == 1, server.output()
    return server.output()


def test_missing_model_file_names_the_folder(tmp_path):
    write_folder(tmp_path, "iris", {"implementation": "sklearn"})
    output = start_failure(tmp_path)
    assert (
        f"model folder {tmp_path / 'iris'} (sklearn): no model file: expected one of model.joblib" in output
    )
    shutil.rmtree(tmp_path / "iris")
    write_folder(tmp_path, "iris", {"implementation": "xgboost", "parameters": {"uri": "gone.json"}})
    assert f"parameters.uri names {tmp_path / 'iris' / 'gone.json'}, which does not exist" in start_failure(
        tmp_path
    )


def test_unreadable_model_file_names_the_folder_and_the_cause(tmp_path):
    folder = write_folder(tmp_path, "broken", {"implementation": "lightgbm"})
    (folder / "model.txt").write_text("not a booster")
    output = start_failure(tmp_path)
    assert f"model folder {folder} (lightgbm): cannot load {folder / 'model.txt'}: LightGBMError" in output


def test_unreadable_onnx_folder_names_the_folder(tmp_path, iris):
    sklearn = write_folder(tmp_path, "good", {"implementation": "sklearn"})
    shutil.copy(iris[0], sklearn / "model.joblib")
    folder = write_folder(tmp_path, "onnx", {})
    (folder / "model.onnx").write_bytes(b"not onnx")
    assert f"model folder {folder}" in start_failure(tmp_path)


def test_unknown_implementation_and_bad_settings(tmp_path):
    folder = write_folder(tmp_path, "m", {"implementation": "mlserver_catboost.CatboostModel"})
    output = start_failure(tmp_path)
    assert (
        f"model folder {folder}: unknown implementation 'mlserver_catboost.CatboostModel'; known: " in output
    )
    assert "mlserver_sklearn.SKLearnModel" in output
    (folder / "model-settings.json").write_text("{not json")
    assert f"model folder {folder}: cannot read model-settings.json" in start_failure(tmp_path)
    (folder / "model-settings.json").write_text(
        '{"implementation": "sklearn", "inputs": [{"datatype": "FP32"}]}'
    )
    assert f"model folder {folder}: model-settings.json: KeyError: 'name'" in start_failure(tmp_path)


def test_bad_scheduling_setting_names_the_model_and_field(tmp_path, iris):
    folder = write_folder(tmp_path, "iris", {"implementation": "sklearn", "max_batch_size": "many"})
    shutil.copy(iris[0], folder / "model.joblib")
    assert "model 'iris': max_batch_size: invalid type" in start_failure(tmp_path)


def test_bad_method_setting(tmp_path, iris):
    folder = write_folder(
        tmp_path, "m", {"implementation": "sklearn", "parameters": {"extra": {"method": "explain"}}}
    )
    shutil.copy(iris[0], folder / "model.joblib")
    assert "parameters.extra.method 'explain' is not one of predict, predict_proba" in start_failure(tmp_path)
    regression = write_folder(
        tmp_path, "r", {"implementation": "sklearn", "parameters": {"extra": {"method": "predict_proba"}}}
    )
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), regression / "model.joblib")
    shutil.rmtree(folder)
    assert "LinearRegression loaded from" in start_failure(tmp_path)


def test_framework_not_installed_is_a_startup_error(tmp_path):
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorflow is installed")
    folder = write_folder(tmp_path, "tf", {"implementation": "TENSORFLOW_SERVER"})
    (folder / "saved_model.pb").write_bytes(b"")
    output = start_failure(tmp_path)
    assert f"model folder {folder} (tensorflow): needs the Python package 'tensorflow'" in output
    assert "pip install tensorflow" in output


def test_model_class_options_are_refused_with_a_repository(tmp_path):
    server = Server(
        python_command("-m", "oxserve", "--model-repository", str(tmp_path), "--max-batch-size", "8")
    )
    assert server.run() == 2
    assert "--max-batch-size: only with --model-class" in server.output()
    server = Server(python_command("-m", "oxserve", "--model-class", "m:M", "--default-model", "m"))
    assert server.run() == 2
    assert "--default-model: only with --model-repository" in server.output()


def test_empty_repository(tmp_path):
    assert "no model folders" in start_failure(tmp_path)
    (tmp_path / "notes").mkdir()
    assert "no models to serve" in start_failure(tmp_path)


def test_example_repository_with_an_onnx_folder(tmp_path, server_factory, iris):
    folder = tmp_path / "python-prepackaged"
    shutil.copytree(REPO / "examples" / "python-prepackaged", folder)
    subprocess.run([sys.executable, "train.py"], cwd=folder, check=True, timeout=TIMEOUT, capture_output=True)
    onnx_doubler(write_folder(folder / "models", "doubler", {}) / "model.onnx")
    server = server_factory(serve_repository(folder / "models"))
    row = fp32("x", iris[1][:1])
    proba = infer(server, "iris-sklearn", [row]).json()["outputs"][0]
    assert proba["name"] == "predict_proba" and proba["shape"] == [1, 3]
    for model in ["iris-xgboost", "iris-lightgbm"]:
        assert np.argmax(infer(server, model, [row]).json()["outputs"][0]["data"]) == 0
    assert infer(server, "doubler", [fp32("x", np.ones((1, 2), np.float32))]).json()["outputs"][0][
        "data"
    ] == [2, 2]
