"""Triggers of the Prediction One provider (deferrable waits on the triggerer)."""

from __future__ import annotations

from airflow_provider_predictionone.triggers.classifier import (
    ClassifierTarget,
    PredictionApiFailedError,
    PredictionApiNotFoundError,
    PredictionOneClassifierTrigger,
    check_classifier,
    classifier_event_result,
    classifier_outcome,
    wait_for_classifier,
)
from airflow_provider_predictionone.triggers.predictionone import (
    EVENT_ERROR,
    EVENT_FAILED,
    EVENT_STATUSES,
    EVENT_SUCCESS,
    EVENT_TIMEOUT,
    JobKind,
    PredictionOneJobTrigger,
    check_job,
    describe_job_status,
    job_event_result,
    normalize_job,
)

__all__ = [
    "EVENT_ERROR",
    "EVENT_FAILED",
    "EVENT_STATUSES",
    "EVENT_SUCCESS",
    "EVENT_TIMEOUT",
    "ClassifierTarget",
    "JobKind",
    "PredictionApiFailedError",
    "PredictionApiNotFoundError",
    "PredictionOneClassifierTrigger",
    "PredictionOneJobTrigger",
    "check_classifier",
    "check_job",
    "classifier_event_result",
    "classifier_outcome",
    "describe_job_status",
    "job_event_result",
    "normalize_job",
    "wait_for_classifier",
]
