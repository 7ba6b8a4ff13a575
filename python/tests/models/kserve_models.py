"""KServe-shaped models for the tests, served with `python -m oxserve --model-class ...`; the
model file is $IRIS_MODEL."""

import asyncio
import os
import time

import joblib
import numpy as np

import oxserve


class KServeIris(oxserve.Model):
    """Written the way KServe's documentation teaches a custom model: V1 `instances` in,
    `predictions` out."""

    def __init__(self, name):
        super().__init__(name)
        self.clf = None

    def load(self):
        self.clf = joblib.load(os.environ["IRIS_MODEL"])
        self.ready = True

    def preprocess(self, payload, headers=None):
        return np.asarray(payload["instances"], dtype=np.float32)

    def predict(self, payload, headers=None):
        if payload[0][0] < 0:
            raise ValueError("sepal length cannot be negative")
        if payload[0][0] == 99:
            time.sleep(5)
        return {"predictions": self.clf.predict(payload).tolist()}


class AsyncIris(oxserve.Model):
    """`async def` methods, V2 inputs in, a named InferResponse out."""

    def load(self):
        self.clf = joblib.load(os.environ["IRIS_MODEL"])
        self.ready = True

    async def predict(self, payload, headers=None):
        await asyncio.sleep(0)
        x = payload.inputs[0].as_numpy()
        proba = oxserve.InferOutput("proba")
        proba.set_data_from_numpy(self.clf.predict_proba(x))
        return oxserve.InferResponse(self.name, [proba])


class NoPredict(oxserve.Model):
    """Forgets to override predict: a start-up error."""


class Retiring(oxserve.Model):
    """Takes itself out of service when asked to (`instances` [[0]]), as a model whose backing
    resource went away would."""

    def load(self):
        self.ready = True

    def predict(self, payload, headers=None):
        if payload["instances"] == [[0]]:
            self.ready = False
        return {"predictions": [1]}


class Explained(oxserve.Model):
    """An explainer next to predict, both reading the caller's headers, as KServe passes them."""

    def load(self):
        self.ready = True

    def predict(self, payload, headers=None):
        return {"predictions": [headers.get("x-caller", "nobody")] * len(payload["instances"])}

    async def explain(self, payload, headers):
        await asyncio.sleep(0)
        return {"explanations": {"rows": len(payload["instances"]), "caller": headers.get("x-caller")}}


class NoExplainer(oxserve.Model):
    """Overrides explain only to defer to the base class, which has no explainer (as KServe's
    without an explainer_host)."""

    def load(self):
        self.ready = True

    def predict(self, payload, headers=None):
        return {"predictions": payload["instances"]}

    def explain(self, payload, headers=None):
        return super().explain(payload, headers)
