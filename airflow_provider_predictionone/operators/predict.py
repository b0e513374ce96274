"""Batch prediction with a deployed Prediction One prediction API (:meth:`PredictionOneHook.predict_file`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.operators.base import PredictionOneBaseOperator
from airflow_provider_predictionone.operators.lineage import PredictionOneLineageMixin, file_ref, pushed

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


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
    client's retries (:class:`~airflow_provider_predictionone.api.errors.BatchServiceDownError`).

    Every file argument is a local path, a URL (``s3://``, ``gs://``, ``file://``, ``memory://`` ...)
    or an ``ObjectStoragePath``. The input is streamed from the store; an output in an object store
    is written to a local temporary file and stream-copied to the store when the batch completes
    (object stores have no atomic rename). For a later task on another worker, use a URL.

    :param classifier_id: the prediction API (from the deploy operator). Templated.
    :param input_file: the CSV to score (UTF-8, header row). Templated.
    :param output_file: where to write the predictions. Templated.
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
    :return: a summary: ``classifier_id``, ``model_id``, ``rows_total``, ``rows_predicted``,
        ``rows_rejected``, ``rejected_fraction``, ``rows_per_second``, ``output_file``,
        ``rejects_file``, ``reasons_file``.
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
        from airflow_provider_predictionone.api.batch_options import BatchOptions

        # Checked when the DAG is parsed (these are not templated).
        self.options = BatchOptions(
            concurrency=concurrency,
            requests_per_second=requests_per_second,
            max_rejected_fraction=max_rejected_fraction,
            include_input=include_input,
            no_class=no_class,
            pivot_column=pivot_column,
            progress_interval=progress_interval,
            max_consecutive_errors=max_consecutive_errors,
        )

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Inputs: the scored file and the served model; outputs: predictions, reasons, rejects."""
        summary = pushed(task_instance, self.task_id, "return_value") or {}
        model = self.service_ref("models", summary.get("model_id")) if isinstance(summary, dict) else None
        rejects = self.rejects_file or (f"{self.output_file}.rejects.csv" if self.output_file else None)
        outputs = [file_ref(self.output_file), file_ref(self.reasons_file), file_ref(rejects)]
        return [file_ref(self.input_file), model], outputs

    def execute(self, context: Context) -> dict[str, Any]:
        return self.hook.predict_file(
            arguments.require_text("classifier_id", self.classifier_id),
            self.file_argument("input_file", self.input_file, required=True),
            self.file_argument("output_file", self.output_file, required=True),
            reasons_file=self.file_argument("reasons_file", self.reasons_file),
            rejects_file=self.file_argument("rejects_file", self.rejects_file),
            logger=self.log,
            options=self.options,
        )
