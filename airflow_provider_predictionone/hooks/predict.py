"""Batch prediction as a hook method: score a CSV file with a running prediction API.

The files and options are checked before any request; then the prediction API is read (its URL and
inference key: a secret, registered with the log masker and never returned) and every row is scored
by :class:`~.api.batch.BatchPredictor`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import PredictionApiNotRunningError, PredictionOneConfigError
from airflow_provider_predictionone.hooks.base import HookMixin

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.batch_options import BatchOptions


def not_running_error(classifier_id: str, status: str) -> PredictionApiNotRunningError:
    """The error for a prediction API that does not run, found before any row was sent.

    It is the documented Inference answer (spec 4.14: 503 ``5031030101 SERVICE_UNAVAILABLE_ERROR``,
    ``status is not running (status: <s>)``) that every row would get, so callers catch one class
    whether the API was stopped before the batch or during it; the text says what really happened.
    """
    state = str(status)
    error = PredictionApiNotRunningError(
        f"Batch Predict (prediction API {classifier_id})",
        503,
        code=c.CODE_INFERENCE_UNAVAILABLE,
        error=c.ERROR_INFERENCE_UNAVAILABLE,
        message=c.inference_not_running_message(state),
    )
    error.args = (
        f"Prediction API {classifier_id} is {state!r}, not running ({error.message!r}), so no row was sent. Start "
        "it and wait until it runs, e.g. with PredictionOneUpdatePredictionApiOperator(task_id='start_prediction_api', "
        f"classifier_id={classifier_id!r}, active=True) before this task, then re-run it.",
    )
    return error


class PredictMixin(HookMixin):
    """Score files with a deployed prediction API."""

    def predict_file(
        self,
        classifier_id: str,
        input_file: Any,
        output_file: Any,
        *,
        reasons_file: Any = None,
        rejects_file: Any = None,
        logger: logging.Logger | None = None,
        options: BatchOptions | None = None,
        **option_values: Any,
    ) -> dict[str, Any]:
        """Score every row of ``input_file`` with the prediction API ``classifier_id`` (one Inference
        request per row, spec 4.14) into ``output_file``, in input order.

        :param input_file: UTF-8 CSV with a header row: a local path or a storage path.
        :param output_file: where the predictions go (written atomically).
        :param reasons_file: where prediction reasons go (asks the service for them).
        :param rejects_file: where rejected rows go; default ``<output_file>.rejects.csv``.
        :param options: a :class:`~.api.batch_options.BatchOptions`, or its fields as keyword
            arguments (``concurrency``, ``requests_per_second``, ``max_rejected_fraction``,
            ``max_consecutive_errors`` ...).
        :return: ``classifier_id``, ``model_id``, ``rows_total``, ``rows_predicted``,
            ``rows_rejected``, ``rejected_fraction``, ``rows_per_second``, ``output_file``,
            ``rejects_file``, ``reasons_file``.
        :raises PredictionApiNotRunningError: the prediction API is not running (no row was sent).
        :raises PredictionOneConfigError: a bad file or option (before any request), or the first
            rows were all refused ``Invalid request``: a header the model does not take (the batch
            stops after :data:`~.api.batch.HEADER_PROBE_ROWS` requests instead of one per row).
        :raises BatchRejectedRowsError: more rows were rejected than ``max_rejected_fraction`` allows.
        :raises BatchServiceDownError: the service stopped answering (``max_consecutive_errors``).
        """
        from airflow_provider_predictionone.api.batch import BatchPredictor
        from airflow_provider_predictionone.api.batch_io import BatchFiles
        from airflow_provider_predictionone.api.batch_options import BatchOptions

        settings = options or BatchOptions(**option_values)
        BatchFiles.check(input_file, output_file, reasons_file, rejects_file, settings.pivot_column)
        classifier = self.get_conn().get_classifier(classifier_id)
        if classifier is None:
            raise PredictionOneConfigError(
                f"classifier_id={classifier_id!r}: no such prediction API for this account. Check the classifier_id "
                "(e.g. the deploy task's XCom 'classifier_id'), or deploy a model first."
            )
        if classifier.status not in c.CLASSIFIER_READY:
            raise not_running_error(classifier_id, classifier.status)
        if not classifier.is_ready or not classifier.api_key:
            raise PredictionOneConfigError(
                f"classifier_id={classifier_id!r}: Get Classifier says the prediction API runs but returned no "
                "inference URL or key; re-run the task, and if it persists, check the prediction API in the web app."
            )
        assert classifier.url is not None
        result = BatchPredictor(
            self.get_conn(),
            classifier.url,
            classifier.api_key,
            input_file,
            output_file,
            reasons_file=reasons_file,
            rejects_file=rejects_file,
            logger=logger or self.log,
            options=settings,
        ).run()
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
