"""LightGBM boosters saved with ``Booster.save_model`` (text format)."""

from ._base import PrepackagedModel, features


class LightGBMModel(PrepackagedModel):
    """Answers the booster's prediction as output ``predict`` (probabilities for classifiers)."""

    implementation = "lightgbm"
    module = "lightgbm"
    package = "lightgbm"
    model_files = ("model.txt", "model.bst")

    def load_model(self, lightgbm, path):
        return lightgbm.Booster(model_file=str(path))

    def infer(self, arrays, requested):
        return {"predict": self.model.predict(features(arrays))}
