"""Validation of faults and job failures, shared by the Python API, the control endpoint and the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.faults.kinds import (
    ANY_ROUTE,
    DEFAULT_HTML_STATUS,
    DEFAULT_JOB_MESSAGE,
    DEFAULT_MESSAGE,
    DEFAULT_RETRY_AFTER,
    ERROR,
    EXPIRE_KEYS,
    HANDLER_FAULTS,
    HTML,
    JOB_KINDS,
    KINDS,
    LATENCY,
    METHODS,
    Fault,
    FaultError,
    JobFailure,
)
from airflow_provider_predictionone.emulator.paths import KNOWN_ROUTES, NON_MANAGEMENT_ROUTES

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack


class FaultOptions(TypedDict, total=False):
    """The keyword options of a fault (see :func:`make_fault`)."""

    method: str | None
    status: int | None
    retry_after: int | str | None
    latency: float | None
    message: str | None
    key_lifetime: float | None


FAULT_FIELDS = ("route", "kind", "count", *FaultOptions.__annotations__)
"""Every field of a fault specification (a control-endpoint fault object)."""


def normalize_route(route: str) -> str:
    """A known route name; full management paths (``/v1/external/models``) are accepted too."""
    if not isinstance(route, str) or not route.strip():
        raise FaultError("route must be a non-empty string")
    name = route.strip()
    if name.startswith(contract.BASE_PATH + "/"):
        name = name[len(contract.BASE_PATH) :]
    if len(name) > 1 and name.endswith("/"):
        name = name[:-1]
    if name != ANY_ROUTE and name not in KNOWN_ROUTES:
        known = ", ".join(sorted(KNOWN_ROUTES))
        raise FaultError(f"unknown route {route!r}; use '*' or one of: {known}")
    return name


def _status(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        status = int(value)
    except (TypeError, ValueError):
        raise FaultError(f"status must be an HTTP status code, not {value!r}") from None
    if isinstance(value, bool) or not 400 <= status <= 599:
        raise FaultError(f"status must be an HTTP error status (400-599), not {value!r}")
    return status


def parse_seconds(value: Any, name: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise FaultError(f"{name} must be a number of seconds, not {value!r}") from None
    if isinstance(value, bool) or not seconds >= 0 or seconds == float("inf"):
        raise FaultError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
    return seconds


def _retry_after(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        if not value.strip():
            raise FaultError("retry_after must not be empty")
        return value.strip()  # e.g. an HTTP date, sent verbatim
    seconds = parse_seconds(value, "retry_after")
    assert seconds is not None
    if seconds != int(seconds):
        raise FaultError(f"retry_after must be a whole number of seconds, not {value!r}")
    return int(seconds)


def make_fault(
    fault_id: int,
    route: str,
    kind: str | int,
    count: int | None = 1,
    **options: Unpack[FaultOptions],
) -> Fault:
    """Validate the arguments of :meth:`FaultRegistry.add <.registry.FaultRegistry.add>` and build
    the :class:`~.kinds.Fault`; an unknown option is a ``TypeError``, an invalid one a :class:`~.kinds.FaultError`."""
    unknown = set(options) - set(FaultOptions.__annotations__)
    if unknown:
        raise TypeError(f"make_fault() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    method, status, retry_after = options.get("method"), options.get("status"), options.get("retry_after")
    latency, message, key_lifetime = options.get("latency"), options.get("message"), options.get("key_lifetime")
    route = normalize_route(route)
    kind_text = str(kind).strip().lower()
    if kind_text.isdigit():  # "503" is short for kind="error", status=503
        if status is not None and int(status) != int(kind_text):
            raise FaultError(f"kind {kind_text} conflicts with status {status}")
        kind_text, status = ERROR, int(kind_text)
    if kind_text not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; use an HTTP status or one of: {', '.join(KINDS)}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise FaultError(f"count must be an integer >= 1 or None (unlimited), not {count!r}")
    if method is not None:
        method = str(method).strip().upper()
        if method not in METHODS:
            raise FaultError(f"method must be one of {', '.join(METHODS)} or None, not {method!r}")
    delay = parse_seconds(latency, "latency") or 0.0
    if kind_text == LATENCY and delay <= 0:
        raise FaultError("a latency fault needs latency > 0 (seconds)")
    if kind_text in (ERROR, HTML):
        status = _status(status, 500 if kind_text == ERROR else DEFAULT_HTML_STATUS)
        retry_after = _retry_after(retry_after)
        if retry_after is None and status in (429, 503):
            retry_after = DEFAULT_RETRY_AFTER
    elif status is not None or retry_after is not None:
        raise FaultError(f"status and retry_after apply to the {ERROR} and {HTML} kinds only")
    if message is not None and (kind_text != ERROR or not isinstance(message, str)):
        raise FaultError(f"message (a string) applies to the {ERROR} kind only")
    if key_lifetime is not None:
        if kind_text != EXPIRE_KEYS:
            raise FaultError(f"key_lifetime applies to the {EXPIRE_KEYS} kind only")
        key_lifetime = parse_seconds(key_lifetime, "key_lifetime")
    if kind_text == EXPIRE_KEYS and (route == contract.PATH_API_KEY or route in NON_MANAGEMENT_ROUTES):
        raise FaultError(f"{EXPIRE_KEYS} applies to management routes other than {contract.PATH_API_KEY}")
    if kind_text in HANDLER_FAULTS:
        only_method, only_route = HANDLER_FAULTS[kind_text]
        if route not in (ANY_ROUTE, only_route) or method not in (None, only_method):
            raise FaultError(
                f"{kind_text} applies to {only_method} {only_route} only (route {only_route!r} or '*', "
                f"method {only_method} or None), not {method or 'any'} {route}"
            )
    if kind_text == ERROR and message is None:
        message = DEFAULT_MESSAGE
    return Fault(
        id=fault_id,
        route=route,
        kind=kind_text,
        count=count,
        method=method,
        status=status,
        retry_after=retry_after,
        latency=delay,
        message=message,
        key_lifetime=key_lifetime,
        remaining=count,
    )


def make_job_failure(kind: str | None = None, message: str | None = None, job_id: str | None = None) -> JobFailure:
    """Validate the arguments of a job failure."""
    if kind is not None and kind not in JOB_KINDS:
        raise FaultError(f"kind must be 'train', 'retrain' or None (any), not {kind!r}")
    if message is None:
        message = DEFAULT_JOB_MESSAGE
    if not isinstance(message, str) or not message:
        raise FaultError("message must be a non-empty string")
    if job_id is not None and (not isinstance(job_id, str) or not job_id.strip()):
        raise FaultError("job_id must be a non-empty string or None")
    return JobFailure(message=message, kind=kind, job_id=job_id.strip() if job_id else None)
