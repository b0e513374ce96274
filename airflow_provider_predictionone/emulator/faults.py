"""Fault injection: make the emulator misbehave on chosen routes, on purpose.

A :class:`FaultRegistry` holds *faults* (rules) and pending *job failures*. Every request of the
emulated API passes through :meth:`EmulatorApp.intercept`, which asks :meth:`FaultRegistry.match`
for the faults to apply (the single matching point; matching and count-down happen atomically
under one lock) and acts on them. Kinds:

``error``
    answer an HTTP error (``status``, default 500) with the documented JSON shape
    ``{"code", "error", "message"}`` and an undocumented message (default ``Injected fault``);
    429 and 503 carry a ``Retry-After`` header (``retry_after``, default 1 second).
``html``
    answer a non-JSON ``text/html`` error page (``status``, default 502 ``Bad Gateway``).
``latency``
    wait ``latency`` seconds, then behave normally (latency faults add up with each other and
    with the one other fault that may fire on the same request).
``drop``
    close the connection before answering; the real handler does not run.
``drop-mid-response``
    run the real handler, then send the headers (with the full ``Content-Length``) and half of
    the body and close the connection; a response without a body is cut inside its status line.
``drop-mid-upload``
    read part of the request body (half of its ``Content-Length``, at most 1 MiB), then close the
    connection without an answer; the real handler does not run, so nothing is stored.
``expire-keys``
    expire every API key issued so far and answer ``Inactive_credential.``; only management
    routes other than ``/api-key`` are affected. ``key_lifetime`` optionally makes keys issued
    afterwards short-lived.
``corrupt-upload``
    ``PUT`` to an upload URL only: the real handler runs and answers normally, but the bytes it
    stores are altered (:func:`alter_stored_file`), so the ``ETag`` (the MD5 of what is stored)
    does not match what the client sent.
``fail-classifier``
    ``POST /classifiers`` only: the prediction API is created as usual but its build ends in
    ``failed`` instead of ``running``.

The last two are *handler faults*: :meth:`EmulatorApp.intercept` marks the request
(``request.handler_fault``) and lets the real handler apply them.

Control endpoints (``/_emulator/...``, see :func:`handle_control`) expose the same operations over
HTTP when the emulator was started with control enabled.

Standard library only.
"""

from __future__ import annotations

import hashlib
import http
import io
import itertools
import json
import logging
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.web import BodyError, Request, Response, json_response

if TYPE_CHECKING:  # pragma: no cover
    from airflow_provider_predictionone.emulator.app import EmulatorApp

log = logging.getLogger(__name__)

ERROR = "error"
HTML = "html"
LATENCY = "latency"
DROP = "drop"
DROP_MID_RESPONSE = "drop-mid-response"
DROP_MID_UPLOAD = "drop-mid-upload"
EXPIRE_KEYS = "expire-keys"
CORRUPT_UPLOAD = "corrupt-upload"
FAIL_CLASSIFIER = "fail-classifier"
KINDS = (ERROR, HTML, LATENCY, DROP, DROP_MID_RESPONSE, DROP_MID_UPLOAD, EXPIRE_KEYS, CORRUPT_UPLOAD, FAIL_CLASSIFIER)
"""Every fault kind."""

HANDLER_FAULTS = {CORRUPT_UPLOAD: ("PUT", "upload"), FAIL_CLASSIFIER: ("POST", contract.PATH_CLASSIFIERS)}
"""Faults applied by the real handler of one route: kind -> (method, route)."""

ANY_ROUTE = "*"
"""Route pattern matching every route (``expire-keys``: every management route but ``/api-key``)."""

