"""The fault registry: the faults and pending job failures of one emulator, and what fired."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.emulator.faults.kinds import (
    ANY_ROUTE,
    LATENCY,
    Fault,
    FaultError,
    Firing,
    JobFailure,
)
from airflow_provider_predictionone.emulator.faults.validation import (
    FAULT_FIELDS,
    FaultOptions,
    make_fault,
    normalize_route,
)

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

log = logging.getLogger(__package__)
"""Every firing is logged on the logger of the package, ``airflow_provider_predictionone.emulator.faults``."""


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
        **options: Unpack[FaultOptions],
    ) -> Fault:
        """Inject a fault on ``route`` for the next ``count`` matching calls (``None`` = every call).

        ``options`` (keywords, all optional): ``method`` (only requests with this HTTP method),
        ``status`` and ``retry_after`` (``error`` / ``html``), ``latency`` (seconds, ``latency``),
        ``message`` (``error``), ``key_lifetime`` (``expire-keys``); see :class:`.FaultOptions`.

        Raises :class:`FaultError` (a ``ValueError``) for invalid arguments. Returns a snapshot
        of the new fault (its ``id`` identifies it for :meth:`get` and :meth:`remove`).
        """
        with self._lock:
            fault = make_fault(next(self._ids), route, kind, count, **options)
            self._faults.append(fault)
            return replace(fault)

    def add_many(self, specs: list[dict[str, Any]]) -> list[Fault]:
        """Add several faults given as keyword dictionaries (all or none are added)."""
        for spec in specs:
            unknown = set(spec) - set(FAULT_FIELDS)
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
