"""Sensors of the Prediction One provider."""

from __future__ import annotations

from airflow_provider_predictionone.sensors.predictionone import (
    MODEL_ID_XCOM_KEY,
    PredictionOneRetrainSensor,
    PredictionOneTrainingSensor,
)

__all__ = ["MODEL_ID_XCOM_KEY", "PredictionOneRetrainSensor", "PredictionOneTrainingSensor"]