NON_MANAGEMENT_ROUTES = ("upload", "download", "inference", "unmatched")
MANAGEMENT_ROUTES = (
    contract.PATH_API_KEY,
    contract.PATH_DATA_SET_UPLOAD_URL,
    contract.PATH_DATA_SET_COLUMN_INFO,
    contract.PATH_DATA_SETS,
    contract.PATH_DATA_SET,
    contract.PATH_MODELS,
    contract.PATH_MODEL,
    contract.PATH_MODEL_RESULTS,
    contract.PATH_CLASSIFIERS,
    contract.PATH_CLASSIFIER,
    contract.PATH_RETRAIN_UPLOAD_URL,
    contract.PATH_RETRAIN_JOB,
    contract.PATH_RETRAIN_UPDATE_MODEL,
)
KNOWN_ROUTES = frozenset(MANAGEMENT_ROUTES + NON_MANAGEMENT_ROUTES)
"""Route names a fault may name (the names :meth:`Emulator.request_count` counts by), plus ``*``."""

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

DEFAULT_MESSAGE = "Injected fault"
DEFAULT_JOB_MESSAGE = "Injected job failure."
DEFAULT_RETRY_AFTER = 1
DEFAULT_HTML_STATUS = 502
JOB_KINDS = ("train", "retrain")

CONTROL_PREFIX = "/_emulator"
"""Path prefix of the control endpoints (outside ``/v1``, so it cannot collide with the API)."""

UPLOAD_DROP_LIMIT = 1024 * 1024
"""``drop-mid-upload`` reads at most this many bytes before closing."""

_ERROR_NAMES = {
    429: "PREDA_EXTERNAL_TOO_MANY_REQUESTS",
    500: contract.ERROR_INTERNAL,
    502: "PREDA_EXTERNAL_BAD_GATEWAY",
    503: "PREDA_EXTERNAL_SERVICE_UNAVAILABLE",
    504: "PREDA_EXTERNAL_GATEWAY_TIMEOUT",
}


