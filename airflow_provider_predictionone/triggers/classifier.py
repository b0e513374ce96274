"""Waiting for a Prediction One prediction API (classifier) to be running or stopped.

A prediction API builds for minutes (spec 1.2: about 5–20) and stops asynchronously after
``PATCH active=false`` (spec 7.9), so the deploy, update and delete operators wait for it. Its
status is read in one place, :func:`classifier_outcome`, shared by:

* :class:`PredictionOneClassifierTrigger`, which polls Get Classifier on the triggerer
  (deferrable mode) and fires one event whose payload is described in the class docstring;
* :func:`classifier_event_result`, which validates that event in ``execute_complete``;
* :func:`check_classifier` / :func:`wait_for_classifier`, the same checks with the sync client
  (blocking waits in a worker).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api.errors import JobFailedError, JobTimeoutError, PredictionOneError
from airflow_provider_predictionone.triggers.predictionone import (
    EVENT_FAILED,
    EVENT_SUCCESS,
    NOTHING_LOGGED,
    PollingTrigger,
    raise_for_event,
    read_event,
)

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.client import AsyncPredictionOneClient, PredictionOneClient
    from airflow_provider_predictionone.api.models import Classifier


class ClassifierTarget(str, enum.Enum):
    """The state a wait for a prediction API ends in."""

    RUNNING = "running"
    """Status ``running`` with a non-null ``url``: ready for Inference (spec 1.2, 7.9)."""
    STOPPED = "stopped"
    """Status ``terminated`` / ``stopped`` (spec 7.9), or the prediction API no longer exists."""

    @property
    def label(self) -> str:
        """The goal in messages: ``running`` or ``stopped``."""
        return self.value


def normalize_target(target: ClassifierTarget | str) -> ClassifierTarget:
    """``target`` as a :class:`ClassifierTarget`.

    :raises ValueError: the value is neither ``"running"`` nor ``"stopped"``.
    """
    try:
        return ClassifierTarget(target)
    except ValueError:
        allowed = ", ".join(repr(t.value) for t in ClassifierTarget)
        raise ValueError(f"target must be one of {allowed}, got {target!r}.") from None


def _classifier_id(classifier_id: Any) -> str:
    text = "" if classifier_id is None else str(classifier_id).strip()
    if not text or text.lower() in {"none", "null"}:
        raise ValueError("The prediction API id (classifier_id) is empty.")
    return text


class PredictionApiFailedError(JobFailedError):
    """A prediction API ended in the ``failed`` status, or vanished while it was expected to run.

    ``status`` is the raw classifier status (``None`` when it no longer exists).
    """


class PredictionApiNotFoundError(PredictionOneError):
    """No prediction API with the given ``classifier_id`` exists (Get Classifier does not list it)."""


def not_found_message(classifier_id: str) -> str:
    """The text of :class:`PredictionApiNotFoundError` (shared so that every caller says the same)."""
    return (
        f"Prediction One has no prediction API {classifier_id!r} (Get Classifier does not list it; it may have "
        "been deleted). Check the classifier_id in the Prediction One web app, or the XCom it came from."
    )


def classifier_outcome(classifier: Classifier | None, target: ClassifierTarget | str) -> str | None:
    """Read a prediction API's state against the goal of a wait.

    * ``running``: ``"success"`` when the status is ``running`` and ``url`` is set;
      ``"failed"`` when the status is ``failed`` or the prediction API no longer exists.
    * ``stopped``: ``"success"`` when the status is ``terminated`` / ``stopped`` or the prediction
      API no longer exists; ``"failed"`` when the status is ``failed``.

    Anything else (``building``, ``updating``, ``terminating``, ``running`` without a url, an
    undocumented value, or a stopped API while waiting for it to run — the status may lag a
    ``PATCH``) means "keep waiting".

    :param classifier: the prediction API from Get Classifier, or ``None`` if it is not listed.
    :param target: ``"running"`` or ``"stopped"``.
    :return: ``"success"``, ``"failed"`` or ``None`` (not decided yet).
    """
    goal = normalize_target(target)
    if classifier is None:
        return EVENT_SUCCESS if goal is ClassifierTarget.STOPPED else EVENT_FAILED
    if classifier.is_failed:
        return EVENT_FAILED
    if goal is ClassifierTarget.RUNNING and classifier.is_ready:
        return EVENT_SUCCESS
    if goal is ClassifierTarget.STOPPED and classifier.is_stopped:
        return EVENT_SUCCESS
    return None


def describe_classifier(classifier_id: str, classifier: Classifier | None) -> str:
    """One log line for a prediction API's state (never its key)."""
    if classifier is None:
        return f"Prediction One prediction API {classifier_id}: not listed by Get Classifier (it no longer exists)"
    url = "set" if classifier.url else "not set yet"
    return (
        f"Prediction One prediction API {classifier_id}: status {classifier.status!r}, active {classifier.active}, "
        f"url {url}"
    )


