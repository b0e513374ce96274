"""The emulator's dependency-free baseline models, their evaluation and the result archive.

* Classification (binary and multi-class): categorical **Naive Bayes**. Numeric and date
  columns are cut into up to :data:`NB_NUMERIC_BINS` quantile bins (edges from the column's
  reservoir sample), string and text columns use their :data:`NB_MAX_CATEGORIES` most frequent
  values plus an "other" bucket; a missing value is a bucket of its own. Laplace smoothing
  (add one). ``im=true`` replaces the class prior by a uniform prior.
* Regression: **ridge linear regression** (``lambda`` = :data:`RIDGE_LAMBDA`, intercept not
  penalised) on standardised numeric/date columns (missing -> mean) plus a one-hot encoding of
  the :data:`RIDGE_MAX_CATEGORIES` most frequent values of each string column, solved from the
  normal equations by Gaussian elimination. At most :data:`RIDGE_MAX_FIT_ROWS` evenly strided
  rows are used to fit.

Both models are fitted from additive sufficient statistics (counts, or X'X and X'y), which
makes k-fold cross-validation one streaming pass: each fold's model is "all folds minus this
fold". Evaluation (spec 7.20 archive layout): on the uploaded evaluation file when there is one,
otherwise k-fold cross-validation or a deterministic hold-out of the last
:data:`HOLDOUT_FRACTION` of the rows, depending on ``cv`` (see :func:`evaluation_plan`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.config import TrainConfig
from airflow_provider_predictionone.emulator.datasets.quantiles import bin_index, quantile_edges
from airflow_provider_predictionone.emulator.datasets.reading import DataError, check_column_info, open_rows
from airflow_provider_predictionone.emulator.datasets.summary import (
    TYPE_DATE,
    TYPE_NUMERIC,
    TYPE_STRING,
    TYPE_TEXT,
    DatasetStats,
)
from airflow_provider_predictionone.emulator.datasets.values import is_missing, parse_number, to_number

BINARY = contract.PredictionType.BINARY_CLASSIFICATION.value
MULTI = contract.PredictionType.MULTI_CLASSIFICATION.value
REGRESSION = contract.PredictionType.REGRESSION.value

NB_NUMERIC_BINS = 10
NB_MAX_CATEGORIES = 50
RIDGE_LAMBDA = 1.0
RIDGE_MAX_CATEGORIES = 10
RIDGE_MAX_WIDTH = 150
RIDGE_MAX_FIT_ROWS = 20_000
HOLDOUT_FRACTION = 0.2
AUTO_CV_FOLDS = 5
AUTO_CV_MAX_ROWS = 1_000
MAX_FOLDS = 10

METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "analysis_summary.csv"
EVALUATION_FILE = "evaluation_raw_data.csv"

# Column names of the prediction outputs.
ROW_NUMBER_COLUMN = "row_number"
PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "probability_"
ACTUAL_COLUMN = "actual"


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


@dataclass
class Feature:
    """One input column as the model sees it."""

    name: str
    kind: str  # "numeric" or "categorical"
    date: bool = False
    edges: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    ridge_categories: int = 0

    # Naive Bayes encoding: 0 = missing, then bins / categories, last = other category.
    @property
    def nb_width(self) -> int:
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.categories) + 2

    def nb_bin(self, value: str) -> int:
        if self.kind == "numeric":
            number = to_number(value, date=self.date)
            return 0 if number is None else 1 + bin_index(self.edges, number)
        if is_missing(value):
            return 0
        try:
            return 1 + self.categories.index(value)
        except ValueError:
            return len(self.categories) + 1

    # Ridge encoding: a standardised number, or one-hot indicators of the frequent categories.
    @property
    def ridge_width(self) -> int:
        return 1 if self.kind == "numeric" else self.ridge_categories

    def ridge_values(self, value: str) -> list[float]:
        if self.kind == "numeric":
            number = to_number(value, date=self.date)
            return [0.0 if number is None else (number - self.mean) / self.std]
        encoded = [0.0] * self.ridge_categories
        if not is_missing(value):
            try:
                position = self.categories.index(value)
            except ValueError:
                position = -1
            if 0 <= position < self.ridge_categories:
                encoded[position] = 1.0
        return encoded

    def ridge_scales(self) -> list[float]:
        """Standard deviation of each ridge input (for importances)."""
        if self.kind == "numeric":
            return [1.0]
        return [math.sqrt(max(p * (1 - p), 0.0)) for p in self.frequencies[: self.ridge_categories]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        return cls(**data)


# --------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------


class NaiveBayesCounts:
    """Class counts and per-feature (bucket, class) counts; additive."""

    def __init__(self, widths: Sequence[int], n_classes: int) -> None:
        self.widths = list(widths)
        self.n_classes = n_classes
        self.classes = [0] * n_classes
        self.table = [[[0] * n_classes for _ in range(width)] for width in self.widths]

    def add(self, buckets: Sequence[int], cls: int) -> None:
        self.classes[cls] += 1
        for feature_table, bucket in zip(self.table, buckets, strict=False):
            feature_table[bucket][cls] += 1

    def combine(self, others: Sequence[NaiveBayesCounts], sign: int = 1) -> NaiveBayesCounts:
        result = NaiveBayesCounts(self.widths, self.n_classes)
        for source, factor in [(self, 1), *((o, sign) for o in others)]:
            for c in range(self.n_classes):
                result.classes[c] += factor * source.classes[c]
            for f, feature_table in enumerate(source.table):
                for b, row in enumerate(feature_table):
                    target = result.table[f][b]
                    for c in range(self.n_classes):
                        target[c] += factor * row[c]
        return result


class RidgeMoments:
    """X'X, X'y and y'y of a design matrix with a leading intercept column; additive."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.n = 0
        self.xtx = [[0.0] * width for _ in range(width)]
        self.xty = [0.0] * width

    def add(self, x: Sequence[float], y: float) -> None:
        self.n += 1
        nonzero = [(j, v) for j, v in enumerate(x) if v != 0.0]
        for a, (ja, va) in enumerate(nonzero):
            row = self.xtx[ja]
            self.xty[ja] += va * y
            for jb, vb in nonzero[a:]:
                row[jb] += va * vb

    def combine(self, others: Sequence[RidgeMoments], sign: int = 1) -> RidgeMoments:
        result = RidgeMoments(self.width)
        for source, factor in [(self, 1), *((o, sign) for o in others)]:
            result.n += factor * source.n
            for i in range(self.width):
                result.xty[i] += factor * source.xty[i]
                target, row = result.xtx[i], source.xtx[i]
                for j in range(i, self.width):
                    target[j] += factor * row[j]
        return result


