"""Prediction One operators."""

from __future__ import annotations

from airflow_provider_predictionone.operators.deploy import (
    PredictionOneDeleteDataSetOperator,
    PredictionOneDeleteModelOperator,
    PredictionOneDeletePredictionApiOperator,
    PredictionOneDeployModelOperator,
    PredictionOneUpdatePredictionApiOperator,
)
from airflow_provider_predictionone.operators.predict import PredictionOneBatchPredictOperator
from airflow_provider_predictionone.operators.predictionone import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
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