def _seen(classifier: Classifier | None) -> tuple[str, bool | None, bool] | None:
    """What a status-change log line depends on."""
    return None if classifier is None else (classifier.status, classifier.active, bool(classifier.url))


def _failed_text(classifier_id: str, target: ClassifierTarget, status: str | None) -> str:
    if status is None:
        return (
            f"Prediction One prediction API {classifier_id} no longer exists, so it cannot become {target.label} "
            "(it was deleted while the task waited)."
        )
    return (
        f"Prediction One prediction API {classifier_id} is in status {status!r}, so it will not become "
        f"{target.label}. Check it in the Prediction One web app; delete it and deploy the model again."
    )


def check_classifier(
    client: PredictionOneClient, classifier_id: str, target: ClassifierTarget | str
) -> tuple[bool, Classifier | None]:
    """Check a prediction API once with the synchronous client.

    :param client: the sync client, e.g. ``PredictionOneHook(conn_id).get_conn()``.
    :param classifier_id: the prediction API.
    :param target: ``"running"`` or ``"stopped"``.
    :return: ``(reached, classifier)``; ``classifier`` is ``None`` when it no longer exists (which
        counts as reached for ``"stopped"``).
    :raises PredictionApiFailedError: the prediction API failed, or vanished while waiting for
        ``"running"``.
    :raises PredictionOneError: Get Classifier could not be called.
    """
    goal = normalize_target(target)
    cid = _classifier_id(classifier_id)
    classifier = client.get_classifier(cid)
    outcome = classifier_outcome(classifier, goal)
    if outcome == EVENT_FAILED:
        status = None if classifier is None else classifier.status
        raise PredictionApiFailedError(_failed_text(cid, goal, status), status=status)
    return outcome == EVENT_SUCCESS, classifier


def wait_for_classifier(
    client: PredictionOneClient,
    classifier_id: str,
    target: ClassifierTarget | str,
    check_interval: float = 30.0,
    timeout: float = 3600.0,
    log: Any = None,
) -> Classifier | None:
    """Poll a prediction API with the sync client until it reaches ``target`` (blocking).

    The first check is made at once; the last one at the deadline (the final sleep is cut short).

    :param client: the sync client.
    :param classifier_id: the prediction API.
    :param target: ``"running"`` or ``"stopped"``.
    :param check_interval: seconds between two checks.
    :param timeout: seconds to wait at most.
    :param log: where status changes are logged (a ``logging.Logger`` or an operator's ``log``);
        default this module's logger.
    :return: the prediction API as last read (``None`` if it disappeared while waiting for ``"stopped"``).
    :raises PredictionApiFailedError: it failed (or vanished while waiting for ``"running"``).
    :raises JobTimeoutError: it did not reach ``target`` within ``timeout``.
    """
    goal = normalize_target(target)
    cid = _classifier_id(classifier_id)
    logger = log if log is not None else logging.getLogger(__name__)
    deadline = time.monotonic() + float(timeout)
    logged: object = NOTHING_LOGGED
    while True:
        reached, classifier = check_classifier(client, cid, goal)
        seen = _seen(classifier)
        if seen != logged:
            logged = seen
            logger.info("%s", describe_classifier(cid, classifier))
        if reached:
            return classifier
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last = None if classifier is None else classifier.status
            raise JobTimeoutError(
                f"Prediction One prediction API {cid} did not become {goal.label} within {float(timeout):g}s "
                f"(last status {last!r}). It may still be changing; raise `timeout`, or retry the task."
            )
        time.sleep(min(float(check_interval), remaining))


