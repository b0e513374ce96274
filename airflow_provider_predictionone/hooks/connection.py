"""An Airflow connection read once into :class:`~.api.settings.ClientSettings`.

Connection fields: **password** = the account's secret key; **host** (and **port**) = base URL
(empty means the public service); extras ``timeout``, ``connect_timeout``, ``retries``,
``retry_delay``, ``verify_ssl`` and ``ca_bundle`` (also under the older form's
``extra__predictionone__<name>`` keys). Every error names the connection, the field and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
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
