"""Trains a logistic regression on iris and saves it as model.joblib next to this file."""

from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(X, y)
joblib.dump(model, Path(__file__).parent / "model.joblib")
print("wrote", Path(__file__).parent / "model.joblib")