def classifier_event_result(event: Any, *, expected_classifier_id: str) -> dict[str, Any]:
    """Validate an event of :class:`PredictionOneClassifierTrigger` in ``execute_complete``.

    :param event: the ``event`` keyword argument Airflow passes to ``execute_complete``.
    :param expected_classifier_id: the prediction API the task deferred for; an event for another
        one is refused.
    :return: the event itself (a dict) when its ``status`` is ``"success"``.
    :raises PredictionApiFailedError: ``"failed"``: the prediction API failed (``.status`` is the raw
        status) or vanished while expected to run (``.status`` is ``None``).
    :raises JobTimeoutError: ``"timeout"``: the deadline passed first.
    :raises PredictionOneError: ``"error"`` (polling raised; the text is the event's message), or the
        event is malformed (not a dict, another prediction API, an unknown status).
    """
    subject = f"prediction API {expected_classifier_id!r}"
    checked = read_event(event, id_key="classifier_id", expected_id=expected_classifier_id, noun="prediction API")
    classifier_id = str(expected_classifier_id)

    def failed(message: str) -> PredictionApiFailedError:
        raw = checked.get("classifier_status")
        text = message or f"Prediction One prediction API {classifier_id} failed (status {raw!r})."
        return PredictionApiFailedError(text, status=raw, message=message or None)

    return raise_for_event(
        checked,
        subject=subject,
        failed=failed,
        timeout_text=f"Prediction One prediction API {classifier_id} did not change in time.",
        error_text=f"Checking Prediction One prediction API {classifier_id} failed.",
    )


class PredictionOneClassifierTrigger(PollingTrigger):
    """Poll a Prediction One prediction API until it is running or stopped, or a deadline passes.

    Get Classifier is called with the async client (spec 7.7: the list, filtered by id); it
    re-issues an expired deploy key and retries transient errors itself. The trigger fires exactly
    one event, a dict of primitives::

        {
            "status": "success" | "failed" | "timeout" | "error",
            "classifier_id": str,
            "classifier_status": str | None,  # the last raw status read; None if never read or gone
            "message": str,
        }

    ``success``: ``target="running"`` and the status is ``running`` with a url, or
    ``target="stopped"`` and the status is ``terminated`` / ``stopped`` or the prediction API no
    longer exists. ``failed``: the status is ``failed``, or the prediction API vanished while
    waiting for ``running``. ``message`` explains every outcome other than ``success`` (``""``
    then). Pass the event to :func:`classifier_event_result`.

    :param classifier_id: the prediction API.
    :param predictionone_conn_id: the Prediction One connection.
    :param target: ``"running"`` or ``"stopped"``.
    :param poll_interval: seconds between two checks.
    :param end_time: absolute deadline in epoch seconds (``time.time()``); ``None`` waits forever.
    """

    def __init__(
        self,
        *,
        classifier_id: str,
        predictionone_conn_id: str,
        target: ClassifierTarget | str,
        poll_interval: float,
        end_time: float | None,
    ) -> None:
        super().__init__(predictionone_conn_id=predictionone_conn_id, poll_interval=poll_interval, end_time=end_time)
        self.classifier_id = _classifier_id(classifier_id)
        self.target = normalize_target(target)
        self._last_status: str | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the keyword arguments, primitives only."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "classifier_id": self.classifier_id,
                "predictionone_conn_id": self.predictionone_conn_id,
                "target": self.target.value,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    @property
    def label(self) -> str:
        """``Prediction One prediction API <id>``."""
        return f"Prediction One prediction API {self.classifier_id}"

    async def check(self, client: AsyncPredictionOneClient) -> tuple[str | None, str]:
        """Read the prediction API once (:func:`classifier_outcome`)."""
        classifier = await client.get_classifier(self.classifier_id)
        self._last_status = None if classifier is None else classifier.status
        self.log_change(_seen(classifier), describe_classifier(self.classifier_id, classifier))
        outcome = classifier_outcome(classifier, self.target)
        if outcome == EVENT_FAILED:
            text = _failed_text(self.classifier_id, self.target, self._last_status)
            self.log.error("%s", text)
            return EVENT_FAILED, text
        return (EVENT_SUCCESS, "") if outcome == EVENT_SUCCESS else (None, "")

    def timeout_text(self) -> str:
        """``... did not become running before the deadline ...; last status ...``."""
        return (
            f"{self.label} did not become {self.target.label} before the deadline {self.deadline_text()}; "
            f"last status {self._last_status!r}."
        )

    def event(self, status: str, message: str) -> dict[str, Any]:
        """The payload described in the class docstring."""
        return {
            "status": status,
            "classifier_id": self.classifier_id,
            "classifier_status": self._last_status,
            "message": message,
        }
