"""What the hook's workflow parts share: the client they call, the task context, and waiting.

The hook's modules import the API layer's heavier modules (the response classes, the training
config, the file helpers) inside the methods that use them: a DAG file that imports the hook pays
for its classes only, not for the HTTP stack and the API's data classes.

Each part of the workflow (:mod:`.training`, :mod:`.retraining`, :mod:`.prediction_api`,
:mod:`.housekeeping`, :mod:`.jobs`) is a mixin of :class:`~.predictionone.PredictionOneHook`, so
operators, sensors and TaskFlow code call one object: ``PredictionOneHook().train_model(...)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_predictionone.compat import get_current_context_or_none
from airflow_provider_predictionone.hooks.ledger import JobLedger

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.client import PredictionOneClient
    from airflow_provider_predictionone.api.settings import ClientSettings

T = TypeVar("T")

NOTHING_LOGGED: Any = object()
"""Stands for "no state logged yet" in a wait's change log."""


class HookMixin:
    """The parts of the hook that the workflow mixins use (the hook provides them)."""

    log: logging.Logger
    predictionone_conn_id: str

    @property
    def settings(self) -> ClientSettings:
        raise NotImplementedError

    def get_conn(self) -> PredictionOneClient:
        raise NotImplementedError

    @staticmethod
    def ledger(context: Mapping[str, Any] | None, name: str) -> JobLedger:
        """The durable record of a job started by the running task (``context``, or the current task's
        when called inside one, e.g. from a ``@task``); outside a task it records nothing."""
        return JobLedger(context if context is not None else get_current_context_or_none(), name)


def poll_until(
    check: Callable[[], tuple[bool, T]],
    *,
    interval: float,
    timeout: float,
    seen: Callable[[T], Hashable],
    describe: Callable[[T], str],
    timed_out: Callable[[T], Exception],
    log: logging.Logger,
) -> T:
    """Call ``check`` until it reports done, every ``interval`` seconds, at most ``timeout`` seconds.

    The first check is made at once and the last one at the deadline (the final sleep is cut
    short). A state is logged when it differs from the previous one (``seen``).

    :param check: one check: ``(done, state)``; it raises when the wait is over badly.
    :param timed_out: the exception for the last state when the deadline passed.
    """
    deadline = time.monotonic() + timeout
    logged: Any = NOTHING_LOGGED
    while True:
        done, state = check()
        if seen(state) != logged:
            logged = seen(state)
            log.info("%s", describe(state))
        if done:
            return state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timed_out(state)
        time.sleep(min(interval, remaining))
