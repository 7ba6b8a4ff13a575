"""Write the example model repository: small ONNX models built with the `onnx` package.

Nothing is downloaded; every weight is in this file. Usage:

    python examples/make_models.py OUT_DIR [--with-test-models]

Each model gets its own folder, `OUT_DIR/<name>/model.onnx` plus a `model-settings.json`.
`--with-test-models` adds models that only the tests need (one that fails at run time).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]

# Multinomial logistic regression fitted to the iris data set (features: sepal length, sepal
# width, petal length, petal width in cm; classes: setosa, versicolor, virginica).
IRIS_COEF = np.array(
    [
        [-0.42, 0.97, -2.52, -1.08],
        [0.53, -0.32, -0.21, -0.94],
        [-0.11, -0.65, 2.73, 2.02],
    ],
    dtype=np.float32,
)
IRIS_INTERCEPT = np.array([9.85, 2.24, -12.09], dtype=np.float32)

# Every V2 datatype and the ONNX element type that carries it.
EVERY_TYPE = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
    "BF16": TensorProto.BFLOAT16,
}


def save(model: onnx.ModelProto, folder: Path, settings: dict) -> None:
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2) + "\n")


def iris(out: Path) -> None:
    """input FP32 [N,4] -> probabilities FP32 [N,3], label INT64 [N]."""
    nodes = [
        helper.make_node("Gemm", ["input", "coef", "intercept"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "iris",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        initializer=[
            numpy_helper.from_array(IRIS_COEF, "coef"),
            numpy_helper.from_array(IRIS_INTERCEPT, "intercept"),
        ],
    )
    settings = {
        "name": "iris",
        "implementation": "onnx",
        "parameters": {"uri": "./model.onnx", "version": "1"},
    }
    save(helper.make_model(graph, opset_imports=OPSET), out / "iris", settings)


def mlp(out: Path) -> None:
    """A two-layer perceptron over 64 float features: input FP32 [N,64] -> scores FP32 [N,10]."""
    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 0.125, (64, 32)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 32).astype(np.float32)
    w2 = rng.normal(0, 0.18, (32, 10)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 10).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
        initializer=[
            numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]
        ],
    )
    settings = {"name": "mlp", "implementation": "onnx", "parameters": {"uri": "./model.onnx"}}
    save(helper.make_model(graph, opset_imports=OPSET), out / "mlp", settings)


def every_type(out: Path) -> None:
    """Echoes one input of every V2 datatype: `in_<type>` [N,-1] -> `out_<type>` (lower case)."""
    inputs, outputs, nodes = [], [], []
    for v2, onnx_type in EVERY_TYPE.items():
        name = v2.lower()
        inputs.append(helper.make_tensor_value_info(f"in_{name}", onnx_type, ["N", "M"]))
        outputs.append(helper.make_tensor_value_info(f"out_{name}", onnx_type, ["N", "M"]))
        nodes.append(helper.make_node("Identity", [f"in_{name}"], [f"out_{name}"]))
    graph = helper.make_graph(nodes, "every_type", inputs, outputs)
    # No settings beyond the name: inputs and outputs are read from the ONNX graph.
    save(helper.make_model(graph, opset_imports=OPSET), out / "every_type", {"name": "every_type"})


def reshape3(out: Path) -> None:
    """Test-only: reshapes `x` FP32 [-1] to [3], so any other length fails inside the runtime."""
    nodes = [helper.make_node("Reshape", ["x", "target"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "reshape3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        initializer=[numpy_helper.from_array(np.array([3], dtype=np.int64), "target")],
    )
    save(helper.make_model(graph, opset_imports=OPSET), out / "reshape3", {"name": "reshape3"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="model repository folder to write")
    parser.add_argument("--with-test-models", action="store_true", help="also write test-only models")
    args = parser.parse_args()
    for make in (iris, mlp, every_type):
        make(args.out)
    if args.with_test_models:
        reshape3(args.out)
    print(f"wrote models to {args.out}")


if __name__ == "__main__":
    main()
