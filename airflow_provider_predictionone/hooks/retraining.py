"""The retrain flow (spec 1.3) as hook methods: upload new data (which starts retraining) once per
task, read the result, switch the prediction API to the retrained model.

Retraining starts when the upload completes, so :meth:`RetrainingMixin.start_retraining` records
the job id in the task's ledger *before* the upload; the next try re-attaches to it when the service
shows it received the data, and starts afresh when it did not (or the data arrived altered).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api.contract import RETRAIN_STATUS_RUNNING, JobKind, JobState
from airflow_provider_predictionone.api.errors import (
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneError,
    PredictionOneTransportError,
    PredictionOneUploadError,
    UploadIntegrityError,
)
from airflow_provider_predictionone.hooks.jobs import DEFAULT_CHECK_INTERVAL, DEFAULT_TIMEOUT
from airflow_provider_predictionone.hooks.training import TrainingMixin

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.models import RetrainStatus
    from airflow_provider_predictionone.api.sources import PathOrFile, UploadSource
    from airflow_provider_predictionone.hooks.ledger import JobLedger


def retrain_received_data(status: RetrainStatus) -> bool:
    """Whether a retraining job shows that its upload reached the service.

    Only positive evidence counts: the job reports the model it creates, is running (the
    emulator's ``job_running``; the service's non-final values are undocumented, spec 7.2), or has
    ended. A job still waiting for its data (``job_queued``) or in an unknown state has not.
    """
    if status.model_id is not None or status.state is not JobState.RUNNING:
        return True
    return (status.status or "").strip().lower() == RETRAIN_STATUS_RUNNING


class RetrainingMixin(TrainingMixin):
    """Retrain a deployed model with new data, and switch its prediction API to the result."""

    def start_retraining(
        self,
        model_id: int,
        training_file: PathOrFile,
        evaluation_file: PathOrFile | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> str:
        """Upload new data for ``model_id`` — a CSV, or a zip of training + evaluation files in the
        spec's layout — which starts retraining; or re-attach to the retraining an earlier try of the
        task started. The files are checked before any request, as for a first training
        (:func:`~.api.datafiles.check_training_files`: header, data rows, same columns).

        :param model_id: the model behind the prediction API to retrain (spec 7.16).
        :param context: the task's context (default: the running task's, if any) for the ledger.
        :return: the ``retrain_job_id``.
        """
        from airflow_provider_predictionone.api.datafiles import check_training_files

        files = check_training_files(training_file, evaluation_file)
        for warning in files.warnings:
            self.log.warning("%s", warning)
        training, evaluation = files.training, files.evaluation
        ledger = self.ledger(context, JobKind.RETRAIN.value)
        record = ledger.get()
        if record and record.get("model_id") == model_id and record.get("job_id") and not record.get("damaged"):
            reattached = self._reattach_retraining(
                model_id, str(record["job_id"]), uploaded=bool(record.get("uploaded"))
            )
            if reattached is not None:
                return reattached
        job_id = self._upload_retraining(ledger, model_id, training, evaluation)
        ledger.set({"model_id": model_id, "job_id": job_id, "uploaded": True})
        self.log.info("Uploaded retraining data for model %s: retrain_job_id %s.", model_id, job_id)
        return job_id

    def _reattach_retraining(self, model_id: int, job_id: str, *, uploaded: bool) -> str | None:
        """The retraining an earlier try started, if it is usable; ``None`` to start a new one.

        ``uploaded`` is false when the earlier try recorded the job but not the end of its upload
        (the upload failed, its answer was lost, or the worker died): the job is re-attached only if
        the service shows it received the data (:func:`retrain_received_data`).
        """
        try:
            status = self.get_conn().retrain_status(model_id, job_id)
        except PredictionOneAPIError:
            if uploaded:
                raise
            self.log.info("The retraining job %s of an earlier try is unknown; starting a new one.", job_id)
            return None
        if not uploaded and not retrain_received_data(status):
            self.log.info(
                "The retraining job %s of an earlier try never received its data (status %r); starting a new one.",
                job_id,
                status.status,
            )
            return None
        if status.state is JobState.FAILED:
            self.log.info("The retraining started by an earlier try (%s) failed; starting a new one.", job_id)
            return None
        self.log.info("Re-attaching to retraining %s started by an earlier try (no duplicate).", job_id)
        return job_id

    def _upload_retraining(
        self, ledger: JobLedger, model_id: int, training: UploadSource, evaluation: UploadSource | None
    ) -> str:
        """Upload the data (which starts retraining) and return the job id.

        The upload is repeated when it fails; a repeated upload after the service did receive the
        first one is refused (the data was already taken), so when the upload fails the job's status
        decides: a job that received its data is the one to wait for — unless the data arrived
        altered (:class:`UploadIntegrityError`: that job is never used).
        """
        from airflow_provider_predictionone.api.datafiles import build_retrain_zip
        from airflow_provider_predictionone.api.scratch import working_folder

        client = self.get_conn()
        with working_folder() as folder:
            source = training
            if evaluation is not None:
                source = build_retrain_zip(training, evaluation, Path(folder) / f"{Path(training.name).stem}.zip")
            upload = client.retrain_upload_url(model_id, source.name)
            job_id = upload.retrain_job_id
            ledger.set({"model_id": model_id, "job_id": job_id, "uploaded": False})
            label = "retraining file" if evaluation is None else "retraining archive"
            try:
                client.upload(upload.upload_url, source, label=label)
            except UploadIntegrityError:
                ledger.set({"model_id": model_id, "job_id": job_id, "uploaded": False, "damaged": True})
                raise
            except (PredictionOneUploadError, PredictionOneTransportError) as exc:
                try:
                    status = client.retrain_status(model_id, job_id)
                except PredictionOneError:
                    raise exc from None
                if not retrain_received_data(status):
                    raise
                self.log.warning(
                    "The upload for retraining %s reported a failure (%s), but the service received the data "
                    "(status %r): waiting for that job instead of starting another.",
                    job_id,
                    exc,
                    status.status,
                )
        return job_id

    def retraining_result(
        self,
        retrain_job_id: str,
        model_id: int,
        status: RetrainStatus,
        *,
        result_path: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What a finished retraining produced: ``retrain_job_id``, ``base_model_id``, ``model_id``
        (the retrained one), ``status``, ``message``, ``metrics``, ``result_path``. Clears the task's
        ledger entry (clearing the task later retrains again)."""
        metrics: dict[str, Any] = {}
        if status.download_url:
            metrics = self.download_result(status.download_url, result_path).metrics
        self.log.info("Retraining %s finished: new model_id %s, metrics %s", retrain_job_id, status.model_id, metrics)
        self.ledger(context, JobKind.RETRAIN.value).clear()
        return {
            "retrain_job_id": retrain_job_id,
            "base_model_id": model_id,
            "model_id": status.model_id,
            "status": status.status,
            "message": status.message,
            "metrics": metrics,
            "result_path": None if result_path is None else str(result_path),
        }

    def retrain_model(
        self,
        model_id: int,
        training_file: PathOrFile,
        evaluation_file: PathOrFile | None = None,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        result_path: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Retrain and wait: :meth:`start_retraining`, :meth:`wait_for_job`, :meth:`retraining_result`."""
        job_id = self.start_retraining(model_id, training_file, evaluation_file, context=context)
        status = self.wait_for_job(JobKind.RETRAIN, job_id, model_id, check_interval=check_interval, timeout=timeout)
        return self.retraining_result(job_id, model_id, status, result_path=result_path, context=context)

    def finished_retraining(self, model_id: int, retrain_job_id: str) -> RetrainStatus:
        """The retraining's status (Retrain Status Check), which must say it finished.

        :raises PredictionOneConfigError: the retraining has not finished.
        """
        status = self.get_conn().retrain_status(model_id, retrain_job_id)
        if status.state is not JobState.SUCCEEDED:
            raise PredictionOneConfigError(
                f"Retraining {retrain_job_id} is not finished (status {status.status!r}); switch only after it "
                "reports 'job_finished' (wait with PredictionOneRetrainSensor or the retrain operator)."
            )
        return status

    def switch_model(self, model_id: int, retrain_job_id: str) -> dict[str, Any]:
        """Switch the prediction API of ``model_id`` to the finished retraining (spec 4.17).

        :raises PredictionOneConfigError: the retraining has not finished (checked first).
        :return: ``retrain_job_id``, ``base_model_id`` and the ``model_id`` now being served.
        """
        status = self.finished_retraining(model_id, retrain_job_id)
        self.get_conn().switch_model(model_id, retrain_job_id)
        self.log.info("The prediction API of model %s now serves retrained model %s.", model_id, status.model_id)
        return {"retrain_job_id": retrain_job_id, "base_model_id": model_id, "model_id": status.model_id}
