"""The fault kinds, where each may fire, and the records of faults, firings and job failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.paths import NON_MANAGEMENT_ROUTES, ROUTE_UPLOAD

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

HANDLER_FAULTS = {CORRUPT_UPLOAD: ("PUT", ROUTE_UPLOAD), FAIL_CLASSIFIER: ("POST", contract.PATH_CLASSIFIERS)}
"""Faults applied by the real handler of one route: kind -> (method, route)."""

ANY_ROUTE = "*"
"""Route pattern matching every route (``expire-keys``: every management route but ``/api-key``)."""


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

DEFAULT_MESSAGE = "Injected fault"
DEFAULT_JOB_MESSAGE = "Injected job failure."
DEFAULT_RETRY_AFTER = 1
DEFAULT_HTML_STATUS = 502
JOB_KINDS = ("train", "retrain")


class FaultError(ValueError):
    """A fault or job failure specification is invalid."""


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
