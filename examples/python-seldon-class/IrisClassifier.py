"""A Seldon Core model class, written as Seldon's documentation teaches: a plain class with
`predict(X, features_names)`. Nothing here imports oxserve; `oxserve-microservice` serves it
as `seldon-core-microservice` would."""

import joblib


class IrisClassifier:
    def __init__(self, model_path="model.joblib"):
        self.model_path = model_path
        self.model = None
        self.calls = 0

    def load(self):
        self.model = joblib.load(self.model_path)

    def predict(self, X, features_names=None):
        self.calls += 1
        return self.model.predict_proba(X)

    def class_names(self):
        return ["setosa", "versicolor", "virginica"]

    def tags(self):
        return {"model": "iris-logistic-regression"}

    def metrics(self):
        return [{"type": "COUNTER", "key": "iris_predictions", "value": 1}]
