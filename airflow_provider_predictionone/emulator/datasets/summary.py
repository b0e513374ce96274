"""What one pass over a data file learns: :class:`ColumnSummary` per column, :class:`DatasetStats`
for the file, and their Train Data Set Info form (spec 4.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_predictionone.emulator.datasets.quantiles import quantile

# ``initial_data_type`` / ``available_data_types`` codes (the real codes are undocumented, spec 4.3).
TYPE_IGNORE = 0
TYPE_NUMERIC = 1
TYPE_STRING = 2
TYPE_TEXT = 3
TYPE_DATE = 4
DATA_TYPE_NAMES = {
    TYPE_IGNORE: "ignore",
    TYPE_NUMERIC: "numeric",
    TYPE_STRING: "string",
    TYPE_TEXT: "text",
    TYPE_DATE: "date",
}

# ``time_unit_id`` codes of ``range_pick_info.date`` (undocumented upstream).
TIME_UNIT_IDS = {"year": 0, "month": 1, "day": 2, "hour": 3, "minute": 4}

AVAILABLE_TYPES = {
    TYPE_NUMERIC: [TYPE_NUMERIC, TYPE_STRING, TYPE_IGNORE],
    TYPE_DATE: [TYPE_DATE, TYPE_STRING, TYPE_IGNORE],
    TYPE_TEXT: [TYPE_TEXT, TYPE_STRING, TYPE_IGNORE],
    TYPE_STRING: [TYPE_STRING, TYPE_TEXT, TYPE_IGNORE],
}
"""``available_data_types`` by inferred type (any other: ignore only)."""

CLASSIFY_VALUE_COUNT = 20
ID_LIKE_MIN_ROWS = 20


@dataclass
class Distribution:
    """The numbers of a column (or its dates, as epoch seconds): count, range, mean, standard
    deviation and a sorted reservoir sample (the median and quantiles are estimated from it)."""

    count: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    sample: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return quantile(self.sample, 0.5)


@dataclass
class ColumnSummary:
    """Statistics of one column (the median and quantiles are estimated from a reservoir sample)."""

    index: int
    name: str
    inferred_type: int
    data_count: int
    missing_count: int
    unique_count: int
    unique_exact: bool
    top_values: list[tuple[str, int]]
    numbers: Distribution = field(default_factory=Distribution)
    """The values that are numbers."""
    dates: Distribution = field(default_factory=Distribution)
    """The values that are dates."""
    time_unit_id: int = 0
    consecutive_integers: bool = False

    @property
    def useless_reason(self) -> str | None:
        """Why the column cannot help a model (all missing, constant, ID-like), or ``None``."""
        if self.data_count == 0:
            return "all values are missing"
        if self.unique_count <= 1:
            return "the column is constant"
        if self.data_count >= ID_LIKE_MIN_ROWS and self.missing_count == 0:
            needed = self.data_count if self.unique_exact else 0.95 * self.data_count
            all_different = self.unique_count >= needed
            if self.inferred_type == TYPE_STRING and all_different:
                return "every value is different (ID-like)"
            if self.inferred_type == TYPE_NUMERIC and self.consecutive_integers:
                return "consecutive integers (row number)"
        return None

    def available_types(self) -> list[int]:
        return list(AVAILABLE_TYPES.get(self.inferred_type, [TYPE_IGNORE]))

    def to_api(self) -> dict[str, Any]:
        """The ``training_data_columns[]`` entry of Train Data Set Info (spec 4.3)."""
        classify_value: list[dict[str, Any]] = []
        numerical_value: list[dict[str, Any]] = []
        range_pick_info: dict[str, Any] | None = None
        if self.inferred_type in (TYPE_STRING, TYPE_TEXT, TYPE_DATE):
            classify_value = [{"name": name, "value": count} for name, count in self.top_values[:CLASSIFY_VALUE_COUNT]]
        numbers, dates = self.numbers, self.dates
        if self.inferred_type == TYPE_NUMERIC and numbers.minimum is not None:
            numerical_value = [
                {
                    "max_value": numbers.maximum,
                    "min_value": numbers.minimum,
                    "avg_value": numbers.mean,
                    "median_value": numbers.median,
                }
            ]
            range_pick_info = {
                "numeric": {
                    "max_val": numbers.maximum,
                    "min_val": numbers.minimum,
                    "initial_threshold": numbers.median,
                },
                "date": None,
            }
        elif self.inferred_type == TYPE_DATE and dates.minimum is not None:
            range_pick_info = {
                "numeric": None,
                "date": {
                    "max_epoc_sec": int(dates.maximum or 0),
                    "min_epoc_sec": int(dates.minimum),
                    "initial_threshold_epoc_sec": int(dates.median or 0),
                    "time_unit_id": self.time_unit_id,
                },
            }
        return {
            "column_id": self.index,
            "name": self.name,
            "initial_data_type": self.inferred_type,
            "available_data_types": self.available_types(),
            "unique_count": self.unique_count,
            "data_count": self.data_count,
            "missing_count": self.missing_count,
            "cor_score": None,
            "classify_value": classify_value,
            "numerical_value": numerical_value,
            "range_pick_info": range_pick_info,
        }


@dataclass
class DatasetStats:
    """Everything one streaming pass learns about a data file."""

    header: list[str]
    row_count: int
    sample_rows: list[str]
    columns: list[ColumnSummary]

    def column(self, name: str) -> ColumnSummary:
        return self.columns[self.header.index(name)]

    @property
    def useless_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.useless_reason is not None]

    def to_api(self) -> dict[str, Any]:
        """The Train Data Set Info response body (spec 4.3)."""
        return {
            "raw_column_names": list(self.header),
            "raw_training_data": [{"row_data": row} for row in self.sample_rows],
            "training_data_columns": [c.to_api() for c in self.columns],
            "useless_column_list": self.useless_columns,
            "trainingdata_row_count": self.row_count,
        }
