"""Sensors that wait for Prediction One training and retraining jobs.

Each sensor works in poke mode, in reschedule mode (``mode="reschedule"``) and in deferrable mode
(``deferrable=True``), where the wait runs on the triggerer with :class:`PredictionOneJobTrigger`.
A job that fails makes the sensor fail at once with the service's message; a job that does not
finish within ``timeout`` raises ``AirflowSensorTimeout``, so ``soft_fail`` skips the task as
with any other sensor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseSensorOperator

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind, JobState
from airflow_provider_predictionone.api.errors import JobTimeoutError
from airflow_provider_predictionone.compat import default_deferrable
from airflow_provider_predictionone.hooks.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_predictionone.api.models import RetrainStatus, TrainStatus
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

MODEL_ID_XCOM_KEY = "model_id"
"""XCom key under which :class:`PredictionOneRetrainSensor` pushes the retrained model's id."""


class _PredictionOneJobSensor(BaseSensorOperator):
    """What both job sensors share: poke with the hook's ``check_job``, defer to the job trigger."""

    kind: JobKind
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        predictionone_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.predictionone_conn_id = predictionone_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    # Subclasses name the job with their own (templated) fields.
    def _job_id(self) -> Any:
        raise NotImplementedError

    def _model_id(self) -> Any:
        return None

    def _job(self) -> tuple[str, int | None]:
        """The rendered job id and model id, checked (templated values may arrive as strings)."""
        _kind, job_id, model_id = arguments.job(self.kind, self._job_id(), self._model_id())
        return job_id, model_id

    @cached_property
    def hook(self) -> PredictionOneHook:
        """The hook; created on first use, never in the constructor."""
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        return PredictionOneHook(self.predictionone_conn_id)

    def poke(self, context: Context) -> bool:
        """Check the job once.

        :return: ``True`` when the job finished successfully, ``False`` while it is running.
        :raises JobFailedError: the job failed; the text carries the service's message.
        """
        job_id, model_id = self._job()
        status = self.hook.check_job(self.kind, job_id, model_id)
        if status.state is not JobState.SUCCEEDED:
            return False
        self._on_success(context, status)
        return True

    def _on_success(self, context: Context, status: TrainStatus | RetrainStatus | dict[str, Any]) -> None:
        """Hook for subclasses: called once when the job is seen finished."""

    def execute(self, context: Context) -> Any:
        """Wait for the job: poke / reschedule as usual, or check once and then defer.

        :param context: the task context.
        """
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger

        job_id, model_id = self._job()
        self.defer(
            trigger=PredictionOneJobTrigger(
                kind=self.kind,
                job_id=job_id,
                predictionone_conn_id=self.predictionone_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                model_id=model_id,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired: succeed, or raise what the event reports.

        :param context: the task context.
        :param event: the trigger's event (see :class:`PredictionOneJobTrigger`).
        :raises AirflowSensorTimeout: the job did not finish within ``timeout`` (``soft_fail`` skips).
        :raises JobFailedError: the job failed.
        :raises PredictionOneError: the trigger could not check the job, or the event is malformed.
        """
        from airflow_provider_predictionone.events import job_event_result

        job_id, _model_id = self._job()
        try:
            result = job_event_result(event, expected_job_id=job_id, expected_kind=self.kind)
        except JobTimeoutError as exc:
            raise AirflowSensorTimeout(str(exc)) from exc
        self.log.info(
            "Prediction One %s job %s finished with status %r%s",
            self.kind.label,
            job_id,
            result.get("job_status"),
            f"; message: {result['message']}" if result.get("message") else ".",
        )
        self._on_success(context, result)


class PredictionOneTrainingSensor(_PredictionOneJobSensor):
    """Wait until a Prediction One training job has finished.

    :param external_process_id: the training job's id (returned by Train / Train Data Upload).
        Templated.
    :param predictionone_conn_id: the Prediction One connection. Templated.
    :param deferrable: wait on the triggerer instead of occupying a worker slot; defaults to
        ``[operators] default_deferrable``. ``poke_interval`` is the polling interval and
        ``timeout`` the overall deadline in every mode.
    """

    kind = JobKind.TRAIN
    template_fields: Sequence[str] = ("external_process_id", "predictionone_conn_id")

    def __init__(
        self,
        *,
        external_process_id: str,
        predictionone_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(predictionone_conn_id=predictionone_conn_id, deferrable=deferrable, **kwargs)
        self.external_process_id = external_process_id

    def _job_id(self) -> Any:
        return self.external_process_id


class PredictionOneRetrainSensor(_PredictionOneJobSensor):
    """Wait until a Prediction One retraining job has finished.

    When it has, the model id the retraining produced is pushed to XCom under the key
    ``model_id``: the id the status reports, or the given ``model_id`` when it reports none.

    :param retrain_job_id: the retraining job's id (returned by Retrain Data Upload). Templated.
    :param model_id: the model being retrained (the one behind the prediction API). Templated.
    :param predictionone_conn_id: the Prediction One connection. Templated.
    :param deferrable: wait on the triggerer instead of occupying a worker slot; defaults to
        ``[operators] default_deferrable``. ``poke_interval`` is the polling interval and
        ``timeout`` the overall deadline in every mode.
    """

    kind = JobKind.RETRAIN
    template_fields: Sequence[str] = ("retrain_job_id", "model_id", "predictionone_conn_id")

    def __init__(
        self,
        *,
        retrain_job_id: str,
        model_id: int | str,
        predictionone_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(predictionone_conn_id=predictionone_conn_id, deferrable=deferrable, **kwargs)
        self.retrain_job_id = retrain_job_id
        self.model_id = model_id

    def _job_id(self) -> Any:
        return self.retrain_job_id

    def _model_id(self) -> Any:
        return self.model_id

    def _on_success(self, context: Context, status: TrainStatus | RetrainStatus | dict[str, Any]) -> None:
        reported = status.get("model_id") if isinstance(status, dict) else getattr(status, "model_id", None)
        new_model_id = reported if reported is not None else self._job()[1]
        if new_model_id is not None:
            self.log.info("Retrained model id: %s (pushed to XCom key %r).", new_model_id, MODEL_ID_XCOM_KEY)
            context["ti"].xcom_push(key=MODEL_ID_XCOM_KEY, value=int(new_model_id))
