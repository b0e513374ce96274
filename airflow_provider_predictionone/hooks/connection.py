"""An Airflow connection read once into :class:`~.api.settings.ClientSettings`.

Connection fields: **password** = the account's secret key; **host** (and **port**) = base URL
(empty means the public service); extras ``timeout``, ``connect_timeout``, ``retries``,
``retry_delay``, ``verify_ssl`` and ``ca_bundle`` (also under the older form's
``extra__predictionone__<name>`` keys). Every error names the connection, the field and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_predictionone.api.errors import PredictionOneConfigError, connection_not_found
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    MIN_TIMEOUT_SECONDS,
    ClientSettings,
)

CONN_TYPE = "predictionone"
DEFAULT_CONN_ID = "predictionone_default"
"""The connection id every hook, operator and sensor uses unless told otherwise."""
DEFAULT_RETRIES = 5
DEFAULT_RETRY_DELAY = 1.0


def _number(
    conn_id: str, extras: Mapping[str, Any], name: str, default: float, *, minimum: float, unit: str = "seconds"
) -> float:
    value = extras.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PredictionOneConfigError(
            f"Connection {conn_id!r}: extra {name}={value!r} is not a number. Set it to a number of {unit}, "
            f"e.g. {default:g}."
        ) from None
    if number < minimum:
        raise PredictionOneConfigError(f"Connection {conn_id!r}: extra {name}={value!r} must be at least {minimum:g}.")
    return number


def _flag(conn_id: str, extras: Mapping[str, Any], name: str, default: bool) -> bool:
    value = extras.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise PredictionOneConfigError(f"Connection {conn_id!r}: extra {name}={value!r} must be true or false.")


_EXTRA_FIX = 'Write it as a JSON object, e.g. {"timeout": 120, "retries": 3}, or leave it empty.'


def _extra_problem(raw: Any) -> str | None:
    """What is wrong with an Extra given as text, if it is not a JSON object."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        return f"its Extra field is not valid JSON ({exc}). {_EXTRA_FIX}"
    if not isinstance(parsed, dict):
        return f"its Extra field is JSON but not an object ({type(parsed).__name__}). {_EXTRA_FIX}"
    return None


def checked_extra(conn: Any, conn_id: str) -> None:
    """Refuse a connection whose Extra is not a JSON object: Airflow would log an error and read it
    as empty, so every setting in it would silently fall back to its default."""
    problem = _extra_problem(getattr(conn, "extra", None))
    if problem:
        raise PredictionOneConfigError(f"Connection {conn_id!r}: {problem}")


def connection_missing(conn_id: str) -> PredictionOneConfigError:
    """The error for a connection Airflow does not give back. Airflow 3.0 and 3.1 treat a connection
    whose Extra is not a JSON object as missing: when an ``AIRFLOW_CONN_<ID>`` environment variable
    defines it, its Extra is read here to say so; otherwise :func:`~.api.errors.connection_not_found`."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = (os.environ.get(name) or "").strip()
    if raw.startswith("{"):
        try:
            fields = json.loads(raw)
        except ValueError as exc:
            return PredictionOneConfigError(
                f"Connection {conn_id!r}: the environment variable {name} is not valid JSON ({exc}), so Airflow "
                "does not read it. Fix the JSON (or write the connection as a URI)."
            )
        extra = fields.get("extra") if isinstance(fields, dict) else None
    else:
        extra = (parse_qs(urlsplit(raw).query).get("__extra__") or [None])[0] if "://" in raw else None
    problem = _extra_problem(extra)
    if problem:  # the same message as checked_extra's on the versions that give the connection back
        return PredictionOneConfigError(f"Connection {conn_id!r}: {problem}")
    return connection_not_found(conn_id)


def _unprefixed(extras: Mapping[str, Any] | None) -> dict[str, Any]:
    """The extras, with the older form's ``extra__predictionone__<name>`` keys read as ``<name>``."""
    found = dict(extras or {})
    prefix = f"extra__{CONN_TYPE}__"
    for key in list(found):
        if key.startswith(prefix):
            found.setdefault(key[len(prefix) :], found[key])
    return found


def client_settings(conn: Any, extras: Mapping[str, Any] | None, *, retry: RetryPolicy | None = None) -> ClientSettings:
    """The settings of a Prediction One connection.

    :param conn: the Airflow ``Connection`` (its ``conn_id``, ``password``, ``host``, ``port``).
    :param extras: its extras as a dict (read by the caller: synchronously in a task, without
        blocking the event loop in a trigger).
    :param retry: a retry policy that replaces the one the extras describe.
    """
    conn_id = str(getattr(conn, "conn_id", None) or "?")
    secret = str(conn.password or "").strip()
    if not secret:
        raise PredictionOneConfigError(
            f"Connection {conn_id!r} has no secret key. Put the secret key from the Prediction One Settings "
            "screen into the connection's Secret key (password) field."
        )
    options = _unprefixed(extras)
    if retry is None:
        retry = RetryPolicy(
            max_retries=int(_number(conn_id, options, "retries", DEFAULT_RETRIES, minimum=0, unit="retries")),
            backoff_seconds=_number(conn_id, options, "retry_delay", DEFAULT_RETRY_DELAY, minimum=0),
        )
    verify: bool | str = (options.get("ca_bundle") or True) if _flag(conn_id, options, "verify_ssl", True) else False
    return ClientSettings(
        secret_key=secret,
        host=conn.host,
        port=conn.port,
        connect_timeout=_number(
            conn_id, options, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, minimum=MIN_TIMEOUT_SECONDS
        ),
        read_timeout=_number(conn_id, options, "timeout", DEFAULT_READ_TIMEOUT, minimum=MIN_TIMEOUT_SECONDS),
        retry=retry,
        verify=verify,
    )
