"""The training configuration: the ``config`` object of Train (``POST /models``, spec 4.4).

:class:`TrainConfig` gives every Train option a readable name, checks the rules of the spec's
option table (4.4) and its data limits (6, 7.19) before anything is sent, and renders the
``config`` object in the representation of spec 7.6 (or the alternate one the client retries
with). It imports nothing from Airflow.

Mapping of readable names to the spec's keys:

===========================  ======  =====================================================
readable name                key     meaning
===========================  ======  =====================================================
``target_column``            ``tc``  column to predict
``prediction_type``          ``tt``  binary / multi-class classification or regression
``positive_value``           ``tv``  positive class of a binary target
``cross_validation_folds``   ``cv``  cross-validation (0 auto, -1 always, 1 none, k >= 2)
``imbalance_correction``     ``im``  correct class imbalance (classification)
``time_series``              ``tsm`` time-series forecasting mode (regression)
``time_unit``                ``tsu`` unit of time steps and horizons
``time_column``              ``tsc`` column holding the time of each row
``time_step``                ``tsi`` time between rows, in ``time_unit`` (0 = automatic)
``horizon_start``            ``tsf`` first step ahead to forecast
``horizon_end``              ``tst`` last step ahead to forecast
``series_column``            ``tss`` column identifying each series
``future_known``             ``tsin`` are the other columns known in the forecast period?
``future_known_exceptions``  ``tsine`` columns for which the opposite of ``future_known`` holds
===========================  ======  =====================================================
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_predictionone.api.contract import (
    CONFIG_BOOLEANS,
    CONFIG_STRING_NUMBERS,
    MAX_CLASSES,
    MAX_COLUMNS,
    MAX_TIME_SERIES_ROWS,
    MAX_TRAINING_ROWS,
    MIN_COLUMNS,
    MIN_TIME_SERIES_ROWS,
    MIN_TRAINING_ROWS,
    PredictionType,
    TimeUnit,
)
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.models import ColumnStatistics, DataSetInfo

__all__ = ["OPTION_KEYS", "PREDICTION_TYPE_ALIASES", "TrainConfig"]

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

_NAME_BY_KEY = {key: name for name, key in OPTION_KEYS.items()}

_INT_OPTIONS = frozenset(_NAME_BY_KEY[k] for k in CONFIG_STRING_NUMBERS)
_BOOL_OPTIONS = frozenset(_NAME_BY_KEY[k] for k in CONFIG_BOOLEANS)
_TIME_SERIES_OPTIONS = (
    "time_unit",
    "time_column",
    "time_step",
    "horizon_start",
    "horizon_end",
    "series_column",
    "future_known",
    "future_known_exceptions",
)

PREDICTION_TYPE_ALIASES: dict[str, PredictionType] = {
    "binary": PredictionType.BINARY_CLASSIFICATION,
    "binary_classification": PredictionType.BINARY_CLASSIFICATION,
    "multiclass": PredictionType.MULTI_CLASSIFICATION,
    "multi_class": PredictionType.MULTI_CLASSIFICATION,
    "multi_classification": PredictionType.MULTI_CLASSIFICATION,
    "multiclass_classification": PredictionType.MULTI_CLASSIFICATION,
    "multi_class_classification": PredictionType.MULTI_CLASSIFICATION,
    "regression": PredictionType.REGRESSION,
}
"""Accepted spellings of ``prediction_type`` (case-insensitive; ``-`` and spaces count as ``_``)."""

_TIME_UNIT_ALIASES: dict[str, TimeUnit] = {
    **{unit.value: unit for unit in TimeUnit},
    **{unit.name.lower(): unit for unit in TimeUnit},
}

_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_COLUMNS_SHOWN = 20
_CV_FIX = (
    "Use 0 (decide automatically, the default), -1 (always cross-validate, k chosen automatically), "
    "1 (no cross-validation) or a number of folds k >= 2, or leave it unset"
)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


_RUNTIME_PLACEHOLDER = "\x00known at run time\x00"
"""Stands in for an option known only at run time in :meth:`TrainConfig.validate_known`."""


def _label(name: str) -> str:
    """``'horizon_end (tst)'``: the readable name and the spec key of an option."""
    return f"{name} ({OPTION_KEYS[name]})"


def _show(value: Any) -> str:
    if isinstance(value, (PredictionType, TimeUnit)):
        return repr(value.value)
    return repr(value)


def _template_hint(value: Any) -> str:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return " (it looks like a Jinja template that was not rendered: is the field templated?)"
    return ""


def _problem(name: str, value: Any, problem: str, fix: str) -> str:
    """One problem text: option (name and key), the bad value, what is wrong and the fix."""
    return f"Training option {_label(name)} = {_show(value)}{_template_hint(value)} {problem}. {fix}."


def _missing(name: str, why: str, fix: str) -> str:
    return f"Training option {_label(name)} is not set but {why}. {fix}."


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _coerce_int(value: Any) -> Any:
    """An integer or a decimal integer string becomes an ``int``; anything else is left for validate()."""
    if _is_int(value):
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    return value


def _coerce_bool(value: Any) -> Any:
    """``"true"`` / ``"false"`` (any case, surrounding spaces) become booleans; the rest is left as is."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _coerce_prediction_type(value: Any) -> Any:
    if isinstance(value, PredictionType) or not isinstance(value, str):
        return value
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    return PREDICTION_TYPE_ALIASES.get(key, value)


