"""When to repeat a request, how long to wait first, and the one executor that does it.

One :class:`RetryPolicy` serves every request: API calls (sync and async), uploads and downloads.
:func:`run` and :func:`arun` run an attempt function under it with tenacity (``Retrying`` /
``AsyncRetrying`` built from the same arguments), so the rules are written once:

* Connection failures before the request was sent are always retried: the server never saw it.
* For requests that are safe to repeat (GET, PUT, DELETE, PATCH, inference, uploads): timeouts,
  dropped connections, HTTP 429 and 5xx, and an upload the server received altered are retried.
* For requests that create something (``POST /models``, ``POST /classifiers``): only failures that
  prove the server did not act are retried — a refused connection, HTTP 429 and HTTP 503. A read
  timeout or a 500 after the body was sent is *not* repeated, because the job may already exist.
* Errors with a documented ``message`` are answers, not glitches, and are never retried (for
  example ``Not found configuration_file.`` comes with a 5xx code but will not go away).
* A cached API key the service refuses (:class:`StaleApiKeyError`) is renewed once at once; that
  repeat does not count against ``max_retries``.

Delays grow exponentially with full jitter and honour ``Retry-After`` (seconds or HTTP date).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from airflow_provider_predictionone.api.errors import (
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneTransportError,
    StaleApiKeyError,
    UploadIntegrityError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

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
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise PredictionOneConfigError(f"retries must be a whole number, 0 or more, got {self.max_retries!r}.")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise PredictionOneConfigError("retry delays must not be negative.")

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_backoff_seconds)
        base = min(self.backoff_seconds * (2 ** max(retry_number - 1, 0)), self.max_backoff_seconds)
        return random.uniform(base / 2, base) if self.jitter else base

    def should_retry(self, exc: BaseException, *, idempotent: bool = True) -> bool:
        """Whether the failure of one attempt is worth another (see the module docs)."""
        if isinstance(exc, (StaleApiKeyError, UploadIntegrityError)):
            return True
        if isinstance(exc, PredictionOneTransportError):
            return idempotent or not exc.sent
        if isinstance(exc, PredictionOneAPIError):
            return self.should_retry_status(exc, idempotent=idempotent)
        return False

    def should_retry_status(self, error: PredictionOneAPIError, *, idempotent: bool = True) -> bool:
        """Whether an HTTP error answer is worth another attempt."""
        if error.message and not error.retryable:
            return False  # a documented answer (or a 4xx with a message): repeating changes nothing
        allowed = RETRYABLE_STATUSES if idempotent else NON_IDEMPOTENT_RETRYABLE_STATUSES
        return error.status_code in allowed


class _Rules:
    """The tenacity arguments of one run: what to retry, how long to wait, when to stop, what to log."""

    def __init__(
        self,
        policy: RetryPolicy,
        what: str,
        idempotent: bool,
        retry_if: Callable[[BaseException], bool] | None,
        logger: logging.Logger,
    ) -> None:
        self.policy = policy
        self.what = what
        self.idempotent = idempotent
        self.retry_if = retry_if
        self.log = logger
        self.renewals = 0  # key renewals so far: they do not count as retries
        self.attempts = 0

    def retry(self, state: Any) -> bool:
        self.attempts = state.attempt_number
        exc = state.outcome.exception()
        if exc is None:
            return False
        if isinstance(exc, StaleApiKeyError) and self.renewals == 0:
            return True
        if self.retry_if is not None:
            return self.retry_if(exc)
        return not isinstance(exc, StaleApiKeyError) and self.policy.should_retry(exc, idempotent=self.idempotent)

    def stop(self, state: Any) -> bool:
        if isinstance(state.outcome.exception(), StaleApiKeyError) and self.renewals == 0:
            return False
        return state.attempt_number - self.renewals > self.policy.max_retries

    def wait(self, state: Any) -> float:
        exc = state.outcome.exception()
        if isinstance(exc, StaleApiKeyError) and self.renewals == 0:
            self.renewals += 1
            return 0.0
        return self.policy.delay(state.attempt_number - self.renewals, getattr(exc, "retry_after", None))

    def before_sleep(self, state: Any) -> None:
        exc = state.outcome.exception()
        if isinstance(exc, StaleApiKeyError):
            self.log.info("Prediction One %s: the API key is no longer accepted; fetching a new one.", self.what)
            return
        self.log.warning(
            "Prediction One %s: %s; retry %d/%d in %.1fs.",
            self.what,
            describe_failure(exc),
            state.attempt_number - self.renewals,
            self.policy.max_retries,
            state.next_action.sleep,
        )

    def arguments(self) -> dict[str, Any]:
        return {
            "retry": self.retry,
            "stop": self.stop,
            "wait": self.wait,
            "before_sleep": self.before_sleep,
            "reraise": True,
        }

    def final(self, exc: PredictionOneTransportError) -> PredictionOneTransportError:
        """The last transport failure, saying how many attempts were made and what to do."""
        repeatable = self.idempotent or not exc.sent
        advice = (
            f"Gave up after {self.attempts} attempts; check the connection host and network, or raise the timeout / "
            "retries in the connection extras."
            if repeatable
            else "The request may have reached the service, so it was not repeated (it creates something); check "
            "the Prediction One web app before retrying."
        )
        return type(exc)(f"Prediction One {self.what} failed: {exc}. {advice}", sent=exc.sent, attempts=self.attempts)


def run(
    policy: RetryPolicy,
    attempt: Callable[[], T],
    *,
    what: str,
    idempotent: bool = True,
    retry_if: Callable[[BaseException], bool] | None = None,
    logger: logging.Logger = log,
) -> T:
    """Call ``attempt`` until it returns, retrying its failures as ``policy`` says.

    :param what: the operation, for log lines and the final transport error.
    :param idempotent: whether repeating a request that may have reached the service is safe.
    :param retry_if: retry exactly the failures this accepts instead of the policy's rules
        (e.g. "not ready yet" answers); the policy's delays and ``max_retries`` still apply.
    :raises Exception: the last failure; a transport failure says how many attempts were made.
    """
    import tenacity  # deferred: DAG files never load the retry machinery

    rules = _Rules(policy, what, idempotent, retry_if, logger)
    try:
        return tenacity.Retrying(**rules.arguments())(attempt)
    except PredictionOneTransportError as exc:
        raise rules.final(exc) from exc


async def arun(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    idempotent: bool = True,
    logger: logging.Logger = log,
) -> T:
    """:func:`run` for a coroutine function, on the running event loop (waits with ``asyncio.sleep``).

    The first attempt is made directly: most calls succeed at once, and setting up the retry
    machinery cost a status check or an Inference row more client CPU than the request itself
    (``docs/benchmarks.md``). A failure is handed to the machinery as its first attempt (raised
    again, not sent again), so retries, waits and log lines are those of :func:`run`."""
    try:
        return await attempt()
    except Exception as exc:
        first: Exception | None = exc
    import tenacity

    async def once() -> T:  # a coroutine function: tenacity awaits only those
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await attempt()

    rules = _Rules(policy, what, idempotent, None, logger)
    try:
        return await tenacity.AsyncRetrying(**rules.arguments())(once)
    except PredictionOneTransportError as exc:
        raise rules.final(exc) from exc


def describe_failure(exc: BaseException) -> str:
    """A failed attempt in a log line: the HTTP status of an answer, or what went wrong on the way."""
    if isinstance(exc, PredictionOneAPIError):
        return f"HTTP {exc.status_code}"
    return str(exc) or type(exc).__name__


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
