"""A KServe-shaped custom model: the same methods as `kserve.Model`, served from oxserve's Rust
core over KServe v1 and V2 REST and V2 gRPC. Run `python train.py`, then `python iris_model.py`
(or `python -m oxserve --model-class iris_model:IrisModel --model-name iris`)."""

from pathlib import Path

import joblib
import numpy as np
import oxserve


class IrisModel(oxserve.Model):
    def __init__(self, name):
        super().__init__(name)
        self.model = None

    def load(self):
        self.model = joblib.load(Path(__file__).parent / "model.joblib")
        self.ready = True

    def preprocess(self, payload, headers=None):
        return np.asarray(payload["instances"], dtype=np.float32)

    async def predict(self, payload, headers=None):
        return {"predictions": self.model.predict(payload).tolist()}


if __name__ == "__main__":
    oxserve.ModelServer().start([IrisModel("iris")])
