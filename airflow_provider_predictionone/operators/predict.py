"""Batch prediction with a deployed Prediction One prediction API."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.errors import PredictionApiNotRunningError, PredictionOneConfigError
from airflow_provider_predictionone.operators.lineage import PredictionOneLineageMixin, file_ref, pushed
from airflow_provider_predictionone.operators.predictionone import PredictionOneBaseOperator, _require_text

if TYPE_CHECKING:
    from airflow_provider_predictionone.compat import Context


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_options(
    concurrency: Any, requests_per_second: Any, max_rejected_fraction: Any, progress: Any, max_consecutive_errors: Any
) -> None:
    """The numeric options, checked when the DAG is parsed (they are not templated)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
        raise PredictionOneConfigError(
            f"concurrency={concurrency!r} must be a whole number from 1 to 256 (requests in flight at once; default 8)."
        )
    if requests_per_second is not None and not (_number(requests_per_second) and requests_per_second > 0):
        raise PredictionOneConfigError(
            f"requests_per_second={requests_per_second!r} must be a positive number of requests per second, or "
            "None for no limit."
        )
    if not (_number(max_rejected_fraction) and 0.0 <= max_rejected_fraction <= 1.0):
        raise PredictionOneConfigError(
            f"max_rejected_fraction={max_rejected_fraction!r} must be a number from 0.0 to 1.0 (0.05 = 5% of the "
            "rows may be rejected)."
        )
    if not (_number(progress) and progress > 0):
        raise PredictionOneConfigError(f"progress_interval={progress!r} must be a positive number of seconds.")
    if (
        isinstance(max_consecutive_errors, bool)
        or not isinstance(max_consecutive_errors, int)
        or max_consecutive_errors < 1
    ):
        raise PredictionOneConfigError(
            f"max_consecutive_errors={max_consecutive_errors!r} must be a whole number of rows, 1 or more (default "
            "10): the batch stops when that many rows in a row fail because the service does not answer."
        )


_PATH_PARAMS = re.compile(r"\b(input|output|reasons|rejects)_path\b")


def _operator_names(text: str) -> str:
    """A BatchPredictor message with the operator's argument names (``input_file``, not ``input_path``)."""
    return _PATH_PARAMS.sub(r"\1_file", text)


