"""What a batch tells its log: progress, rejected rows (never their values, the API key masked),
and the reports of a batch that stopped."""

from __future__ import annotations

import logging
import time
from typing import IO, Any

from airflow_provider_predictionone.api.batch_io import human_seconds, safe_url
from airflow_provider_predictionone.api.batch_options import BatchOptions
from airflow_provider_predictionone.api.batch_rows import Run, Scored
from airflow_provider_predictionone.api.errors import (
    BatchRejectedRowsError,
    BatchServiceDownError,
    PredictionOneConfigError,
    PredictionOneError,
)

MAX_LOGGED_REJECTS = 10
"""Rejected rows logged as they happen and listed with their message at the end; the rest are counted."""
MAX_LOGGED_MESSAGE_CHARS = 200
"""A rejected row's message is cut to this length in the log (the rejects file has it whole)."""


class BatchReport:
    """The log lines of one batch.

    :param log: where to log.
    :param api_key: the prediction API's key (masked in every message, a second guard).
    :param url: the Inference URL (logged without credentials, query or fragment).
    :param input_name: the input file's name.
    :param size: the input's size in bytes (progress).
    :param rejects_path: where the rejected rows go.
    :param options: the batch's options.
    """

    def __init__(
        self,
        log: logging.Logger,
        *,
        api_key: str,
        url: str,
        input_name: str,
        size: int,
        rejects_path: Any,
        options: BatchOptions,
    ) -> None:
        self.log = log
        self._api_key = api_key
        self.url = url
        self.input_name = input_name
        self.size = size
        self.rejects_path = rejects_path
        self.options = options

    def rejected(self, run: Run, scored: Scored) -> None:
        """Count a rejected row; log the first :data:`MAX_LOGGED_REJECTS` as they happen."""
        run.rejected += 1
        if run.rejected > MAX_LOGGED_REJECTS:
            return
        run.logged_rejects.append((scored.number, scored.error or "", self.short(scored.message or "")))
        last = run.rejected == MAX_LOGGED_REJECTS
        self.log.warning(
            "Batch prediction: row %d rejected (%s)%s",
            scored.number,
            scored.error,
            "; further rejected rows are only counted here, see the rejects file." if last else ".",
        )

    def short(self, message: str) -> str:
        """A rejected row's message for the log: one line, the API key masked, at most
        :data:`MAX_LOGGED_MESSAGE_CHARS` characters. Messages come from the service or from this
        module and hold no row values; masking the key is a second guard."""
        text = " ".join(message.replace(self._api_key, "***").split())
        if len(text) > MAX_LOGGED_MESSAGE_CHARS:
            text = text[: MAX_LOGGED_MESSAGE_CHARS - 3].rstrip() + "..."
        return text

    def service_down(self, run: Run, scored: Scored) -> BatchServiceDownError:
        count = self.options.max_consecutive_errors
        first = scored.number - count + 1
        rows = f"row {first}" if count == 1 else f"rows {first} to {scored.number}"
        error = BatchServiceDownError(
            f"The prediction API at {safe_url(self.url)} looks down: {rows} (the last {count} in input order, "
            f"max_consecutive_errors={count}) all failed with a transient error after the client's own retries; "
            f"the last one (row {scored.number}): {scored.error}: {self.short(scored.message or '')} The batch "
            "stopped instead of sending every remaining row to a service that does not answer. Re-run the task "
            "when the service is back (check its status, or your network and proxy); to ride out longer outages "
            "raise the connection's retries / retry_delay, or max_consecutive_errors."
        )
        error.__cause__ = scored.cause
        return error

    def header_refused(self, run: Run, header: list[str]) -> PredictionOneConfigError:
        """The error for a batch whose first rows were all refused with ``Invalid request``."""
        rows = ", ".join(str(number) for number in run.refused_at_start)
        return PredictionOneConfigError(
            f"Prediction One refused the first {len(run.refused_at_start)} rows of input_file ({self.input_name!r}; "
            f"rows {rows}) with 'Invalid request' (spec 4.14: the request does not fit the prediction API), so the "
            "batch stopped instead of sending every row: each request counts against the prediction API's "
            "requests (a trial API accepts 100). Each request was well-formed (the header and one row with as many "
            "fields), so the header is the likely cause: input_file must have every column the model was trained "
            "on, named exactly as in the training file's header (the target column may be left out). Its columns "
            f"are {header}. Prediction One does not say which columns are missing and no documented call lists a "
            "model's columns: compare them with the header of the training file. If the header is right, these "
            "rows' values are at fault: fix them and re-run."
        )

    def rejected_rows(self, run: Run, *, kept: bool) -> None:
        """The end-of-batch block: the first rejected rows with their message, then how many more."""
        if not run.rejected:
            return
        where = f"see {str(self.rejects_path)!r}" if kept else "the rejects file was not kept: the batch stopped"
        lines = [f"Batch prediction: {run.rejected} rejected row(s) (row, error, message):"]
        lines.extend(f"  row {number}: {error}: {message}" for number, error, message in run.logged_rejects)
        more = run.rejected - len(run.logged_rejects)
        lines.append(f"  ... and {more} more ({where})." if more else f"  ({where}).")
        self.log.warning("%s", "\n".join(lines))

    def progress(self, run: Run, binary: IO[bytes]) -> None:
        now = time.monotonic()
        if now - run.last_progress < self.options.progress_interval:
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
            estimated_rows = run.rows_read * self.size / read
            eta = human_seconds(max(estimated_rows - run.done, 0) / rate)
        self.log.info(
            "Batch prediction: %d rows done (%d predicted, %d rejected), %.1f rows/s, %.0f%% of the input "
            "read, ETA %s.",
            run.done,
            run.predicted,
            run.rejected,
            rate,
            100.0 * min(read / self.size, 1.0) if self.size else 100.0,
            eta,
        )

    def stopped(self, run: Run, exc: BaseException) -> None:
        note = (
            f"Batch prediction of {self.input_name!r} stopped after {run.done} row(s) were done "
            f"({run.predicted} predicted, {run.rejected} rejected, {run.rows_read} read); the remaining rows "
            "were not sent and no output file was written."
        )
        if isinstance(exc, PredictionOneError) and not isinstance(exc, BatchRejectedRowsError):
            exc.args = (f"{exc} {note}", *exc.args[1:])
            exc.rows_done = run.done  # type: ignore[attr-defined]
        self.rejected_rows(run, kept=False)
        self.log.error("%s Cause: %s.", note, type(exc).__name__)
