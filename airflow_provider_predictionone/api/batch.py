"""Batch prediction: score a CSV file against a deployed prediction API, one Inference per row.

The Inference endpoint takes exactly one CSV header plus one data row per request (spec 4.14), so
scoring a file means one request per row. :class:`BatchPredictor` does that with a pool of worker
threads while keeping the promises a batch job needs:

* **Streaming, bounded memory.** The input is parsed with the :mod:`csv` module as it is read
  (quoted fields with commas, quotes and embedded newlines work). At most :attr:`BatchPredictor.window`
  rows (``concurrency * 4``) are in flight or waiting to be written, however long the file is.
* **Input order.** Results are written strictly in input order, as soon as the next row is done.
  Every output file starts with an ``input_row`` column: the 1-based data row number of the input
  (blank lines are skipped and not counted), so results can be joined back to the input.
* **No row disappears.** Each data row ends up in the output file or in the rejects file.
* **Atomic outputs.** Files are written as ``<path>.part`` and renamed when complete; a batch that
  stops early leaves no final output file behind (and removes its ``.part`` files).
* **Object storage.** Input and outputs may be storage paths (Airflow's ``ObjectStoragePath`` or any
  path-like object with ``open()``, see :func:`.files.is_storage_path`). The input is streamed from
  the store. Object stores have no atomic rename, so an output there is written to a local
  temporary file (streaming) and stream-copied to its destination when the batch completes; a batch
  that stops early writes nothing to the store.
* **Secrets.** The API key and the URL's query string are never logged; row values are never
  logged either (they appear only in the rejects file).

Output files (UTF-8 without BOM, ``\\n`` line endings, minimal quoting):

* **output** — ``input_row`` + the header of ``prediction_valid.csv`` taken from the first
  successful response (in input order); then one line per predicted row. When no row was
  predicted the file holds only the ``input_row`` header.
* **reasons** (only with ``reasons_path``; sends ``ar=true``) — ``input_row`` + the header of
  ``prediction_analysis.csv``; then every reasons line of every predicted row, in input order.
* **rejects** (always written, default ``<output>.rejects.csv``) — ``input_row,error,message`` +
  the input header; then one line per rejected row: its number, an error kind, a readable message
  and the row's original values (as many as the row had).

What happens when something goes wrong with one row or with the whole batch:

* **Rejected rows** (written to the rejects file; the batch goes on): a row whose number of fields
  differs from the header (``FieldCountMismatch``, never sent); an ``InferenceBadRequestError``;
  any other error answer that is not about the whole API (e.g. HTTP 413); a response without
  ``prediction_valid.csv`` (``MissingPrediction``, spec 7.18) or with zero or several data rows
  (``UnexpectedRowCount``); a malformed 2xx answer (``UnexpectedResponseError``); a prediction
  header that differs from the first one (``HeaderMismatch``); missing reasons when reasons were
  asked for (``MissingReasons``).
* **Transient errors** (``PredictionOneTransportError``, ``ServerError``, ``RateLimitedError``)
  reach this module only after the client's own :class:`~.retry.RetryPolicy` gave up on them, so
  they are *not* retried again here: the row is rejected with the error's message. Re-running the
  rejects file later is the way to recover those rows; ``max_rejected_fraction`` decides whether the
  batch as a whole counts as failed.
* **Circuit breaker.** When ``max_consecutive_errors`` rows *in a row* (counted in input order, as
  the rows are written, so the same input and the same answers always stop at the same row) end
  with a transient error, the service looks down: every further row would cost the client's full
  set of retries for nothing (``retries + 1`` requests per row: ~600k for 100k rows with the
  default 5 retries). The batch then stops through the fatal path below with :class:`BatchServiceDownError`
  (rows done, the last error, what to do). At most ``max_consecutive_errors - 1 + window`` rows of
  a batch that starts against a dead service are ever sent: rows whose request is in flight finish
  their client retries (at most ``concurrency`` of them), rows still queued are cancelled unsent.
  Any predicted or otherwise rejected row in between resets the count.
* **Fatal errors** (:data:`FATAL_ERRORS`: the prediction API is not running, the key is wrong, the
  IP is not allowed, the classifier does not exist, invalid credentials — plus undocumented HTTP
  401/403/404/405 answers, which mean the URL or key is wrong for every row): pending work is
  cancelled, nothing more is written, the ``.part`` files are removed and the exception is raised
  with a note saying how many rows were done.
* **Too many rejects.** After all outputs are written, :class:`BatchRejectedRowsError` is raised
  when ``rows_rejected / rows_total > max_rejected_fraction``; it carries the result. The batch
  does *not* stop at the first rejection even when the threshold is already exceeded (with the
  default ``max_rejected_fraction=0`` the first rejected row dooms the task): a rejection by the
  service (``Invalid request``, a field count mismatch, an odd answer) is about that row's data and
  costs at most one request, not retries, and a complete rejects file lets the user fix every bad row in
  one pass instead of one failed run per bad row. Rows the service cannot answer at all are what
  the circuit breaker above is for.
* **Rejected rows in the log.** The first rejected rows (:data:`MAX_LOGGED_REJECTS`) are logged as
  they happen (number and error kind) and, at the end of the batch, listed once more with their
  message in one block — row number, error kind, a shortened message (the API key is masked; row
  values never appear) — followed by ``... and N more (see <rejects file>)``. A batch that stops
  early lists them too (its rejects file is not kept).

Requests made by the client's own retries are not rate limited again; ``requests_per_second``
paces the first attempt of each row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, HTTPAdapter

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api import files
from airflow_provider_predictionone.api.client import UnexpectedResponseError, is_loopback_host
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
)
from airflow_provider_predictionone.api.models import InferenceResult

log = logging.getLogger(__name__)

INPUT_ROW_COLUMN = "input_row"
REJECTS_COLUMNS = (INPUT_ROW_COLUMN, "error", "message")
REJECTS_SUFFIX = ".rejects.csv"
PART_SUFFIX = ".part"

DEFAULT_CONCURRENCY = 8
MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 256
WINDOW_PER_WORKER = 4
"""Rows in flight or waiting to be written, per worker thread."""
DEFAULT_PROGRESS_INTERVAL = 30.0
MAX_LOGGED_REJECTS = 10
"""Rejected rows logged as they happen and listed with their message at the end; the rest are counted."""
MAX_LOGGED_MESSAGE_CHARS = 200
"""A rejected row's message is cut to this length in the log (the rejects file has it whole)."""
DEFAULT_MAX_CONSECUTIVE_ERRORS = 10
"""Consecutive rows (input order) with a transient error after which the service counts as down."""

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

