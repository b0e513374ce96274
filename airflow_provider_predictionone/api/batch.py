"""Batch prediction: score a CSV file against a deployed prediction API, one Inference per row.

The Inference endpoint takes exactly one CSV header plus one data row per request (spec 4.14), so
scoring a file means one request per row. :class:`BatchPredictor` does that on one event loop of its
own (``concurrency`` requests at once, over as many kept-alive connections of the async client), while
keeping the promises a batch job needs:

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
  path-like object with ``open()``, see :func:`.sources.is_storage_path`). The input is streamed from
  the store. Object stores have no atomic rename, so an output there is written to a local
  temporary file (streaming) and stream-copied to its destination when the batch completes; a batch
  that stops early writes nothing to the store.
* **Secrets.** The API key and the URL's query string are never logged; row values are never
  logged either (they appear only in the rejects file).

Output files (UTF-8 without BOM, ``\\n`` line endings, minimal quoting):

* **output** — ``input_row`` + the header of ``prediction_valid.csv`` taken from the first
  successful response (in input order); then one line per predicted row. When no row was
  predicted the file holds only the ``input_row`` header.
* **reasons** (only with ``reasons_file``; sends ``ar=true``) — ``input_row`` + the header of
  ``prediction_analysis.csv``; then every reasons line of every predicted row, in input order.
* **rejects** (always written, default ``<output>.rejects.csv``) — ``input_row,error,message`` +
  the input header; then one line per rejected row: its number, an error kind, a readable message
  and the row's original values (as many as the row had).

What happens when something goes wrong with one row or with the whole batch:

* **A header the model does not take.** No documented call lists a model's columns (Get Model
  shows its config, Train Data Set Info needs the upload's id), so the service's first answers
  tell: until one row is answered, at most :data:`HEADER_PROBE_ROWS` rows are sent (fewer as
  they are refused). When the first :data:`HEADER_PROBE_ROWS` rows with values are all refused
  with ``Invalid request`` (``InferenceBadRequestError``, a schema error for a well-formed
  request), the header is the likely cause and the batch stops with a
  :class:`~.errors.PredictionOneConfigError` listing the input's columns instead of sending every
  row (each request counts; a trial API accepts 100). Any other outcome (an answer, a transient
  error) opens the whole window.
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
  a batch that starts against a dead service are ever sent: rows whose request is in flight are
  abandoned at once (their remaining client retries are not made), rows still queued are cancelled
  unsent.
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

**Why one event loop.** Measured (``benchmarks/http_libraries.py``, ``docs/benchmarks.md``): with
``requests`` in a thread pool a row cost the client about 0.9 ms of CPU under the GIL, which capped a
batch near 1,000 rows/s whatever the concurrency; aiohttp on one loop costs a fraction of that.
The reading, ordering and writing below are the same code for every client;
:mod:`.batch_send` says how each kind of client sends a row.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections import deque
from typing import IO, Any
from urllib.parse import urlsplit

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.batch_io import (
    INPUT_ROW_COLUMN,
    REJECTS_COLUMNS,
    BatchFiles,
    BatchPredictionResult,
    CsvPart,
    csv_line,
    safe_url,
)
from airflow_provider_predictionone.api.batch_options import BatchOptions
from airflow_provider_predictionone.api.batch_report import BatchReport
from airflow_provider_predictionone.api.batch_rows import (
    Cancelled,
    Pending,
    Run,
    Scored,
    TokenBucket,
    is_fatal,
    read_answer,
    read_rows,
    rejected,
)
from airflow_provider_predictionone.api.batch_send import InferenceClient, Send, row_sender, run_on_own_loop
from airflow_provider_predictionone.api.errors import (
    BatchRejectedRowsError,
    InferenceBadRequestError,
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneTransportError,
)
from airflow_provider_predictionone.api.settings import is_loopback_host

log = logging.getLogger(__name__)

WINDOW_PER_WORKER = 4
"""Rows in flight or waiting to be written, per concurrent request."""
HEADER_PROBE_ROWS = 3
"""Rows with values that may be refused with ``Invalid request``, one at a time at the start, before
the batch stops: the header is then the likely cause (see the module docs)."""
_POLL_SECONDS = 0.05


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


class BatchPredictor:
    """Score every row of a CSV file against a deployed prediction API (see the module docs).

    Everything is validated when the object is built, before any request. :meth:`run` does the
    work and may be called again to redo it; :func:`predict_csv` does both in one call.

    :param client: a :class:`~.client.PredictionOneClient` or
        :class:`~.aclient.AsyncPredictionOneClient` (its settings, retry policy included, serve
        the batch's own async client), or anything with an ``inference`` method (see
        :func:`.batch_send.row_sender`). The retry policy handles transient errors.
    :param url: the prediction API's Inference URL (the classifier's ``url``). ``http://`` only to
        a loopback host (the local emulator).
    :param api_key: the prediction API's key.
    :param input_file: UTF-8 CSV file with a header row (a BOM is tolerated; any line ending).
    :param output_file: where the predictions go (written atomically).
    :param reasons_file: where prediction reasons go; when given, ``ar=true`` is sent.
    :param rejects_file: where rejected rows go; default ``<output_file>.rejects.csv``.
    :param options: the keyword arguments of :class:`~.batch_options.BatchOptions` (``concurrency``,
        ``requests_per_second``, ``max_rejected_fraction``, ``max_consecutive_errors`` ...), or
        ``options=BatchOptions(...)``.
    :param logger: where to log; default this module's logger.
    """

    def __init__(
        self,
        client: InferenceClient,
        url: str,
        api_key: str,
        input_file: str | os.PathLike[str] | Any,
        output_file: str | os.PathLike[str] | Any,
        *,
        reasons_file: str | os.PathLike[str] | Any | None = None,
        rejects_file: str | os.PathLike[str] | Any | None = None,
        logger: logging.Logger | None = None,
        **options: Any,
    ) -> None:
        self.client = client
        self.log = logger or log
        self.options = options.pop("options", None) or BatchOptions(**options)
        self.url = _check_url(url)
        if not isinstance(api_key, str) or not api_key.strip():
            raise PredictionOneConfigError("api_key is empty: pass the prediction API's key (Create / Get Classifier).")
        self._api_key = api_key.strip()
        self.files = BatchFiles.check(input_file, output_file, reasons_file, rejects_file, self.options.pivot_column)
        self.source, self.input_path, self.header = self.files.source, self.files.input_path, self.files.header
        self.output_path, self.reasons_path, self.rejects_path = (
            self.files.output_path,
            self.files.reasons_path,
            self.files.rejects_path,
        )
        self._header_line = csv_line(self.header)
        self._flags = self.options.flags(reasons=self.reasons_path is not None)
        self.report = BatchReport(
            self.log,
            api_key=self._api_key,
            url=self.url,
            input_name=self.input_path.name,
            size=self.source.size,
            rejects_path=self.rejects_path,
            options=self.options,
        )

    # -- public ------------------------------------------------------------------------------

    @property
    def window(self) -> int:
        """Rows in flight or waiting to be written, at most: ``concurrency * 4``."""
        return self.options.concurrency * WINDOW_PER_WORKER

    def run(self) -> BatchPredictionResult:
        """Score the whole input; returns what was done.

        :raises BatchRejectedRowsError: more rows were rejected than allowed (outputs are written).
        :raises PredictionOneAPIError: one of :data:`FATAL_ERRORS`; nothing was written.
        :raises PredictionOneConfigError: the input turned out not to be UTF-8 / valid CSV further on.
        """
        bucket = TokenBucket(self.options.requests_per_second) if self.options.requests_per_second else None
        run = Run()
        self.log.info(
            "Batch prediction of %r (%d bytes) against %s: concurrency %d, %s, reasons %s.",
            self.input_path.name,
            self.source.size,
            safe_url(self.url),
            self.options.concurrency,
            f"at most {self.options.requests_per_second:g} requests/s" if bucket else "no rate limit",
            "on" if self.reasons_path is not None else "off",
        )
        parts: list[CsvPart] = []
        try:
            output = CsvPart(self.output_path)
            parts.append(output)
            rejects = CsvPart(self.rejects_path)
            parts.append(rejects)
            rejects.header([*REJECTS_COLUMNS, *self.header])
            reasons = None
            if self.reasons_path is not None:
                reasons = CsvPart(self.reasons_path)
                parts.append(reasons)
            with (
                self.source.open() as binary,
                io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text,
            ):
                run_on_own_loop(self._process(run, bucket, binary, text, output, rejects, reasons))
            if not output.has_header:
                output.header([INPUT_ROW_COLUMN])
            if reasons is not None and not reasons.has_header:
                reasons.header([INPUT_ROW_COLUMN])
            for part in parts:
                part.commit()
        except BaseException as exc:
            for part in parts:
                part.discard()
            self.report.stopped(run, exc)
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
        self.report.rejected_rows(run, kept=True)
        if total == 0:
            self.log.warning("Batch prediction: %r has a header but no data rows.", self.input_path.name)
        if result.rejected_fraction > self.options.max_rejected_fraction:
            raise BatchRejectedRowsError(
                f"Batch prediction of {self.input_path.name!r} rejected {result.rows_rejected} of "
                f"{result.rows_total} rows ({result.rejected_fraction:.1%}), more than max_rejected_fraction="
                f"{self.options.max_rejected_fraction:g} allows. Each rejected row is in "
                f"{str(self.rejects_path)!r} with its input_row, error and message; the {result.rows_predicted} "
                f"predictions are in {str(self.output_path)!r}.",
                result,
            )
        return result

    # -- reading and writing (the batch's event loop) ----------------------------------------

    async def _process(
        self,
        run: Run,
        bucket: TokenBucket | None,
        binary: IO[bytes],
        text: IO[str],
        output: CsvPart,
        rejects: CsvPart,
        reasons: CsvPart | None,
    ) -> None:
        """Read rows, keep up to :attr:`window` of them as tasks (``concurrency`` requests at
        once), write them back in order. ``binary`` is the file under ``text``; its position
        measures progress."""
        window: deque[Pending] = deque()
        slots = asyncio.Semaphore(self.options.concurrency)
        async with row_sender(self.client, self.url, self._api_key, self._flags, self.options.concurrency) as send:
            try:
                for number, values in read_rows(run, text, self.header, self.input_path.name):
                    if run.fatal is not None:
                        raise run.fatal
                    item: asyncio.Task[Scored] | Scored
                    if len(values) != len(self.header):
                        item = Scored(
                            number,
                            values,
                            error="FieldCountMismatch",
                            message=(
                                f"Row {number} has {len(values)} field(s) but the header has {len(self.header)} "
                                "column(s); it was not sent."
                            ),
                        )
                    else:
                        item = asyncio.ensure_future(self._score(run, bucket, slots, send, number, values))
                    window.append(Pending(number, item))
                    # Write what is done, and make room before the next row is read: the window bounds
                    # the rows started.
                    while window and (self._is_done(window[0]) or len(window) >= self._room(run)):
                        self._write(run, await self._resolve(run, window[0], binary), output, rejects, reasons)
                        window.popleft()
                    self.report.progress(run, binary)
                while window:
                    self._write(run, await self._resolve(run, window[0], binary), output, rejects, reasons)
                    window.popleft()
                    self.report.progress(run, binary)
            except BaseException:
                run.stop.set()  # the row being resolved is still in the window: it is cancelled too
                started = [pending.item for pending in window if isinstance(pending.item, asyncio.Task)]
                for task in started:
                    task.cancel()
                await asyncio.gather(*started, return_exceptions=True)
                raise

    def _room(self, run: Run) -> int:
        """Rows that may be in the window: :attr:`window`, or while the header is not known to be
        taken only as many as may still be refused before the batch stops (see :meth:`_probe`)."""
        return max(HEADER_PROBE_ROWS - len(run.refused_at_start), 1) if run.probing else self.window

    @staticmethod
    def _is_done(pending: Pending) -> bool:
        return not isinstance(pending.item, asyncio.Task) or pending.item.done()

    async def _resolve(self, run: Run, pending: Pending, binary: IO[bytes]) -> Scored:
        """The outcome of the oldest row, waiting for it; raises a fatal error from any row."""
        item = pending.item
        if not isinstance(item, asyncio.Task):
            return item
        while True:
            if run.fatal is not None:
                raise run.fatal
            if item.done():
                return item.result()
            await asyncio.wait([item], timeout=_POLL_SECONDS)
            self.report.progress(run, binary)

    def _write(self, run: Run, scored: Scored, output: CsvPart, rejects: CsvPart, reasons: CsvPart | None) -> None:
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
            self.report.rejected(run, scored)
            run.transient_streak = run.transient_streak + 1 if scored.transient else 0
            if run.transient_streak >= self.options.max_consecutive_errors:
                raise self.report.service_down(run, scored)
            self._probe(run, scored)
            return
        run.transient_streak = 0
        run.probing = False
        output.writer.writerow([scored.number, *scored.row])  # type: ignore[misc]
        if reasons is not None:
            reasons.writer.writerows([scored.number, *line] for line in scored.reasons_rows)
        run.predicted += 1

    def _probe(self, run: Run, scored: Scored) -> None:
        """At the start, at most :data:`HEADER_PROBE_ROWS` rows are sent while the service refuses
        them as a bad request, and that many such rows with values stop the batch. Any other outcome
        of a sent row ends the probe (an answer shows that the header is taken; a transient error
        cannot tell)."""
        if not run.probing or not (scored.answered or scored.cause is not None):
            return  # not sent (e.g. a field count mismatch)
        if not isinstance(scored.cause, InferenceBadRequestError):
            run.probing = False
        elif any(value.strip() for value in scored.values):  # an empty row is refused for itself
            run.refused_at_start.append(scored.number)
            if len(run.refused_at_start) >= HEADER_PROBE_ROWS:
                raise self.report.header_refused(run, self.header)

    @staticmethod
    def _reject_header(scored: Scored, name: str, got: list[str], expected: list[str], first_row: int | None) -> None:
        where = f" (set by row {first_row})" if first_row else ""
        scored.error = "HeaderMismatch"
        scored.message = (
            f"Row {scored.number}: the {name} header {got} differs from the batch's header{where} {expected}; "
            "the prediction API's model may have changed during the batch."
        )

    # -- scoring one row (a task on the batch's event loop) -----------------------------------

    async def _score(
        self,
        run: Run,
        bucket: TokenBucket | None,
        slots: asyncio.Semaphore,
        send: Send,
        number: int,
        values: list[str],
    ) -> Scored:
        async with slots:
            if run.stop.is_set() or (bucket is not None and not await bucket.acquire(run.stop)):
                raise Cancelled()
            try:
                result = await send(self._header_line + csv_line(values))
            except PredictionOneAPIError as exc:
                if is_fatal(exc):
                    run.fail(exc)
                    raise
                return rejected(number, values, exc)
            except PredictionOneTransportError as exc:
                return rejected(number, values, exc)
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError):
                    run.fail(exc)
                raise
        scored = read_answer(number, values, result, reasons=self.reasons_path is not None)
        scored.answered = True
        return scored


def predict_csv(
    client: InferenceClient,
    url: str,
    api_key: str,
    input_file: str | os.PathLike[str] | Any,
    output_file: str | os.PathLike[str] | Any,
    **options: Any,
) -> BatchPredictionResult:
    """Score ``input_file`` into ``output_file``: ``BatchPredictor(...).run()`` in one call.

    ``options`` are the keyword arguments of :class:`BatchPredictor` (``reasons_file``,
    ``rejects_file``, ``logger``, and those of :class:`~.batch_options.BatchOptions`).
    """
    return BatchPredictor(client, url, api_key, input_file, output_file, **options).run()
