"""The fitted baseline models: Naive Bayes and ridge regression, their predictions and their file form."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.baseline.features import Feature
from airflow_provider_predictionone.emulator.baseline.sufficient import NaiveBayesCounts, RidgeMoments, solve_linear

BINARY = contract.PredictionType.BINARY_CLASSIFICATION.value
MULTI = contract.PredictionType.MULTI_CLASSIFICATION.value
REGRESSION = contract.PredictionType.REGRESSION.value

RIDGE_LAMBDA = 1.0

# Column names of the prediction outputs (shared with the API layer's readers).
ROW_NUMBER_COLUMN = contract.ROW_NUMBER_COLUMN
PREDICTION_COLUMN = contract.PREDICTION_COLUMN
PROBABILITY_PREFIX = contract.PROBABILITY_PREFIX
ACTUAL_COLUMN = contract.ACTUAL_COLUMN


@dataclass
class Prediction:
    """The result of predicting one row."""

    label: str | None
    probabilities: list[tuple[str, float]]
    value: float | None
    contributions: list[tuple[str, str, float]]


class BaselineModel:
    """Base class: a fitted model over named feature columns."""

    kind = ""

    def __init__(self, task: str, target: str, features: list[Feature], classes: list[str], positive: str | None):
        self.task = task
        self.target = target
        self.features = features
        self.classes = classes
        self.positive = positive

    @property
    def required_columns(self) -> list[str]:
        """Columns an inference request must contain."""
        return [f.name for f in self.features]

    def predict(self, values: Sequence[str]) -> Prediction:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_mapping(self, row: Mapping[str, str]) -> Prediction:
        """Predict from ``{column name: raw value}`` (missing columns count as missing values)."""
        return self.predict([row.get(f.name, "") for f in self.features])

    def importances(self) -> list[tuple[str, float]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def prediction_columns(self, *, with_label: bool = True) -> list[str]:
        """Header of the prediction part of an output row."""
        if self.task == REGRESSION:
            return [PREDICTION_COLUMN]
        head = [PREDICTION_COLUMN] if with_label else []
        return head + [PROBABILITY_PREFIX + c for c in self.classes]

    def prediction_values(self, prediction: Prediction, *, with_label: bool = True) -> list[str]:
        if self.task == REGRESSION:
            return [format_number(prediction.value)]
        head = [prediction.label or ""] if with_label else []
        return head + [format_number(p) for _, p in prediction.probabilities]

    def _base_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "target": self.target,
            "features": [f.to_dict() for f in self.features],
            "classes": self.classes,
            "positive": self.positive,
        }

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> BaselineModel:
        """Rebuild a model saved with :meth:`to_dict`."""
        features = [Feature.from_dict(f) for f in data["features"]]
        args = (data["task"], data["target"], features, list(data["classes"]), data["positive"])
        if data["kind"] == NaiveBayesModel.kind:
            return NaiveBayesModel(
                *args,
                log_prior=data["log_prior"],
                log_likelihood=data["log_likelihood"],
                mutual_information=data["mutual_information"],
            )
        return RidgeModel(*args, coefficients=data["coefficients"])


class NaiveBayesModel(BaselineModel):
    """Categorical Naive Bayes (see module docstring)."""

    kind = "naive_bayes"

    def __init__(
        self,
        *args: Any,
        log_prior: list[float],
        log_likelihood: list[list[list[float]]],
        mutual_information: list[float],
    ) -> None:
        super().__init__(*args)
        self.log_prior = log_prior
        self.log_likelihood = log_likelihood
        self.mutual_information = mutual_information

    @classmethod
    def fit(
        cls,
        counts: NaiveBayesCounts,
        task: str,
        target: str,
        features: list[Feature],
        classes: list[str],
        positive: str | None,
        balance: bool,
    ) -> NaiveBayesModel:
        n_classes = len(classes)
        total = sum(counts.classes)
        if balance:
            log_prior = [-math.log(n_classes)] * n_classes
        else:
            log_prior = [math.log((counts.classes[c] + 1) / (total + n_classes)) for c in range(n_classes)]
        log_likelihood = []
        mutual = []
        for width, table in zip(counts.widths, counts.table, strict=False):
            log_likelihood.append(
                [
                    [math.log((table[b][c] + 1) / (counts.classes[c] + width)) for c in range(n_classes)]
                    for b in range(width)
                ]
            )
            info = 0.0
            if total:
                for b in range(width):
                    bucket_total = sum(table[b])
                    for c in range(n_classes):
                        joint = table[b][c]
                        if joint and counts.classes[c]:
                            info += joint / total * math.log(joint * total / (bucket_total * counts.classes[c]))
            mutual.append(max(info, 0.0))
        return cls(
            task,
            target,
            features,
            classes,
            positive,
            log_prior=log_prior,
            log_likelihood=log_likelihood,
            mutual_information=mutual,
        )

    def predict(self, values: Sequence[str]) -> Prediction:
        buckets = [f.nb_bin(v) for f, v in zip(self.features, values, strict=False)]
        scores = list(self.log_prior)
        for table, bucket in zip(self.log_likelihood, buckets, strict=False):
            for c, value in enumerate(table[bucket]):
                scores[c] += value
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        norm = sum(exps)
        probabilities = [e / norm for e in exps]
        best = max(range(len(self.classes)), key=lambda c: probabilities[c])
        focus = self.classes.index(self.positive) if self.positive in self.classes else best
        contributions = []
        for feature, value, table, bucket in zip(self.features, values, self.log_likelihood, buckets, strict=False):
            row = table[bucket]
            others = [row[c] for c in range(len(row)) if c != focus]
            contributions.append((feature.name, value, row[focus] - sum(others) / max(len(others), 1)))
        return Prediction(
            label=self.classes[best],
            probabilities=list(zip(self.classes, probabilities, strict=False)),
            value=None,
            contributions=contributions,
        )

    def importances(self) -> list[tuple[str, float]]:
        return normalise([(f.name, mi) for f, mi in zip(self.features, self.mutual_information, strict=False)])

    def to_dict(self) -> dict[str, Any]:
        data = self._base_dict()
        data.update(
            log_prior=self.log_prior, log_likelihood=self.log_likelihood, mutual_information=self.mutual_information
        )
        return data


class RidgeModel(BaselineModel):
    """Ridge linear regression (see module docstring)."""

    kind = "ridge"

    def __init__(self, *args: Any, coefficients: list[float]) -> None:
        super().__init__(*args)
        self.coefficients = coefficients

    @classmethod
    def fit(cls, moments: RidgeMoments, task: str, target: str, features: list[Feature]) -> RidgeModel:
        width = moments.width
        matrix = [[0.0] * width for _ in range(width)]
        for i in range(width):
            for j in range(i, width):
                matrix[i][j] = matrix[j][i] = moments.xtx[i][j]
            if i:
                matrix[i][i] += RIDGE_LAMBDA
        matrix[0][0] += 1e-9
        coefficients = solve_linear(matrix, list(moments.xty))
        return cls(task, target, features, [], None, coefficients=coefficients)

    def _design(self, values: Sequence[str]) -> list[list[float]]:
        return [f.ridge_values(v) for f, v in zip(self.features, values, strict=False)]

    def predict(self, values: Sequence[str]) -> Prediction:
        parts = self._design(values)
        total = self.coefficients[0]
        contributions = []
        position = 1
        for feature, value, part in zip(self.features, values, parts, strict=False):
            share = sum(c * x for c, x in zip(self.coefficients[position : position + len(part)], part, strict=False))
            position += len(part)
            total += share
            contributions.append((feature.name, value, share))
        return Prediction(label=None, probabilities=[], value=total, contributions=contributions)

    def importances(self) -> list[tuple[str, float]]:
        result = []
        position = 1
        for feature in self.features:
            scales = feature.ridge_scales()
            weights = self.coefficients[position : position + len(scales)]
            position += len(scales)
            result.append((feature.name, sum(abs(w) * s for w, s in zip(weights, scales, strict=False))))
        return normalise(result)

    def to_dict(self) -> dict[str, Any]:
        data = self._base_dict()
        data["coefficients"] = self.coefficients
        return data


def normalise(pairs: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Scale importances to sum to one and sort them, largest first."""
    total = sum(v for _, v in pairs)
    scaled = [(name, v / total if total > 0 else 0.0) for name, v in pairs]
    return sorted(scaled, key=lambda item: (-item[1], item[0]))


def format_number(value: float | None) -> str:
    """Numbers in output CSVs: up to 10 significant digits; ``nan`` for undefined metrics."""
    if value is None:
        return ""
    if math.isnan(value):
        return "nan"
    return f"{value:.10g}"


def save_model(model: BaselineModel, path: Path) -> None:
    """Write a model as JSON."""
    path.write_text(json.dumps(model.to_dict()), encoding="utf-8")


def load_model(path: Path) -> BaselineModel:
    """Read a model written by :func:`save_model`."""
    return BaselineModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
