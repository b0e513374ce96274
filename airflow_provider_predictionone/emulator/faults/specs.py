"""Fault specifications of the command line: ``--fault`` and ``--fail-next-job`` values."""

from __future__ import annotations

from typing import Any

from airflow_provider_predictionone.emulator.faults.kinds import ERROR, EXPIRE_KEYS, HTML, LATENCY, METHODS, FaultError
from airflow_provider_predictionone.emulator.faults.validation import make_fault, make_job_failure


def parse_fault_spec(text: str) -> dict[str, Any]:
    """Parse a CLI ``--fault`` value ``[METHOD:]ROUTE:KIND[:COUNT][:ARG]`` into :meth:`FaultRegistry.add`
    keyword arguments.

    * ``METHOD``: optional HTTP method (``GET``, ``PUT``, ...); ``ROUTE``: a route name or ``*``.
    * ``KIND``: an HTTP status (``500``, ``503``, ``429``, ... = kind ``error``) or a kind name.
    * ``COUNT``: how many calls (default 1); ``*`` = every call.
    * ``ARG``: status kinds and ``error``: the ``Retry-After`` seconds; ``html``: the status
      (default 502); ``latency``: the seconds (required); ``expire-keys``: the lifetime of keys
      issued afterwards; the drop kinds take none.

    Examples: ``/models/results:503:2:5``, ``GET:/api-key:500``, ``*:latency:*:0.5``,
    ``PUT:upload:drop-mid-upload``, ``download:drop-mid-response:3``, ``/models:expire-keys``,
    ``/classifiers:html``, ``upload:corrupt-upload:2``, ``/classifiers:fail-classifier``.
    """
    parts = text.strip().split(":")
    spec: dict[str, Any] = {}
    if parts and parts[0].upper() in METHODS:
        spec["method"] = parts.pop(0).upper()
    if len(parts) < 2 or len(parts) > 4:
        raise FaultError(f"--fault {text!r}: expected [METHOD:]ROUTE:KIND[:COUNT][:ARG]")
    route, kind = parts[0], parts[1].strip().lower()
    spec["route"], spec["kind"] = route, kind
    if len(parts) >= 3 and parts[2].strip():
        raw = parts[2].strip()
        if raw in ("*", "all"):
            spec["count"] = None
        else:
            try:
                spec["count"] = int(raw)
            except ValueError:
                raise FaultError(f"--fault {text!r}: COUNT must be an integer >= 1 or '*'") from None
    arg = parts[3].strip() if len(parts) == 4 else ""
    if kind.isdigit() or kind == ERROR:
        if arg:
            spec["retry_after"] = arg
    elif kind == HTML:
        if arg:
            spec["status"] = arg
    elif kind == LATENCY:
        if not arg:
            raise FaultError(f"--fault {text!r}: latency needs the seconds as ARG, e.g. '*:latency:*:0.5'")
        spec["latency"] = arg
    elif kind == EXPIRE_KEYS:
        if arg:
            spec["key_lifetime"] = arg
    elif arg:
        raise FaultError(f"--fault {text!r}: the {kind} kind takes no ARG")
    make_fault(0, **spec)  # validate now (argparse reports the error)
    return spec


def parse_job_failure_spec(text: str) -> dict[str, Any]:
    """Parse a CLI ``--fail-next-job`` value ``KIND[:MESSAGE]`` (``KIND`` = ``train``, ``retrain`` or ``any``)."""
    kind, _, message = text.partition(":")
    kind = kind.strip().lower()
    spec: dict[str, Any] = {"kind": None if kind == "any" else kind}
    if message:
        spec["message"] = message
    make_job_failure(**spec)
    return spec
