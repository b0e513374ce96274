"""One row of a batch: its outcome, the state the rows share, the pacing, and the reading of an
Inference answer into a prediction or a rejection."""

from __future__ import annotations

import asyncio
import csv
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.batch_io import csv_rows
from airflow_provider_predictionone.api.errors import (
    InferenceBadRequestError,
    InferenceClassifierNotFoundError,
    InferenceInvalidApiKeyError,
    InferenceInvalidClassifierIdError,
    InferenceIpNotAllowedError,
    InvalidCredentialsError,
    PredictionApiNotRunningError,
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneError,
    PredictionOneTransportError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)
from airflow_provider_predictionone.api.models import InferenceResult

FATAL_ERRORS: tuple[type[PredictionOneError], ...] = (
    PredictionApiNotRunningError,
    InferenceInvalidApiKeyError,
    InferenceIpNotAllowedError,
    InferenceClassifierNotFoundError,
    InferenceInvalidClassifierIdError,
    InvalidCredentialsError,
)
"""Errors that no row can get past: the batch stops at once."""

TRANSIENT_ERRORS: tuple[type[PredictionOneError], ...] = (PredictionOneTransportError, ServerError, RateLimitedError)
"""Errors the client already retried; a row that still gets one is rejected (not retried again)."""

_FATAL_STATUSES = frozenset({401, 403, 404, 405})
"""Undocumented error answers with these statuses mean the URL or key is wrong for every row."""


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``capacity`` saved up.

    :meth:`acquire` reserves a token and sleeps (on the event loop) until it is due, so concurrent
    rows are spaced ``1 / rate`` apart. The default capacity of one token
    means no bursts: ``n`` requests take at least ``(n - 1) / rate`` seconds.

    :param rate: tokens per second (> 0).
    :param capacity: the largest burst (>= 1).
    :param clock: monotonic clock (tests may pass a fake one).
    """

    def __init__(self, rate: float, capacity: float = 1.0, clock: Any = time.monotonic) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise PredictionOneConfigError(f"rate must be a positive number, got {rate!r}.")
        if not capacity >= 1:
            raise PredictionOneConfigError(f"capacity must be at least 1, got {capacity!r}.")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token now (possibly borrowed from the future); returns the seconds to wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a token; returns ``False`` if ``stop`` was set (a stopping batch does not
        wait for its turn: it is cancelled, or sees ``stop`` when its turn comes)."""
        delay = self.reserve()
        if delay > 0 and not (stop is not None and stop.is_set()):
            await asyncio.sleep(delay)
        return not (stop is not None and stop.is_set())


@dataclass
class Scored:
    """The outcome of one row: a prediction (with reasons) or a rejection."""

    number: int
    values: list[str]
    header: list[str] | None = None
    row: list[str] | None = None
    reasons_header: list[str] | None = None
    reasons_rows: list[list[str]] = field(default_factory=list)
    error: str | None = None
    message: str | None = None
    transient: bool = False
    """The row failed with one of :data:`TRANSIENT_ERRORS` (kept in :attr:`cause`)."""
    cause: BaseException | None = None
    answered: bool = False
    """The service answered the request (2xx): it took the header, whatever it made of the row."""


class Cancelled(Exception):
    """A row that was not sent because the batch is stopping."""


@dataclass
class Pending:
    number: int
    item: asyncio.Task[Scored] | Scored


class Run:
    """Mutable state of one run, shared by the reading loop and the rows' tasks (and the threads
    of a blocking client)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.fatal: BaseException | None = None
        self.started = time.monotonic()
        self.last_progress = self.started
        self.rows_read = 0
        self.blank = 0
        self.predicted = 0
        self.rejected = 0
        self.header: list[str] | None = None
        self.header_row = 0
        self.reasons_header: list[str] | None = None
        self.transient_streak = 0
        """Rows written in a row (input order) that failed with a transient error."""
        self.probing = True
        """The service has not yet shown that it takes the input's header: few rows go at once."""
        self.refused_at_start: list[int] = []
        """Rows refused with ``Invalid request`` while :attr:`probing`."""
        self.logged_rejects: list[tuple[int, str, str]] = []
        """``(row, error kind, short message)`` of the first :data:`MAX_LOGGED_REJECTS` rejected rows."""

    @property
    def done(self) -> int:
        return self.predicted + self.rejected

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = exc
        self.stop.set()


