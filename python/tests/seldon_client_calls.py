"""Runs calls through Seldon Core's own Python client (`seldon_core.seldon_client.SeldonClient`),
in the separate virtualenv where seldon-core installs (its pins clash with this package's test
dependencies). Reads a JSON list of calls on stdin and prints one JSON result per call:
``{"success", "msg", "response"}``, the response as the dict of its SeldonMessage.

A call is ``{"method": <SeldonClient method>, "kwargs": {...}}``; ``data`` and ``datas`` in kwargs
become numpy arrays; ``feedback_of`` (an earlier call's index) sends that call's request and
response back as ``microservice_feedback``/``feedback``.
"""

import json
import sys

import numpy as np
from google.protobuf import json_format
from seldon_core.seldon_client import SeldonClient


def as_dict(message):
    return None if message is None else json_format.MessageToDict(message)


def main():
    results, raw = [], []
    for call in json.load(sys.stdin):
        kwargs = dict(call["kwargs"])
        if "data" in kwargs:
            kwargs["data"] = np.array(kwargs["data"])
        if "datas" in kwargs:
            kwargs["datas"] = [np.array(d) for d in kwargs["datas"]]
        if "feedback_of" in call:
            earlier = raw[call["feedback_of"]]
            if earlier is None:
                raw.append(None)
                results.append({"success": False, "msg": "the call fed back failed", "response": None})
                continue
            kwargs.update(prediction_request=earlier.request, prediction_response=earlier.response)
        # Protos, not dicts: the client builds feedback from the protos of a prediction.
        client = SeldonClient(client_return_type="proto")
        try:
            result = getattr(client, call["method"])(**kwargs)
        except Exception as e:  # the client's own exceptions, reported to the test
            raw.append(None)
            results.append({"success": False, "msg": f"{type(e).__name__}: {e}", "response": None})
            continue
        raw.append(result)
        results.append(
            {
                "success": result.success,
                "msg": result.msg,
                "response": as_dict(getattr(result, "response", None)),
            }
        )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
