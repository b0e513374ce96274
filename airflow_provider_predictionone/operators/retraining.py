"""Operators for the retrain flow (spec 1.3): retrain a deployed model, switch its prediction API.

Each ``execute`` is a short composition of the hook's methods (:mod:`..hooks.retraining`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.assets import event_extra, literal_data_assets, record_outlet_events
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

    Assets: the training and evaluation files are the task's ``inlets`` when their paths are known
    at parse time (absolute paths or URLs), unless ``inlets`` is given. The asset event of each
    Asset in ``outlets`` (e.g. :func:`~airflow_provider_predictionone.assets.model_asset`) gets
    ``extra`` ``model_id`` (the retrained model), ``base_model_id``, ``retrain_job_id`` and
    ``metrics`` (the numeric ones): the Assets view of the UI shows each model's figures over time.
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
        if not self.inlets:
            self.inlets = literal_data_assets(training_file, evaluation_file)

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
            started = {"retrain_job_id": job_id, "base_model_id": model_id, "status": "started"}
            record_outlet_events(context, self.outlets, event_extra(started))
            return started
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
        record_outlet_events(context, self.outlets, event_extra(summary))
        return summary


class PredictionOneSwitchModelOperator(PredictionOneBaseOperator):
    """Switch the deployed prediction API to a finished retrained model (spec 4.17), behind a
    promotion gate when ``metric`` is given.

    With ``metric`` the retrained model replaces the served one only if its figure on the evaluation
    rows is at least the served model's plus ``min_improvement`` (at most minus, for ``rmse``,
    ``mae``, ``logloss``). Both models are judged on the same rows of ``evaluation_file`` by the same
    code: the retrained model's answers come from its result archive, the served model's from
    scoring those rows through its prediction API (one Inference request per row, at most
    ``max_rows``). See :meth:`~..hooks.promotion.PromotionMixin.promote_if_better`. Without
    ``metric`` the switch is unguarded (logged as such). Checks the retraining job first and fails
    with a clear message when it has not finished.

    :param model_id: the model the retraining started from (its retrain key is used). Templated.
    :param retrain_job_id: the finished retraining job. Templated.
    :param metric: ``auc``, ``accuracy``, ``f1``, ``precision``, ``recall``, ``macro_f1``, ``logloss``;
        ``rmse``, ``mae``, ``r2`` (any case; one the model type has). ``None`` (default): no gate. Templated.
    :param min_improvement: how much better the retrained model must be, in the metric's units
        (default 0: at least as good). Templated.
    :param on_worse: ``"keep"`` (default: keep the served model, succeed with ``switched: False``)
        or ``"fail"`` (fail the task). Templated.
    :param evaluation_file: the evaluation CSV the retraining used (local path or URL); required
        with ``metric``. Templated.
    :param classifier_id: the prediction API to score the served model through; default: the one
        serving ``model_id`` (Get Classifiers). Templated.
    :param max_rows: at most this many evaluation rows are sent to the served prediction API
        (default 1000). Templated.
    :return: ``switched``, ``metric``, ``served_value``, ``retrained_value``, ``min_improvement``,
        ``reason``, ``model_id`` (the model served now), ``base_model_id``, ``retrain_job_id``,
        ``retrained_model_id``, ``classifier_id``, ``evaluation_rows``.
    """

    template_fields: Sequence[str] = (
        "model_id",
        "retrain_job_id",
        "metric",
        "min_improvement",
        "on_worse",
        "evaluation_file",
        "classifier_id",
        "max_rows",
        "predictionone_conn_id",
    )
    ui_color = "#6baed6"

    def __init__(
        self,
        *,
        model_id: int | str,
        retrain_job_id: str,
        metric: str | None = None,
        min_improvement: float | str = 0.0,
        on_worse: str = "keep",
        evaluation_file: str | Path | None = None,
        classifier_id: str | None = None,
        max_rows: int | str = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.retrain_job_id = retrain_job_id
        self.metric = metric
        self.min_improvement = min_improvement
        self.on_worse = on_worse
        self.evaluation_file = evaluation_file
        self.classifier_id = classifier_id
        self.max_rows = max_rows
        if not arguments.is_templated(model_id):
            arguments.as_id("model_id", model_id)
        self._check_gate(literal_only=True)

    def _check_gate(self, *, literal_only: bool) -> None:
        """The gate's arguments (at parse time: the literal ones; at run time: all, rendered)."""
        from airflow_provider_predictionone.api import metrics

        checks = [
            (self.metric, metrics.metric_named),
            (self.min_improvement, metrics.check_min_improvement),
            (self.on_worse, metrics.check_on_worse),
            (self.max_rows, metrics.check_max_rows),
        ]
        for value, check in checks:
            if not arguments.is_empty(value) and not (literal_only and arguments.is_templated(value)):
                check(value)
        gated = not arguments.is_empty(self.metric) and not (literal_only and arguments.is_templated(self.metric))
        if gated and arguments.is_empty(self.evaluation_file):
            raise PredictionOneConfigError(
                f"evaluation_file={self.evaluation_file!r} is empty, and metric={self.metric!r} needs it: pass the "
                "evaluation CSV the retraining used (both models are judged on its rows), or metric=None to switch "
                "without a gate."
            )

    def execute(self, context: Context) -> dict[str, Any]:
        model_id = arguments.as_id("model_id", self.model_id)
        job_id = arguments.require_text("retrain_job_id", self.retrain_job_id)
        self._check_gate(literal_only=False)
        gated = not arguments.is_empty(self.metric)  # a template rendering to nothing means no gate
        return self.hook.promote_if_better(
            model_id,
            job_id,
            metric=str(self.metric).strip() if gated else None,
            evaluation_file=self.file_argument("evaluation_file", self.evaluation_file) if gated else None,
            min_improvement=self.min_improvement,  # type: ignore[arg-type]  # checked by the hook
            on_worse=self.on_worse,
            classifier_id=None if arguments.is_empty(self.classifier_id) else str(self.classifier_id).strip(),
            max_rows=self.max_rows,  # type: ignore[arg-type]  # checked by the hook
            logger=self.log,
        )
