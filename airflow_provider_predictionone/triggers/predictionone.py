"""Waiting for Prediction One training and retraining jobs: the trigger and the shared checks.

Three pieces are shared by every operator and sensor that waits for a job, so that a job's status
is interpreted in one place (:func:`contract.job_state`, spec 7.2):

* :class:`PredictionOneJobTrigger` polls a job on the triggerer (deferrable mode) and fires one
  event whose payload is described in the class docstring;
* :func:`job_event_result` validates that event in ``execute_complete`` and turns a failure,
  a timeout or an error into the matching exception;
* :func:`check_job` checks a job once with the sync client (poke mode and blocking waits).

It also holds what both of this package's triggers share (the prediction-API trigger in
:mod:`.classifier` too): :class:`PollingTrigger`, the poll loop with its deadline and its single
event, and :func:`read_event` / :func:`raise_for_event`, the reading of that event in
``execute_complete``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable
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
    subject = f"job {expected_job_id!r}"
    checked = read_event(event, id_key="job_id", expected_id=expected_job_id, noun="job")
    kind = checked.get("kind")
    if expected_kind is not None and kind != _job_kind(expected_kind).value:
        raise PredictionOneError(
            f"The Prediction One trigger event is for a {kind!r} job, but the task waits for a "
            f"{_job_kind(expected_kind).value!r} job."
        )
    job_id = str(expected_job_id)
    return raise_for_event(
        checked,
        subject=subject,
        failed=lambda message: _failed_error(kind, job_id, checked.get("job_status"), message),
        timeout_text=f"Prediction One job {job_id} did not finish before the deadline.",
        error_text=f"Checking Prediction One job {job_id} failed.",
    )


def read_event(event: Any, *, id_key: str, expected_id: Any, noun: str) -> dict[str, Any]:
    """The event of one of this package's triggers, checked to be a dict about ``expected_id``.

    :param id_key: the payload key holding the id (``job_id``, ``classifier_id``).
    :param noun: what the id names, in messages (``job``, ``prediction API``).
    :raises PredictionOneError: the event is not a dict, or it is about another id.
    """
    if not isinstance(event, dict):
        raise PredictionOneError(
            f"Malformed Prediction One trigger event: expected a dict, got {type(event).__name__}."
        )
    got = event.get(id_key)
    if got is None or str(got) != str(expected_id):
        raise PredictionOneError(
            f"The Prediction One trigger event is for {noun} {got!r}, but the task waits for {noun} {expected_id!r}."
        )
    return event


def raise_for_event(
    event: dict[str, Any],
    *,
    subject: str,
    failed: Callable[[str], Exception],
    timeout_text: str,
    error_text: str,
) -> dict[str, Any]:
    """Return a ``success`` event; raise the matching exception for any other ``status``.

    :param failed: builds the exception for ``failed`` from the event's message.
    :param timeout_text: the :class:`JobTimeoutError` text when the event carries no message.
    :param error_text: the :class:`PredictionOneError` text when an ``error`` event carries none.
    """
    status = event.get("status")
    message = event.get("message")
    message = "" if message is None else str(message)
    if status == EVENT_SUCCESS:
        return event
    if status == EVENT_FAILED:
        raise failed(message)
    if status == EVENT_TIMEOUT:
        raise JobTimeoutError(message or timeout_text)
    if status == EVENT_ERROR:
        raise PredictionOneError(message or error_text)
    raise PredictionOneError(
        f"Malformed Prediction One trigger event for {subject}: unknown status {status!r} "
        f"(expected one of {sorted(EVENT_STATUSES)})."
    )


NOTHING_LOGGED = object()


class PollingTrigger(BaseTrigger):
    """The poll loop shared by this package's triggers (jobs and prediction APIs).

    One async client serves the whole wait; it re-issues an expired API key and retries transient
    errors itself. Every trigger of the same connection in a triggerer shares that client's HTTP
    connection pool and API key cache (see ``PredictionOneHook.get_async_conn``), so a thousand
    waits use a few kept-alive connections and one key. A check starts every ``poll_interval``
    seconds (the time a check takes is not added to it), so an end is seen at most one interval
    after it happened; the check at the deadline is the last. Exactly one event is fired.

    Subclasses give :attr:`label`, :meth:`check`, :meth:`timeout_text` and :meth:`event`.

    :param predictionone_conn_id: the Prediction One connection.
    :param poll_interval: seconds between two checks.
    :param end_time: absolute deadline in epoch seconds (``time.time()``); ``None`` waits forever.
    """

    def __init__(self, *, predictionone_conn_id: str, poll_interval: float, end_time: float | None) -> None:
        super().__init__()
        if not predictionone_conn_id:
            raise ValueError("predictionone_conn_id is empty.")
        self.predictionone_conn_id = str(predictionone_conn_id)
        self.poll_interval = float(poll_interval)
        if self.poll_interval < 0:
            raise ValueError(f"poll_interval must not be negative, got {poll_interval!r}.")
        self.end_time = None if end_time is None else float(end_time)
        self._logged: object = NOTHING_LOGGED

    @property
    def label(self) -> str:
        """What is waited for, in messages (``Prediction One training job ...``)."""
        raise NotImplementedError

    async def check(self, client: AsyncPredictionOneClient) -> tuple[str | None, str]:
        """Check once: ``(EVENT_SUCCESS or EVENT_FAILED, message)`` when the wait is over, else ``(None, "")``."""
        raise NotImplementedError

    def timeout_text(self) -> str:
        """The message of the ``timeout`` event."""
        raise NotImplementedError

    def event(self, status: str, message: str) -> dict[str, Any]:
        """The event's payload (primitives only) from the last check."""
        raise NotImplementedError

    def log_change(self, seen: Hashable, text: str) -> None:
        """Log ``text`` when ``seen`` differs from what the previous check saw (one line per change)."""
        if seen != self._logged:
            self._logged = seen
            self.log.info("%s", text)

    def deadline_text(self) -> str:
        """The deadline in ISO 8601 UTC."""
        assert self.end_time is not None
        return datetime.fromtimestamp(self.end_time, tz=timezone.utc).isoformat(timespec="seconds")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check until the wait is over, the deadline passes, or checking raises; fire one event."""
        try:
            hook = PredictionOneHook(self.predictionone_conn_id)
            client = await hook.get_async_conn()
            async with client:
                while True:
                    polled = time.monotonic()
                    outcome, message = await self.check(client)
                    if outcome is not None:
                        event = self.event(outcome, message)
                        break
                    now = time.time()
                    if self.end_time is not None and now >= self.end_time:
                        text = self.timeout_text()
                        self.log.warning("%s", text)
                        event = self.event(EVENT_TIMEOUT, text)
                        break
                    delay = self.poll_interval - (time.monotonic() - polled)
                    if self.end_time is not None:
                        delay = min(delay, self.end_time - now)
                    await asyncio.sleep(max(delay, 0.0))
        except Exception as exc:
            # The client already retried transient errors; what reaches here is final.
            detail = str(exc) if isinstance(exc, PredictionOneError) else f"{type(exc).__name__}: {exc}"
            text = f"Could not check {self.label}: {detail}"
            self.log.error("%s", text)
            event = self.event(EVENT_ERROR, text)
        yield TriggerEvent(event)


class PredictionOneJobTrigger(PollingTrigger):
    """Poll a Prediction One training or retraining job until it ends or a deadline passes.

    The poll loop (one shared client, a check every ``poll_interval``, the deadline) is
    :class:`PollingTrigger`'s.

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
        super().__init__(predictionone_conn_id=predictionone_conn_id, poll_interval=poll_interval, end_time=end_time)
        self.kind, self.job_id, self.model_id = normalize_job(kind, job_id, model_id)
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
        self.log_change((last.status, last.message), describe_job_status(self.kind, self.job_id, last))
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
