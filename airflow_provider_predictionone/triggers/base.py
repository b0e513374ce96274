"""The poll loop that both Prediction One triggers share.

One async client serves the whole wait (:meth:`PredictionOneHook.get_async_conn`); it re-issues an
expired API key and retries transient errors itself. Every trigger of the same connection in a
triggerer shares that client's HTTP connection pool and API key cache, so a thousand waits use a
few kept-alive connections and one key.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Hashable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_predictionone.api.contract import EVENT_ERROR, EVENT_TIMEOUT
from airflow_provider_predictionone.api.errors import PredictionOneError
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient

NOTHING_LOGGED: Any = object()
PHASE_SPREAD = 0.2
"""The second check of a wait comes up to this fraction of ``poll_interval`` early (see :class:`PollingTrigger`)."""


class PollingTrigger(BaseTrigger):
    """Check something remote every ``poll_interval`` seconds until a check says the wait is over or
    the deadline passes; fire exactly one event.

    A check starts every ``poll_interval`` seconds (the time a check takes is not added to it), so an
    end is seen at most one interval after it happened; the check at the deadline is the last. The
    second check comes up to a fifth of an interval early, at random: waits that a triggerer starts
    together (it picks up new triggers in batches) then do not check in step for ever, so their
    checks spread over the interval instead of holding the shared event loop in one burst.
    Subclasses give :attr:`label`, :meth:`check`, :meth:`timeout_text`, :meth:`event` and
    ``serialize``.

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
        self._logged: Any = NOTHING_LOGGED

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
            client = await PredictionOneHook(self.predictionone_conn_id).get_async_conn()
            async with client:
                phase = random.uniform(0.0, PHASE_SPREAD) * self.poll_interval  # once, before the 2nd check
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
                    delay = self.poll_interval - phase - (time.monotonic() - polled)
                    phase = 0.0
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