def solve_linear(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve ``matrix @ x = vector`` by Gaussian elimination with partial pivoting."""
    n = len(vector)
    a = [[*list(row), vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-12:
            a[pivot][col] = 1e-12 if a[pivot][col] >= 0 else -1e-12
        a[col], a[pivot] = a[pivot], a[col]
        pivot_row = a[col]
        inverse = 1.0 / pivot_row[col]
        for r in range(col + 1, n):
            factor = a[r][col] * inverse
            if factor:
                row = a[r]
                for k in range(col, n + 1):
                    row[k] -= factor * pivot_row[k]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        total = a[i][n] - sum(a[i][k] * x[k] for k in range(i + 1, n))
        x[i] = total / a[i][i]
    return x


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the ROC curve via the rank statistic (ties share their average rank)."""
    n_pos = sum(1 for p in positives if p)
    n_neg = len(positives) - n_pos
    if not n_pos or not n_neg:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1
        rank_sum += average_rank * sum(1 for k in range(i, j + 1) if positives[order[k]])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


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


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    """What a finished training produced."""

    model: BaselineModel
    metrics: dict[str, float]
    evaluation: str
    evaluated_rows: int


def _class_sort_key(values: list[str]) -> Callable[[str], Any]:
    if all(parse_number(v) is not None for v in values):
        return lambda v: (parse_number(v), v)
    return lambda v: v


def _match_value(wanted: str, values: list[str]) -> str | None:
    for value in values:
        if value == wanted or value.strip() == wanted.strip():
            return value
    number = parse_number(wanted)
    if number is not None:
        for value in values:
            if parse_number(value) == number:
                return value
    return None


def evaluation_plan(config: TrainConfig, row_count: int, has_eval_file: bool) -> tuple[str, int]:
    """How to evaluate: ``("evaluation file", 1)``, ``("hold-out", 2)`` or ``("k-fold", k)``.

    ``cv``: ``0`` (automatic) = 5-fold when the training file has fewer than 1,000 rows, else
    hold-out; ``-1`` = 5-fold; ``1`` = hold-out; ``k >= 2`` = k-fold (at most 10). Time-series
    mode always uses the hold-out (the last rows), an evaluation file always wins.
    """
    if has_eval_file:
        return "evaluation file", 1
    folds = 0
    if not config.time_series:
        if config.cv == 0:
            folds = AUTO_CV_FOLDS if row_count < AUTO_CV_MAX_ROWS else 0
        elif config.cv == -1:
            folds = AUTO_CV_FOLDS
        elif config.cv >= 2:
            folds = min(config.cv, MAX_FOLDS)
    if folds:
        return "k-fold", folds
    return "hold-out", 2


def _build_features(stats: DatasetStats, config: TrainConfig, column_types: Mapping[str, str] | None) -> list[Feature]:
    features: list[Feature] = []
    ridge_width = 1
    for column in stats.columns:
        if column.name == config.target or column.useless_reason is not None:
            continue
        declared = (column_types or {}).get(column.name)
        if declared == "ignore":
            continue
        if declared in ("float", "integer"):
            kind, is_date = "numeric", False
        elif declared == "date":
            kind, is_date = "numeric", True
        elif declared in ("string", "text"):
            kind, is_date = "categorical", False
        elif column.inferred_type == TYPE_NUMERIC:
            kind, is_date = "numeric", False
        elif column.inferred_type == TYPE_DATE:
            kind, is_date = "numeric", True
        elif column.inferred_type in (TYPE_STRING, TYPE_TEXT):
            kind, is_date = "categorical", False
        else:
            continue
        if kind == "numeric":
            sample = column.date_sample if is_date else column.sample
            mean = column.date_mean if is_date else column.mean
            std = column.date_std if is_date else column.std
            edges = quantile_edges(sample, NB_NUMERIC_BINS)
            if mean is None or not edges:
                continue
            feature = Feature(
                column.name, kind, date=is_date, edges=edges, mean=mean, std=std if std and std > 1e-12 else 1.0
            )
        else:
            top = column.top_values[:NB_MAX_CATEGORIES]
            total = max(column.data_count, 1)
            frequent = sum(1 for _, count in top[:RIDGE_MAX_CATEGORIES] if count >= 2)
            frequent = max(0, min(frequent, RIDGE_MAX_WIDTH - ridge_width))
            feature = Feature(
                column.name,
                kind,
                categories=[v for v, _ in top],
                frequencies=[c / total for _, c in top],
                ridge_categories=frequent,
            )
        ridge_width += feature.ridge_width
        features.append(feature)
    if not features:
        raise DataError("The training data has no usable feature column besides the target column.")
    return features


def _validate(
    stats: DatasetStats, config: TrainConfig, column_types: Mapping[str, str] | None
) -> tuple[list[str], str | None]:
    """Check the data against the config; return (classes, positive class)."""
    header = stats.header
    if not contract.MIN_COLUMNS <= len(header) <= contract.MAX_COLUMNS:
        raise DataError(
            f"The training data has {len(header)} columns; between {contract.MIN_COLUMNS} and "
            f"{contract.MAX_COLUMNS} are supported."
        )
    if config.time_series:
        low, high = contract.MIN_TIME_SERIES_ROWS, contract.MAX_TIME_SERIES_ROWS
    else:
        low, high = contract.MIN_TRAINING_ROWS, contract.MAX_TRAINING_ROWS
    if not low <= stats.row_count <= high:
        raise DataError(f"The training data has {stats.row_count} rows; between {low} and {high} rows are supported.")
    if column_types is not None:
        check_column_info(dict(column_types), header)
    if config.target not in header:
        raise DataError(f"The target column {config.target!r} (config tc) is not a column of the training data.")
    if column_types is not None and column_types.get(config.target) == "ignore":
        raise DataError(f"The target column {config.target!r} is marked 'ignore' in the column-info file.")
    for name in config.referenced_columns():
        if name not in header:
            raise DataError(f"The column {name!r} named in the config is not a column of the training data.")
    target = stats.column(config.target)
    if target.data_count < low:
        raise DataError(
            f"Only {target.data_count} rows have a value in the target column {config.target!r}; "
            f"at least {low} are needed."
        )
    if config.task == REGRESSION:
        if target.number_count != target.data_count:
            raise DataError(
                f"Regression needs a numeric target, but the column {config.target!r} has non-numeric values."
            )
        return [], None
    if not target.unique_exact or target.unique_count > contract.MAX_CLASSES:
        raise DataError(
            f"The target column {config.target!r} has more than {contract.MAX_CLASSES} distinct values "
            "(classes); that is not supported."
        )
    values = [value for value, _ in target.top_values]
    classes = sorted(values, key=_class_sort_key(values))
    if config.task == BINARY:
        if len(classes) != 2:
            raise DataError(
                f"Binary classification needs exactly 2 distinct values in the target column {config.target!r}; "
                f"it has {len(classes)}."
            )
        positive = _match_value(config.positive or "", classes)
        if positive is None:
            raise DataError(
                f"The target value tv={config.positive!r} is not a value of the target column {config.target!r} "
                f"(its values are {', '.join(repr(c) for c in classes)})."
            )
        return classes, positive
    if len(classes) < 3:
        raise DataError(
            f"Multi-class classification needs at least 3 distinct values in the target column {config.target!r}; "
            f"it has {len(classes)}. Use binary_classification for two classes."
        )
    return classes, None


def train(
    learn_path: Path,
    stats: DatasetStats,
    config: TrainConfig,
    column_types: Mapping[str, str] | None,
    eval_path: Path | None,
    archive_path: Path,
) -> TrainingResult:
    """Fit, evaluate and write the result archive (metrics, summary, evaluation rows)."""
    classes, positive = _validate(stats, config, column_types)
    features = _build_features(stats, config, column_types)
    task = config.task
    classification = task != REGRESSION
    method, groups = evaluation_plan(config, stats.row_count, eval_path is not None)
    cutoff = stats.row_count - max(1, round(stats.row_count * HOLDOUT_FRACTION))

    def group_of(index: int) -> int:
        if method == "k-fold":
            return index % groups
        if method == "hold-out":
            return 0 if index < cutoff else 1
        return 0

    class_index = {c: i for i, c in enumerate(classes)}
    width = 1 + sum(f.ridge_width for f in features)
    nb_groups = [NaiveBayesCounts([f.nb_width for f in features], len(classes)) for _ in range(groups)]
    ridge_groups = [RidgeMoments(width) for _ in range(groups)]
    stride = max(1, math.ceil(stats.column(config.target).data_count / RIDGE_MAX_FIT_ROWS))

    # Pass 1: sufficient statistics per group.
    with open_rows(learn_path) as (header, rows):
        positions = [header.index(f.name) for f in features]
        target_position = header.index(config.target)
        seen = 0
        for index, row in enumerate(rows):
            actual = row[target_position]
            if is_missing(actual):
                continue
            group = group_of(index)
            values = [row[p] for p in positions]
            if classification:
                if actual in class_index:
                    buckets = [f.nb_bin(v) for f, v in zip(features, values, strict=True)]
                    nb_groups[group].add(buckets, class_index[actual])
            else:
                seen += 1
                if seen % stride == 0 or stride == 1:
                    y = parse_number(actual)
                    if y is not None:
                        design = [1.0]
                        for feature, value in zip(features, values, strict=False):
                            design.extend(feature.ridge_values(value))
                        ridge_groups[group].add(design, y)

    def fit(group_indexes: Sequence[int], exclude: int | None = None) -> BaselineModel:
        if classification:
            chosen = [nb_groups[g] for g in group_indexes]
            counts = chosen[0].combine(chosen[1:])
            if exclude is not None:
                counts = counts.combine([nb_groups[exclude]], sign=-1)
            return NaiveBayesModel.fit(counts, task, config.target, features, classes, positive, config.balance)
        chosen_m = [ridge_groups[g] for g in group_indexes]
        moments = chosen_m[0].combine(chosen_m[1:])
        if exclude is not None:
            moments = moments.combine([ridge_groups[exclude]], sign=-1)
        return RidgeModel.fit(moments, task, config.target, features)

    if method == "hold-out":
        final = fit([0])
        evaluators = {1: final}
    elif method == "k-fold":
        final = fit(range(groups))
        evaluators = {g: fit(range(groups), exclude=g) for g in range(groups)}
    else:
        final = fit([0])
        evaluators = {0: final}

    # Pass 2: evaluation, streamed into the archive.
    metrics = MetricsAccumulator(task, positive)
    source = eval_path or learn_path
    tmp_path = archive_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(EVALUATION_FILE, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow([ROW_NUMBER_COLUMN, ACTUAL_COLUMN, *final.prediction_columns()])
            with open_rows(source) as (header, rows):
                missing = [n for n in [config.target, *(f.name for f in features)] if n not in header]
                if missing:
                    raise DataError(f"The evaluation data lacks the column(s): {', '.join(missing)}.")
                positions = [header.index(f.name) for f in features]
                target_position = header.index(config.target)
                for index, row in enumerate(rows):
                    actual = row[target_position]
                    if is_missing(actual):
                        continue
                    group = group_of(index)
                    model = evaluators.get(group)
                    if model is None:
                        continue
                    prediction = model.predict([row[p] for p in positions])
                    if classification:
                        metrics.add_class(actual, prediction)
                    else:
                        y = parse_number(actual)
                        if y is None:
                            raise DataError(
                                f"The evaluation data has the non-numeric target value {actual!r} "
                                f"in data row {index + 1}."
                            )
                        metrics.add_value(y, prediction.value or 0.0)
                    writer.writerow([index + 1, actual, *final.prediction_values(prediction)])
        if metrics.n == 0:
            raise DataError("The evaluation data has no row with a target value.")
        result = metrics.result()
        archive.writestr(
            METRICS_FILE, _csv_text([["metric", "value"], *([k, format_number(v)] for k, v in result.items())])
        )
        archive.writestr(
            SUMMARY_FILE,
            _csv_text([["column", "importance"], *([name, format_number(v)] for name, v in final.importances())]),
        )
    tmp_path.replace(archive_path)
    return TrainingResult(model=final, metrics=result, evaluation=method, evaluated_rows=metrics.n)


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def save_model(model: BaselineModel, path: Path) -> None:
    """Write a model as JSON."""
    path.write_text(json.dumps(model.to_dict()), encoding="utf-8")


def load_model(path: Path) -> BaselineModel:
    """Read a model written by :func:`save_model`."""
    return BaselineModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