def _coerce_time_unit(value: Any) -> Any:
    if isinstance(value, TimeUnit) or not isinstance(value, str):
        return value
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    return _TIME_UNIT_ALIASES.get(key, value)


def _coerce_exceptions(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)
    if isinstance(value, (list, tuple)):
        return list(value) or None
    return value


def _show_columns(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:_COLUMNS_SHOWN])
    more = len(columns) - _COLUMNS_SHOWN
    return f"{shown}, … and {more} more" if more > 0 else shown


def _suggest(name: str, columns: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, or an empty string."""
    stripped = {c.strip(): c for c in columns}
    if name.strip() in stripped and stripped[name.strip()] != name:
        return f" (did you mean {stripped[name.strip()]!r}? spaces differ)"
    lowered = {c.casefold(): c for c in columns}
    if name.casefold() in lowered:
        return f" (did you mean {lowered[name.casefold()]!r}? upper/lower case differs)"
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _join(problems: list[str], what: str) -> str:
    if len(problems) == 1:
        return problems[0]
    lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
    return f"The {what} has {len(problems)} problems:\n{lines}"


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


# --------------------------------------------------------------------------------------------
# TrainConfig
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The options of a Prediction One training run (the Train ``config`` object, spec 4.4).

    All arguments are keyword-only and default to "not set" (``None``); options that are not set
    are left out of the request so that the service applies its defaults. Construction never
    fails: values are normalised (see below) and :meth:`validate` checks every rule, raising
    :class:`~airflow_provider_predictionone.api.errors.PredictionOneConfigError` with a message
    that names the option (readable name and spec key), the bad value and the fix.

    Values rendered from Airflow templates arrive as text, so these are converted on construction:
    decimal integer strings such as ``"3"`` or ``"-1"`` for the integer options, ``"true"`` /
    ``"false"`` (any case) for the yes/no options, an ``int`` ``positive_value`` to its text, a single
    column name for ``future_known_exceptions`` to a one-item list (an empty list means "not set").
    Floats (even ``2.0``) are not accepted as integers.

    :param target_column: Header of the column to predict, exactly as in the training file. Required.
    :param prediction_type: What to predict: ``"binary_classification"`` (two classes, e.g. yes/no),
        ``"multi_classification"`` (three or more classes, at most 200) or ``"regression"`` (a number).
        A :class:`~airflow_provider_predictionone.api.contract.PredictionType` or its value; the
        aliases ``"binary"``, ``"multiclass"``, ``"multi_class"`` are accepted too. Required.
    :param positive_value: For binary classification only, and required there: the value of the
        target column that counts as the positive outcome (e.g. ``"yes"``), exactly as written in the
        file. The model predicts the probability of this value.
    :param cross_validation_folds: Cross-validation: ``0`` lets Prediction One decide whether to
        cross-validate and with how many folds (the service default), ``-1`` always cross-validates
        with an automatic number of folds, ``1`` turns it off, ``k >= 2`` uses k folds. ``None``
        leaves the option out.
    :param imbalance_correction: Classification only: ``True`` corrects for a rare target class
        (service default ``False``).
    :param time_series: ``True`` switches to time-series forecasting; regression only (service default
        ``False``). Requires ``time_column``, ``horizon_start`` and ``horizon_end``.
    :param time_unit: Time-series mode: unit of ``time_step`` and of the horizon, one of ``"year"``,
        ``"month"``, ``"day"``, ``"hour"``, ``"minute"``, ``"eom"`` (month end); a
        :class:`~airflow_provider_predictionone.api.contract.TimeUnit` is accepted. Unset means the
        unit is detected automatically.
    :param time_column: Time-series mode, required: header of the column with each row's date/time.
    :param time_step: Time-series mode: time between consecutive rows, in ``time_unit`` (e.g. ``2``
        with ``"month"`` for two-monthly data); ``0`` or unset means automatic.
    :param horizon_start: Time-series mode, required: how many ``time_unit`` steps ahead the forecast
        starts (at least 1). "Forecast 2 to 4 months ahead" is ``time_unit="month"``,
        ``horizon_start=2``, ``horizon_end=4``.
    :param horizon_end: Time-series mode, required: how many steps ahead the forecast ends (at least
        ``horizon_start``).
    :param series_column: Time-series mode: header of the column that tells several series apart
        (e.g. a store ID), when the file holds more than one series.
    :param future_known: Time-series mode: ``True`` if the values of all the other columns are known
        for the forecast period (e.g. planned prices), ``False`` (service default) if none are.
    :param future_known_exceptions: Time-series mode: the columns for which the opposite of
        ``future_known`` holds: with ``future_known=True`` the columns **not** known in the forecast
        period, otherwise the columns that **are** known. A list of headers, or one header as a string.
    """

    target_column: str | None = None
    prediction_type: PredictionType | str | None = None
    positive_value: str | None = None
    cross_validation_folds: int | None = None
    imbalance_correction: bool | None = None
    time_series: bool | None = None
    time_unit: TimeUnit | str | None = None
    time_column: str | None = None
    time_step: int | None = None
    horizon_start: int | None = None
    horizon_end: int | None = None
    series_column: str | None = None
    future_known: bool | None = None
    future_known_exceptions: list[str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("prediction_type", _coerce_prediction_type(self.prediction_type))
        put("time_unit", _coerce_time_unit(self.time_unit))
        if _is_int(self.positive_value):
            put("positive_value", str(int(self.positive_value)))  # type: ignore[arg-type]
        for name in _INT_OPTIONS:
            put(name, _coerce_int(getattr(self, name)))
        for name in _BOOL_OPTIONS:
            put(name, _coerce_bool(getattr(self, name)))
        put("future_known_exceptions", _coerce_exceptions(self.future_known_exceptions))

    # ---------------------------------------------------------------------------- properties

    @property
    def is_classification(self) -> bool:
        """``True`` for binary and multi-class classification."""
        return self.prediction_type in (PredictionType.BINARY_CLASSIFICATION, PredictionType.MULTI_CLASSIFICATION)

    @property
    def is_time_series(self) -> bool:
        """``True`` when time-series forecasting mode is switched on."""
        return self.time_series is True

    def referenced_columns(self) -> list[str]:
        """Every column header the configuration names (target first), without duplicates."""
        names: list[Any] = [self.target_column, self.time_column, self.series_column]
        names += self.future_known_exceptions if isinstance(self.future_known_exceptions, list) else []
        out: list[str] = []
        for name in names:
            if isinstance(name, str) and name and name not in out:
                out.append(name)
        return out

    # ---------------------------------------------------------------------------- validation

    def validate(self, columns: Sequence[str] | None = None) -> None:
        """Check every rule of the Train option table (spec 4.4) and the column limit (6, 7.19).

        All problems are reported at once, each naming the option by its readable name and spec key,
        the bad value and the fix.

        :param columns: The header of the training file. When given, the target, time and series
            columns and every ``future_known_exceptions`` entry must be among these names, and the
            number of columns must be within 2 – 200.
        :raises PredictionOneConfigError: if any rule is broken.
        """
        problems = self._problems()
        if columns is not None:
            problems += self._column_problems(columns)
        if problems:
            raise PredictionOneConfigError(_join(problems, "training configuration"))

    def _problems(self) -> list[str]:
        p: list[str] = []
        ptype = self.prediction_type if isinstance(self.prediction_type, PredictionType) else None

        # tc
        tc = self.target_column
        if tc is None:
            p.append(_missing("target_column", "it is required", "Set it to the header of the column to predict"))
        elif not isinstance(tc, str) or not tc.strip():
            p.append(
                _problem("target_column", tc, "is not a column name", "Give the header text of the column to predict")
            )

        # tt
        tt = self.prediction_type
        choices = ", ".join(repr(t.value) for t in PredictionType)
        if tt is None:
            p.append(_missing("prediction_type", "it is required", f"Use one of {choices}"))
        elif ptype is None:
            p.append(
                _problem(
                    "prediction_type",
                    tt,
                    "is not a prediction type",
                    f"Use one of {choices} (or the aliases 'binary', 'multiclass', 'multi_class')",
                )
            )

        # tv
        tv = self.positive_value
        if ptype is PredictionType.BINARY_CLASSIFICATION:
            if tv is None:
                p.append(
                    _missing(
                        "positive_value",
                        "binary classification needs it",
                        "Set it to the target value that counts as the positive outcome, e.g. 'yes' or '1', "
                        "exactly as written in the file",
                    )
                )
            elif not isinstance(tv, str) or tv == "":
                p.append(
                    _problem(
                        "positive_value",
                        tv,
                        "is not a value of the target column",
                        "Pass the positive value as text exactly as written in the file, e.g. '1' or 'yes'",
                    )
                )
        elif tv is not None and ptype is not None:
            p.append(
                _problem(
                    "positive_value",
                    tv,
                    f"is only used for binary classification, not for {ptype.value!r}",
                    "Remove positive_value, or use prediction_type='binary_classification'",
                )
            )

        # cv
        cv = self.cross_validation_folds
        if cv is not None:
            if not _is_int(cv):
                p.append(_problem("cross_validation_folds", cv, "is not a whole number", _CV_FIX))
            elif cv < -1:
                p.append(_problem("cross_validation_folds", cv, "is not a valid setting", _CV_FIX))

        # im
        im = self.imbalance_correction
        if im is not None:
            if not isinstance(im, bool):
                p.append(_bool_problem("imbalance_correction", im))
            elif ptype is PredictionType.REGRESSION:
                p.append(
                    _problem(
                        "imbalance_correction",
                        im,
                        "only applies to classification, not to 'regression'",
                        "Remove imbalance_correction, or use a classification prediction_type",
                    )
                )

        # tsm
        tsm = self.time_series
        if tsm is not None and not isinstance(tsm, bool):
            p.append(_bool_problem("time_series", tsm))
        elif tsm is True and ptype is not None and ptype is not PredictionType.REGRESSION:
            p.append(
                _problem(
                    "time_series",
                    tsm,
                    f"(time-series forecasting) is only available with prediction_type (tt) = 'regression', "
                    f"not {ptype.value!r}",
                    "Use prediction_type='regression' to forecast a number, or remove time_series",
                )
            )

        if tsm is True:
            p += self._time_series_problems()
        elif tsm is None or tsm is False:
            stray = [n for n in _TIME_SERIES_OPTIONS if getattr(self, n) is not None]
            if stray:
                listed = ", ".join(f"{_label(n)} = {_show(getattr(self, n))}" for n in stray)
                p.append(
                    f"Training option(s) {listed} only apply in time-series mode, but time_series (tsm) is "
                    f"{_show(tsm) if tsm is not None else 'not set'}. Set time_series=True (regression only) "
                    f"or remove these options."
                )
        return p

    def _time_series_problems(self) -> list[str]:
        p: list[str] = []
        why = "time-series mode (time_series=True) requires it"

        tsu = self.time_unit
        if tsu is not None and not isinstance(tsu, TimeUnit):
            units = ", ".join(repr(u.value) for u in TimeUnit)
            p.append(
                _problem("time_unit", tsu, "is not a time unit", f"Use one of {units}, or leave it unset to detect it")
            )

        for name, what in (("time_column", "the date/time column"), ("series_column", "the series ID column")):
            value = getattr(self, name)
            if value is None:
                if name == "time_column":
                    p.append(_missing(name, why, f"Set it to the header of {what}"))
            elif not isinstance(value, str) or not value.strip():
                p.append(_problem(name, value, "is not a column name", f"Give the header text of {what}"))

        tsi = self.time_step
        if tsi is not None:
            if not _is_int(tsi):
                p.append(_problem("time_step", tsi, "is not a whole number", "Use 0 (automatic) or a step >= 1"))
            elif tsi < 0:
                p.append(_problem("time_step", tsi, "is negative", "Use 0 (automatic) or a step >= 1"))

        tsf, tst = self.horizon_start, self.horizon_end
        start_ok = False
        if tsf is None:
            p.append(_missing("horizon_start", why, "Set it to the first step ahead to forecast (>= 1)"))
        elif not _is_int(tsf):
            p.append(_problem("horizon_start", tsf, "is not a whole number", "Use a whole number >= 1"))
        elif tsf < 1:
            p.append(_problem("horizon_start", tsf, "is below 1", "Use a whole number >= 1 (1 = the next step)"))
        else:
            start_ok = True
        if tst is None:
            p.append(_missing("horizon_end", why, "Set it to the last step ahead to forecast (>= horizon_start)"))
        elif not _is_int(tst):
            p.append(_problem("horizon_end", tst, "is not a whole number", "Use a whole number >= horizon_start"))
        elif start_ok and tst < tsf:  # type: ignore[operator]
            p.append(
                _problem(
                    "horizon_end",
                    tst,
                    f"is before horizon_start (tsf) = {tsf}",
                    f"Use a value >= {tsf}; e.g. 2 to 4 months ahead is horizon_start=2, horizon_end=4",
                )
            )
        elif tst < 1:
            p.append(_problem("horizon_end", tst, "is below 1", "Use a whole number >= horizon_start (>= 1)"))

        tsin = self.future_known
        if tsin is not None and not isinstance(tsin, bool):
            p.append(_bool_problem("future_known", tsin))

        tsine = self.future_known_exceptions
        if tsine is not None:
            if not isinstance(tsine, list):
                p.append(
                    _problem(
                        "future_known_exceptions",
                        tsine,
                        "is not a list of column names",
                        "Give a list of headers, or one header as a string",
                    )
                )
            else:
                bad = [v for v in tsine if not isinstance(v, str) or not v.strip()]
                dupes = sorted({v for v in tsine if isinstance(v, str) and tsine.count(v) > 1})
                if bad:
                    p.append(
                        _problem(
                            "future_known_exceptions",
                            tsine,
                            f"has entries that are not column names: {', '.join(map(repr, bad))}",
                            "List header texts only",
                        )
                    )
                if dupes:
                    p.append(
                        _problem(
                            "future_known_exceptions",
                            tsine,
                            f"lists {', '.join(map(repr, dupes))} more than once",
                            "List each column once",
                        )
                    )
                if isinstance(self.target_column, str) and self.target_column in tsine:
                    p.append(
                        _problem(
                            "future_known_exceptions",
                            tsine,
                            f"contains the target column {self.target_column!r}",
                            "List only non-target columns; the target is never known in the forecast period",
                        )
                    )

        tc = self.target_column
        for name in ("time_column", "series_column"):
            value = getattr(self, name)
            if isinstance(value, str) and value and value == tc:
                p.append(
                    _problem(
                        name,
                        value,
                        "is the same column as target_column (tc)",
                        f"Point {name} at a different column than the one to predict",
                    )
                )
        if isinstance(self.time_column, str) and self.time_column and self.time_column == self.series_column:
            p.append(
                _problem(
                    "series_column",
                    self.series_column,
                    "is the same column as time_column (tsc)",
                    "The series column tells series apart (e.g. a store ID); use another column or leave it unset",
                )
            )
        return p

    def _column_problems(self, columns: Sequence[str]) -> list[str]:
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
            return [f"columns = {columns!r} is not a list of header names. Pass the training file's header as a list."]
        header = [str(c) for c in columns]
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]  # a UTF-8 BOM read as text
        p: list[str] = []
        if not MIN_COLUMNS <= len(header) <= MAX_COLUMNS:
            p.append(
                f"The training data has {len(header)} column(s); Prediction One needs {MIN_COLUMNS} – {MAX_COLUMNS} "
                f"columns (the target plus at least one other). Add or remove columns before training."
            )
        checked: list[tuple[str, Any]] = [("target_column", self.target_column)]
        if self.time_series is True:
            checked += [("time_column", self.time_column), ("series_column", self.series_column)]
            if isinstance(self.future_known_exceptions, list):
                checked += [("future_known_exceptions", v) for v in self.future_known_exceptions]
        known = set(header)
        missing = [
            f"{_label(name)} = {value!r}{_suggest(value, header)}"
            for name, value in checked
            if isinstance(value, str) and value.strip() and value not in known
        ]
        if missing:
            p.append(
                f"Column(s) not found in the training data header: {'; '.join(missing)}. "
                f"Available columns ({len(header)}): {_show_columns(header)}. "
                f"Use the header text exactly (case and spaces matter)."
            )
        return p

    def validate_against_data(self, info: DataSetInfo) -> list[str]:
        """Check the configuration against the statistics of the uploaded training data (spec 4.3, 6).

        Runs :meth:`validate` with the data's header first. Problems that would make training fail
        raise; softer issues are returned as warnings. Checks whose statistics are missing from
        ``info`` are skipped (the service's statistics fields are loosely documented).

        Raises for: a target column that is not in the data or is listed as unusable
        (``useless_column_list``); a row count outside 100 – 1,000,000 (20 – 10,000 in time-series
        mode); a binary target whose listed values are not exactly two; a multi-class target with
        fewer than three or more than 200 listed values; a ``positive_value`` that is not among the
        listed target values; a regression target that has value names but no numeric summary.

        :param info: The Train Data Set Info response for the uploaded training file.
        :return: Warnings (human-readable sentences), e.g. about unusable non-target columns or
            missing target values.
        :raises PredictionOneConfigError: for the problems above.
        """
        header = list(info.raw_column_names) or [c.name for c in info.columns]
        self.validate(header or None)
        problems: list[str] = []
        warnings: list[str] = []
        tc = str(self.target_column)
        ptype = self.prediction_type

        if self.is_time_series:
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
                f"Training option {_label('target_column')} = {tc!r} is a column Prediction One judged unusable "
                f"(useless_column_list), e.g. because it is constant, empty or an ID. Choose another target column "
                f"or fix its values."
            )

        stats = info.column(tc)
        if stats is None:
            warnings.append(f"No statistics were returned for the target column {tc!r}; its values were not checked.")
        else:
            problems += self._target_problems(stats, info.row_count, warnings)

        others = [c for c in useless if c != tc]
        if others:
            warnings.append(
                f"Prediction One judged {len(others)} column(s) unusable and will not learn from them: "
                f"{_show_columns(others)}."
            )
            for name in ("time_column", "series_column"):
                value = getattr(self, name)
                if self.is_time_series and value in others:
                    warnings.append(
                        f"Training option {_label(name)} = {value!r} is among the unusable columns; "
                        f"time-series training may fail."
                    )

        if problems:
            label = f"training data ({ptype.value if isinstance(ptype, PredictionType) else ptype} target {tc!r})"
            raise PredictionOneConfigError(_join(problems, label))
        return warnings

    def _target_problems(self, stats: ColumnStatistics, row_count: int, warnings: list[str]) -> list[str]:
        p: list[str] = []
        tc = stats.name
        names = _class_names(stats)
        numeric = _numeric_summaries(stats)
        shown = _show_columns(names)
        ptype = self.prediction_type

        if ptype is PredictionType.BINARY_CLASSIFICATION and names:
            if len(names) != 2:
                fix = (
                    "Use prediction_type='multi_classification' for three or more classes"
                    if len(names) > 2
                    else "A binary target needs two different values; check the target column"
                )
                p.append(
                    _problem(
                        "prediction_type",
                        ptype,
                        f"needs exactly 2 distinct target values, but column {tc!r} shows {len(names)}: {shown}",
                        fix,
                    )
                )
            tv = self.positive_value
            if isinstance(tv, str) and tv not in names:
                near = [n for n in names if n.strip() == tv.strip() or _same_number(n, tv)]
                if near:
                    warnings.append(
                        f"Training option {_label('positive_value')} = {tv!r} is not literally among the target "
                        f"values {shown}, but matches {near[0]!r}; make sure it is written as in the file."
                    )
                else:
                    p.append(
                        _problem(
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
                    _problem(
                        "prediction_type",
                        ptype,
                        f"needs at least 3 distinct target values, but column {tc!r} shows {len(names)}: {shown}",
                        fix,
                    )
                )
            elif len(names) > MAX_CLASSES:
                p.append(
                    _problem(
                        "prediction_type",
                        ptype,
                        f"supports at most {MAX_CLASSES} classes, but column {tc!r} shows {len(names)}",
                        "Group rare classes together, or use regression for a numeric target",
                    )
                )
        elif ptype is PredictionType.REGRESSION:
            if not numeric and names:
                p.append(
                    _problem(
                        "prediction_type",
                        ptype,
                        f"needs a numeric target, but column {tc!r} has text values such as {_show_columns(names[:5])}",
                        "Use a classification prediction_type, or choose a numeric target column",
                    )
                )
            for summary in numeric[:1]:
                low, high = summary.get("min_value"), summary.get("max_value")
                if low is not None and low == high:
                    warnings.append(
                        f"The regression target {tc!r} has a single value ({low}); there is nothing to learn."
                    )

        if stats.missing_count > 0:
            total = max(row_count, stats.missing_count, 1)
            warnings.append(
                f"The target column {tc!r} is empty in {stats.missing_count} of {total} rows "
                f"({stats.missing_count / total:.0%}); rows without a target value cannot be learned from."
            )
        return p

    # ---------------------------------------------------------------------------- API form

    def to_api(self, *, alternate: bool = False) -> dict[str, Any]:
        """The ``config`` object for Train (``POST /models``), after :meth:`validate`.

        Options that are not set are omitted. The default representation follows spec 7.6: the
        numeric options (``cv``, ``tsi``, ``tsf``, ``tst``) as decimal strings, ``im``, ``tsm``,
        ``tsin`` as JSON booleans, ``tsine`` as a list of column names.

        :param alternate: Give the other representation, used for one retry when the service rejects
            the first: numbers as JSON integers, booleans as the strings ``"true"`` / ``"false"`` and a
            one-entry ``tsine`` as a plain string.
        :raises PredictionOneConfigError: if the configuration is invalid.
        """
        self.validate()
        out: dict[str, Any] = {}
        for name, key in OPTION_KEYS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, (PredictionType, TimeUnit)):
                value = value.value
            elif name in _INT_OPTIONS:
                value = int(value) if alternate else str(int(value))
            elif name in _BOOL_OPTIONS:
                value = ("true" if value else "false") if alternate else bool(value)
            elif name == "future_known_exceptions":
                value = value[0] if alternate and len(value) == 1 else list(value)
            out[key] = value
        return out

    @classmethod
    def from_api(cls, config: Mapping[str, Any]) -> TrainConfig:
        """Read a ``config`` object as sent to Train or returned by Get Model (spec 4.6).

        Lenient about representations: numbers as strings, integers or integral floats; booleans as
        JSON booleans, ``"true"``/``"false"`` or ``0``/``1``; ``tsine`` as a list or one string.
        ``null`` counts as not set and keys other than the spec's are ignored. The result is not
        validated; call :meth:`validate`.

        :param config: The ``config`` mapping with the spec's keys.
        """
        if not isinstance(config, Mapping):
            raise PredictionOneConfigError(f"A Train config must be a mapping, got {type(config).__name__}.")
        values: dict[str, Any] = {}
        for key, name in _NAME_BY_KEY.items():
            value = config.get(key)
            if value is None:
                continue
            if name in _INT_OPTIONS and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif name in _BOOL_OPTIONS and _is_int(value) and value in (0, 1):
                value = bool(value)
            elif name == "positive_value" and not isinstance(value, str) and not isinstance(value, bool):
                value = str(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> TrainConfig:
        """Build a configuration from a dict, e.g. one passed to an operator in a DAG.

        Keys may be the readable names (``"target_column"``) or the spec's keys (``"tc"``), mixed
        freely; values are normalised as on construction. The result is not validated; call
        :meth:`validate`.

        :param options: The options.
        :raises PredictionOneConfigError: for an unknown key, or an option given under both names.
        """
        if isinstance(options, TrainConfig):
            return options
        if not isinstance(options, Mapping):
            raise PredictionOneConfigError(
                f"Training options must be a mapping of option names to values, got {type(options).__name__}."
            )
        values: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        unknown: list[str] = []
        for raw_key, value in options.items():
            key = str(raw_key)
            name = key if key in OPTION_KEYS else _NAME_BY_KEY.get(key)
            if name is None:
                unknown.append(key)
                continue
            if name in given_as:
                raise PredictionOneConfigError(
                    f"Training option {_label(name)} is given twice, as {given_as[name]!r} and as {key!r}. "
                    f"Keep only one of them."
                )
            given_as[name] = key
            values[name] = value
        if unknown:
            valid = [*OPTION_KEYS, *_NAME_BY_KEY]
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            listing = ", ".join(f"{name} ({key})" for name, key in OPTION_KEYS.items())
            raise PredictionOneConfigError(
                f"Unknown training option(s): {', '.join(hints)}. Valid options (readable name or spec key): {listing}."
            )
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some options changed (readable names), normalised like a new instance."""
        return dataclasses.replace(self, **changes)

    def validate_known(self, runtime: Iterable[str]) -> None:
        """:meth:`validate` for a DAG being parsed: check every rule that involves only options known now.

        :param runtime: readable names of the options known only at run time (templates, XComs).
            Each is replaced by a placeholder, and the problems that name one of them are left for
            :meth:`validate` after rendering; so a literal binary classification without
            ``positive_value`` fails at parse time even when ``target_column`` is a template.
        :raises PredictionOneConfigError: if a rule among the known options is broken.
        """
        runtime = set(runtime)
        known = self.replace(**{name: _RUNTIME_PLACEHOLDER for name in runtime if getattr(self, name) is not None})
        labels = [_label(name) for name in runtime]
        problems = [text for text in known._problems() if not any(label in text for label in labels)]
        if problems:
            raise PredictionOneConfigError(_join(problems, "training configuration"))


def _bool_problem(name: str, value: Any) -> str:
    return _problem(name, value, "is not a yes/no value", "Use True or False (the strings 'true'/'false' also work)")
