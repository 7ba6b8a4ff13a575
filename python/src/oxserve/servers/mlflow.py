"""MLflow models through the generic ``pyfunc`` flavour: a folder holding ``MLmodel``."""

import numpy as np

from ._base import PrepackagedModel, features


class MLflowModel(PrepackagedModel):
    """Answers what ``pyfunc.predict`` returns: a DataFrame as one output per column, a dict as
    one output per key, anything else as output ``predict``."""

    implementation = "mlflow"
    module = "mlflow.pyfunc"
    package = "mlflow-skinny"
    model_files = ("MLmodel",)

    def load_model(self, pyfunc, path):
        # The model is the folder that holds MLmodel; parameters.uri may name either.
        folder = path.parent if path.name == "MLmodel" else path
        return pyfunc.load_model(str(folder))

    def infer(self, arrays, requested):
        result = self.model.predict(features(arrays))
        if hasattr(result, "columns"):
            return {str(column): result[column].to_numpy() for column in result.columns}
        if isinstance(result, dict):
            return {str(name): np.asarray(value) for name, value in result.items()}
        return {"predict": np.asarray(result)}
