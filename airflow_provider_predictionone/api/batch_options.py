"""The options of a batch prediction, checked before any request (and, for an operator's literal
arguments, when the DAG is parsed): one set of rules for the batch and its operator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_predictionone.api.errors import PredictionOneConfigError

DEFAULT_CONCURRENCY = 8
MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 256
DEFAULT_PROGRESS_INTERVAL = 30.0
DEFAULT_MAX_CONSECUTIVE_ERRORS = 10
"""Consecutive rows (input order) with a transient error after which the service counts as down."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class BatchOptions:
    """How a batch is sent and judged.

    :param concurrency: requests in flight at most (1 to 256).
    :param requests_per_second: pace of requests over all workers (no bursts); ``None`` for no limit.
    :param include_input: send ``ad=true``: the service echoes the input values in the output.
    :param no_class: send ``nc=true``: classification without the class label (probabilities only).
    :param no_row_number: send ``nr`` with this value. The default ``True`` drops the service's own
        row number, which is always 1 with one row per request (``input_row`` replaces it);
        ``None`` leaves ``nr`` out of the request.
    :param pivot_column: send ``pc``: a column of the input to put at the left of the result.
    :param max_rejected_fraction: the share of rejected rows (0.0 to 1.0) that still counts as success.
    :param progress_interval: seconds between progress log lines (rows done, rows/s, ETA).
    :param max_consecutive_errors: stop when this many rows in a row (input order) fail with a
        transient error after the client's retries: the service looks down.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    requests_per_second: float | None = None
    include_input: bool = False
    no_class: bool = False
    no_row_number: bool | None = True
    pivot_column: str | None = None
    max_rejected_fraction: float = 0.0
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS

    def __post_init__(self) -> None:
        problems = []
        if not _whole(self.concurrency) or not MIN_CONCURRENCY <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(
                f"concurrency={self.concurrency!r} must be a whole number from {MIN_CONCURRENCY} to {MAX_CONCURRENCY} "
                f"(requests in flight at once; default {DEFAULT_CONCURRENCY})."
            )
        rate = self.requests_per_second
        if rate is not None and not (_number(rate) and rate > 0):
            problems.append(
                f"requests_per_second={rate!r} must be a positive number of requests per second, or None for no limit."
            )
        fraction = self.max_rejected_fraction
        if not (_number(fraction) and 0.0 <= fraction <= 1.0):
            problems.append(
                f"max_rejected_fraction={fraction!r} must be a number from 0.0 to 1.0 (0.05 = 5% of the rows may be "
                "rejected)."
            )
        if not (_number(self.progress_interval) and self.progress_interval > 0):
            problems.append(f"progress_interval={self.progress_interval!r} must be a positive number of seconds.")
        errors = self.max_consecutive_errors
        if not _whole(errors) or errors < 1:
            problems.append(
                f"max_consecutive_errors={errors!r} must be a whole number of rows, 1 or more (default "
                f"{DEFAULT_MAX_CONSECUTIVE_ERRORS}): the batch stops when that many rows in a row fail because the "
                "service does not answer."
            )
        if problems:
            raise PredictionOneConfigError(" ".join(problems))

    def flags(self, *, reasons: bool) -> dict[str, Any]:
        """The Inference flags of every row (``ar``, ``ad``, ``nc`` always; ``nr`` and ``pc`` when set)."""
        flags: dict[str, Any] = {
            "reasons": reasons,
            "include_input": bool(self.include_input),
            "no_class": bool(self.no_class),
        }
        if self.no_row_number is not None:
            flags["no_row_number"] = bool(self.no_row_number)
        if self.pivot_column:
            flags["pivot_column"] = self.pivot_column
        return flags
