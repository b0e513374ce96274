"""The training options against the uploaded data: Train Data Set Info (spec 4.3) and the data
limits (spec 6) — checked after the upload, before Train is sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_predictionone.api.config_rules import Options, join, label, problem, show_columns
from airflow_provider_predictionone.api.contract import (
    MAX_CLASSES,
    MAX_TIME_SERIES_ROWS,
    MAX_TRAINING_ROWS,
    MIN_TIME_SERIES_ROWS,
    MIN_TRAINING_ROWS,
    PredictionType,
)
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.models import ColumnStatistics, DataSetInfo


def data_problems(options: Options, info: DataSetInfo) -> list[str]:
    """Raise for what in the data would make training fail; return softer issues as warnings.

    Raises for: a target column listed as unusable (``useless_column_list``); a row count outside
    100 – 1,000,000 (20 – 10,000 in time-series mode); a binary target whose listed values are not
    exactly two; a multi-class target with fewer than three or more than 200 listed values; a
    ``positive_value`` that is not among the listed target values; a regression target that has
    value names but no numeric summary. Checks whose statistics are missing are skipped.

    :raises PredictionOneConfigError: for the problems above.
    """
    problems: list[str] = []
    warnings: list[str] = []
    tc = str(options["target_column"])
    ptype = options["prediction_type"]

    if options["time_series"] is True:
        low, high, mode = MIN_TIME_SERIES_ROWS, MAX_TIME_SERIES_ROWS, "in time-series mode "
    else:
        low, high, mode = MIN_TRAINING_ROWS, MAX_TRAINING_ROWS, ""
    if info.row_count < low:
        problems.append(
            f"The training data has {info.row_count} rows; Prediction One needs at least {low} rows {mode}"
            f"to train. Add more rows."
        )
    elif info.row_count > high:
        problems.append(
            f"The training data has {info.row_count} rows; Prediction One accepts at most {high} rows {mode}"
            f"for training. Sample or aggregate the data."
        )

    useless = list(info.useless_columns)
    if tc in useless:
        problems.append(
            f"Training option {label('target_column')} = {tc!r} is a column Prediction One judged unusable "
            f"(useless_column_list), e.g. because it is constant, empty or an ID. Choose another target column "
            f"or fix its values."
        )

    stats = info.column(tc)
    if stats is None:
        warnings.append(f"No statistics were returned for the target column {tc!r}; its values were not checked.")
    else:
        problems += _target_problems(options, stats, info.row_count, warnings)

    others = [c for c in useless if c != tc]
    if others:
        warnings.append(
            f"Prediction One judged {len(others)} column(s) unusable and will not learn from them: "
            f"{show_columns(others)}."
        )
        for name in ("time_column", "series_column"):
            value = options[name]
            if options["time_series"] is True and value in others:
                warnings.append(
                    f"Training option {label(name)} = {value!r} is among the unusable columns; "
                    f"time-series training may fail."
                )

    if problems:
        what = f"training data ({ptype.value if isinstance(ptype, PredictionType) else ptype} target {tc!r})"
        raise PredictionOneConfigError(join(problems, what))
    return warnings


def _target_problems(options: Options, stats: ColumnStatistics, row_count: int, warnings: list[str]) -> list[str]:
    p: list[str] = []
    tc = stats.name
    names = _class_names(stats)
    numeric = _numeric_summaries(stats)
    shown = show_columns(names)
    ptype = options["prediction_type"]

    if ptype is PredictionType.BINARY_CLASSIFICATION and names:
        if len(names) != 2:
            fix = (
                "Use prediction_type='multi_classification' for three or more classes"
                if len(names) > 2
                else "A binary target needs two different values; check the target column"
            )
            p.append(
                problem(
                    "prediction_type",
                    ptype,
                    f"needs exactly 2 distinct target values, but column {tc!r} shows {len(names)}: {shown}",
                    fix,
                )
            )
        tv = options["positive_value"]
        if isinstance(tv, str) and tv not in names:
            near = [n for n in names if n.strip() == tv.strip() or _same_number(n, tv)]
            if near:
                warnings.append(
                    f"Training option {label('positive_value')} = {tv!r} is not literally among the target "
                    f"values {shown}, but matches {near[0]!r}; make sure it is written as in the file."
                )
            else:
                p.append(
                    problem(
                        "positive_value",
                        tv,
                        f"is not a value of the target column {tc!r} (values: {shown})",
                        "Use one of those values, written exactly as in the file",
                    )
                )
    elif ptype is PredictionType.MULTI_CLASSIFICATION and names:
        if len(names) < 3:
            fix = (
                "Use prediction_type='binary_classification' (with positive_value) for two classes"
                if len(names) == 2
                else "Check the target column"
            )
            p.append(
                problem(
                    "prediction_type",
                    ptype,
                    f"needs at least 3 distinct target values, but column {tc!r} shows {len(names)}: {shown}",
                    fix,
                )
            )
        elif len(names) > MAX_CLASSES:
            p.append(
                problem(
                    "prediction_type",
                    ptype,
                    f"supports at most {MAX_CLASSES} classes, but column {tc!r} shows {len(names)}",
                    "Group rare classes together, or use regression for a numeric target",
                )
            )
    elif ptype is PredictionType.REGRESSION:
        if not numeric and names:
            p.append(
                problem(
                    "prediction_type",
                    ptype,
                    f"needs a numeric target, but column {tc!r} has text values such as {show_columns(names[:5])}",
                    "Use a classification prediction_type, or choose a numeric target column",
                )
            )
        for summary in numeric[:1]:
            low, high = summary.get("min_value"), summary.get("max_value")
            if low is not None and low == high:
                warnings.append(f"The regression target {tc!r} has a single value ({low}); there is nothing to learn.")

    if stats.missing_count > 0:
        total = max(row_count, stats.missing_count, 1)
        warnings.append(
            f"The target column {tc!r} is empty in {stats.missing_count} of {total} rows "
            f"({stats.missing_count / total:.0%}); rows without a target value cannot be learned from."
        )
    return p


def _class_names(stats: ColumnStatistics) -> list[str]:
    """Distinct non-empty value names listed in ``classify_value`` (in their order)."""
    names: list[str] = []
    for entry in stats.classify_value:
        name = entry.get("name") if isinstance(entry, Mapping) else entry
        if name is None or isinstance(name, (Mapping, list)):
            continue
        text = str(name)
        if text != "" and text not in names:
            names.append(text)
    return names


def _numeric_summaries(stats: ColumnStatistics) -> list[Mapping[str, Any]]:
    return [entry for entry in stats.numerical_value if isinstance(entry, Mapping) and entry]


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False
