"""A scikit-learn model served with oxserve's typed API: named NumPy arrays in and out, declared
inputs and outputs, and batching by the Rust scheduler (concurrent requests reach `predict` as one
call). Run `python train.py`, then `python serve.py`."""

from pathlib import Path

import joblib
import oxserve


@oxserve.model(
    name="iris",
    inputs=[("features", "FP32", [-1, 4])],
    outputs=[("label", "INT64", [-1]), ("probabilities", "FP32", [-1, 3])],
    max_batch_size=64,
    max_batch_time=0.002,
)
class Iris:
    def __init__(self):
        # Runs once in each serving process (see --workers), before the first request.
        self.model = joblib.load(Path(__file__).parent / "model.joblib")

    def predict(self, features):
        # `features` is a read-only view of the request's own buffer: no copy was made.
        return {"label": self.model.predict(features), "probabilities": self.model.predict_proba(features)}


if __name__ == "__main__":
    oxserve.serve([Iris])
