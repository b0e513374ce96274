"""Waits that outlive the process running them: a killed worker, a restarted triggerer.

* A worker process killed while it polls (SIGKILL: no ``finally``, no cleanup): the next try reads
  the durable task state the first try wrote (a file-backed ``task_state_store``) and re-attaches
  to the job instead of starting another.
* A triggerer that stops (its trigger tasks are cancelled) and starts again: the trigger is rebuilt
  from its ``serialize()`` output — what Airflow keeps in the database — in a new event loop, and
  finishes the same wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import multiprocessing
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.emulator import Emulator
from tests.faults.remote import (
    FileStateStore,
    deploy_op,
    fake_context,
    prediction_apis,
    retrain_op,
    retrainings,
    train_op,
    trainings,
    upload_op,
)
from tests.triggers.job_fixtures import run_trigger, wait_until

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]


def run_one_try(kind: str, store_path: str, *args: Any) -> None:
    """The body of the worker process: one try of the task, waiting in the worker."""
    store = FileStateStore(store_path)
    if kind == "train":
        train_op(args[0]).execute(fake_context(store, task_id="train"))
    else:
        retrain_op(args[0], Path(args[1])).execute(fake_context(store, task_id="retrain"))


def start_worker(kind: str, store: FileStateStore, *args: Any) -> multiprocessing.process.BaseProcess:
    """Run one try of a task in a worker process of its own (forked, as executors do: no re-import)."""
    worker = multiprocessing.get_context("fork").Process(
        target=run_one_try, args=(kind, str(store.path), *args), daemon=True
    )
    worker.start()
    return worker


def kill_while_waiting(worker: multiprocessing.process.BaseProcess, waiting: Callable[[], bool]) -> None:
    """SIGKILL the worker once ``waiting()`` says it is polling the job: no cleanup runs."""
    try:
        wait_until(lambda: waiting() or not worker.is_alive(), timeout=30, interval=0.02)
        assert worker.is_alive(), f"the worker ended by itself (exit code {worker.exitcode})"
    finally:
        worker.kill()
        worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL


def test_a_worker_killed_while_waiting_for_training_is_followed_by_a_try_that_reattaches(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path, tmp_path: Path
) -> None:
    emulator.set_train_seconds(1.5)
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    store = FileStateStore(tmp_path / "task_state.json")
    worker = start_worker("train", store, epid)
    kill_while_waiting(
        worker,
        lambda: (
            bool((store.get("train") or {}).get("job_id")) and emulator.request_count("GET", "/models/results") >= 2
        ),
    )
    assert trainings(emulator) == 1 and store.get("train")["job_id"] == epid

    summary = train_op(epid).execute(fake_context(store, task_id="train"))  # the next try, same task instance
    assert summary["status"] == "finished" and summary["external_process_id"] == epid
    assert emulator.request_count("POST", "/models") == 1 and trainings(emulator) == 1
    assert store.get("train") is None


def test_a_worker_killed_while_waiting_for_retraining_is_followed_by_a_try_that_reattaches(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path, tmp_path: Path
) -> None:
    emulator.set_train_seconds(1.5)
    store = FileStateStore(tmp_path / "task_state.json")
    worker = start_worker("retrain", store, deployed_model, str(customers_csv))
    kill_while_waiting(
        worker,
        lambda: (
            bool((store.get("retrain") or {}).get("uploaded"))
            and emulator.request_count("GET", "/retrain_jobs/{retrain_job_id}") >= 2
        ),
    )
    job_id = store.get("retrain")["job_id"]
    summary = retrain_op(deployed_model, customers_csv).execute(fake_context(store, task_id="retrain"))
    assert summary["status"] == "job_finished" and summary["retrain_job_id"] == job_id
    assert emulator.request_count("GET", "/retrain_jobs/upload_url") == 1 and retrainings(emulator) == 1


# -- the triggerer restarts ------------------------------------------------------------------------


def rebuild(serialized: tuple[str, dict[str, Any]]) -> Any:
    """What a triggerer does with a trigger row: import the classpath, call it with the kwargs."""
    classpath, kwargs = serialized
    module, _, name = classpath.rpartition(".")
    stored = json.loads(json.dumps(kwargs))  # the kwargs are kept as JSON: primitives only
    return getattr(importlib.import_module(module), name)(**stored)


def stop_mid_wait(trigger: Any, polling: Callable[[], bool]) -> None:
    """Run ``trigger`` in an event loop until ``polling()``, then cancel it as a stopping triggerer does."""

    async def triggerer() -> None:
        events = trigger.run()
        task = asyncio.ensure_future(events.__anext__())
        while not polling():
            assert not task.done(), "the trigger fired before the restart"
            await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await events.aclose()

    asyncio.run(asyncio.wait_for(triggerer(), 30))


@pytest.mark.parametrize("kind", ["train", "retrain", "deploy"])
def test_a_deferred_wait_survives_a_triggerer_restart(
    predictionone_conn: str,
    emulator: Emulator,
    deployed_model: int,
    customers_csv: Path,
    kind: str,
) -> None:
    emulator.set_train_seconds(1.5)
    emulator.set_build_seconds(1.0)
    context = fake_context(task_id=kind)
    if kind == "train":
        epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
        op: Any = train_op(epid, deferrable=True)
        route = "/models/results"
    elif kind == "retrain":
        op = retrain_op(deployed_model, customers_csv, deferrable=True)
        route = "/retrain_jobs/{retrain_job_id}"
    else:
        op = deploy_op(deployed_model, if_exists="create", deferrable=True)
        route = "/classifiers"
    created = (trainings(emulator), retrainings(emulator), prediction_apis(emulator))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    serialized = trigger.serialize()
    polls = emulator.request_count("GET", route)

    stop_mid_wait(trigger, lambda: emulator.request_count("GET", route) >= polls + 2)

    rebuilt = rebuild(serialized)
    assert rebuilt.serialize() == serialized  # same job, same deadline: the restart resets nothing
    event = run_trigger(rebuilt)  # a new event loop, as in the restarted triggerer
    assert event["status"] == "success", event
    summary = op.execute_complete(context, event, **deferred.value.kwargs)
    if kind == "train":
        assert summary["status"] == "finished" and trainings(emulator) == created[0] + 1
    elif kind == "retrain":
        assert summary["status"] == "job_finished" and retrainings(emulator) == created[1] + 1
    else:
        assert summary["status"] == "running" and prediction_apis(emulator) == created[2] + 1
