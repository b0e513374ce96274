"""Triggers of the Prediction One provider (deferrable waits on the triggerer)."""

from __future__ import annotations

from airflow_provider_predictionone.triggers.classifier import PredictionOneClassifierTrigger
from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger

__all__ = ["PredictionOneClassifierTrigger", "PredictionOneJobTrigger"]
