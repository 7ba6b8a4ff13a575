"""Train the benchmark models with scikit-learn and write them for every peer.

Run with the bench virtualenv (scikit-learn, skl2onnx, onnx, joblib):

    bench/.venvs/bench/bin/python bench/models.py OUT_DIR

For each model NAME it writes `OUT_DIR/NAME/model.joblib` (what the Python peers load),
`OUT_DIR/NAME/model.onnx` (what oxserve and onnxruntime load; exported by skl2onnx with
`zipmap` off, so the outputs are plain tensors `label` INT64 [N] and `probabilities` FP32 [N,C])
and `OUT_DIR/NAME/payload.json` (one input row, its shape and the reference output).
For iris it also writes `coefficients.txt`, the fitted multinomial logistic regression as text
(one line per class: the four weights, then the bias; the format of examples/java-model's
`weights.txt`), which the Java and R peers compute softmax from. And `OUT_DIR/identity/` holds an
ONNX model that answers its FP32 [N,4] input unchanged as `output`: the do-nothing unit of the
graph-hop and JNI-crossing measurements.
Seeds are fixed: two runs write the same models.
"""

import argparse
import json
from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

SEED = 0
INPUT = "input"
IDENTITY_OPSET = 17


def iris():
    """Multinomial logistic regression on the iris data set that scikit-learn ships (4 features)."""
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000, random_state=SEED).fit(x, y)
    return model, x.astype(np.float32), y


def mlp():
    """An MLP classifier over 64 float features, 10 classes, on a synthetic data set."""
    x, y = make_classification(
        n_samples=4000, n_features=64, n_informative=32, n_classes=10, random_state=SEED
    )
    model = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=SEED).fit(x, y)
    return model, x.astype(np.float32), y


MODELS = {"iris": iris, "mlp": mlp}


def export(name: str, out: Path) -> dict:
    model, x, y = MODELS[name]()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    features = x.shape[1]
    onx = convert_sklearn(
        model,
        initial_types=[(INPUT, FloatTensorType([None, features]))],
        options={id(model): {"zipmap": False}},
    )
    (folder / "model.onnx").write_bytes(onx.SerializeToString())

    row = x[:1]
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    label, proba = session.run(["label", "probabilities"], {INPUT: row})
    expected = model.predict_proba(row.astype(np.float64))
    if not np.allclose(proba, expected, atol=1e-4):
        raise SystemExit(f"{name}: ONNX output {proba} differs from scikit-learn {expected}")
    payload = {
        "name": name,
        "input": INPUT,
        "features": features,
        "row": [float(np.format_float_positional(v, unique=True)) for v in row[0]],
        "label": int(label[0]),
        "probabilities": [float(v) for v in proba[0]],
        "train_accuracy": float(model.score(x, y)),
    }
    (folder / "payload.json").write_text(json.dumps(payload, indent=2) + "\n")
    if isinstance(model, LogisticRegression):
        write_coefficients(model, x[:1], expected, folder / "coefficients.txt")
    return payload


def write_coefficients(model: LogisticRegression, row: np.ndarray, expected: np.ndarray, path: Path) -> None:
    """The regression as text, checked: softmax over its scores gives scikit-learn's answer."""
    weights = np.hstack([model.coef_, model.intercept_[:, None]])
    lines = [
        "# Multinomial logistic regression fitted by bench/models.py: one line per class, the",
        "# weights of the features in order, then the bias; probabilities = softmax(w . x + b).",
        *(" ".join(repr(float(v)) for v in line) for line in weights),
    ]
    path.write_text("\n".join(lines) + "\n")
    scores = row.astype(np.float64) @ weights[:, :-1].T + weights[:, -1]
    proba = np.exp(scores - scores.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    if not np.allclose(proba, expected, atol=1e-9):
        raise SystemExit(f"{path}: softmax of the coefficients {proba} differs from scikit-learn {expected}")


def identity(out: Path, reference: dict) -> None:
    """FP32 [N,F] in, the same tensor out as `output`, with the reference model's input row."""
    features = reference["features"]
    graph = helper.make_graph(
        [helper.make_node("Identity", [INPUT], ["output"])],
        "identity",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", features])],
    )
    onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", IDENTITY_OPSET)])
    folder = out / "identity"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onx.SerializeToString())
    row = np.array([reference["row"]], dtype=np.float32)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    (answer,) = session.run(["output"], {INPUT: row})
    if not np.array_equal(answer, row):
        raise SystemExit(f"identity: ONNX answered {answer} for {row}")
    payload = {"name": "identity", "input": INPUT, "features": features, "row": reference["row"]}
    (folder / "payload.json").write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the models to")
    args = parser.parse_args()
    for name in MODELS:
        payload = export(name, args.out)
        print(f"{name}: {payload['features']} features, label of row 0 = {payload['label']}")
        if name == "iris":
            identity(args.out, payload)


if __name__ == "__main__":
    main()
