"""Training a baseline model: the evaluation plan and the two streaming passes over the data.

Pass 1 gathers the sufficient statistics of every row group (k folds, or the hold-out split);
the final model and the models that evaluate each group are fitted from them. Pass 2 predicts
the evaluated rows and streams them, then the metrics and importances, into the result archive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_predictionone.emulator.baseline.archive import ResultArchive
from airflow_provider_predictionone.emulator.baseline.checks import check_training_data
from airflow_provider_predictionone.emulator.baseline.features import Feature, build_features
from airflow_provider_predictionone.emulator.baseline.metrics import MetricsAccumulator
from airflow_provider_predictionone.emulator.baseline.models import (
    REGRESSION,
    BaselineModel,
    NaiveBayesModel,
    RidgeModel,
)
from airflow_provider_predictionone.emulator.baseline.sufficient import NaiveBayesCounts, RidgeMoments
from airflow_provider_predictionone.emulator.config import TrainConfig
from airflow_provider_predictionone.emulator.datasets.reading import DataError, open_rows
from airflow_provider_predictionone.emulator.datasets.summary import DatasetStats
from airflow_provider_predictionone.emulator.datasets.values import is_missing, parse_number

RIDGE_MAX_FIT_ROWS = 20_000
HOLDOUT_FRACTION = 0.2
AUTO_CV_FOLDS = 5
AUTO_CV_MAX_ROWS = 1_000
MAX_FOLDS = 10


@dataclass
class TrainingResult:
    """What a finished training produced."""

    model: BaselineModel
    metrics: dict[str, float]
    evaluation: str
    evaluated_rows: int


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


class _Run:
    """One training: the data's row groups, their sufficient statistics and the models fitted from them."""

    def __init__(
        self,
        config: TrainConfig,
        features: list[Feature],
        classes: list[str],
        positive: str | None,
        row_count: int,
        has_eval_file: bool,
    ) -> None:
        self.config = config
        self.features = features
        self.classes = classes
        self.positive = positive
        self.classification = config.task != REGRESSION
        self.method, self.groups = evaluation_plan(config, row_count, has_eval_file)
        self.cutoff = row_count - max(1, round(row_count * HOLDOUT_FRACTION))
        width = 1 + sum(f.ridge_width for f in features)
        self.nb_groups = [NaiveBayesCounts([f.nb_width for f in features], len(classes)) for _ in range(self.groups)]
        self.ridge_groups = [RidgeMoments(width) for _ in range(self.groups)]

    def group_of(self, index: int) -> int:
        if self.method == "k-fold":
            return index % self.groups
        if self.method == "hold-out":
            return 0 if index < self.cutoff else 1
        return 0

    def accumulate(self, learn_path: Path, target_count: int) -> None:
        """Pass 1: the sufficient statistics of every group."""
        class_index = {c: i for i, c in enumerate(self.classes)}
        stride = max(1, math.ceil(target_count / RIDGE_MAX_FIT_ROWS))
        features = self.features
        with open_rows(learn_path) as (header, rows):
            positions = [header.index(f.name) for f in features]
            target_position = header.index(self.config.target)
            seen = 0
            for index, row in enumerate(rows):
                actual = row[target_position]
                if is_missing(actual):
                    continue
                group = self.group_of(index)
                values = [row[p] for p in positions]
                if self.classification:
                    if actual in class_index:
                        buckets = [f.nb_bin(v) for f, v in zip(features, values, strict=True)]
                        self.nb_groups[group].add(buckets, class_index[actual])
                else:
                    seen += 1
                    if seen % stride == 0 or stride == 1:
                        y = parse_number(actual)
                        if y is not None:
                            design = [1.0]
                            for feature, value in zip(features, values, strict=False):
                                design.extend(feature.ridge_values(value))
                            self.ridge_groups[group].add(design, y)

    def fit(self, group_indexes: Sequence[int], exclude: int | None = None) -> BaselineModel:
        """A model of the rows of ``group_indexes`` (minus group ``exclude``)."""
        config = self.config
        if self.classification:
            chosen = [self.nb_groups[g] for g in group_indexes]
            counts = chosen[0].combine(chosen[1:])
            if exclude is not None:
                counts = counts.combine([self.nb_groups[exclude]], sign=-1)
            return NaiveBayesModel.fit(
                counts, config.task, config.target, self.features, self.classes, self.positive, config.balance
            )
        chosen_m = [self.ridge_groups[g] for g in group_indexes]
        moments = chosen_m[0].combine(chosen_m[1:])
        if exclude is not None:
            moments = moments.combine([self.ridge_groups[exclude]], sign=-1)
        return RidgeModel.fit(moments, config.task, config.target, self.features)

    def models(self) -> tuple[BaselineModel, dict[int, BaselineModel]]:
        """The final model and, by group, the model that evaluates the group's rows."""
        if self.method == "hold-out":
            final = self.fit([0])
            return final, {1: final}
        if self.method == "k-fold":
            final = self.fit(range(self.groups))
            return final, {g: self.fit(range(self.groups), exclude=g) for g in range(self.groups)}
        final = self.fit([0])
        return final, {0: final}

    def evaluate(
        self,
        source: Path,
        final: BaselineModel,
        evaluators: Mapping[int, BaselineModel],
        archive: ResultArchive,
    ) -> MetricsAccumulator:
        """Pass 2: predict the evaluated rows of ``source`` into ``archive``; their metrics."""
        config = self.config
        metrics = MetricsAccumulator(config.task, self.positive)
        with open_rows(source) as (header, rows):
            missing = [n for n in [config.target, *(f.name for f in self.features)] if n not in header]
            if missing:
                raise DataError(f"The evaluation data lacks the column(s): {', '.join(missing)}.")
            positions = [header.index(f.name) for f in self.features]
            target_position = header.index(config.target)
            for index, row in enumerate(rows):
                actual = row[target_position]
                if is_missing(actual):
                    continue
                model = evaluators.get(self.group_of(index))
                if model is None:
                    continue
                prediction = model.predict([row[p] for p in positions])
                if self.classification:
                    metrics.add_class(actual, prediction)
                else:
                    y = parse_number(actual)
                    if y is None:
                        raise DataError(
                            f"The evaluation data has the non-numeric target value {actual!r} in data row {index + 1}."
                        )
                    metrics.add_value(y, prediction.value or 0.0)
                archive.add_evaluation_row(index + 1, actual, final.prediction_values(prediction))
        return metrics


def train(
    learn_path: Path,
    stats: DatasetStats,
    config: TrainConfig,
    column_types: Mapping[str, str] | None,
    eval_path: Path | None,
    archive_path: Path,
) -> TrainingResult:
    """Fit, evaluate and write the result archive (metrics, summary, evaluation rows)."""
    classes, positive = check_training_data(stats, config, column_types)
    features = build_features(stats, config, column_types)
    run = _Run(config, features, classes, positive, stats.row_count, eval_path is not None)
    run.accumulate(learn_path, stats.column(config.target).data_count)
    final, evaluators = run.models()
    with ResultArchive(archive_path, final.prediction_columns()) as archive:
        metrics = run.evaluate(eval_path or learn_path, final, evaluators, archive)
        if metrics.n == 0:
            raise DataError("The evaluation data has no row with a target value.")
        result = metrics.result()
        archive.complete(result, final.importances())
    return TrainingResult(model=final, metrics=result, evaluation=run.method, evaluated_rows=metrics.n)
