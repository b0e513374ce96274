"""Checking and waiting for training and retraining jobs with the synchronous client.

A job's status is read in one place, :attr:`~.api.models.TrainStatus.state` (spec 7.2); the job
sensors poke with :meth:`JobsMixin.check_job`, the operators and TaskFlow code wait with
:meth:`JobsMixin.wait_for_job`, and the deferrable path waits with the job trigger instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind, JobState
from airflow_provider_predictionone.api.errors import JobTimeoutError
from airflow_provider_predictionone.events import job_failed_error
from airflow_provider_predictionone.hooks.base import HookMixin, poll_until

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.models import RetrainStatus, TrainStatus

JobStatus = Union["TrainStatus", "RetrainStatus"]

DEFAULT_CHECK_INTERVAL = 30.0
"""Seconds between status checks: the manual's training example polls every 30 s (spec 4.5)."""
DEFAULT_TIMEOUT = 24 * 3600.0


class JobsMixin(HookMixin):
    """Training and retraining jobs: one check, or a wait until they end."""

    def job_status(self, kind: JobKind | str, job_id: str, model_id: int | None = None) -> JobStatus:
        """The job's status, as the service reports it (no judgement).

        :param kind: ``"train"`` or ``"retrain"``.
        :param job_id: the training ``external_process_id`` or the ``retrain_job_id``.
        :param model_id: the model being retrained (required for retrain: its retrain key is bound to it).
        """
        job_kind, job, model = arguments.job(kind, job_id, model_id)
        if job_kind is JobKind.TRAIN:
            return self.get_conn().train_status(job)
        assert model is not None
        return self.get_conn().retrain_status(model, job)

    def check_job(self, kind: JobKind | str, job_id: str, model_id: int | None = None) -> JobStatus:
        """Check a job once: its status, or :class:`~.api.errors.JobFailedError` with the service's
        message when it failed. ``status.state`` is then ``SUCCEEDED`` or ``RUNNING``."""
        status = self.job_status(kind, job_id, model_id)
        self.log.info("%s", status.describe())
        if status.state is JobState.FAILED:
            raise job_failed_error(JobKind(kind), str(job_id).strip(), status.status, status.message)
        return status

    def wait_for_job(
        self,
        kind: JobKind | str,
        job_id: str,
        model_id: int | None = None,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> JobStatus:
        """Wait until a job succeeded and return its final status.

        :raises JobFailedError: it ended in a failure status (with the service's message).
        :raises JobTimeoutError: it did not finish within ``timeout`` seconds; it may still be running,
            and a retry of the task re-attaches to it.
        """
        job_kind = JobKind(kind)

        def check() -> tuple[bool, JobStatus]:
            status = self.job_status(job_kind, job_id, model_id)
            if status.state is JobState.FAILED:
                raise job_failed_error(job_kind, str(job_id).strip(), status.status, status.message)
            return status.state is JobState.SUCCEEDED, status

        def timed_out(status: Any) -> JobTimeoutError:
            return JobTimeoutError(
                f"Prediction One {job_kind.value} job {job_id} did not finish within {timeout:.0f}s (last status "
                f"{status.status!r}). It may still be running; raise `timeout`, or retry the task: the retry "
                "re-attaches to this job instead of starting another."
            )

        return poll_until(
            check,
            interval=check_interval,
            timeout=timeout,
            seen=lambda status: (status.status, status.message),
            describe=lambda status: status.describe(),
            timed_out=timed_out,
            log=self.log,
        )
