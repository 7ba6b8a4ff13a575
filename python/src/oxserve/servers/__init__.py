"""Prepackaged servers: models served from a file and ``model-settings.json``, with no user code.

``implementation`` in the settings picks the server, by oxserve's short name or by the name
MLServer (``mlserver_sklearn.SKLearnModel``…), Seldon Core (``SKLEARN_SERVER``…) or KServe
(``sklearn``…) gives it, so that a folder written for one of them serves unchanged.
"""

from .lightgbm import LightGBMModel
from .mlflow import MLflowModel
from .sklearn import SKLearnModel
from .tensorflow import TensorFlowModel
from .xgboost import XGBoostModel

SERVERS = {
    server.implementation: server
    for server in (SKLearnModel, XGBoostModel, LightGBMModel, MLflowModel, TensorFlowModel)
}

ALIASES = {
    "mlserver_sklearn.SKLearnModel": "sklearn",
    "mlserver_xgboost.XGBoostModel": "xgboost",
    "mlserver_lightgbm.LightGBMModel": "lightgbm",
    "mlserver_mlflow.MLflowRuntime": "mlflow",
    "SKLEARN_SERVER": "sklearn",
    "XGBOOST_SERVER": "xgboost",
    "MLFLOW_SERVER": "mlflow",
    "TENSORFLOW_SERVER": "tensorflow",
}


def server_for(implementation):
    """The prepackaged server class for ``implementation``, or ``None`` when Python does not
    serve it."""
    return SERVERS.get(ALIASES.get(implementation, implementation))


__all__ = [
    "SERVERS",
    "LightGBMModel",
    "MLflowModel",
    "SKLearnModel",
    "TensorFlowModel",
    "XGBoostModel",
    "server_for",
]
