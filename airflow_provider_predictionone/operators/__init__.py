"""Prediction One operators, one module per part of the workflow over one shared base (:mod:`.base`)."""

from __future__ import annotations

from airflow_provider_predictionone.operators.deploy import (
    PredictionOneDeletePredictionApiOperator,
    PredictionOneDeployModelOperator,
    PredictionOneUpdatePredictionApiOperator,
)
from airflow_provider_predictionone.operators.housekeeping import (
    PredictionOneDeleteDataSetOperator,
    PredictionOneDeleteModelOperator,
)
from airflow_provider_predictionone.operators.predict import PredictionOneBatchPredictOperator
from airflow_provider_predictionone.operators.retraining import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
)
from airflow_provider_predictionone.operators.training import (
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)

__all__ = [
    "PredictionOneBatchPredictOperator",
    "PredictionOneDeleteDataSetOperator",
    "PredictionOneDeleteModelOperator",
    "PredictionOneDeletePredictionApiOperator",
    "PredictionOneDeployModelOperator",
    "PredictionOneRetrainModelOperator",
    "PredictionOneSwitchModelOperator",
    "PredictionOneTrainModelOperator",
    "PredictionOneUpdatePredictionApiOperator",
    "PredictionOneUploadDataOperator",
]
