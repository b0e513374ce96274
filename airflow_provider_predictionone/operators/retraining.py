"""Operators for the retrain flow (spec 1.3): retrain a deployed model, switch its prediction API.

Each ``execute`` is a short composition of the hook's methods (:mod:`..hooks.retraining`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind
from airflow_provider_predictionone.operators.base import JobWaitingOperator, PredictionOneBaseOperator
from airflow_provider_predictionone.operators.lineage import PredictionOneLineageMixin, file_ref, pushed

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class PredictionOneRetrainModelOperator(PredictionOneLineageMixin, JobWaitingOperator):
    """Retrain a deployed model with new data (spec 1.3) and wait for it.

    Fetches the retrain key for ``model_id``, uploads the new training CSV — or, with an
    evaluation file, a zip of both in the layout the spec gives — which starts retraining, and
    waits. Returns ``retrain_job_id``, ``model_id`` (the retrained one), ``base_model_id``,
    ``status``, ``message``, ``metrics``, ``result_path``. The job id goes to XCom (key
    ``retrain_job_id``) before waiting; a retry re-attaches to it instead of starting a second
    retraining.

    :param model_id: the model behind the prediction API to retrain. Templated.
    :param training_file: the new training CSV. Templated.
    :param evaluation_file: optional evaluation CSV. Templated.
    :param result_path: where to keep the result archive (optional): a local path, or a URL /
        ``ObjectStoragePath`` (use an object store when a task on another worker reads it). Templated.
    :param wait_for_completion: wait for the retraining to finish (default true); without waiting
        the task returns ``status`` ``"started"``.
    :param check_interval: seconds between status checks (default 30).
    :param timeout: seconds to wait at most (default 24 hours).
    :param deferrable: wait in the triggerer instead of a worker slot; default from
        ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        "model_id",
        "training_file",
        "evaluation_file",
        "result_path",
        "predictionone_conn_id",
    )
    ui_color = "#9ecae1"

    def __init__(
        self,
        *,
        model_id: int | str,
        training_file: str | Path,
        evaluation_file: str | Path | None = None,
        result_path: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.training_file = training_file
        self.evaluation_file = evaluation_file
        self.result_path = result_path
        if not arguments.is_templated(model_id):
            arguments.as_id("model_id", model_id)

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Inputs: the new data and the base model; outputs: the retrained model (and result zip)."""
        inputs = [
            file_ref(self.training_file),
            file_ref(self.evaluation_file),
            self.service_ref("models", self.model_id),
        ]
        model_id = pushed(task_instance, self.task_id, "model_id")
        return inputs, [self.service_ref("models", model_id), file_ref(self.result_path)]

    def execute(self, context: Context) -> dict[str, Any]:
        model_id = arguments.as_id("model_id", self.model_id)
        job_id = self.hook.start_retraining(
            model_id,
            self.file_argument("training_file", self.training_file, required=True),
            self.file_argument("evaluation_file", self.evaluation_file),
            context=context,
        )
        context["ti"].xcom_push(key="retrain_job_id", value=job_id)
        if not self.wait_for_completion:
            self.hook.ledger(context, JobKind.RETRAIN.value).clear()  # clearing the task later retrains again
            return {"retrain_job_id": job_id, "base_model_id": model_id, "status": "started"}
        status = self.wait_for_job(
            JobKind.RETRAIN, job_id, model_id, resume_kwargs={"job_id": job_id, "model_id": model_id}
        )
        return self._finish(context, job_id, model_id, status)

    def execute_complete(
        self, context: Context, event: dict[str, Any], job_id: str = "", model_id: int = 0
    ) -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and finish."""
        job_id = job_id or self.pushed_id(context, "retrain_job_id")
        model_id = model_id or arguments.as_id("model_id", self.model_id)
        status = self.resumed_status(event, JobKind.RETRAIN, job_id, model_id)
        return self._finish(context, job_id, model_id, status)

    def _finish(self, context: Context, job_id: str, model_id: int, status: Any) -> dict[str, Any]:
        result_path = self.file_argument("result_path", self.result_path)
        summary = self.hook.retraining_result(job_id, model_id, status, result_path=result_path, context=context)
        if summary["model_id"] is not None:
            context["ti"].xcom_push(key="model_id", value=summary["model_id"])
        return summary


class PredictionOneSwitchModelOperator(PredictionOneBaseOperator):
    """Switch the deployed prediction API to a finished retrained model (spec 4.17).

    Checks the retraining job first and fails with a clear message when it has not finished.

    :param model_id: the model the retraining started from (its retrain key is used). Templated.
    :param retrain_job_id: the finished retraining job. Templated.
    :return: ``retrain_job_id``, ``base_model_id`` and the new ``model_id`` now being served.
    """

    template_fields: Sequence[str] = ("model_id", "retrain_job_id", "predictionone_conn_id")
    ui_color = "#6baed6"

    def __init__(self, *, model_id: int | str, retrain_job_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.retrain_job_id = retrain_job_id
        if not arguments.is_templated(model_id):
            arguments.as_id("model_id", model_id)

    def execute(self, context: Context) -> dict[str, Any]:
        model_id = arguments.as_id("model_id", self.model_id)
        job_id = arguments.require_text("retrain_job_id", self.retrain_job_id)
        return self.hook.switch_model(model_id, job_id)
