"""XGBoost boosters saved with ``Booster.save_model`` (JSON, UBJSON or the legacy binary)."""

from ._base import PrepackagedModel, features


class XGBoostModel(PrepackagedModel):
    """Answers the booster's prediction as output ``predict``: labels or values for regression,
    probabilities for ``binary:logistic`` and ``multi:softprob`` objectives."""

    implementation = "xgboost"
    module = "xgboost"
    package = "xgboost"
    model_files = ("model.json", "model.ubj", "model.bst")

    def load_model(self, xgboost, path):
        booster = xgboost.Booster()
        booster.load_model(str(path))
        return booster

    def infer(self, arrays, requested):
        # inplace_predict reads NumPy arrays and DataFrames without building a DMatrix copy.
        return {"predict": self.model.inplace_predict(features(arrays))}
