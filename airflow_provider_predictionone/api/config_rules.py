"""The rules of the Train option table (spec 4.4), as a table.

Each :class:`Rule` names the options it reads and checks them, returning problem texts that name
the option (readable name and spec key), the bad value and the fix. A rule sees the options as a
mapping of readable names to values (after :class:`~.config.TrainConfig` normalised them), so a
DAG being parsed can run exactly the rules whose options are all literal
(:meth:`~.config.TrainConfig.validate_known`), and leave the others to run time.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_predictionone.api.contract import MAX_COLUMNS, MIN_COLUMNS, PredictionType, TimeUnit

Options = Mapping[str, Any]

OPTION_KEYS: dict[str, str] = {
    "target_column": "tc",
    "prediction_type": "tt",
    "positive_value": "tv",
    "cross_validation_folds": "cv",
    "imbalance_correction": "im",
    "time_series": "tsm",
    "time_unit": "tsu",
    "time_column": "tsc",
    "time_step": "tsi",
    "horizon_start": "tsf",
    "horizon_end": "tst",
    "series_column": "tss",
    "future_known": "tsin",
    "future_known_exceptions": "tsine",
}
"""Readable option name -> the spec's ``config`` key, in the spec's order."""

TIME_SERIES_OPTIONS = (
    "time_unit",
    "time_column",
    "time_step",
    "horizon_start",
    "horizon_end",
    "series_column",
    "future_known",
    "future_known_exceptions",
)
_COLUMNS_SHOWN = 20
_CV_FIX = (
    "Use 0 (decide automatically, the default), -1 (always cross-validate, k chosen automatically), "
    "1 (no cross-validation) or a number of folds k >= 2, or leave it unset"
)
_TS_WHY = "time-series mode (time_series=True) requires it"


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------


def label(name: str) -> str:
    """``'horizon_end (tst)'``: the readable name and the spec key of an option."""
    return f"{name} ({OPTION_KEYS[name]})"


def show(value: Any) -> str:
    return repr(value.value) if isinstance(value, (PredictionType, TimeUnit)) else repr(value)


def problem(name: str, value: Any, what: str, fix: str) -> str:
    """One problem text: option (name and key), the bad value, what is wrong and the fix."""
    hint = ""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        hint = " (it looks like a Jinja template that was not rendered: is the field templated?)"
    return f"Training option {label(name)} = {show(value)}{hint} {what}. {fix}."


def missing(name: str, why: str, fix: str) -> str:
    return f"Training option {label(name)} is not set but {why}. {fix}."


def join(problems: list[str], what: str) -> str:
    if len(problems) == 1:
        return problems[0]
    lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
    return f"The {what} has {len(problems)} problems:\n{lines}"


def show_columns(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:_COLUMNS_SHOWN])
    more = len(columns) - _COLUMNS_SHOWN
    return f"{shown}, … and {more} more" if more > 0 else shown


def suggest_column(name: str, columns: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss among ``columns``, or an empty string."""
    stripped = {c.strip(): c for c in columns}
    if name.strip() in stripped and stripped[name.strip()] != name:
        return f" (did you mean {stripped[name.strip()]!r}? spaces differ)"
    lowered = {c.casefold(): c for c in columns}
    if name.casefold() in lowered:
        return f" (did you mean {lowered[name.casefold()]!r}? upper/lower case differs)"
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _ptype(v: Options) -> PredictionType | None:
    value = v["prediction_type"]
    return value if isinstance(value, PredictionType) else None


def _bool_problem(name: str, value: Any) -> str:
    return problem(name, value, "is not a yes/no value", "Use True or False (the strings 'true'/'false' also work)")


