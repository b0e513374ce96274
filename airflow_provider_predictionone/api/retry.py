"""When to repeat a request, and how long to wait first.

One policy serves the sync client, the async client and uploads. The rules:

* Connection failures before the request was sent are always retried: the server never saw it.
* For requests that are safe to repeat (GET, PUT, DELETE, PATCH, inference): timeouts, dropped
  connections, HTTP 429 and 5xx are retried.
* For requests that create something (``POST /models``, ``POST /classifiers``): only failures that
  prove the server did not act are retried — a refused connection, HTTP 429 and HTTP 503. A read
  timeout or a 500 after the body was sent is *not* repeated, because the job may already exist.
* Errors with a documented ``message`` are answers, not glitches, and are never retried (for
  example ``Not found configuration_file.`` comes with a 5xx code but will not go away).

Delays grow exponentially with full jitter and honour ``Retry-After`` (seconds or HTTP date).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from airflow_provider_predictionone.api.errors import PredictionOneAPIError, PredictionOneConfigError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
NON_IDEMPOTENT_RETRYABLE_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param backoff_seconds: the first delay; each retry doubles it.
    :param max_backoff_seconds: the cap of one delay (also caps ``Retry-After``).
    :param jitter: spread delays randomly between half and the full value, so that many
        workers do not retry in lock-step.
    """

    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise PredictionOneConfigError(f"retries must be 0 or more, got {self.max_retries}.")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise PredictionOneConfigError("retry delays must not be negative.")

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_backoff_seconds)
        base = min(self.backoff_seconds * (2 ** max(retry_number - 1, 0)), self.max_backoff_seconds)
        return random.uniform(base / 2, base) if self.jitter else base

    def should_retry_status(self, error: PredictionOneAPIError, *, idempotent: bool) -> bool:
        """Whether an HTTP error answer is worth another attempt."""
        if error.message and not error.retryable:
            return False  # a documented answer (or a 4xx with a message): repeating changes nothing
        allowed = RETRYABLE_STATUSES if idempotent else NON_IDEMPOTENT_RETRYABLE_STATUSES
        return error.status_code in allowed


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if absent."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)
