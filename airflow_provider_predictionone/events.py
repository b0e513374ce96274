"""The one event a trigger fires, and how a resumed task reads it.

Both triggers fire one dict of primitives whose ``status`` is one of
:data:`~.api.contract.EVENT_STATUSES`. ``execute_complete`` of every deferrable operator and sensor
passes it to :func:`job_event_result` or :func:`classifier_event_result`, which return a success
event and raise the matching exception for anything else, so every task reads events the same way.

Job event (:class:`~.triggers.predictionone.PredictionOneJobTrigger`)::

    {"status": ..., "kind": "train" | "retrain", "job_id": str, "model_id": int | None,
     "job_status": str | None, "message": str}

Prediction API event (:class:`~.triggers.classifier.PredictionOneClassifierTrigger`)::

    {"status": ..., "classifier_id": str, "classifier_status": str | None, "message": str}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_predictionone.api.contract import (
    EVENT_ERROR,
    EVENT_FAILED,
    EVENT_STATUSES,
    EVENT_SUCCESS,
    EVENT_TIMEOUT,
    JobKind,
)
from airflow_provider_predictionone.api.errors import (
    JobFailedError,
    JobTimeoutError,
    PredictionApiFailedError,
    PredictionOneError,
)


def job_failed_error(kind: JobKind | None, job_id: str, status: str | None, message: str | None) -> JobFailedError:
    """The error for a job that ended in a failure status (poll or event: the same text)."""
    label = f"{kind.label} job" if kind is not None else "job"
    text = f"Prediction One {label} {job_id} failed with status {status!r}"
    text += f": {message}" if message else " and no message from the service."
    return JobFailedError(text, status=status, message=message or None)


def read_event(event: Any, *, id_key: str, expected_id: Any, noun: str) -> dict[str, Any]:
    """The event, checked to be a dict about ``expected_id``.

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
    event: dict[str, Any], *, subject: str, failed: Callable[[str], Exception], timeout_text: str, error_text: str
) -> dict[str, Any]:
    """Return a ``success`` event; raise the matching exception for any other ``status``.

    :param failed: builds the exception for ``failed`` from the event's message.
    :param timeout_text: the :class:`JobTimeoutError` text when the event carries no message.
    :param error_text: the :class:`PredictionOneError` text when an ``error`` event carries none.
    """
    status = event.get("status")
    message = "" if event.get("message") is None else str(event.get("message"))
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


def job_event_result(event: Any, *, expected_job_id: str, expected_kind: JobKind | str | None = None) -> dict[str, Any]:
    """Validate a job trigger's event in ``execute_complete``.

    :param event: the ``event`` keyword argument Airflow passes to ``execute_complete``.
    :param expected_job_id: the job id the task deferred for; an event for another job is refused.
    :param expected_kind: if given, the event's ``kind`` must match it.
    :return: the event itself when its ``status`` is ``"success"``.
    :raises JobFailedError: the job ended in a failure status (``.status``, ``.message``).
    :raises JobTimeoutError: the job did not finish before the trigger's deadline.
    :raises PredictionOneError: polling raised, or the event is malformed.
    """
    checked = read_event(event, id_key="job_id", expected_id=expected_job_id, noun="job")
    raw_kind = checked.get("kind")
    kind = JobKind(raw_kind) if raw_kind in {k.value for k in JobKind} else None
    if expected_kind is not None and kind is not JobKind(expected_kind):
        raise PredictionOneError(
            f"The Prediction One trigger event is for a {raw_kind!r} job, but the task waits for a "
            f"{JobKind(expected_kind).value!r} job."
        )
    job_id = str(expected_job_id)
    return raise_for_event(
        checked,
        subject=f"job {expected_job_id!r}",
        failed=lambda message: job_failed_error(kind, job_id, checked.get("job_status"), message),
        timeout_text=f"Prediction One job {job_id} did not finish before the deadline.",
        error_text=f"Checking Prediction One job {job_id} failed.",
    )


def classifier_event_result(event: Any, *, expected_classifier_id: str) -> dict[str, Any]:
    """Validate a prediction API trigger's event in ``execute_complete``.

    :return: the event itself when its ``status`` is ``"success"``.
    :raises PredictionApiFailedError: it failed (``.status`` is the raw status) or vanished while
        expected to run (``.status`` is ``None``).
    :raises JobTimeoutError: the deadline passed first.
    :raises PredictionOneError: polling raised, or the event is malformed.
    """
    checked = read_event(event, id_key="classifier_id", expected_id=expected_classifier_id, noun="prediction API")
    classifier_id = str(expected_classifier_id)

    def failed(message: str) -> PredictionApiFailedError:
        raw = checked.get("classifier_status")
        text = message or f"Prediction One prediction API {classifier_id} failed (status {raw!r})."
        return PredictionApiFailedError(text, status=raw, message=message or None)

    return raise_for_event(
        checked,
        subject=f"prediction API {expected_classifier_id!r}",
        failed=failed,
        timeout_text=f"Prediction One prediction API {classifier_id} did not change in time.",
        error_text=f"Checking Prediction One prediction API {classifier_id} failed.",
    )
