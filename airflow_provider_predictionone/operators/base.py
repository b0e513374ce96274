"""What every Prediction One operator shares: the connection, the hook, file arguments, and waiting.

The operators are thin: each ``execute`` composes the hook's workflow methods
(:class:`~airflow_provider_predictionone.hooks.predictionone.PredictionOneHook`). What is left here
is Airflow's side of it: templated arguments, XCom, and waiting either in the worker or deferred to
the triggerer. Constructors never touch the network or a connection, and importing this module
loads neither the hook nor the API's HTTP stack (a DAG file imports it on every parse).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind, JobState
from airflow_provider_predictionone.compat import BaseOperator, default_deferrable
from airflow_provider_predictionone.hooks.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

T = TypeVar("T")

DEFAULT_CHECK_INTERVAL = 30.0
"""Seconds between status checks: the manual's training example polls every 30 s (spec 4.5)."""


class PredictionOneBaseOperator(BaseOperator):
    """Base of the Prediction One operators: the connection id and a lazily built hook.

    File arguments take a local path on the worker, a URL (``s3://``, ``gs://``, ``file://``,
    ``memory://`` ... any scheme Airflow's object storage has a filesystem for) or an
    ``ObjectStoragePath``; see :mod:`airflow_provider_predictionone.storage`.

    :param predictionone_conn_id: the Prediction One connection (secret key as password). Templated.
    :param storage_conn_id: the connection for file URLs (e.g. an ``aws_default`` for ``s3://``);
        default: the filesystem's default connection. An ``ObjectStoragePath`` keeps its own.
    """

    def __init__(
        self,
        *,
        predictionone_conn_id: str = DEFAULT_CONN_ID,
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.predictionone_conn_id = predictionone_conn_id
        self.storage_conn_id = storage_conn_id

    @cached_property
    def hook(self) -> PredictionOneHook:
        """The hook of ``predictionone_conn_id`` (as rendered), built on first use."""
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        return PredictionOneHook(self.predictionone_conn_id)

    def file_argument(self, name: str, value: Any, *, required: bool = False) -> Any:
        """A file argument as the hook takes it: a local path (str), an ``ObjectStoragePath`` (from a
        URL or given as one), or ``None`` when it is empty and optional."""
        from airflow_provider_predictionone.storage import resolve_path

        if required:
            arguments.require_text(name, value)
        elif arguments.is_empty(value):
            return None
        return resolve_path(value, param=name, conn_id=self.storage_conn_id)

    def pushed_id(self, context: Context, key: str) -> str:
        """An id this task pushed to XCom before deferring (XComs survive a resume)."""
        value = context["ti"].xcom_pull(task_ids=self.task_id, key=key)
        return "" if value is None else str(value)


class WaitingOperator(PredictionOneBaseOperator):
    """An operator that waits for something remote: polling in the worker, or deferred.

    :param check_interval: seconds between status checks.
    :param timeout: seconds to wait at most.
    :param deferrable: wait on the triggerer instead of a worker slot; default from
        ``[operators] default_deferrable``.
    """

    default_timeout: float = 24 * 3600.0

    def __init__(
        self,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check_interval = arguments.positive_seconds("check_interval", check_interval)
        self.timeout = arguments.positive_seconds("timeout", self.default_timeout if timeout is None else timeout)
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def wait_until_done(
        self,
        *,
        check: Callable[[], tuple[bool, T]],
        block: Callable[[float], T],
        trigger: Callable[[float], Any],
        resume_kwargs: dict[str, Any] | None = None,
    ) -> T:
        """Wait until done and return the last state: :meth:`block` polls in the worker; when
        deferrable, one ``check`` is made and, when not done, the task defers to ``trigger`` and
        resumes in ``execute_complete`` with ``resume_kwargs``.

        :param check: one check: ``(done, state)``; raises when the wait is over badly.
        :param block: waits in the worker for at most the given seconds.
        :param trigger: the trigger for an absolute deadline (epoch seconds).
        """
        if not self.deferrable:
            return block(self.timeout)
        deadline = time.time() + self.timeout
        done, state = check()
        if done:
            return state
        self.log.info("Deferring to the triggerer until it is done (check every %gs).", self.check_interval)
        self.defer(trigger=trigger(deadline), method_name="execute_complete", kwargs=resume_kwargs)
        raise AssertionError("unreachable: defer() raises")  # pragma: no cover


class JobWaitingOperator(WaitingOperator):
    """An operator that starts a training or retraining job and, by default, waits for it.

    :param wait_for_completion: wait for the job to finish (default true).
    """

    def __init__(self, *, wait_for_completion: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion

    def wait_for_job(
        self, kind: JobKind, job_id: str, model_id: int | None = None, *, resume_kwargs: dict[str, Any]
    ) -> Any:
        """The job's final status once it succeeded (the hook raises when it failed or timed out);
        when deferrable and still running, the task defers to :class:`PredictionOneJobTrigger`."""

        def check() -> tuple[bool, Any]:
            status = self.hook.check_job(kind, job_id, model_id)
            return status.state is JobState.SUCCEEDED, status

        def trigger(deadline: float) -> Any:
            from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger

            return PredictionOneJobTrigger(
                kind=kind,
                job_id=job_id,
                model_id=model_id,
                predictionone_conn_id=self.predictionone_conn_id,
                poll_interval=self.check_interval,
                end_time=deadline,
            )

        return self.wait_until_done(
            check=check,
            block=lambda timeout: self.hook.wait_for_job(
                kind, job_id, model_id, check_interval=self.check_interval, timeout=timeout
            ),
            trigger=trigger,
            resume_kwargs=resume_kwargs,
        )

    def resumed_status(self, event: Any, kind: JobKind, job_id: str, model_id: int | None = None) -> Any:
        """The job's final status after the trigger fired: its event is checked first (a failure or
        a timeout raises), then the status is read once more for the result's location."""
        from airflow_provider_predictionone.events import job_event_result

        job_event_result(event, expected_job_id=job_id, expected_kind=kind)
        return self.hook.check_job(kind, job_id, model_id)