_POLL_SECONDS = 0.05


class BatchRejectedRowsError(PredictionOneError):
    """More rows were rejected than ``max_rejected_fraction`` allows. Raised after every output
    file was written; :attr:`result` describes the batch.

    :param text: the message.
    :param result: the :class:`BatchPredictionResult` of the finished batch.
    """

    def __init__(self, text: str, result: BatchPredictionResult | None = None) -> None:
        super().__init__(text)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.result))


class BatchServiceDownError(PredictionOneError):
    """``max_consecutive_errors`` rows in a row failed with a transient error after the client's
    retries: the prediction API looks down, so the batch stopped (no output file was written).
    The last transient error is the ``__cause__``.
    """


class InferenceClient(Protocol):
    """What the batch needs of a client: :meth:`PredictionOneClient.inference`."""

    def inference(self, url: str, api_key: str, csv_text: str, **flags: Any) -> InferenceResult: ...


@dataclass
class BatchPredictionResult:
    """What a finished batch did.

    :param rows_total: data rows read from the input (blank lines not counted).
    :param rows_predicted: rows written to the output file.
    :param rows_rejected: rows written to the rejects file.
    :param rejected_fraction: ``rows_rejected / rows_total`` (0.0 for an input without data rows).
    :param seconds: wall-clock duration of the batch.
    :param rows_per_second: ``rows_total / seconds``.
    :param output_path: the predictions.
    :param rejects_path: the rejected rows.
    :param reasons_path: the prediction reasons, when they were asked for.
    :param blank_lines_skipped: empty input lines, which are not data rows.
    """

    rows_total: int
    rows_predicted: int
    rows_rejected: int
    rejected_fraction: float
    seconds: float
    rows_per_second: float
    output_path: Path
    rejects_path: Path
    reasons_path: Path | None = None
    blank_lines_skipped: int = 0

    def summary(self) -> str:
        """One line for logs: counts, throughput and where the files are."""
        text = (
            f"{self.rows_total} row(s) in {self.seconds:.1f}s ({self.rows_per_second:.1f} rows/s): "
            f"{self.rows_predicted} predicted -> {self.output_path}, "
            f"{self.rows_rejected} rejected ({self.rejected_fraction:.1%}) -> {self.rejects_path}"
        )
        if self.reasons_path is not None:
            text += f", reasons -> {self.reasons_path}"
        if self.blank_lines_skipped:
            text += f"; {self.blank_lines_skipped} blank line(s) skipped"
        return text + "."


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second, at most ``capacity`` saved up.

    :meth:`acquire` reserves a token and sleeps until it is due, so concurrent callers are spaced
    ``1 / rate`` apart without holding the lock while they wait. The default capacity of one token
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

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a token; returns ``False`` if ``stop`` was set while waiting."""
        delay = self.reserve()
        if delay <= 0:
            return not (stop is not None and stop.is_set())
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


@dataclass
class _Scored:
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


class _Cancelled(Exception):
    """A row that was not sent because the batch is stopping."""


@dataclass
class _Pending:
    number: int
    item: Future[_Scored] | _Scored


class _Run:
    """Mutable state of one run, shared between the reading thread and the workers."""

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


class _CsvPart:
    """A CSV written to ``<path>.part``, renamed to ``path`` by :meth:`commit`.

    For a storage path the part is a local temporary file, stream-copied to the destination by
    :meth:`commit` (object stores have no rename).
    """

    def __init__(self, path: Path | Any) -> None:
        self.path = path
        self.remote = files.is_storage_path(path)
        if self.remote:
            handle, name = tempfile.mkstemp(prefix="predictionone-", suffix=PART_SUFFIX)
            os.close(handle)
            self.part = Path(name)
        else:
            self.part = path.with_name(path.name + PART_SUFFIX)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = self.part.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self._handle, lineterminator="\n")
        self.has_header = False

    def header(self, names: Sequence[str]) -> None:
        self.writer.writerow(names)
        self.has_header = True

    def commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self.remote:
            files.copy_to_storage(self.part, self.path)
            self.part.unlink()
        else:
            os.replace(self.part, self.path)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self.part.unlink()


def _output(path: Any) -> Any:
    """An output path: a storage path as given, anything else as a local :class:`~pathlib.Path`."""
    return path if files.is_storage_path(path) else Path(path)


def _identity(path: Any) -> Any:
    """What makes two paths the same file: the resolved local path, or a storage path's URL."""
    return path.resolve() if isinstance(path, Path) else ("storage", str(path))


