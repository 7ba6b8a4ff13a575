"""Trains iris classifiers with scikit-learn, XGBoost and LightGBM and saves each into its model
folder under models/, beside the model-settings.json that tells oxserve how to serve it."""

from pathlib import Path

import joblib
import lightgbm
import xgboost
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MODELS = Path(__file__).parent / "models"

X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), MODELS / "iris-sklearn" / "model.joblib")
xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y).save_model(
    MODELS / "iris-xgboost" / "model.json"
)
booster = lightgbm.train(
    {"objective": "multiclass", "num_class": 3, "verbose": -1}, lightgbm.Dataset(X, y), num_boost_round=20
)
booster.save_model(MODELS / "iris-lightgbm" / "model.txt")
print("wrote the models under", MODELS)
