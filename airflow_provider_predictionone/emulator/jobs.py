"""Training and retraining jobs: their run in a background thread, and their injected failures.

A job stays ``queued`` (for a fifth of ``train_seconds``, at most 1 s), then ``running`` until
at least ``train_seconds`` have passed and its work is done, then ``finished``; or ``failed``
with a message (a data problem, an emulator error, an injected failure).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable

from airflow_provider_predictionone.emulator.datasets.reading import DataError
from airflow_provider_predictionone.emulator.faults.kinds import FaultError, JobFailure
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.faults.validation import make_job_failure
from airflow_provider_predictionone.emulator.state import Job, Model, Store

log = logging.getLogger(__name__)

Work = Callable[[], Callable[[Job], None]]
"""A job's work: it returns what to apply to the job (under the lock) when the job finishes."""


def fail_job(job: Job, model: Model | None, message: str) -> None:
    """Mark a job (and the model it makes) failed; the caller holds the store's lock."""
    now = time.time()
    job.state, job.message, job.updated = "failed", message, now
    if model is not None:
        model.state, model.updated = "failed", now


class JobRunner:
    """Runs the jobs of ``store``; ``faults`` holds the job failures injected ahead of time."""

    def __init__(self, store: Store, faults: FaultRegistry) -> None:
        self.store = store
        self.faults = faults

    def start(self, job: Job, work: Work, model: Model | None, kind: str, job_id: str) -> None:
        """Run ``work`` in a background thread; the job stays queued, then running, for at least
        ``train_seconds`` in total. A pending injected failure for the job (:meth:`fail_next_job`)
        makes it fail instead of running; a job failed while running (:meth:`fail_next_job` with
        its id) stays failed."""
        store = self.store
        seconds = store.settings.train_seconds
        injected = self.faults.take_job_failure(kind, job_id)

        def fail(message: str) -> None:
            with store.lock:
                fail_job(job, model, message)

        def run() -> None:
            start = time.monotonic()
            if store.stopping.wait(min(1.0, seconds * 0.2)):
                return
            if injected is not None:
                fail(injected.message)
                return
            with store.lock:
                if job.state == "failed":
                    return
                job.state, job.updated = "running", time.time()
            try:
                finish = work()
            except DataError as exc:
                if job.state != "failed":
                    fail(str(exc))
                return
            except Exception as exc:
                if store.stopping.is_set():  # the data dir may be gone already
                    return
                log.error("emulator training error\n%s", traceback.format_exc())
                if job.state != "failed":
                    fail(f"Emulator error during training: {exc}")
                return
            remaining = start + seconds - time.monotonic()
            if remaining > 0 and store.stopping.wait(remaining):
                return
            with store.lock:
                if job.state == "failed":
                    return
                finish(job)
                job.state, job.updated = "finished", time.time()

        thread = threading.Thread(target=run, name="predictionone-emulator-job", daemon=True)
        thread.start()

    def fail_next_job(
        self, kind: str | None = None, message: str | None = None, job_id: str | None = None
    ) -> JobFailure:
        """Make a training/retraining job fail with ``message`` (see :meth:`Emulator.fail_next_job`).

        With ``job_id`` (an ``external_process_id`` or ``retrain_job_id``): a job already started
        fails now, one not started yet fails when it starts; ``ValueError`` if the id is unknown or
        the job has ended. Without: the next job started (of ``kind``, or any) fails.
        """
        failure = make_job_failure(kind, message, job_id)
        if failure.job_id is None:
            return self.faults.add_job_failure(failure)
        with self.store.lock:
            job_kind, job, model = self._find(failure.job_id)
            if failure.kind not in (None, job_kind):
                raise FaultError(f"job {failure.job_id} is a {job_kind} job, not {failure.kind}")
            failure.kind = job_kind
            if job is None:
                return self.faults.add_job_failure(failure)
            if job.state in ("finished", "failed"):
                raise FaultError(f"job {failure.job_id} has already {job.state}")
            fail_job(job, model, failure.message)
        self.faults.record_job_failure(job_kind, failure.job_id, failure.message)
        return failure

    def _find(self, job_id: str) -> tuple[str, Job | None, Model | None]:
        """The kind of the job with this id, the job if it has started, and the model it makes."""
        for user in self.store.users.values():
            process = user.processes.get(job_id)
            if process is not None:
                return "train", process.job, user.models.get(process.model_id or -1)
            retrain = user.retrain_jobs.get(job_id)
            if retrain is not None:
                started = retrain.job if retrain.uploaded else None
                return "retrain", started, user.models.get(retrain.model_id or -1)
        raise FaultError(f"unknown job id {job_id!r} (an external_process_id or retrain_job_id)")