def is_fatal(exc: BaseException) -> bool:
    if isinstance(exc, FATAL_ERRORS):
        return True
    return (
        isinstance(exc, PredictionOneAPIError)
        and not isinstance(exc, (InferenceBadRequestError, *TRANSIENT_ERRORS, UnexpectedResponseError))
        and exc.status_code in _FATAL_STATUSES
    )


def rejected(number: int, values: list[str], exc: PredictionOneError) -> Scored:
    """The outcome of a row whose request failed with ``exc`` (not a fatal error)."""
    return Scored(
        number,
        values,
        error=type(exc).__name__,
        message=str(exc),
        transient=isinstance(exc, TRANSIENT_ERRORS),
        cause=exc,
    )


def read_answer(number: int, values: list[str], result: InferenceResult, *, reasons: bool) -> Scored:
    """A prediction from an Inference answer, or a rejection saying what is wrong with the answer."""
    text = result.prediction_csv
    if text is None:
        message = (
            f"The response has no {c.OUTPUT_PREDICTION} (outputs: {sorted(result.outputs)}); the service did not "
            "predict this row (spec 7.18)."
        )
        return Scored(number, values, error="MissingPrediction", message=message)
    try:
        rows = csv_rows(text)
    except csv.Error as exc:
        return Scored(number, values, error="UnexpectedResponse", message=f"{c.OUTPUT_PREDICTION}: {exc}.")
    if len(rows) != 2:
        message = f"{c.OUTPUT_PREDICTION} has {max(len(rows) - 1, 0)} data row(s); exactly one was expected."
        return Scored(number, values, error="UnexpectedRowCount", message=message)
    scored = Scored(number, values, header=rows[0], row=rows[1])
    if not reasons:
        return scored
    if result.reasons_csv is None:
        scored.error = "MissingReasons"
        scored.message = f"Reasons were requested (ar=true) but the response has no {c.OUTPUT_REASONS}."
        return scored
    try:
        reason_rows = csv_rows(result.reasons_csv)
    except csv.Error as exc:
        scored.error, scored.message = "UnexpectedResponse", f"{c.OUTPUT_REASONS}: {exc}."
        return scored
    if not reason_rows:
        scored.error, scored.message = "MissingReasons", f"{c.OUTPUT_REASONS} is empty."
        return scored
    scored.reasons_header, scored.reasons_rows = reason_rows[0], reason_rows[1:]
    return scored


def read_rows(run: Run, text: IO[str], header: list[str], name: str) -> Iterator[tuple[int, list[str]]]:
    """``(data row number, values)`` of the input, streamed; blank lines are counted and skipped."""
    reader = csv.reader(text)
    try:
        first = next(reader, None)
        if first is None or [name.strip() for name in first] != header:
            raise PredictionOneConfigError(
                f"input_file ({name!r}) changed while being read, or its header row "
                "holds a line break inside quotes; use a plain one-line header."
            )
        for values in reader:
            if not values:
                run.blank += 1
                continue
            run.rows_read += 1
            yield run.rows_read, values
    except UnicodeDecodeError:
        raise PredictionOneConfigError(
            f"input_file ({name!r}) is not UTF-8 after data row {run.rows_read} "
            f"(line {reader.line_num}). Save it as UTF-8, e.g. `iconv -f SHIFT_JIS -t UTF-8 in.csv > out.csv`."
        ) from None
    except csv.Error as exc:
        raise PredictionOneConfigError(
            f"input_file ({name!r}) is not valid CSV after data row {run.rows_read} (line {reader.line_num}): {exc}."
        ) from None
