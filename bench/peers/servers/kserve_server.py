"""KServe model server for the benchmark: one `kserve.Model` per joblib file (runs in the kserve venv).

    python kserve_server.py --models_dir DIR --model iris --model mlp --http_port P --grpc_port Q

V2 requests (REST JSON, REST binary, gRPC) reach `predict` as an `InferRequest`; the answer holds
the label and the class probabilities, like the ONNX export oxserve serves.
"""

import argparse
import uuid
from pathlib import Path

import joblib
import kserve
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse


class SklearnModel(kserve.Model):
    def __init__(self, name: str, path: Path):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        self.model = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            x = payload.inputs[0].as_numpy()
        else:  # KServe v1: {"instances": [[...], ...]}
            x = np.asarray(payload["instances"], dtype=np.float32)
        proba = self.model.predict_proba(x).astype(np.float32)
        label = self.model.classes_[proba.argmax(axis=1)].astype(np.int64)
        if not isinstance(payload, InferRequest):
            return {"predictions": label.tolist()}
        outputs = []
        for name, array in (("label", label), ("probabilities", proba)):
            out = InferOutput(
                name=name, shape=list(array.shape), datatype="INT64" if name == "label" else "FP32"
            )
            out.set_data_from_numpy(array, binary_data=False)
            outputs.append(out)
        return InferResponse(
            model_name=self.name, infer_outputs=outputs, response_id=payload.id or str(uuid.uuid4())
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--models_dir", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True)
    args, _ = parser.parse_known_args()
    models = [SklearnModel(m, args.models_dir / m / "model.joblib") for m in args.model]
    kserve.ModelServer().start(models)
