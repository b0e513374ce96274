"""Waiting for Prediction One training and retraining jobs: the trigger and the shared checks.

Three pieces are shared by every operator and sensor that waits for a job, so that a job's status
is interpreted in one place (:func:`contract.job_state`, spec 7.2):

* :class:`PredictionOneJobTrigger` polls a job on the triggerer (deferrable mode) and fires one
  event whose payload is described in the class docstring;
* :func:`job_event_result` validates that event in ``execute_complete`` and turns a failure,
  a timeout or an error into the matching exception;
* :func:`check_job` checks a job once with the sync client (poke mode and blocking waits).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Union

from airflow_provider_predictionone.api.contract import SUCCESS_STATUSES, JobState
from airflow_provider_predictionone.api.errors import JobFailedError, JobTimeoutError, PredictionOneError
from airflow_provider_predictionone.compat import BaseTrigger, TriggerEvent
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.client import AsyncPredictionOneClient, PredictionOneClient
    from airflow_provider_predictionone.api.models import RetrainStatus, TrainStatus

    JobStatus = Union[TrainStatus, RetrainStatus]  # noqa: UP007 (runtime alias on 3.10)

log = logging.getLogger(__name__)

EVENT_SUCCESS = "success"
EVENT_FAILED = "failed"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"
EVENT_STATUSES = frozenset({EVENT_SUCCESS, EVENT_FAILED, EVENT_TIMEOUT, EVENT_ERROR})
"""Every value of an event's ``status``."""


class JobKind(str, enum.Enum):
    """Which kind of Prediction One job is waited for."""

    TRAIN = "train"
    RETRAIN = "retrain"

    @property
    def label(self) -> str:
        """The job's name in messages: ``training`` or ``retraining``."""
        return "training" if self is JobKind.TRAIN else "retraining"


def _job_kind(kind: JobKind | str) -> JobKind:
    try:
        return JobKind(kind)
    except ValueError:
        allowed = ", ".join(repr(k.value) for k in JobKind)
        raise ValueError(f"kind must be one of {allowed}, got {kind!r}.") from None


def normalize_job(kind: JobKind | str, job_id: Any, model_id: Any = None) -> tuple[JobKind, str, int | None]:
    """Check and normalise the arguments naming a job; rendered templates may arrive as strings.

    :param kind: ``"train"`` / ``"retrain"`` or a :class:`JobKind`.
    :param job_id: the training ``external_process_id`` or the ``retrain_job_id``.
    :param model_id: the model being retrained (an int or a decimal string); required for retrain.
    :return: ``(kind, job_id, model_id)`` as ``JobKind``, stripped ``str`` and ``int`` or ``None``.
    :raises ValueError: the kind is unknown, the job id empty, or model_id missing / not an integer.
    """
    job_kind = _job_kind(kind)
    text = "" if job_id is None else str(job_id).strip()
    if text.lower() in {"", "none", "null"}:  # a template renders a missing param or XCom as "None"
        name = "external_process_id" if job_kind is JobKind.TRAIN else "retrain_job_id"
        raise ValueError(
            f"The {job_kind.label} job id ({name}={job_id!r}) is empty. If it comes from a template or an XCom, "
            "check that it renders to the job id: a missing param or XCom renders as 'None'."
        )
    number: int | None = None
    if model_id is not None and model_id != "":
        try:
            if isinstance(model_id, bool):
                raise TypeError
            number = int(model_id)
        except (TypeError, ValueError):
            raise ValueError(f"model_id must be an integer, got {model_id!r}.") from None
    if job_kind is JobKind.RETRAIN and number is None:
        raise ValueError(
            "model_id is required to wait for a retraining job: pass the id of the model behind the prediction API."
        )
    return job_kind, text, number


def describe_job_status(kind: JobKind | str, job_id: str, status: JobStatus) -> str:
    """One log line for a job status: raw value, how it was read, and the service's message.

    Spec 7.2 asks to log status values the manual does not document; the line says so.

    :param kind: ``train`` or ``retrain``.
    :param job_id: the ``external_process_id`` or ``retrain_job_id``.
    :param status: the :class:`TrainStatus` or :class:`RetrainStatus` received.
    """
    job_kind = _job_kind(kind)
    state = status.state
    documented = (status.status or "").strip().lower() in SUCCESS_STATUSES
    if state is JobState.RUNNING:
        reading = "still running (not a documented value)"
    elif state is JobState.SUCCEEDED and not documented:
        reading = "succeeded (not a documented value, but the result is available)"
    else:
        reading = state.value
    line = f"Prediction One {job_kind.label} job {job_id}: status {status.status!r}: {reading}"
    if status.message:
        line += f"; message: {status.message}"
    return line


