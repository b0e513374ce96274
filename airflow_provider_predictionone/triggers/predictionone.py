"""The trigger that waits for a Prediction One training or retraining job on the triggerer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import EVENT_FAILED, EVENT_SUCCESS, JobKind, JobState
from airflow_provider_predictionone.triggers.base import PollingTrigger

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient
    from airflow_provider_predictionone.hooks.jobs import JobStatus


class PredictionOneJobTrigger(PollingTrigger):
    """Poll a Prediction One training or retraining job until it ends or a deadline passes.

    The poll loop (one shared client, a check every ``poll_interval``, the deadline) is
    :class:`~.base.PollingTrigger`'s. The trigger fires exactly one event, a dict of primitives::

        {
            "status": "success" | "failed" | "timeout" | "error",
            "kind": "train" | "retrain",
            "job_id": str,
            "model_id": int | None,   # retrain: the model id the status reports, else the given one
            "job_status": str | None, # the last raw status string received (None if none was)
            "message": str,
        }

    ``message`` is the service's own ``message`` for ``success`` and ``failed`` (``""`` when it sent
    none), and an explanation for ``timeout`` and ``error`` (for ``error``, the exception's text).
    Pass the event to :func:`~airflow_provider_predictionone.events.job_event_result`.

    :param kind: ``"train"`` or ``"retrain"`` (a :class:`~..api.contract.JobKind`).
    :param job_id: the training ``external_process_id`` or the ``retrain_job_id``.
    :param predictionone_conn_id: the Prediction One connection.
    :param poll_interval: seconds between two status checks.
    :param end_time: absolute deadline in epoch seconds (``time.time()``); ``None`` waits forever.
    :param model_id: the model being retrained; required for ``retrain`` (the retrain key is bound
        to it).
    """

    def __init__(
        self,
        *,
        kind: JobKind | str,
        job_id: str,
        predictionone_conn_id: str,
        poll_interval: float,
        end_time: float | None,
        model_id: int | None = None,
    ) -> None:
        super().__init__(predictionone_conn_id=predictionone_conn_id, poll_interval=poll_interval, end_time=end_time)
        self.kind, self.job_id, self.model_id = arguments.job(kind, job_id, model_id)
        self._last: JobStatus | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the keyword arguments, primitives only."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind.value,
                "job_id": self.job_id,
                "predictionone_conn_id": self.predictionone_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "model_id": self.model_id,
            },
        )

    @property
    def label(self) -> str:
        """``Prediction One training job <id>`` (or retraining)."""
        return f"Prediction One {self.kind.label} job {self.job_id}"

    async def check(self, client: AsyncPredictionOneClient) -> tuple[str | None, str]:
        """Read the job's status once; success and failure carry the service's message."""
        if self.kind is JobKind.TRAIN:
            last: JobStatus = await client.train_status(self.job_id)
        else:
            assert self.model_id is not None
            last = await client.retrain_status(self.model_id, self.job_id)
        self._last = last
        self.log_change((last.status, last.message), last.describe())
        if last.state is JobState.SUCCEEDED:
            return EVENT_SUCCESS, last.message or ""
        if last.state is JobState.FAILED:
            return EVENT_FAILED, last.message or ""
        return None, ""

    def timeout_text(self) -> str:
        """``... did not finish before the deadline ...; last status ...``."""
        last = self._last
        status = None if last is None else last.status
        text = f"{self.label} did not finish before the deadline {self.deadline_text()}; last status {status!r}"
        return text + (f" with message: {last.message}" if last is not None and last.message else ".")

    def event(self, status: str, message: str) -> dict[str, Any]:
        """The payload described in the class docstring."""
        last = self._last
        model_id = self.model_id
        reported = getattr(last, "model_id", None)
        if self.kind is JobKind.RETRAIN and reported is not None:
            model_id = int(reported)
        return {
            "status": status,
            "kind": self.kind.value,
            "job_id": self.job_id,
            "model_id": model_id,
            "job_status": None if last is None else last.status,
            "message": message,
        }
