"""Validation of the Train ``config`` object (spec 4.4, 7.6).

Accepts both representations a client may send (spec 7.6): numbers as decimal strings or JSON
integers, booleans as JSON booleans or the strings ``"true"``/``"false"``, ``tsine`` as a list of
column names or one string. ``null`` values count as absent. Problems found here are request
errors (HTTP 400); problems that need the data (target column missing, ``tv`` not a value of the
target, ...) are found later and make the training job fail.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_predictionone.api import contract


class ConfigError(ValueError):
    """The ``config`` object is malformed; the message explains what is wrong."""


_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_TASKS = frozenset(t.value for t in contract.PredictionType)
_TIME_UNITS = frozenset(t.value for t in contract.TimeUnit)


@dataclass(frozen=True)
class TrainConfig:
    """A validated, normalized Train ``config``."""

    target: str
    task: str
    positive: str | None = None
    cv: int = 0
    balance: bool = False
    time_series: bool = False
    time_unit: str | None = None
    time_column: str | None = None
    time_step: int | None = None
    horizon_from: int | None = None
    horizon_to: int | None = None
    series_column: str | None = None
    future_known: bool = False
    future_exceptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_classification(self) -> bool:
        return self.task != contract.PredictionType.REGRESSION.value

    def referenced_columns(self) -> list[str]:
        """Columns named by the config besides the target (must exist in the data)."""
        names = [self.time_column, self.series_column, *self.future_exceptions]
        return [name for name in names if name]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["future_exceptions"] = list(self.future_exceptions)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        values["future_exceptions"] = tuple(values.get("future_exceptions") or ())
        return cls(**values)


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f'config.{key} must be an integer (a decimal string such as "2" or a number).')
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    raise ConfigError(f'config.{key} must be an integer (a decimal string such as "2" or a number).')


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f'config.{key} must be a boolean (true/false or "true"/"false").')


def _as_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"config.{key} must be a non-empty column name string.")
    return value.strip()


def parse_config(raw: Any) -> TrainConfig:
    """Validate a Train ``config`` object; raise :class:`ConfigError` with a clear message."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a JSON object.")
    unknown = sorted(k for k in raw if k not in contract.CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"Unknown config key(s): {', '.join(unknown)} (allowed: {', '.join(contract.CONFIG_KEYS)}).")
    values = {k: v for k, v in raw.items() if v is not None}
    if "tc" not in values:
        raise ConfigError("config.tc (the target column) is required.")
    target = _as_name("tc", values["tc"])
    task = values.get("tt")
    if task not in _TASKS:
        raise ConfigError(f"config.tt is required and must be one of {', '.join(sorted(_TASKS))}.")
    positive: str | None = None
    if task == contract.PredictionType.BINARY_CLASSIFICATION.value:
        if "tv" not in values:
            raise ConfigError("config.tv (the positive target value) is required for binary_classification.")
        tv = values["tv"]
        if isinstance(tv, bool) or not isinstance(tv, (str, int, float)) or (isinstance(tv, str) and not tv):
            raise ConfigError("config.tv must be a value of the target column (a string or a number).")
        positive = str(tv)
    elif "tv" in values:
        raise ConfigError("config.tv may only be given for binary_classification.")
    cv = _as_int("cv", values["cv"]) if "cv" in values else 0
    if cv < -1:
        raise ConfigError("config.cv must be -1, 0, 1 or a number of folds >= 2.")
    balance = _as_bool("im", values["im"]) if "im" in values else False
    time_series = _as_bool("tsm", values["tsm"]) if "tsm" in values else False
    time_unit = values.get("tsu")
    if time_unit is not None and time_unit not in _TIME_UNITS:
        raise ConfigError(f"config.tsu must be one of {', '.join(sorted(_TIME_UNITS))}.")
    time_column = _as_name("tsc", values["tsc"]) if "tsc" in values else None
    series_column = _as_name("tss", values["tss"]) if "tss" in values else None
    time_step = _as_int("tsi", values["tsi"]) if "tsi" in values else None
    if time_step is not None and time_step < 0:
        raise ConfigError("config.tsi must be 0 (automatic) or a positive integer.")
    horizon_from = _as_int("tsf", values["tsf"]) if "tsf" in values else None
    horizon_to = _as_int("tst", values["tst"]) if "tst" in values else None
    if horizon_from is not None and horizon_from < 1:
        raise ConfigError("config.tsf must be an integer >= 1.")
    if horizon_to is not None and horizon_from is not None and horizon_to < horizon_from:
        raise ConfigError("config.tst must be an integer >= config.tsf.")
    future_known = _as_bool("tsin", values["tsin"]) if "tsin" in values else False
    exceptions: tuple[str, ...] = ()
    if "tsine" in values:
        tsine = values["tsine"]
        if isinstance(tsine, str):
            exceptions = (_as_name("tsine", tsine),)
        elif isinstance(tsine, list) and tsine:
            exceptions = tuple(_as_name("tsine", item) for item in tsine)
        else:
            raise ConfigError("config.tsine must be a column name or a non-empty list of column names.")
    if time_series:
        if task != contract.PredictionType.REGRESSION.value:
            raise ConfigError("config.tsm (time-series mode) is only allowed with tt = regression.")
        missing = [k for k, v in (("tsc", time_column), ("tsf", horizon_from), ("tst", horizon_to)) if v is None]
        if missing:
            raise ConfigError(f"config.{', config.'.join(missing)} must be given when config.tsm is true.")
    return TrainConfig(
        target=target,
        task=task,
        positive=positive,
        cv=cv,
        balance=balance,
        time_series=time_series,
        time_unit=time_unit,
        time_column=time_column,
        time_step=time_step,
        horizon_from=horizon_from,
        horizon_to=horizon_to,
        series_column=series_column,
        future_known=future_known,
        future_exceptions=exceptions,
    )