class FaultError(ValueError):
    """A fault or job failure specification is invalid."""


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One fault rule. ``remaining`` is ``None`` for an unlimited fault; ``fired`` counts firings.

    The registry returns copies (snapshots); use :meth:`FaultRegistry.get` for fresh numbers.
    """

    id: int
    route: str
    kind: str
    count: int | None = 1
    method: str | None = None
    status: int | None = None
    retry_after: int | str | None = None
    latency: float = 0.0
    message: str | None = None
    key_lifetime: float | None = None
    remaining: int | None = field(default=None)
    fired: int = 0

    @property
    def active(self) -> bool:
        """False once the fault has fired ``count`` times."""
        return self.remaining is None or self.remaining > 0

    def matches(self, method: str, route: str) -> bool:
        if not self.active or (self.method is not None and self.method != method):
            return False
        if self.kind == EXPIRE_KEYS and (route == contract.PATH_API_KEY or route in NON_MANAGEMENT_ROUTES):
            return False
        if self.kind in HANDLER_FAULTS and HANDLER_FAULTS[self.kind] != (method, route):
            return False
        return self.route in (ANY_ROUTE, route)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["active"] = self.active
        return data


@dataclass
class JobFailure:
    """A pending (or applied) injected failure of a training or retraining job."""

    message: str = DEFAULT_JOB_MESSAGE
    kind: str | None = None  # "train" / "retrain" / None = any
    job_id: str | None = None  # external_process_id or retrain_job_id; None = the next job started

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Firing:
    """One firing of a fault, as recorded by the registry."""

    method: str
    route: str
    kind: str
    fault_id: int


# --------------------------------------------------------------------------------------------
# Validation (shared by the Python API, the control endpoint and the CLI)
# --------------------------------------------------------------------------------------------


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


def _seconds(value: Any, name: str, *, allow_none: bool = True) -> float | None:
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
    seconds = _seconds(value, "retry_after")
    assert seconds is not None
    if seconds != int(seconds):
        raise FaultError(f"retry_after must be a whole number of seconds, not {value!r}")
    return int(seconds)


def make_fault(
    fault_id: int,
    route: str,
    kind: str | int,
    count: int | None = 1,
    *,
    method: str | None = None,
    status: int | None = None,
    retry_after: int | str | None = None,
    latency: float | None = None,
    message: str | None = None,
    key_lifetime: float | None = None,
) -> Fault:
    """Validate the arguments of :meth:`FaultRegistry.add` and build the :class:`Fault`."""
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
    delay = _seconds(latency, "latency") or 0.0
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
        key_lifetime = _seconds(key_lifetime, "key_lifetime")
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


_FIELDS = ("route", "kind", "count", "method", "status", "retry_after", "latency", "message", "key_lifetime")


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


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


class FaultRegistry:
    """Thread-safe store of faults and pending job failures (``emulator.faults``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._fired: Counter[Firing] = Counter()
        self._job_failures: list[JobFailure] = []
        self._failed_jobs: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- faults

    def add(
        self,
        route: str,
        kind: str | int,
        count: int | None = 1,
        *,
        method: str | None = None,
        status: int | None = None,
        retry_after: int | str | None = None,
        latency: float | None = None,
        message: str | None = None,
        key_lifetime: float | None = None,
    ) -> Fault:
        """Inject a fault on ``route`` for the next ``count`` matching calls (``None`` = every call).

        Raises :class:`FaultError` (a ``ValueError``) for invalid arguments. Returns a snapshot
        of the new fault (its ``id`` identifies it for :meth:`get` and :meth:`remove`).
        """
        with self._lock:
            fault = make_fault(
                next(self._ids),
                route,
                kind,
                count,
                method=method,
                status=status,
                retry_after=retry_after,
                latency=latency,
                message=message,
                key_lifetime=key_lifetime,
            )
            self._faults.append(fault)
            return replace(fault)

    def add_many(self, specs: list[dict[str, Any]]) -> list[Fault]:
        """Add several faults given as keyword dictionaries (all or none are added)."""
        for spec in specs:
            unknown = set(spec) - set(_FIELDS)
            if unknown:
                raise FaultError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
            if "route" not in spec or "kind" not in spec:
                raise FaultError("a fault needs route and kind")
            make_fault(0, **spec)
        return [self.add(**spec) for spec in specs]

    def get(self, fault_id: int) -> Fault:
        """A fresh snapshot of a fault; ``KeyError`` if unknown (or cleared)."""
        with self._lock:
            for fault in self._faults:
                if fault.id == fault_id:
                    return replace(fault)
        raise KeyError(fault_id)

    def list(self) -> list[Fault]:
        """Snapshots of every fault added since the last :meth:`clear`, exhausted ones included."""
        with self._lock:
            return [replace(f) for f in self._faults]

    def remove(self, fault_id: int) -> None:
        """Remove one fault; ``KeyError`` if unknown."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.id == fault_id:
                    del self._faults[i]
                    return
        raise KeyError(fault_id)

    def clear(self) -> None:
        """Remove every fault and pending job failure and reset the fired counters."""
        with self._lock:
            self._faults.clear()
            self._job_failures.clear()
            self._fired.clear()
            self._failed_jobs.clear()

    def fired(self, route: str | None = None, kind: str | None = None, method: str | None = None) -> int:
        """How many times faults fired (since the last :meth:`clear`), optionally only on one route
        (the request's route name), of one kind, or for one method."""
        wanted_route = normalize_route(route) if route not in (None, ANY_ROUTE) else None
        wanted_method = method.upper() if method is not None else None
        with self._lock:
            return sum(
                n
                for firing, n in self._fired.items()
                if wanted_route in (None, firing.route)
                and kind in (None, firing.kind)
                and wanted_method in (None, firing.method)
            )

    def match(self, method: str, route: str) -> list[Fault]:
        """The faults a request fires, counted down atomically: every matching ``latency`` fault,
        then at most one other fault (the first matching one, in the order added)."""
        with self._lock:
            chosen: list[Fault] = []
            terminal = False
            for fault in self._faults:
                if not fault.matches(method, route):
                    continue
                if fault.kind != LATENCY:
                    if terminal:
                        continue
                    terminal = True
                chosen.append(fault)
                if fault.remaining is not None:
                    fault.remaining -= 1
                fault.fired += 1
                self._fired[Firing(method, route, fault.kind, fault.id)] += 1
            snapshots = [replace(f) for f in chosen]
        for fault in snapshots:
            left = "unlimited" if fault.remaining is None else str(fault.remaining)
            log.info("fault injected: %s on %s %s (fault %d, %s left)", fault.kind, method, route, fault.id, left)
        return snapshots

    # ---------------------------------------------------------------- job failures

    def add_job_failure(self, failure: JobFailure) -> JobFailure:
        """Queue a job failure (see :meth:`Emulator.fail_next_job`)."""
        with self._lock:
            self._job_failures.append(failure)
            return replace(failure)

    def take_job_failure(self, kind: str, job_id: str) -> JobFailure | None:
        """The pending failure for a job being started (one for its id first, else the first for
        its kind or any kind), removed from the queue."""
        with self._lock:
            candidates = [f for f in self._job_failures if f.job_id == job_id] or [
                f for f in self._job_failures if f.job_id is None and f.kind in (None, kind)
            ]
            if not candidates:
                return None
            failure = candidates[0]
            self._job_failures.remove(failure)
        self.record_job_failure(kind, job_id, failure.message)
        return replace(failure)

    def record_job_failure(self, kind: str, job_id: str, message: str) -> None:
        """Note (and log) that a job was made to fail."""
        with self._lock:
            self._failed_jobs.append({"kind": kind, "job_id": job_id, "message": message})
        log.info("fault injected: %s job %s fails with %r", kind, job_id, message)

    def pending_job_failures(self) -> list[JobFailure]:
        with self._lock:
            return [replace(f) for f in self._job_failures]

    def failed_jobs(self) -> list[dict[str, Any]]:
        """The jobs made to fail so far: ``[{"kind", "job_id", "message"}]``."""
        with self._lock:
            return [dict(item) for item in self._failed_jobs]

    # ---------------------------------------------------------------- reporting

    def to_json(self) -> dict[str, Any]:
        """The state shown by ``GET /_emulator/faults``."""
        with self._lock:
            fired = [
                {"method": f.method, "route": f.route, "kind": f.kind, "fault_id": f.fault_id, "count": n}
                for f, n in sorted(self._fired.items(), key=lambda item: (item[0].fault_id, item[0].route))
            ]
            return {
                "faults": [f.to_json() for f in self._faults],
                "fired": fired,
                "fired_total": sum(self._fired.values()),
                "pending_job_failures": [f.to_json() for f in self._job_failures],
                "failed_jobs": [dict(item) for item in self._failed_jobs],
            }


# --------------------------------------------------------------------------------------------
# Responses of the fault kinds
# --------------------------------------------------------------------------------------------


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _retry_headers(fault: Fault) -> dict[str, str]:
    return {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}


def error_fault_response(fault: Fault) -> Response:
    """``error``: the documented error shape with a synthetic, undocumented code and message."""
    status = fault.status or 500
    body = {
        "code": f"{status}1000299",
        "error": _ERROR_NAMES.get(status, "PREDA_EXTERNAL_INJECTED_FAULT"),
        "message": fault.message or DEFAULT_MESSAGE,
    }
    return json_response(body, status, _retry_headers(fault))


def html_fault_response(fault: Fault) -> Response:
    """``html``: a gateway-style HTML error page."""
    status = fault.status or DEFAULT_HTML_STATUS
    title = f"{status} {_reason(status)}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, page.encode("ascii"), "text/html", _retry_headers(fault))


def alter_stored_file(path: Path) -> str:
    """``corrupt-upload``: alter the stored bytes of an upload in place; the hex MD5 of the result.

    The middle byte is inverted (every bit flipped), so the size stays the same and the content
    differs from what was sent; an empty upload becomes the single byte ``0xff``. The MD5 is
    computed from the file as stored, like the ETag of a store that received altered bytes.
    """
    with path.open("r+b") as handle:
        size = handle.seek(0, io.SEEK_END)
        position = size // 2
        handle.seek(position)
        original = handle.read(1)
        handle.seek(position)
        handle.write(bytes([original[0] ^ 0xFF]) if original else b"\xff")
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def read_part_of_body(request: Request) -> int:
    """``drop-mid-upload``: read (and discard) part of the request body; the bytes read."""
    length = request.headers.get("Content-Length")
    try:
        wanted = int(length) // 2 if length is not None else UPLOAD_DROP_LIMIT
    except ValueError:
        wanted = 0
    wanted = max(1, min(wanted, UPLOAD_DROP_LIMIT))
    total = 0
    try:
        while total < wanted:
            data = request.body.read(wanted - total)
            if not data:
                break
            total += len(data)
    except (BodyError, OSError):
        pass
    return total


# --------------------------------------------------------------------------------------------
# Control endpoints
# --------------------------------------------------------------------------------------------


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _control_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"message": message}, status, headers)


