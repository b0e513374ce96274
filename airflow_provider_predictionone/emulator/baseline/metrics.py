"""Evaluation metrics, accumulated row by row (accuracy, F1, AUC; RMSE, MAE, R²)."""

from __future__ import annotations

import math

from airflow_provider_predictionone.api.metrics import roc_auc  # the gate judges with the same code
from airflow_provider_predictionone.emulator.baseline.models import BINARY, REGRESSION, Prediction

__all__ = ["MetricsAccumulator", "roc_auc"]


class MetricsAccumulator:
    """Streaming evaluation metrics for one task."""

    def __init__(self, task: str, positive: str | None) -> None:
        self.task = task
        self.positive = positive
        self.n = 0
        self.correct = 0
        self.confusion: dict[tuple[str, str], int] = {}
        self.scores: list[float] = []
        self.is_positive: list[bool] = []
        self.abs_error = 0.0
        self.sq_error = 0.0
        self.y_sum = 0.0
        self.y_sq = 0.0

    def add_class(self, actual: str, prediction: Prediction) -> None:
        self.n += 1
        predicted = prediction.label or ""
        self.correct += actual == predicted
        self.confusion[(actual, predicted)] = self.confusion.get((actual, predicted), 0) + 1
        if self.task == BINARY:
            probability = dict(prediction.probabilities).get(self.positive or "", 0.0)
            self.scores.append(probability)
            self.is_positive.append(actual == self.positive)

    def add_value(self, actual: float, predicted: float) -> None:
        self.n += 1
        error = predicted - actual
        self.abs_error += abs(error)
        self.sq_error += error * error
        self.y_sum += actual
        self.y_sq += actual * actual

    def result(self) -> dict[str, float]:
        if self.task == REGRESSION:
            total_ss = self.y_sq - self.y_sum * self.y_sum / self.n
            return {
                "rmse": math.sqrt(self.sq_error / self.n),
                "mae": self.abs_error / self.n,
                "r2": 1 - self.sq_error / total_ss if total_ss > 1e-12 else math.nan,
            }
        accuracy = self.correct / self.n
        if self.task == BINARY:
            pos = self.positive
            tp = sum(v for (a, p), v in self.confusion.items() if a == pos and p == pos)
            fp = sum(v for (a, p), v in self.confusion.items() if a != pos and p == pos)
            fn = sum(v for (a, p), v in self.confusion.items() if a == pos and p != pos)
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            return {
                "accuracy": accuracy,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "auc": roc_auc(self.scores, self.is_positive),
            }
        labels = sorted({a for a, _ in self.confusion} | {p for _, p in self.confusion})
        f1s = []
        for label in labels:
            tp = self.confusion.get((label, label), 0)
            fp = sum(v for (a, p), v in self.confusion.items() if a != label and p == label)
            fn = sum(v for (a, p), v in self.confusion.items() if a == label and p != label)
            denominator = 2 * tp + fp + fn
            f1s.append(2 * tp / denominator if denominator else 0.0)
        return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s)}
