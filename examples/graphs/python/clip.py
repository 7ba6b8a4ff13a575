"""A Seldon-style TRANSFORMER, written as Seldon's documentation teaches (nothing here imports
oxserve): it clips each measurement into the range the classifier was trained on, so that a typo
such as 51 cm for 5.1 cm cannot push the model far outside its data."""

import numpy as np


class Clip:
    def __init__(self, low=0.0, high=8.0):
        self.low = float(low)
        self.high = float(high)
        self.clipped = 0

    def transform_input(self, X, features_names=None):
        X = np.asarray(X, dtype=np.float32)
        self.clipped += int(np.count_nonzero((X < self.low) | (X > self.high)))
        return np.clip(X, self.low, self.high)

    def tags(self):
        return {"clipped_so_far": self.clipped}
