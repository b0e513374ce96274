"""Model inputs: how a column becomes a :class:`Feature` (Naive Bayes buckets, ridge inputs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_predictionone.emulator.config import TrainConfig
from airflow_provider_predictionone.emulator.datasets.quantiles import bin_index, quantile_edges
from airflow_provider_predictionone.emulator.datasets.reading import DataError
from airflow_provider_predictionone.emulator.datasets.summary import (
    TYPE_DATE,
    TYPE_NUMERIC,
    TYPE_STRING,
    TYPE_TEXT,
    DatasetStats,
)
from airflow_provider_predictionone.emulator.datasets.values import is_missing, to_number

NB_NUMERIC_BINS = 10
NB_MAX_CATEGORIES = 50
RIDGE_MAX_CATEGORIES = 10
RIDGE_MAX_WIDTH = 150


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


def build_features(stats: DatasetStats, config: TrainConfig, column_types: Mapping[str, str] | None) -> list[Feature]:
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
            values = column.dates if is_date else column.numbers
            sample, mean, std = values.sample, values.mean, values.std
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
