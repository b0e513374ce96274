"""The trigger that waits for a Prediction One prediction API (classifier) to run or stop.

A prediction API builds for minutes (spec 1.2: about 5–20) and stops asynchronously after
``PATCH active=false`` (spec 7.9). Its state is read in one place,
:func:`~..api.models.classifier_outcome`, here and in the hook's synchronous checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import EVENT_FAILED, EVENT_SUCCESS, ClassifierTarget, JobState
from airflow_provider_predictionone.hooks.prediction_api import describe_classifier, failed_text
from airflow_provider_predictionone.triggers.base import PollingTrigger

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient


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
    then). Pass the event to :func:`~airflow_provider_predictionone.events.classifier_event_result`.

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
        self.classifier_id = arguments.require_text("classifier_id", classifier_id)
        self.target = arguments.classifier_target(target)
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
        """Read the prediction API once."""
        from airflow_provider_predictionone.api.models import classifier_outcome  # loaded with the client already

        classifier = await client.get_classifier(self.classifier_id)
        self._last_status = None if classifier is None else classifier.status
        seen = None if classifier is None else (classifier.status, classifier.active, bool(classifier.url))
        self.log_change(seen, describe_classifier(self.classifier_id, classifier))
        outcome = classifier_outcome(classifier, self.target)
        if outcome is JobState.FAILED:
            text = failed_text(self.classifier_id, self.target, self._last_status)
            self.log.error("%s", text)
            return EVENT_FAILED, text
        return (EVENT_SUCCESS, "") if outcome is JobState.SUCCEEDED else (None, "")

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
