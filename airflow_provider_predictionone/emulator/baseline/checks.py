"""What the training data must satisfy for a config; the classes of a classification target."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.baseline.models import BINARY, REGRESSION
from airflow_provider_predictionone.emulator.config import TrainConfig
from airflow_provider_predictionone.emulator.datasets.reading import DataError, check_column_info
from airflow_provider_predictionone.emulator.datasets.summary import DatasetStats
from airflow_provider_predictionone.emulator.datasets.values import parse_number


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


def check_training_data(
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
        if target.numbers.count != target.data_count:
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
