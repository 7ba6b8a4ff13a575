"""Typed models for the tests, served by `python typed_models.py MODEL_PATH HTTP GRPC [WORKERS]`."""

import os
import sys
import threading
import time

import joblib
import numpy as np

import oxserve

MODEL_PATH, HTTP_PORT, GRPC_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
WORKERS = int(sys.argv[4]) if len(sys.argv) > 4 else 1


@oxserve.model(
    name="iris",
    inputs=[("x", "FP32", [-1, 4])],
    outputs=[("label", "INT64", [-1]), ("proba", "FP64", [-1, 3])],
    max_batch_size=64,
    max_batch_time=0.005,
)
class Iris:
    def __init__(self):
        self.clf = joblib.load(MODEL_PATH)

    def predict(self, x):
        return {"label": self.clf.predict(x), "proba": self.clf.predict_proba(x)}


@oxserve.model(
    name="inspect",
    outputs=[
        ("zero_copy", "BOOL", [1]),
        ("writeable", "BOOL", [1]),
        ("pid", "INT64", [1]),
        ("thread", "BYTES", [1]),
        ("doubled", "FP32", [-1]),
    ],
)
def inspect(x):
    """Reports how the input arrived: a view of the request's buffer (its base is the Rust owner)
    and read-only; which worker process answered, and on which thread (as the kernel names it)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as comm:
        thread = comm.read().strip()
    return {
        "thread": [thread],
        "zero_copy": [type(x.base).__name__ == "SharedBytes"],
        "writeable": [x.flags.writeable],
        "pid": [os.getpid()],
        "doubled": (x * 2).ravel(),
    }


@oxserve.model(name="words", inputs=[("text", "BYTES", [-1])], outputs=[("upper", "BYTES", [-1])])
def words(text):
    return np.array([t.decode().upper() for t in text], dtype=object)


@oxserve.model(name="flaky", inputs=[("x", "FP32", [-1])], outputs=[("y", "FP32", [-1])], timeout=1.0)
def flaky(x):
    """Refuses 7 (a 400), fails for a negative first value, hangs for 99, echoes otherwise."""
    if x[0] == 7:
        raise oxserve.InvalidInput("7 is not a valid x")
    if x[0] < 0:
        raise ValueError(f"negative input {x[0]}")
    if x[0] == 99:
        time.sleep(5)
    return x


@oxserve.model(name="broken", outputs=[("y", "FP32", [-1])])
def broken(x):
    """Forgets its declared output."""
    return {}


if __name__ == "__main__":
    oxserve.serve(
        [Iris, inspect, words, flaky, broken], http_port=HTTP_PORT, grpc_port=GRPC_PORT, workers=WORKERS
    )
