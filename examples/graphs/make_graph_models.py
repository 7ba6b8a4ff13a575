"""Writes the model that only the graph examples use: `iris_scaler`, a standard scaler for the
iris features (FP32 [N,4] -> FP32 [N,4]), the transformer in front of iris in chain.yaml.

Usage: python examples/graphs/make_graph_models.py examples/models
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_models import OPSET, save  # noqa: E402

# Means and standard deviations of the iris measurements (cm).
MEAN = np.array([5.84, 3.06, 3.76, 1.20], dtype=np.float32)
STD = np.array([0.83, 0.44, 1.77, 0.76], dtype=np.float32)


def iris_scaler(out: Path) -> None:
    """input FP32 [N,4] -> scaled FP32 [N,4]: (x - mean) / std."""
    nodes = [
        helper.make_node("Sub", ["input", "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "std"], ["scaled"]),
    ]
    graph = helper.make_graph(
        nodes,
        "iris_scaler",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(MEAN, "mean"), numpy_helper.from_array(STD, "std")],
    )
    save(helper.make_model(graph, opset_imports=OPSET), out / "iris_scaler", {"name": "iris_scaler"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="model repository folder to write")
    iris_scaler(parser.parse_args().out)


if __name__ == "__main__":
    main()
