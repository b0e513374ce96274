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
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_predictionone.api import config_rules as rules
from airflow_provider_predictionone.api.config_data import data_problems
from airflow_provider_predictionone.api.config_rules import OPTION_KEYS, is_int, label
from airflow_provider_predictionone.api.contract import CONFIG_BOOLEANS, CONFIG_STRING_NUMBERS, PredictionType, TimeUnit
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.models import DataSetInfo

__all__ = ["OPTION_KEYS", "PREDICTION_TYPE_ALIASES", "TrainConfig"]

_NAME_BY_KEY = {key: name for name, key in OPTION_KEYS.items()}
_INT_OPTIONS = frozenset(_NAME_BY_KEY[k] for k in CONFIG_STRING_NUMBERS)
_BOOL_OPTIONS = frozenset(_NAME_BY_KEY[k] for k in CONFIG_BOOLEANS)

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


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _coerce_int(value: Any) -> Any:
    """An integer or a decimal integer string becomes an ``int``; anything else is left for validate()."""
    if is_int(value):
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
        if is_int(self.positive_value):
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

    def options(self) -> dict[str, Any]:
        """Every option by its readable name (``None`` when not set), as the rules read them."""
        return {name: getattr(self, name) for name in OPTION_KEYS}

    def validate(self, columns: Sequence[str] | None = None) -> None:
        """Check every rule of the Train option table (spec 4.4, :data:`.config_rules.RULES`) and the
        column limit (6, 7.19).

        All problems are reported at once, each naming the option by its readable name and spec key,
        the bad value and the fix.

        :param columns: The header of the training file. When given, the target, time and series
            columns and every ``future_known_exceptions`` entry must be among these names, and the
            number of columns must be within 2 – 200.
        :raises PredictionOneConfigError: if any rule is broken.
        """
        options = self.options()
        found = rules.problems(options)
        if columns is not None:
            found += rules.column_problems(options, columns)
        if found:
            raise PredictionOneConfigError(rules.join(found, "training configuration"))

    def validate_known(self, runtime: Iterable[str]) -> None:
        """:meth:`validate` for a DAG being parsed: run the rules that read only options known now.

        :param runtime: readable names of the options known only at run time (templates, XComs).
            Every rule that reads one of them is left for :meth:`validate` after rendering; so a
            literal binary classification without ``positive_value`` fails at parse time even when
            ``target_column`` is a template.
        :raises PredictionOneConfigError: if a rule among the known options is broken.
        """
        found = rules.problems(self.options(), skip=runtime)
        if found:
            raise PredictionOneConfigError(rules.join(found, "training configuration"))

    def validate_against_data(self, info: DataSetInfo) -> list[str]:
        """Check the configuration against the statistics of the uploaded training data (spec 4.3, 6).

        Runs :meth:`validate` with the data's header first, then
        :func:`.config_data.data_problems`: problems that would make training fail raise, softer
        issues are returned as warnings.

        :param info: The Train Data Set Info response for the uploaded training file.
        :return: Warnings (human-readable sentences), e.g. about unusable non-target columns or
            missing target values.
        :raises PredictionOneConfigError: for what would make training fail.
        """
        header = list(info.raw_column_names) or [column.name for column in info.columns]
        self.validate(header or None)
        return data_problems(self.options(), info)

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
            elif name in _BOOL_OPTIONS and is_int(value) and value in (0, 1):
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
                    f"Training option {label(name)} is given twice, as {given_as[name]!r} and as {key!r}. "
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
