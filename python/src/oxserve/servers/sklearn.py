"""scikit-learn estimators saved with joblib or pickle."""

from ..errors import InvalidInput
from ._base import PrepackagedModel, features

# The estimator methods a request may ask for, each answering an output of the same name.
METHODS = ("predict", "predict_proba", "decision_function")


class SKLearnModel(PrepackagedModel):
    """Answers ``parameters.extra.method`` (``predict`` by default), or the methods a request
    names as its outputs, so one model serves both labels and probabilities."""

    implementation = "sklearn"
    module = "sklearn"
    package = "scikit-learn"
    model_files = ("model.joblib", "model.pkl", "model.pickle")

    def load_model(self, framework, path):
        import joblib  # scikit-learn depends on joblib, which also reads plain pickles

        self.method = self.extra.get("method", "predict")
        if self.method not in METHODS:
            raise self.fail(f"parameters.extra.method '{self.method}' is not one of {', '.join(METHODS)}")
        model = joblib.load(path)
        if not callable(getattr(model, self.method, None)):
            raise self.fail(f"{type(model).__name__} loaded from {path} has no method {self.method}")
        return model

    def infer(self, arrays, requested):
        methods = requested or [self.method]
        for method in methods:
            if method not in METHODS or not callable(getattr(self.model, method, None)):
                offered = [m for m in METHODS if callable(getattr(self.model, m, None))]
                raise InvalidInput(
                    f"model '{self.name}' has no output '{method}'; it answers {', '.join(offered)}"
                )
        x = features(arrays)
        return {method: getattr(self.model, method)(x) for method in methods}
