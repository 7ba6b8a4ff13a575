"""Seldon Core user classes for the tests, written as Seldon's documentation teaches (plain
classes, no import of seldon_core or oxserve), served with `oxserve-microservice`."""

import joblib
import numpy as np


class BadRequest(Exception):
    """Stands in for seldon_core's SeldonMicroserviceException: a message and a status_code."""

    def __init__(self, message, status_code=400):
        super().__init__(message)
        self.status_code = status_code


class Iris:
    def __init__(self, model_path, threshold=0.5):
        self.model_path = model_path
        self.threshold = threshold
        self.clf = None

    def load(self):
        self.clf = joblib.load(self.model_path)

    # No `meta` argument: the wrapper's first call raises TypeError and it retries without it.
    def predict(self, X, features_names):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != 4:
            raise BadRequest(f"expected rows of 4 features, got shape {list(X.shape)}")
        if X[0, 0] < 0:
            raise RuntimeError("negative sepal length")
        return self.clf.predict_proba(X)

    def class_names(self):
        return ["setosa", "versicolor", "virginica"]

    def tags(self):
        return {"threshold": self.threshold}

    def metrics(self):
        return [{"type": "COUNTER", "key": "iris_requests_total", "value": 1}]

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return []


class Echo:
    """`meta` taken as a keyword; strings and JSON answered in kind; runtime tags."""

    def predict(self, X, features_names, meta=None):
        from oxserve import SeldonResponse

        if isinstance(X, dict):
            return {"echo": X, "puid_seen": bool(meta.get("puid"))}
        if isinstance(X, str):
            return X[::-1]
        return SeldonResponse(np.asarray(X) * 2, tags={"runtime": True})


class BadMetric:
    def predict(self, X, features_names):
        return X

    def metrics(self):
        return [{"type": "GAUGE", "key": "no_value"}]


class Raw:
    def predict_raw(self, message):
        values = message["data"]["ndarray"]
        return {
            "data": {"names": ["sum"], "ndarray": [[sum(row)] for row in values]},
            "meta": {"tags": {"raw": 1}},
        }


class Transformer:
    def transform_input(self, X, features_names):
        return np.asarray(X) / 10


class NoMethods:
    pass


class Router:
    """Sends rows whose first feature is large to child 1, others to child 0."""

    def route(self, features, feature_names):
        return 1 if np.asarray(features)[0][0] > 5 else 0


class BadRouter:
    def route(self, features, feature_names):
        return "left"


class Combiner:
    def aggregate(self, features_list, feature_names_list):
        return np.mean([np.asarray(f, dtype=float) for f in features_list], axis=0)


class HealthArray:
    """A health check answering an array, with the class's tags and a custom metric."""

    def predict(self, X, features_names):
        return X

    def health_status(self):
        return np.array([[1.0, 2.0]])

    def tags(self):
        return {"checked": True}

    def metrics(self):
        return [{"type": "COUNTER", "key": "health_checks_total", "value": 1}]


class HealthJson:
    def predict(self, X, features_names):
        return X

    def health_status(self):
        return {"db": "up"}


class HealthRaw:
    def predict(self, X, features_names):
        return X

    def health_status_raw(self):
        return {"strData": "raw ok", "meta": {"tags": {"raw": 1}}}


class HealthFails:
    def predict(self, X, features_names):
        return X

    def health_status(self):
        raise RuntimeError("database unreachable")


class HealthUnavailable:
    def predict(self, X, features_names):
        return X

    def health_status(self):
        raise BadRequest("warming up", status_code=503)


def as_json(message):
    """A message handed to a *_raw method (a dict over REST, a proto over gRPC) as JSON."""
    if hasattr(message, "DESCRIPTOR"):
        from google.protobuf import json_format

        return json_format.MessageToDict(message)
    return message


class RawEcho:
    """Answers the message(s) its *_raw methods received, as jsonData, tagged with the type they
    came as; remembers the type and reward of the last feedback in its tags."""

    def __init__(self):
        self.feedback = None

    def predict_raw(self, message):
        return {"jsonData": as_json(message), "meta": {"tags": {"received": type(message).__name__}}}

    def aggregate_raw(self, messages):
        received = type(messages).__name__
        if hasattr(messages, "DESCRIPTOR"):
            messages = messages.seldonMessages
        return {"jsonData": [as_json(m) for m in messages], "meta": {"tags": {"received": received}}}

    def send_feedback_raw(self, feedback):
        reward = feedback.reward if hasattr(feedback, "DESCRIPTOR") else feedback["reward"]
        self.feedback = f"{type(feedback).__name__}:{reward}"

    def tags(self):
        return {"feedback": self.feedback} if self.feedback else {}


class Legacy:
    """Seldon's deprecated spellings: predict_rest over REST, predict_grpc (a proto in, a proto
    out) over gRPC, and route_rest whatever the transport."""

    def predict_rest(self, message):
        return {"strData": f"rest:{type(message).__name__}"}

    def predict_grpc(self, message):
        return type(message)(strData=f"grpc:{type(message).__name__}")

    def route_rest(self, message):
        return {"data": {"ndarray": [[1]]}}


class RawTfTensor:
    """Answers in data.tftensor form: the request's rows doubled."""

    def predict_raw(self, message):
        rows = np.asarray(message["data"]["ndarray"], dtype=np.float32) * 2
        proto = {
            "dtype": "DT_FLOAT",
            "tensorShape": {"dim": [{"size": str(d)} for d in rows.shape]},
            "floatVal": rows.ravel().tolist(),
        }
        return {"data": {"names": ["a", "b"], "tftensor": proto}}