def _is_column_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One rule of the option table: the options it reads and the check (problem texts)."""

    options: tuple[str, ...]
    check: Callable[[Options], list[str]]


def _target_column(v: Options) -> list[str]:
    tc = v["target_column"]
    if tc is None:
        return [missing("target_column", "it is required", "Set it to the header of the column to predict")]
    if not _is_column_name(tc):
        return [problem("target_column", tc, "is not a column name", "Give the header text of the column to predict")]
    return []


def _prediction_type(v: Options) -> list[str]:
    tt = v["prediction_type"]
    choices = ", ".join(repr(t.value) for t in PredictionType)
    if tt is None:
        return [missing("prediction_type", "it is required", f"Use one of {choices}")]
    if _ptype(v) is None:
        fix = f"Use one of {choices} (or the aliases 'binary', 'multiclass', 'multi_class')"
        return [problem("prediction_type", tt, "is not a prediction type", fix)]
    return []


def _positive_value(v: Options) -> list[str]:
    tv, ptype = v["positive_value"], _ptype(v)
    if ptype is PredictionType.BINARY_CLASSIFICATION:
        if tv is None:
            fix = (
                "Set it to the target value that counts as the positive outcome, e.g. 'yes' or '1', exactly as "
                "written in the file"
            )
            return [missing("positive_value", "binary classification needs it", fix)]
        if not isinstance(tv, str) or tv == "":
            fix = "Pass the positive value as text exactly as written in the file, e.g. '1' or 'yes'"
            return [problem("positive_value", tv, "is not a value of the target column", fix)]
    elif tv is not None and ptype is not None:
        what = f"is only used for binary classification, not for {ptype.value!r}"
        return [
            problem("positive_value", tv, what, "Remove positive_value, or use prediction_type='binary_classification'")
        ]
    return []


def _folds(v: Options) -> list[str]:
    cv = v["cross_validation_folds"]
    if cv is None:
        return []
    if not is_int(cv):
        return [problem("cross_validation_folds", cv, "is not a whole number", _CV_FIX)]
    return [problem("cross_validation_folds", cv, "is not a valid setting", _CV_FIX)] if cv < -1 else []


def _flag(name: str) -> Rule:
    """The option ``name`` is a yes/no value (or unset)."""

    def check(v: Options) -> list[str]:
        value = v[name]
        return [_bool_problem(name, value)] if value is not None and not isinstance(value, bool) else []

    return Rule((name,), check)


def _imbalance_needs_classification(v: Options) -> list[str]:
    im = v["imbalance_correction"]
    if isinstance(im, bool) and _ptype(v) is PredictionType.REGRESSION:
        fix = "Remove imbalance_correction, or use a classification prediction_type"
        return [problem("imbalance_correction", im, "only applies to classification, not to 'regression'", fix)]
    return []


def _time_series_needs_regression(v: Options) -> list[str]:
    ptype = _ptype(v)
    if v["time_series"] is True and ptype is not None and ptype is not PredictionType.REGRESSION:
        what = (
            f"(time-series forecasting) is only available with prediction_type (tt) = 'regression', not {ptype.value!r}"
        )
        return [
            problem(
                "time_series",
                True,
                what,
                "Use prediction_type='regression' to forecast a number, or remove time_series",
            )
        ]
    return []


def _stray_time_series_options(v: Options) -> list[str]:
    tsm = v["time_series"]
    if tsm is not None and tsm is not False:
        return []
    stray = [n for n in TIME_SERIES_OPTIONS if v[n] is not None]
    if not stray:
        return []
    listed = ", ".join(f"{label(n)} = {show(v[n])}" for n in stray)
    state = show(tsm) if tsm is not None else "not set"
    return [
        f"Training option(s) {listed} only apply in time-series mode, but time_series (tsm) is {state}. Set "
        "time_series=True (regression only) or remove these options."
    ]


def _in_time_series(options: tuple[str, ...], check: Callable[[Options], list[str]]) -> Rule:
    """A rule that applies in time-series mode only (it reads ``time_series`` too)."""
    return Rule(("time_series", *options), lambda v: check(v) if v["time_series"] is True else [])


def _time_unit(v: Options) -> list[str]:
    tsu = v["time_unit"]
    if tsu is None or isinstance(tsu, TimeUnit):
        return []
    units = ", ".join(repr(u.value) for u in TimeUnit)
    return [problem("time_unit", tsu, "is not a time unit", f"Use one of {units}, or leave it unset to detect it")]


def _column_option(name: str, what: str, *, required: bool) -> Callable[[Options], list[str]]:
    def check(v: Options) -> list[str]:
        value = v[name]
        if value is None:
            return [missing(name, _TS_WHY, f"Set it to the header of {what}")] if required else []
        return (
            []
            if _is_column_name(value)
            else [problem(name, value, "is not a column name", f"Give the header text of {what}")]
        )

    return check


def _time_step(v: Options) -> list[str]:
    tsi = v["time_step"]
    if tsi is None:
        return []
    if not is_int(tsi):
        return [problem("time_step", tsi, "is not a whole number", "Use 0 (automatic) or a step >= 1")]
    return [problem("time_step", tsi, "is negative", "Use 0 (automatic) or a step >= 1")] if tsi < 0 else []


def _horizon_start(v: Options) -> list[str]:
    tsf = v["horizon_start"]
    if tsf is None:
        return [missing("horizon_start", _TS_WHY, "Set it to the first step ahead to forecast (>= 1)")]
    if not is_int(tsf):
        return [problem("horizon_start", tsf, "is not a whole number", "Use a whole number >= 1")]
    return (
        [problem("horizon_start", tsf, "is below 1", "Use a whole number >= 1 (1 = the next step)")] if tsf < 1 else []
    )


def _horizon_end(v: Options) -> list[str]:
    tsf, tst = v["horizon_start"], v["horizon_end"]
    if tst is None:
        return [missing("horizon_end", _TS_WHY, "Set it to the last step ahead to forecast (>= horizon_start)")]
    if not is_int(tst):
        return [problem("horizon_end", tst, "is not a whole number", "Use a whole number >= horizon_start")]
    if is_int(tsf) and tsf >= 1 and tst < tsf:
        fix = f"Use a value >= {tsf}; e.g. 2 to 4 months ahead is horizon_start=2, horizon_end=4"
        return [problem("horizon_end", tst, f"is before horizon_start (tsf) = {tsf}", fix)]
    if tst < 1:
        return [problem("horizon_end", tst, "is below 1", "Use a whole number >= horizon_start (>= 1)")]
    return []


def _known_exceptions(v: Options) -> list[str]:
    tsine = v["future_known_exceptions"]
    if tsine is None:
        return []
    name = "future_known_exceptions"
    if not isinstance(tsine, list):
        return [
            problem(name, tsine, "is not a list of column names", "Give a list of headers, or one header as a string")
        ]
    found = []
    bad = [value for value in tsine if not _is_column_name(value)]
    if bad:
        found.append(
            problem(
                name,
                tsine,
                f"has entries that are not column names: {', '.join(map(repr, bad))}",
                "List header texts only",
            )
        )
    dupes = sorted({value for value in tsine if isinstance(value, str) and tsine.count(value) > 1})
    if dupes:
        found.append(
            problem(name, tsine, f"lists {', '.join(map(repr, dupes))} more than once", "List each column once")
        )
    return found


def _exceptions_exclude_target(v: Options) -> list[str]:
    tsine, tc = v["future_known_exceptions"], v["target_column"]
    if isinstance(tsine, list) and isinstance(tc, str) and tc in tsine:
        fix = "List only non-target columns; the target is never known in the forecast period"
        return [problem("future_known_exceptions", tsine, f"contains the target column {tc!r}", fix)]
    return []


def _not_the_target(name: str) -> Callable[[Options], list[str]]:
    def check(v: Options) -> list[str]:
        value = v[name]
        if isinstance(value, str) and value and value == v["target_column"]:
            fix = f"Point {name} at a different column than the one to predict"
            return [problem(name, value, "is the same column as target_column (tc)", fix)]
        return []

    return check


def _series_is_not_time(v: Options) -> list[str]:
    tsc, tss = v["time_column"], v["series_column"]
    if isinstance(tsc, str) and tsc and tsc == tss:
        fix = "The series column tells series apart (e.g. a store ID); use another column or leave it unset"
        return [problem("series_column", tss, "is the same column as time_column (tsc)", fix)]
    return []


RULES: tuple[Rule, ...] = (
    Rule(("target_column",), _target_column),
    Rule(("prediction_type",), _prediction_type),
    Rule(("prediction_type", "positive_value"), _positive_value),
    Rule(("cross_validation_folds",), _folds),
    _flag("imbalance_correction"),
    Rule(("imbalance_correction", "prediction_type"), _imbalance_needs_classification),
    _flag("time_series"),
    Rule(("time_series", "prediction_type"), _time_series_needs_regression),
    Rule(("time_series", *TIME_SERIES_OPTIONS), _stray_time_series_options),
    _in_time_series(("time_unit",), _time_unit),
    _in_time_series(("time_column",), _column_option("time_column", "the date/time column", required=True)),
    _in_time_series(("series_column",), _column_option("series_column", "the series ID column", required=False)),
    _in_time_series(("time_step",), _time_step),
    _in_time_series(("horizon_start",), _horizon_start),
    _in_time_series(("horizon_start", "horizon_end"), _horizon_end),
    _in_time_series(("future_known",), lambda v: _flag("future_known").check(v)),
    _in_time_series(("future_known_exceptions",), _known_exceptions),
    _in_time_series(("future_known_exceptions", "target_column"), _exceptions_exclude_target),
    _in_time_series(("time_column", "target_column"), _not_the_target("time_column")),
    _in_time_series(("series_column", "target_column"), _not_the_target("series_column")),
    _in_time_series(("time_column", "series_column"), _series_is_not_time),
)
"""Every rule, in the order their problems are reported."""


def problems(options: Options, *, skip: Iterable[str] = ()) -> list[str]:
    """The problems of ``options``, from every rule that reads none of the ``skip`` options."""
    unknown = set(skip)
    return [text for rule in RULES if unknown.isdisjoint(rule.options) for text in rule.check(options)]


def column_problems(options: Options, columns: Any) -> list[str]:
    """The training file's header against the limits (2 – 200 columns) and the options naming columns."""
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
        return [f"columns = {columns!r} is not a list of header names. Pass the training file's header as a list."]
    header = [str(c) for c in columns]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]  # a UTF-8 BOM read as text
    found: list[str] = []
    if not MIN_COLUMNS <= len(header) <= MAX_COLUMNS:
        found.append(
            f"The training data has {len(header)} column(s); Prediction One needs {MIN_COLUMNS} – {MAX_COLUMNS} "
            f"columns (the target plus at least one other). Add or remove columns before training."
        )
    checked: list[tuple[str, Any]] = [("target_column", options["target_column"])]
    if options["time_series"] is True:
        checked += [("time_column", options["time_column"]), ("series_column", options["series_column"])]
        if isinstance(options["future_known_exceptions"], list):
            checked += [("future_known_exceptions", value) for value in options["future_known_exceptions"]]
    known = set(header)
    absent = [
        f"{label(name)} = {value!r}{suggest_column(value, header)}"
        for name, value in checked
        if _is_column_name(value) and value not in known
    ]
    if absent:
        found.append(
            f"Column(s) not found in the training data header: {'; '.join(absent)}. "
            f"Available columns ({len(header)}): {show_columns(header)}. "
            f"Use the header text exactly (case and spaces matter)."
        )
    return found
