"""oxserve's Python package serving the joblib models with its typed API (runs in the
oxserve-python venv): the Rust core speaks the protocols and batches, Python runs predict_proba.

    python oxserve_python_server.py --models-dir DIR --model iris --model mlp \
        --http-port P --grpc-port Q [--max-batch-size 32 --max-batch-time 0.002]
"""

import argparse
import json
from pathlib import Path

import joblib
import numpy as np
import oxserve


def sklearn_model(name: str, folder: Path, max_batch_size: int, max_batch_time: float):
    """A typed oxserve model answering `label` and `probabilities`, as the ONNX export does."""
    payload = json.loads((folder / "payload.json").read_text())
    classes = len(payload["probabilities"])

    @oxserve.model(
        name=name,
        inputs=[(payload["input"], "FP32", [-1, payload["features"]])],
        outputs=[("label", "INT64", [-1]), ("probabilities", "FP32", [-1, classes])],
        max_batch_size=max_batch_size,
        max_batch_time=max_batch_time,
    )
    class Sklearn:
        def __init__(self):
            self.model = joblib.load(folder / "model.joblib")

        def predict(self, **inputs):
            (rows,) = inputs.values()
            proba = self.model.predict_proba(rows).astype(np.float32)
            label = self.model.classes_[proba.argmax(axis=1)].astype(np.int64)
            return {"label": label, "probabilities": proba}

    return Sklearn


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=0)
    parser.add_argument("--max-batch-time", type=float, default=0.0)
    args = parser.parse_args()
    models = [
        sklearn_model(m, args.models_dir / m, args.max_batch_size, args.max_batch_time) for m in args.model
    ]
    oxserve.serve(
        models, http_port=args.http_port, grpc_port=args.grpc_port, host="127.0.0.1", log_level="warn"
    )
