"""The Seldon Core Python wrapper's user model: `seldon-core-microservice SeldonModel` loads this class.

The model file comes from the environment (BENCH_MODEL_PATH); `predict` answers the class
probabilities, what the wrapper sends back as `data.ndarray` for a Seldon ndarray request.
"""

import os

import joblib


class SeldonModel:
    def __init__(self):
        self.model = joblib.load(os.environ["BENCH_MODEL_PATH"])

    def predict(self, X, features_names=None):
        return self.model.predict_proba(X)