def _failed_error(kind: JobKind | str | None, job_id: str, status: str | None, message: str | None) -> JobFailedError:
    label = f"{JobKind(kind).label} job" if kind in {k.value for k in JobKind} else "job"
    text = f"Prediction One {label} {job_id} failed with status {status!r}"
    text += f": {message}" if message else " and no message from the service."
    return JobFailedError(text, status=status, message=message or None)


def check_job(
    client: PredictionOneClient,
    kind: JobKind | str,
    job_id: str,
    model_id: int | None = None,
) -> TrainStatus | RetrainStatus:
    """Check a training or retraining job once with the synchronous client (poke mode).

    The client retries transient errors and re-issues an expired API key itself.

    :param client: the sync client, e.g. ``PredictionOneHook(conn_id).get_conn()``.
    :param kind: ``JobKind.TRAIN`` / ``"train"`` or ``JobKind.RETRAIN`` / ``"retrain"``.
    :param job_id: the training ``external_process_id`` or the ``retrain_job_id``.
    :param model_id: the model being retrained (required for retrain; its retrain key is bound to it).
    :return: the status; ``status.state`` is ``JobState.SUCCEEDED`` or ``JobState.RUNNING``.
    :raises JobFailedError: the job ended in a failure status (carries the raw ``status`` and the
        service's ``message``).
    :raises ValueError: the arguments do not name a job.
    :raises PredictionOneError: the status could not be fetched.
    """
    job_kind, job, model = normalize_job(kind, job_id, model_id)
    if job_kind is JobKind.TRAIN:
        status: TrainStatus | RetrainStatus = client.train_status(job)
    else:
        assert model is not None
        status = client.retrain_status(model, job)
    log.info("%s", describe_job_status(job_kind, job, status))
    if status.state is JobState.FAILED:
        raise _failed_error(job_kind, job, status.status, status.message)
    return status


def job_event_result(
    event: Any,
    *,
    expected_job_id: str,
    expected_kind: JobKind | str | None = None,
) -> dict[str, Any]:
    """Validate an event of :class:`PredictionOneJobTrigger` in ``execute_complete``.

    Used by the sensors and by the operators, so every deferrable task reads events the same way.

    :param event: the ``event`` keyword argument Airflow passes to ``execute_complete``.
    :param expected_job_id: the job id the task deferred for; an event for another job is refused.
    :param expected_kind: if given, the event's ``kind`` must match it.
    :return: the event itself (a dict) when its ``status`` is ``"success"``.
    :raises JobFailedError: ``"failed"``: the job ended in a failure status; ``.status`` is the
        raw status and ``.message`` the service's message.
    :raises JobTimeoutError: ``"timeout"``: the job did not finish before the trigger's deadline.
    :raises PredictionOneError: ``"error"`` (polling raised; the text is the event's message), or the
        event is malformed (not a dict, another job, another kind, an unknown status).
    """
    if not isinstance(event, dict):
        raise PredictionOneError(
            f"Malformed Prediction One trigger event: expected a dict, got {type(event).__name__}."
        )
    job_id = event.get("job_id")
    if job_id is None or str(job_id) != str(expected_job_id):
        raise PredictionOneError(
            f"The Prediction One trigger event is for job {job_id!r}, but the task waits for job {expected_job_id!r}."
        )
    kind = event.get("kind")
    if expected_kind is not None and kind != _job_kind(expected_kind).value:
        raise PredictionOneError(
            f"The Prediction One trigger event is for a {kind!r} job, but the task waits for a "
            f"{_job_kind(expected_kind).value!r} job."
        )
    status = event.get("status")
    message = event.get("message")
    message = "" if message is None else str(message)
    if status == EVENT_SUCCESS:
        return event
    if status == EVENT_FAILED:
        raise _failed_error(kind, str(job_id), event.get("job_status"), message)
    if status == EVENT_TIMEOUT:
        raise JobTimeoutError(message or f"Prediction One job {job_id} did not finish before the deadline.")
    if status == EVENT_ERROR:
        raise PredictionOneError(message or f"Checking Prediction One job {job_id} failed.")
    raise PredictionOneError(
        f"Malformed Prediction One trigger event for job {job_id!r}: unknown status {status!r} "
        f"(expected one of {sorted(EVENT_STATUSES)})."
    )


