"""PyTriton server for the benchmark: Triton with one Python-backed model per joblib file.

    python triton_server.py --models-dir DIR --model iris --model mlp --http-port P --grpc-port Q \
        --metrics-port R

Runs in the triton venv. PyTriton's defaults apart from the ports and `max_batch_size` 32
(batching on, its default dynamic batcher): Triton's own C++ server answers HTTP and gRPC and
hands batches to `infer` in this process.
"""

import argparse
from pathlib import Path

import joblib
import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def infer_function(model):
    @batch
    def infer(input):
        proba = model.predict_proba(input).astype(np.float32)
        label = model.classes_[proba.argmax(axis=1)].astype(np.int64)
        return {"label": label.reshape(-1, 1), "probabilities": proba}

    return infer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    args = parser.parse_args()
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=args.http_port,
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
    )
    with Triton(config=config) as triton:
        for name in args.model:
            model = joblib.load(args.models_dir / name / "model.joblib")
            triton.bind(
                model_name=name,
                infer_func=infer_function(model),
                inputs=[Tensor(name="input", dtype=np.float32, shape=(-1,))],
                outputs=[
                    Tensor(name="label", dtype=np.int64, shape=(1,)),
                    Tensor(name="probabilities", dtype=np.float32, shape=(-1,)),
                ],
                config=ModelConfig(max_batch_size=32),
            )
        triton.serve()


if __name__ == "__main__":
    main()