def _body(request: Request, *, required: bool) -> Any:
    try:
        raw = request.body.read_all()
    except BodyError as exc:
        raise FaultError(str(exc)) from exc
    if not raw.strip():
        if required:
            raise FaultError("a JSON body is required")
        return {}
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FaultError(f"the body is not valid JSON: {exc}") from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultError("the body must be a JSON object")
    return value


def handle_control(app: EmulatorApp, request: Request) -> Response:
    """Serve ``/_emulator/...`` (only called when control is enabled; never counted or faulted).

    ``GET /_emulator/faults``, ``POST /_emulator/faults`` (a fault object or a list of them),
    ``DELETE /_emulator/faults``, ``DELETE /_emulator/faults/{id}``, ``POST /_emulator/expire-keys``
    (optional ``{"key_lifetime": s}``), ``POST /_emulator/fail-next-job``
    (``{"kind", "message", "job_id"}``, all optional).
    """
    path = request.path[:-1] if len(request.path) > 1 and request.path.endswith("/") else request.path
    sub = path[len(CONTROL_PREFIX) :]
    method = request.method
    faults = app.faults
    allowed: str
    try:
        if sub == "/faults":
            allowed = "DELETE, GET, POST"
            if method == "GET":
                return json_response(faults.to_json())
            if method == "POST":
                body = _body(request, required=True)
                specs = [_object(item) for item in body] if isinstance(body, list) else [_object(body)]
                added = faults.add_many(specs)
                return json_response({"faults": [f.to_json() for f in added]}, 201)
            if method == "DELETE":
                cleared = len(faults.list())
                faults.clear()
                return json_response({"cleared": cleared})
        elif sub.startswith("/faults/"):
            allowed = "DELETE, GET"
            try:
                fault_id = int(sub[len("/faults/") :])
                if method == "GET":
                    return json_response({"fault": faults.get(fault_id).to_json()})
                if method == "DELETE":
                    faults.remove(fault_id)
                    return Response(204)
            except (ValueError, KeyError):
                return _control_error(404, "Not Found")
        elif sub == "/expire-keys":
            allowed = "POST"
            if method == "POST":
                body = _object(_body(request, required=False))
                unknown = set(body) - {"key_lifetime"}
                if unknown:
                    raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
                lifetime = _seconds(body.get("key_lifetime"), "key_lifetime")
                expired = app.expire_api_keys(key_lifetime=lifetime)
                return json_response({"expired": expired, "key_lifetime": app.settings.key_lifetime})
        elif sub == "/fail-next-job":
            allowed = "POST"
            if method == "POST":
                body = _object(_body(request, required=False))
                unknown = set(body) - {"kind", "message", "job_id"}
                if unknown:
                    raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
                failure = app.fail_next_job(**body)
                return json_response({"job_failure": failure.to_json()}, 201)
        else:
            return _control_error(404, "Not Found")
    except ValueError as exc:  # FaultError, or e.g. an unknown or finished job id
        return _control_error(400, str(exc))
    return _control_error(405, "Method Not Allowed", {"Allow": allowed})