def _csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text, newline="")) if row]


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _is_fatal(exc: BaseException) -> bool:
    if isinstance(exc, FATAL_ERRORS):
        return True
    return (
        isinstance(exc, PredictionOneAPIError)
        and not isinstance(exc, (InferenceBadRequestError, *TRANSIENT_ERRORS, UnexpectedResponseError))
        and exc.status_code in _FATAL_STATUSES
    )


def _human_seconds(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def ensure_connection_pool(client: Any, concurrency: int) -> None:
    """Give the client's ``requests`` session room for ``concurrency`` connections per host.

    The ``http://`` and ``https://`` adapters are replaced by an :class:`HTTPAdapter` with
    ``pool_maxsize=concurrency`` (keeping their retry settings) when they are smaller; otherwise
    urllib3 would open and discard extra connections and warn "Connection pool is full".
    Sessions without such adapters (or clients without a session) are left alone.
    """
    session = getattr(client, "session", None)
    if not isinstance(session, requests.Session):
        return
    for prefix in ("http://", "https://"):
        try:
            adapter = session.get_adapter(prefix)
        except requests.exceptions.InvalidSchema:
            continue
        if type(adapter) is not HTTPAdapter:
            continue
        if getattr(adapter, "_pool_maxsize", DEFAULT_POOLSIZE) >= concurrency:
            continue
        session.mount(
            prefix,
            HTTPAdapter(
                pool_connections=getattr(adapter, "_pool_connections", DEFAULT_POOLSIZE),
                pool_maxsize=concurrency,
                max_retries=adapter.max_retries,
                pool_block=getattr(adapter, "_pool_block", DEFAULT_POOLBLOCK),
            ),
        )


_RESOLVED_SETTINGS_LIMIT = 16
"""Distinct (URL, options) environment settings a batch keeps; further ones are resolved each time."""


@contextlib.contextmanager
def environment_resolved_once(client: Any) -> Iterator[None]:
    """While the block runs, the client's ``requests`` session reads its environment settings once
    per URL instead of once per request.

    With ``trust_env`` (the default) ``requests`` calls ``Session.merge_environment_settings`` on
    every request: the proxies from ``*_PROXY`` / ``NO_PROXY`` (urllib's ``getproxies`` walks the
    whole process environment, twice per request) and ``REQUESTS_CA_BUNDLE``. One Inference
    request per row made that about a quarter of a row's CPU on the client side (0.17 ms per
    request with 35 environment variables, more in a worker's larger environment; see
    docs/benchmarks.md, item 4). A batch sends every row to the same URL with the same options, and
    the environment does not change during it, so the first answer is reused (each caller gets its
    own copy). The session is restored afterwards; sessions without ``trust_env`` or with their own
    ``merge_environment_settings`` are left alone.
    """
    session = getattr(client, "session", None)
    if (
        not isinstance(session, requests.Session)
        or not session.trust_env
        or "merge_environment_settings" in vars(session)
    ):
        yield
        return
    resolve = session.merge_environment_settings
    resolved: dict[Any, dict[str, Any]] = {}

    def merge_environment_settings(url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        try:
            key = (url, stream, verify, cert, tuple(sorted((proxies or {}).items())))
            settings = resolved.get(key)
        except TypeError:  # an unhashable option: nothing to reuse
            return resolve(url, proxies, stream, verify, cert)
        if settings is None:
            settings = resolve(url, proxies, stream, verify, cert)
            if len(resolved) < _RESOLVED_SETTINGS_LIMIT:
                resolved[key] = settings
        return {**settings, "proxies": dict(settings.get("proxies") or {})}

    session.merge_environment_settings = merge_environment_settings  # type: ignore[method-assign]
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):
            del session.merge_environment_settings


# --------------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------------


class BatchPredictor:
    """Score every row of a CSV file against a deployed prediction API (see the module docs).

    Everything is validated when the object is built, before any request. :meth:`run` does the
    work and may be called again to redo it; :func:`predict_csv` does both in one call.

    :param client: a :class:`~.client.PredictionOneClient` (or anything with the same
        ``inference(url, api_key, csv_text, **flags)`` method). Its retry policy handles transient
        errors; with a ``requests`` session, its connection pool is enlarged to ``concurrency``.
    :param url: the prediction API's Inference URL (the classifier's ``url``). ``http://`` only to
        a loopback host (the local emulator).
    :param api_key: the prediction API's key.
    :param input_path: UTF-8 CSV file with a header row (a BOM is tolerated; any line ending).
    :param output_path: where the predictions go (written atomically).
    :param reasons_path: where prediction reasons go; when given, ``ar=true`` is sent.
    :param rejects_path: where rejected rows go; default ``<output_path>.rejects.csv``.
    :param concurrency: worker threads, i.e. requests in flight at most (1 to 256).
    :param requests_per_second: pace of requests over all workers (token bucket without burst);
        ``None`` for no limit.
    :param include_input: send ``ad=true``: the service echoes the input values in the output.
    :param no_class: send ``nc=true``: classification without the class label (probabilities only).
    :param no_row_number: send ``nr`` with this value. The default ``True`` drops the service's own
        row number, which is always 1 with one row per request (``input_row`` replaces it);
        ``None`` leaves ``nr`` out of the request.
    :param pivot_column: send ``pc``: a column of the input to put at the left of the result.
    :param max_rejected_fraction: the share of rejected rows (0.0 to 1.0) that still counts as
        success; above it :class:`BatchRejectedRowsError` is raised after the outputs are written.
    :param progress_interval: seconds between progress log lines (rows done, rows/s, ETA).
    :param max_consecutive_errors: stop the batch with :class:`BatchServiceDownError` when this many
        rows in a row (input order) fail with a transient error after the client's retries: the
        service looks down (a positive whole number; default 10).
    :param logger: where to log; default this module's logger.
    """

    def __init__(
        self,
        client: InferenceClient,
        url: str,
        api_key: str,
        input_path: str | os.PathLike[str] | Any,
        output_path: str | os.PathLike[str] | Any,
        *,
        reasons_path: str | os.PathLike[str] | Any | None = None,
        rejects_path: str | os.PathLike[str] | Any | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        requests_per_second: float | None = None,
        include_input: bool = False,
        no_class: bool = False,
        no_row_number: bool | None = True,
        pivot_column: str | None = None,
        max_rejected_fraction: float = 0.0,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        logger: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.log = logger or log
        self.url = self._check_url(url)
        if not isinstance(api_key, str) or not api_key.strip():
            raise PredictionOneConfigError("api_key is empty: pass the prediction API's key (Create / Get Classifier).")
        self._api_key = api_key.strip()
        self.concurrency = self._check_concurrency(concurrency)
        self.requests_per_second = self._check_rate(requests_per_second)
        self.max_rejected_fraction = self._check_fraction(max_rejected_fraction)
        if isinstance(progress_interval, bool) or not (
            isinstance(progress_interval, (int, float)) and progress_interval > 0
        ):
            raise PredictionOneConfigError(
                f"progress_interval must be a positive number of seconds, got {progress_interval!r}."
            )
        self.progress_interval = float(progress_interval)
        self.max_consecutive_errors = self._check_consecutive_errors(max_consecutive_errors)
        self.include_input = bool(include_input)
        self.no_class = bool(no_class)
        self.no_row_number = None if no_row_number is None else bool(no_row_number)

        if not isinstance(input_path, (str, os.PathLike)) and not files.is_storage_path(input_path):
            raise PredictionOneConfigError(f"input_path must be a file path, got {type(input_path).__name__}.")
        self.source = files.UploadSource.of(input_path, param="input_path")
        self.input_path: Any = input_path if files.is_storage_path(input_path) else Path(input_path)
        self.header = files.read_csv_header(self.source, param="input_path")
        self.pivot_column = pivot_column or None
        if self.pivot_column is not None and self.pivot_column not in self.header:
            raise PredictionOneConfigError(
                f"pivot_column={self.pivot_column!r} is not a column of input_path; its columns are {self.header}."
            )

        self.output_path: Any = _output(output_path)
        self.reasons_path: Any = None if reasons_path is None else _output(reasons_path)
        self.rejects_path: Any = (
            self.output_path.with_name(self.output_path.name + REJECTS_SUFFIX)
            if rejects_path is None
            else _output(rejects_path)
        )
        self._check_paths()
        self._header_line = _csv_line(self.header)

    # -- validation --------------------------------------------------------------------------

    @staticmethod
    def _check_url(url: str) -> str:
        text = (url or "").strip() if isinstance(url, str) else ""
        parts = urlsplit(text)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise PredictionOneConfigError(
                "url is not an http(s) URL. Pass the prediction API's Inference URL (the classifier's 'url')."
            )
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise PredictionOneConfigError(
                f"url {safe_url(text)!r} uses plain http:// to a remote host, which would send the API key "
                "unencrypted. Use https:// (http:// is only for the local emulator)."
            )
        return text

    @staticmethod
    def _check_concurrency(value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_CONCURRENCY <= value <= MAX_CONCURRENCY:
            raise PredictionOneConfigError(
                f"concurrency must be a whole number from {MIN_CONCURRENCY} to {MAX_CONCURRENCY}, got {value!r}."
            )
        return value

    @staticmethod
    def _check_rate(value: float | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
            raise PredictionOneConfigError(
                f"requests_per_second must be a positive number (or None for no limit), got {value!r}."
            )
        return float(value)

    @staticmethod
    def _check_fraction(value: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise PredictionOneConfigError(f"max_rejected_fraction must be a number from 0.0 to 1.0, got {value!r}.")
        return float(value)

    @staticmethod
    def _check_consecutive_errors(value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PredictionOneConfigError(
                f"max_consecutive_errors must be a whole number of rows, 1 or more, got {value!r} (default "
                f"{DEFAULT_MAX_CONSECUTIVE_ERRORS}: stop when that many rows in a row fail because the service "
                "does not answer)."
            )
        return value

    def _check_paths(self) -> None:
        named = {"output_path": self.output_path, "rejects_path": self.rejects_path}
        if self.reasons_path is not None:
            named["reasons_path"] = self.reasons_path
        source = _identity(self.input_path)
        seen: dict[Any, str] = {}
        for param, path in named.items():
            resolved = _identity(path)
            part = resolved.with_name(resolved.name + PART_SUFFIX) if isinstance(resolved, Path) else None
            if resolved == source or part == source:
                raise PredictionOneConfigError(
                    f"{param}={str(path)!r} is the input file; write the results to another path."
                )
            if resolved in seen:
                raise PredictionOneConfigError(f"{param} and {seen[resolved]} are the same file ({str(path)!r}).")
            try:
                not_a_file = path.exists() and not path.is_file()
            except Exception as exc:  # a storage path whose filesystem cannot be reached
                raise PredictionOneConfigError(
                    f"{param}={str(path)!r} cannot be checked: {type(exc).__name__}: {exc}."
                ) from exc
            if not_a_file:
                raise PredictionOneConfigError(f"{param}={str(path)!r} exists and is not a file.")
            seen[resolved] = param

    # -- public ------------------------------------------------------------------------------

    @property
    def window(self) -> int:
        """Rows in flight or waiting to be written, at most: ``concurrency * 4``."""
        return self.concurrency * WINDOW_PER_WORKER

    def run(self) -> BatchPredictionResult:
        """Score the whole input; returns what was done.

        :raises BatchRejectedRowsError: more rows were rejected than allowed (outputs are written).
        :raises PredictionOneAPIError: one of :data:`FATAL_ERRORS`; nothing was written.
        :raises PredictionOneConfigError: the input turned out not to be UTF-8 / valid CSV further on.
        """
        ensure_connection_pool(self.client, self.concurrency)
        bucket = TokenBucket(self.requests_per_second) if self.requests_per_second else None
        run = _Run()
        self.log.info(
            "Batch prediction of %r (%d bytes) against %s: concurrency %d, %s, reasons %s.",
            self.input_path.name,
            self.source.size,
            safe_url(self.url),
            self.concurrency,
            f"at most {self.requests_per_second:g} requests/s" if bucket else "no rate limit",
            "on" if self.reasons_path is not None else "off",
        )
        parts: list[_CsvPart] = []
        try:
            output = _CsvPart(self.output_path)
            parts.append(output)
            rejects = _CsvPart(self.rejects_path)
            parts.append(rejects)
            rejects.header([*REJECTS_COLUMNS, *self.header])
            reasons = None
            if self.reasons_path is not None:
                reasons = _CsvPart(self.reasons_path)
                parts.append(reasons)
            with (
                self.source.open() as binary,
                io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text,
                environment_resolved_once(self.client),
            ):
                self._process(run, bucket, binary, text, output, rejects, reasons)
            if not output.has_header:
                output.header([INPUT_ROW_COLUMN])
            if reasons is not None and not reasons.has_header:
                reasons.header([INPUT_ROW_COLUMN])
            for part in parts:
                part.commit()
        except BaseException as exc:
            for part in parts:
                part.discard()
            self._report_stop(run, exc)
            raise

        seconds = time.monotonic() - run.started
        total = run.rows_read
        result = BatchPredictionResult(
            rows_total=total,
            rows_predicted=run.predicted,
            rows_rejected=run.rejected,
            rejected_fraction=run.rejected / total if total else 0.0,
            seconds=seconds,
            rows_per_second=total / seconds if seconds > 0 else 0.0,
            output_path=self.output_path,
            rejects_path=self.rejects_path,
            reasons_path=self.reasons_path,
            blank_lines_skipped=run.blank,
        )
        self.log.info("Batch prediction of %r done: %s", self.input_path.name, result.summary())
        self._log_rejected_rows(run, kept=True)
        if total == 0:
            self.log.warning("Batch prediction: %r has a header but no data rows.", self.input_path.name)
        if result.rejected_fraction > self.max_rejected_fraction:
            raise BatchRejectedRowsError(
                f"Batch prediction of {self.input_path.name!r} rejected {result.rows_rejected} of "
                f"{result.rows_total} rows ({result.rejected_fraction:.1%}), more than max_rejected_fraction="
                f"{self.max_rejected_fraction:g} allows. Each rejected row is in {str(self.rejects_path)!r} with "
                f"its input_row, error and message; the {result.rows_predicted} predictions are in "
                f"{str(self.output_path)!r}.",
                result,
            )
        return result

    # -- reading and writing (the calling thread) -------------------------------------------

    def _process(
        self,
        run: _Run,
        bucket: TokenBucket | None,
        binary: IO[bytes],
        text: IO[str],
        output: _CsvPart,
        rejects: _CsvPart,
        reasons: _CsvPart | None,
    ) -> None:
        """Read rows, keep up to :attr:`window` of them in the pool, write them back in order.

        ``binary`` is the file under ``text``; its position measures progress.
        """
        window: deque[_Pending] = deque()
        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="predictionone-batch")
        try:
            for number, values in self._rows(run, text):
                while len(window) >= self.window:  # make room first: the window bounds submitted rows
                    self._write(run, self._resolve(run, window.popleft(), binary), output, rejects, reasons)
                if run.fatal is not None:
                    raise run.fatal
                item: Future[_Scored] | _Scored
                if len(values) != len(self.header):
                    item = _Scored(
                        number,
                        values,
                        error="FieldCountMismatch",
                        message=(
                            f"Row {number} has {len(values)} field(s) but the header has {len(self.header)} "
                            "column(s); it was not sent."
                        ),
                    )
                else:
                    item = executor.submit(self._score, run, bucket, number, values)
                window.append(_Pending(number, item))
                while window and self._is_done(window[0]):
                    self._write(run, self._resolve(run, window.popleft(), binary), output, rejects, reasons)
                self._progress(run, binary)
            while window:
                self._write(run, self._resolve(run, window.popleft(), binary), output, rejects, reasons)
                self._progress(run, binary)
        except BaseException:
            run.stop.set()
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown(wait=True)

    def _rows(self, run: _Run, text: IO[str]) -> Iterator[tuple[int, list[str]]]:
        """``(data row number, values)`` of the input, streamed; blank lines are counted and skipped."""
        reader = csv.reader(text)
        try:
            first = next(reader, None)
            if first is None or [name.strip() for name in first] != self.header:
                raise PredictionOneConfigError(
                    f"input_path ({self.input_path.name!r}) changed while being read, or its header row "
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
                f"input_path ({self.input_path.name!r}) is not UTF-8 after data row {run.rows_read} "
                f"(line {reader.line_num}). Save it as UTF-8, e.g. `iconv -f SHIFT_JIS -t UTF-8 in.csv > out.csv`."
            ) from None
        except csv.Error as exc:
            raise PredictionOneConfigError(
                f"input_path ({self.input_path.name!r}) is not valid CSV after data row {run.rows_read} "
                f"(line {reader.line_num}): {exc}."
            ) from None

    @staticmethod
    def _is_done(pending: _Pending) -> bool:
        return not isinstance(pending.item, Future) or pending.item.done()

    def _resolve(self, run: _Run, pending: _Pending, binary: IO[bytes]) -> _Scored:
        """The outcome of the oldest row, waiting for it; raises a fatal error from any row."""
        item = pending.item
        if not isinstance(item, Future):
            return item
        while True:
            if run.fatal is not None:
                raise run.fatal
            done, _ = wait([item], timeout=_POLL_SECONDS)
            if done:
                return item.result()
            self._progress(run, binary)

    def _write(self, run: _Run, scored: _Scored, output: _CsvPart, rejects: _CsvPart, reasons: _CsvPart | None) -> None:
        if run.fatal is not None:
            raise run.fatal
        if scored.error is None:
            assert scored.header is not None and scored.row is not None
            if run.header is None:
                run.header, run.header_row = scored.header, scored.number
                output.header([INPUT_ROW_COLUMN, *scored.header])
            elif scored.header != run.header:
                self._reject_header(scored, c.OUTPUT_PREDICTION, scored.header, run.header, run.header_row)
            if reasons is not None and scored.error is None:
                assert scored.reasons_header is not None
                if run.reasons_header is None:
                    run.reasons_header = scored.reasons_header
                    reasons.header([INPUT_ROW_COLUMN, *scored.reasons_header])
                elif scored.reasons_header != run.reasons_header:
                    self._reject_header(scored, c.OUTPUT_REASONS, scored.reasons_header, run.reasons_header, None)
        if scored.error is not None:
            rejects.writer.writerow([scored.number, scored.error, scored.message or "", *scored.values])
            run.rejected += 1
            if run.rejected <= MAX_LOGGED_REJECTS:
                run.logged_rejects.append((scored.number, scored.error, self._short(scored.message or "")))
                self.log.warning(
                    "Batch prediction: row %d rejected (%s)%s",
                    scored.number,
                    scored.error,
                    "; further rejected rows are only counted here, see the rejects file."
                    if run.rejected == MAX_LOGGED_REJECTS
                    else ".",
                )
            run.transient_streak = run.transient_streak + 1 if scored.transient else 0
            if run.transient_streak >= self.max_consecutive_errors:
                raise self._service_down(run, scored)
            return
        run.transient_streak = 0
        output.writer.writerow([scored.number, *scored.row])  # type: ignore[misc]
        if reasons is not None:
            reasons.writer.writerows([scored.number, *line] for line in scored.reasons_rows)
        run.predicted += 1

    def _short(self, message: str) -> str:
        """A rejected row's message for the log: one line, the API key masked, at most
        :data:`MAX_LOGGED_MESSAGE_CHARS` characters. Messages come from the service or from this
        module and hold no row values; masking the key is a second guard."""
        text = " ".join(message.replace(self._api_key, "***").split())
        if len(text) > MAX_LOGGED_MESSAGE_CHARS:
            text = text[: MAX_LOGGED_MESSAGE_CHARS - 3].rstrip() + "..."
        return text

    def _service_down(self, run: _Run, scored: _Scored) -> BatchServiceDownError:
        count = self.max_consecutive_errors
        first = scored.number - count + 1
        rows = f"row {first}" if count == 1 else f"rows {first} to {scored.number}"
        error = BatchServiceDownError(
            f"The prediction API at {safe_url(self.url)} looks down: {rows} (the last {count} in input order, "
            f"max_consecutive_errors={count}) all failed with a transient error after the client's own retries; "
            f"the last one (row {scored.number}): {scored.error}: {self._short(scored.message or '')} The batch "
            "stopped instead of sending every remaining row to a service that does not answer. Re-run the task "
            "when the service is back (check its status, or your network and proxy); to ride out longer outages "
            "raise the connection's retries / retry_delay, or max_consecutive_errors."
        )
        error.__cause__ = scored.cause
        return error

    def _log_rejected_rows(self, run: _Run, *, kept: bool) -> None:
        """The end-of-batch block: the first rejected rows with their message, then how many more."""
        if not run.rejected:
            return
        where = f"see {str(self.rejects_path)!r}" if kept else "the rejects file was not kept: the batch stopped"
        lines = [f"Batch prediction: {run.rejected} rejected row(s) (row, error, message):"]
        lines.extend(f"  row {number}: {error}: {message}" for number, error, message in run.logged_rejects)
        more = run.rejected - len(run.logged_rejects)
        lines.append(f"  ... and {more} more ({where})." if more else f"  ({where}).")
        self.log.warning("%s", "\n".join(lines))

    @staticmethod
    def _reject_header(scored: _Scored, name: str, got: list[str], expected: list[str], first_row: int | None) -> None:
        where = f" (set by row {first_row})" if first_row else ""
        scored.error = "HeaderMismatch"
        scored.message = (
            f"Row {scored.number}: the {name} header {got} differs from the batch's header{where} {expected}; "
            "the prediction API's model may have changed during the batch."
        )

    def _progress(self, run: _Run, binary: IO[bytes]) -> None:
        now = time.monotonic()
        if now - run.last_progress < self.progress_interval:
            return
        run.last_progress = now
        elapsed = max(now - run.started, 1e-9)
        rate = run.done / elapsed
        try:
            read = binary.tell()
        except (OSError, ValueError):
            read = 0
        eta = "unknown"
        if read > 0 and run.rows_read and rate > 0:
            estimated_rows = run.rows_read * self.source.size / read
            eta = _human_seconds(max(estimated_rows - run.done, 0) / rate)
        self.log.info(
            "Batch prediction: %d rows done (%d predicted, %d rejected), %.1f rows/s, %.0f%% of the input "
            "read, ETA %s.",
            run.done,
            run.predicted,
            run.rejected,
            rate,
            100.0 * min(read / self.source.size, 1.0) if self.source.size else 100.0,
            eta,
        )

    def _report_stop(self, run: _Run, exc: BaseException) -> None:
        note = (
            f"Batch prediction of {self.input_path.name!r} stopped after {run.done} row(s) were done "
            f"({run.predicted} predicted, {run.rejected} rejected, {run.rows_read} read); the remaining rows "
            "were not sent and no output file was written."
        )
        if isinstance(exc, PredictionOneError) and not isinstance(exc, BatchRejectedRowsError):
            exc.args = (f"{exc} {note}", *exc.args[1:])
            exc.rows_done = run.done  # type: ignore[attr-defined]
        self._log_rejected_rows(run, kept=False)
        self.log.error("%s Cause: %s.", note, type(exc).__name__)

    # -- scoring one row (worker threads) ----------------------------------------------------

    def _score(self, run: _Run, bucket: TokenBucket | None, number: int, values: list[str]) -> _Scored:
        if run.stop.is_set():
            raise _Cancelled()
        if bucket is not None and not bucket.acquire(run.stop):
            raise _Cancelled()
        flags: dict[str, Any] = {
            "reasons": self.reasons_path is not None,
            "include_input": self.include_input,
            "no_class": self.no_class,
        }
        if self.no_row_number is not None:
            flags["no_row_number"] = self.no_row_number
        if self.pivot_column is not None:
            flags["pivot_column"] = self.pivot_column
        try:
            result = self.client.inference(self.url, self._api_key, self._header_line + _csv_line(values), **flags)
        except PredictionOneAPIError as exc:
            if _is_fatal(exc):
                run.fail(exc)
                raise
            transient = isinstance(exc, TRANSIENT_ERRORS)
            return _Scored(number, values, error=type(exc).__name__, message=str(exc), transient=transient, cause=exc)
        except PredictionOneTransportError as exc:
            return _Scored(number, values, error=type(exc).__name__, message=str(exc), transient=True, cause=exc)
        except BaseException as exc:
            run.fail(exc)
            raise
        return self._read_response(number, values, result)

    def _read_response(self, number: int, values: list[str], result: InferenceResult) -> _Scored:
        text = result.prediction_csv
        if text is None:
            return _Scored(
                number,
                values,
                error="MissingPrediction",
                message=(
                    f"The response has no {c.OUTPUT_PREDICTION} (outputs: {sorted(result.outputs)}); the service "
                    "did not predict this row (spec 7.18)."
                ),
            )
        try:
            rows = _csv_rows(text)
        except csv.Error as exc:
            return _Scored(number, values, error="UnexpectedResponse", message=f"{c.OUTPUT_PREDICTION}: {exc}.")
        if len(rows) != 2:
            return _Scored(
                number,
                values,
                error="UnexpectedRowCount",
                message=f"{c.OUTPUT_PREDICTION} has {max(len(rows) - 1, 0)} data row(s); exactly one was expected.",
            )
        scored = _Scored(number, values, header=rows[0], row=rows[1])
        if self.reasons_path is not None:
            reasons_text = result.reasons_csv
            if reasons_text is None:
                scored.error = "MissingReasons"
                scored.message = f"Reasons were requested (ar=true) but the response has no {c.OUTPUT_REASONS}."
                return scored
            try:
                reason_rows = _csv_rows(reasons_text)
            except csv.Error as exc:
                scored.error, scored.message = "UnexpectedResponse", f"{c.OUTPUT_REASONS}: {exc}."
                return scored
            if not reason_rows:
                scored.error, scored.message = "MissingReasons", f"{c.OUTPUT_REASONS} is empty."
                return scored
            scored.reasons_header, scored.reasons_rows = reason_rows[0], reason_rows[1:]
        return scored


def predict_csv(
    client: InferenceClient,
    url: str,
    api_key: str,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    **options: Any,
) -> BatchPredictionResult:
    """Score ``input_path`` into ``output_path``: ``BatchPredictor(...).run()`` in one call.

    ``options`` are the keyword arguments of :class:`BatchPredictor` (``reasons_path``,
    ``rejects_path``, ``concurrency``, ``requests_per_second``, ``include_input``, ``no_class``,
    ``no_row_number``, ``pivot_column``, ``max_rejected_fraction``, ``progress_interval``,
    ``max_consecutive_errors``, ``logger``).
    """
    return BatchPredictor(client, url, api_key, input_path, output_path, **options).run()
