"""Prediction One operators."""

from __future__ import annotations

from airflow_provider_predictionone.operators.predictionone import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)

__all__ = [
    "PredictionOneRetrainModelOperator",
    "PredictionOneSwitchModelOperator",
    "PredictionOneTrainModelOperator",
    "PredictionOneUploadDataOperator",
]