class PredictionOneBatchPredictOperator(PredictionOneLineageMixin, PredictionOneBaseOperator):
    """Score a CSV file with a deployed prediction API, one Inference request per row (spec 4.14).

    The prediction API's URL and inference key are read from Get Classifier; the key is a secret:
    it is registered with the log masker and never returned or pushed to XCom. The input is
    streamed and the output is written in input order with a leading ``input_row`` column; memory
    does not grow with the number of rows (see :mod:`airflow_provider_predictionone.api.batch`).

    Rows the service rejects go to a rejects file (row number, error, message, original values)
    and are listed with their row number and message in the log summary at the end; the task
    fails when the rejected share exceeds ``max_rejected_fraction`` (default 0: any rejected row
    fails the task, after all files are written). A prediction API that is not running
    (:class:`~airflow_provider_predictionone.api.errors.PredictionApiNotRunningError`, before any
    row is sent), a wrong key or a refused IP stops the batch at once; so do
    ``max_consecutive_errors`` rows in a row that the service did not answer even after the
    client's retries (:class:`~airflow_provider_predictionone.api.batch.BatchServiceDownError`).

    :param classifier_id: the prediction API (from the deploy operator). Templated.
    :param input_file: the CSV to score (UTF-8, header row). Templated.
    :param output_file: where to write the predictions. Templated.

    Every file argument is a local path, a URL (``s3://``, ``gs://``, ``file://``, ``memory://`` ...)
    or an ``ObjectStoragePath``. The input is streamed from the store; an output in an object store
    is written to a local temporary file and stream-copied to the store when the batch completes
    (object stores have no atomic rename). For a later task on another worker, use a URL.

    :param reasons_file: where to write prediction reasons (asks the service for them; slower).
        Templated.
    :param rejects_file: where to write rejected rows; default ``<output_file>.rejects.csv``.
        Templated.
    :param concurrency: requests in flight at once (1–256, default 8).
    :param requests_per_second: a rate limit for the whole batch (default none).
    :param max_rejected_fraction: the share of rejected rows tolerated (0.0–1.0, default 0).
    :param include_input: include the input columns in the output (``ad``).
    :param no_class: for classification, output probabilities only (``nc``).
    :param pivot_column: an input column to put at the left of the result (``pc``).
    :param progress_interval: seconds between progress log lines (default 30).
    :param max_consecutive_errors: stop the batch when this many rows in a row (input order) fail
        with a transient error (no answer, HTTP 5xx or 429) after the connection's retries: the
        service looks down (default 10).
    :return: a summary: ``classifier_id``, ``rows_total``, ``rows_predicted``, ``rows_rejected``,
        ``rejected_fraction``, ``rows_per_second``, ``output_file``, ``rejects_file``,
        ``reasons_file``.
    """

    template_fields: Sequence[str] = (
        "classifier_id",
        "input_file",
        "output_file",
        "reasons_file",
        "rejects_file",
        "predictionone_conn_id",
    )
    ui_color = "#fdd0a2"

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Inputs: the scored file and the served model; outputs: predictions, reasons, rejects."""
        summary = pushed(task_instance, self.task_id, "return_value") or {}
        model = self.service_ref("models", summary.get("model_id")) if isinstance(summary, dict) else None
        rejects = self.rejects_file or (f"{self.output_file}.rejects.csv" if self.output_file else None)
        outputs = [file_ref(self.output_file), file_ref(self.reasons_file), file_ref(rejects)]
        return [file_ref(self.input_file), model], outputs

    def __init__(
        self,
        *,
        classifier_id: str,
        input_file: str | Path,
        output_file: str | Path,
        reasons_file: str | Path | None = None,
        rejects_file: str | Path | None = None,
        concurrency: int = 8,
        requests_per_second: float | None = None,
        max_rejected_fraction: float = 0.0,
        include_input: bool = False,
        no_class: bool = False,
        pivot_column: str | None = None,
        progress_interval: float = 30.0,
        max_consecutive_errors: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.classifier_id = classifier_id
        self.input_file = input_file
        self.output_file = output_file
        self.reasons_file = reasons_file
        self.rejects_file = rejects_file
        self.concurrency = concurrency
        self.requests_per_second = requests_per_second
        self.max_rejected_fraction = max_rejected_fraction
        self.include_input = include_input
        self.no_class = no_class
        self.pivot_column = pivot_column
        self.progress_interval = progress_interval
        self.max_consecutive_errors = max_consecutive_errors
        _check_options(
            concurrency, requests_per_second, max_rejected_fraction, progress_interval, max_consecutive_errors
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_predictionone.api.batch import BatchPredictor

        classifier_id = _require_text("classifier_id", self.classifier_id)
        input_file = self._file("input_file", self.input_file, required=True)
        output_file = self._file("output_file", self.output_file, required=True)
        optional = {
            "reasons_path": self._file("reasons_file", self.reasons_file),
            "rejects_path": self._file("rejects_file", self.rejects_file),
        }
        options = {key: value for key, value in optional.items() if value is not None}
        # BatchPredictor checks every file and option in its constructor; build it with a dummy
        # endpoint first so bad input fails before any request.
        try:
            BatchPredictor(
                self.client,
                "https://placeholder.invalid",
                "placeholder",
                input_file,
                output_file,
                **self._options(options),
            )
        except PredictionOneConfigError as exc:
            raise PredictionOneConfigError(_operator_names(str(exc))) from None
        classifier = self.client.get_classifier(classifier_id)
        if classifier is None:
            raise PredictionOneConfigError(
                f"classifier_id={classifier_id!r}: no such prediction API for this account. Check the classifier_id "
                "(e.g. the deploy task's XCom 'classifier_id'), or deploy a model first."
            )
        if classifier.status not in contract.CLASSIFIER_READY:
            raise _not_running(classifier_id, classifier.status)
        if not classifier.is_ready or not classifier.api_key:
            raise PredictionOneConfigError(
                f"classifier_id={classifier_id!r}: Get Classifier says the prediction API runs but returned no "
                "inference URL or key; re-run the task, and if it persists, check the prediction API in the web app."
            )
        assert classifier.url is not None
        try:
            result = BatchPredictor(
                self.client, classifier.url, classifier.api_key, input_file, output_file, **self._options(options)
            ).run()
        except PredictionOneConfigError as exc:  # e.g. a row further down is not UTF-8
            raise PredictionOneConfigError(_operator_names(str(exc))) from None
        return {
            "classifier_id": classifier_id,
            "model_id": classifier.model_id,
            "rows_total": result.rows_total,
            "rows_predicted": result.rows_predicted,
            "rows_rejected": result.rows_rejected,
            "rejected_fraction": result.rejected_fraction,
            "rows_per_second": round(result.rows_per_second, 1),
            "output_file": str(result.output_path),
            "rejects_file": str(result.rejects_path),
            "reasons_file": None if result.reasons_path is None else str(result.reasons_path),
        }

    def _options(self, paths: dict[str, str]) -> dict[str, Any]:
        return {
            **paths,
            "concurrency": int(self.concurrency),
            "requests_per_second": self.requests_per_second,
            "max_rejected_fraction": float(self.max_rejected_fraction),
            "include_input": self.include_input,
            "no_class": self.no_class,
            "pivot_column": self.pivot_column,
            "progress_interval": float(self.progress_interval),
            "max_consecutive_errors": self.max_consecutive_errors,
            "logger": self.log,
        }


def _not_running(classifier_id: str, status: str) -> PredictionApiNotRunningError:
    """The error for a prediction API that does not run, found before any row was sent.

    It is the documented Inference answer (spec 4.14: 503 ``5031030101 SERVICE_UNAVAILABLE_ERROR``,
    ``status is not running (status: <s>)``) that every row would get, so callers catch one class
    whether the API was stopped before the batch or during it; the text says what really happened.
    """
    state = str(status)
    error = PredictionApiNotRunningError(
        f"Batch Predict (prediction API {classifier_id})",
        503,
        code=contract.CODE_INFERENCE_UNAVAILABLE,
        error=contract.ERROR_INFERENCE_UNAVAILABLE,
        message=contract.inference_not_running_message(state),
    )
    error.args = (
        f"Prediction API {classifier_id} is {state!r}, not running ({error.message!r}), "
        "so no row was sent. Start it and wait until it runs, e.g. with PredictionOneUpdatePredictionApiOperator("
        f"task_id='start_prediction_api', classifier_id={classifier_id!r}, active=True) before this task, then "
        "re-run it.",
    )
    return error