def _deadline_text(end_time: float) -> str:
    return datetime.fromtimestamp(end_time, tz=timezone.utc).isoformat(timespec="seconds")


class PredictionOneJobTrigger(BaseTrigger):
    """Poll a Prediction One training or retraining job until it ends or a deadline passes.

    One async client is used for the whole wait; it re-issues an expired API key and retries
    transient errors itself. Every trigger of the same connection in a triggerer shares that
    client's HTTP connection pool and API key cache (see ``PredictionOneHook.get_async_conn``), so
    a thousand waits use a few kept-alive connections and one key. A check starts every
    ``poll_interval`` seconds (the time a check takes is not added to the interval).

    The trigger fires exactly one event, a dict of primitives::

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
    Pass the event to :func:`job_event_result`.

    :param kind: ``"train"`` or ``"retrain"`` (a :class:`JobKind`).
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
        super().__init__()
        self.kind, self.job_id, self.model_id = normalize_job(kind, job_id, model_id)
        if not predictionone_conn_id:
            raise ValueError("predictionone_conn_id is empty.")
        self.predictionone_conn_id = str(predictionone_conn_id)
        self.poll_interval = float(poll_interval)
        if self.poll_interval < 0:
            raise ValueError(f"poll_interval must not be negative, got {poll_interval!r}.")
        self.end_time = None if end_time is None else float(end_time)

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

    async def _fetch(self, client: AsyncPredictionOneClient) -> TrainStatus | RetrainStatus:
        if self.kind is JobKind.TRAIN:
            return await client.train_status(self.job_id)
        assert self.model_id is not None
        return await client.retrain_status(self.model_id, self.job_id)

    def _event(self, status: str, last: JobStatus | None, message: str) -> dict[str, Any]:
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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the job succeeds or fails, the deadline passes, or checking raises."""
        label = f"Prediction One {self.kind.label} job {self.job_id}"
        last: JobStatus | None = None
        logged: tuple[str, str | None] | None = None
        try:
            hook = PredictionOneHook(self.predictionone_conn_id)
            client = await hook.get_async_conn()
            async with client:
                while True:
                    polled = time.monotonic()
                    last = await self._fetch(client)
                    if (last.status, last.message) != logged:
                        logged = (last.status, last.message)
                        self.log.info("%s", describe_job_status(self.kind, self.job_id, last))
                    state = last.state
                    if state is JobState.SUCCEEDED:
                        event = self._event(EVENT_SUCCESS, last, last.message or "")
                        break
                    if state is JobState.FAILED:
                        event = self._event(EVENT_FAILED, last, last.message or "")
                        break
                    now = time.time()
                    if self.end_time is not None and now >= self.end_time:
                        text = (
                            f"{label} did not finish before the deadline {_deadline_text(self.end_time)}; "
                            f"last status {last.status!r}"
                        )
                        text += f" with message: {last.message}" if last.message else "."
                        self.log.warning("%s", text)
                        event = self._event(EVENT_TIMEOUT, last, text)
                        break
                    # Polls start every poll_interval (the time a check takes is not added to it),
                    # so a job's end is seen at most one interval after it happened.
                    delay = self.poll_interval - (time.monotonic() - polled)
                    if self.end_time is not None:
                        delay = min(delay, self.end_time - now)
                    await asyncio.sleep(max(delay, 0.0))
        except Exception as exc:
            # The client already retried transient errors; what reaches here is final.
            detail = str(exc) if isinstance(exc, PredictionOneError) else f"{type(exc).__name__}: {exc}"
            text = f"Could not check {label}: {detail}"
            self.log.error("%s", text)
            event = self._event(EVENT_ERROR, last, text)
        yield TriggerEvent(event)
