"""The limit: onnxruntime's own `InferenceSession.run`, in-process, in a tight Python loop; and
scikit-learn's `predict_proba` on the joblib file the Python peers serve, their own ceiling.

    bench/.venvs/bench/bin/python bench/inprocess.py MODELS_DIR --seconds S [--batch 32]

run.py starts it pinned to the server core. One session per model with one intra-op thread
(what oxserve gets on one core), all outputs fetched as oxserve computes them. Each call is timed
on its own; prints one JSON object per (runtime, model, batch size).
"""

import argparse
import json
import time
from functools import partial
from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
import sklearn


def measure(call, rows: int, seconds: float) -> dict:
    """Times `call()` back to back for `seconds`."""
    for _ in range(200):  # warm-up
        call()
    times = []
    clock = time.perf_counter_ns
    end = clock() + int(seconds * 1e9)
    while True:
        start = clock()
        call()
        stop = clock()
        times.append(stop - start)
        if stop > end:
            break
    times.sort()
    total_us = sum(times) / 1000
    return {
        "batch": rows,
        "calls": len(times),
        "p50_us": times[len(times) // 2] / 1000,
        "p99_us": times[min(len(times) - 1, int(len(times) * 0.99))] / 1000,
        "us_per_call": total_us / len(times),
        "us_per_row": total_us / len(times) / rows,
        "rows_per_s": len(times) * rows / (total_us / 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, action="append", default=[])
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    for name in args.model:
        payload = json.loads((args.models / name / "payload.json").read_text())
        session = ort.InferenceSession(
            str(args.models / name / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        model = joblib.load(args.models / name / "model.joblib")
        row = np.asarray([payload["row"]], dtype=np.float32)
        for rows in [1, *args.batch]:
            feed = {payload["input"]: np.repeat(row, rows, axis=0)}
            result = measure(partial(session.run, None, feed), rows, args.seconds)
            runtime = f"onnxruntime {ort.__version__}"
            print(json.dumps({"model": name, "runtime": runtime, **result}), flush=True)
        for rows in [1, *args.batch]:
            features = np.repeat(row, rows, axis=0)
            result = measure(partial(model.predict_proba, features), rows, args.seconds)
            runtime = f"scikit-learn {sklearn.__version__} predict_proba"
            print(json.dumps({"model": name, "runtime": runtime, **result}), flush=True)


if __name__ == "__main__":
    main()
