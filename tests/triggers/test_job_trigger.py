"""PredictionOneJobTrigger, job_event_result and the hook's check_job, over real HTTP against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from airflow.triggers.base import TriggerEvent

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind, JobState
from airflow_provider_predictionone.api.errors import (
    JobFailedError,
    JobTimeoutError,
    PredictionOneConfigError,
    PredictionOneError,
)
from airflow_provider_predictionone.api.models import TrainStatus
from airflow_provider_predictionone.events import job_event_result
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
from airflow_provider_predictionone.triggers import PredictionOneJobTrigger
from tests.clients import emulator_hook
from tests.triggers.job_fixtures import (
    FAILING_CONFIG,
    airflow_reads_connection,
    free_port,
    run_trigger,
    set_connection,
    start_training_with,
    wait_for_training,
)
from tests.triggers.loop_check import run_with_first_request_held
from tests.triggers.loop_guard import ASYNC, OFF_THE_LOOP, ON_THE_LOOP, record_connection_lookups

CONN_ID = "predictionone_default"


def make_trigger(
    job_id: str,
    *,
    kind: JobKind | str = JobKind.TRAIN,
    deadline: float | None = 30.0,
    poll_interval: float = 0.1,
    model_id: int | None = None,
) -> PredictionOneJobTrigger:
    return PredictionOneJobTrigger(
        kind=kind,
        job_id=job_id,
        predictionone_conn_id=CONN_ID,
        poll_interval=poll_interval,
        end_time=None if deadline is None else time.time() + deadline,
        model_id=model_id,
    )


def event(status: str = "success", **overrides: Any) -> dict[str, Any]:
    payload = {
        "status": status,
        "kind": "train",
        "job_id": "job-1",
        "model_id": None,
        "job_status": "finished",
        "message": "",
    }
    return payload | overrides


# -- construction and serialisation -------------------------------------------------------------


def test_serialize_round_trip_has_only_primitives() -> None:
    trigger = PredictionOneJobTrigger(
        kind=JobKind.RETRAIN,
        job_id="5c1e",
        predictionone_conn_id="p1",
        poll_interval=15,
        end_time=1_900_000_000.5,
        model_id="42",  # a rendered template arrives as a string
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs == {
        "kind": "retrain",
        "job_id": "5c1e",
        "predictionone_conn_id": "p1",
        "poll_interval": 15.0,
        "end_time": 1_900_000_000.5,
        "model_id": 42,
    }
    for value in kwargs.values():
        assert value is None or type(value) in (str, int, float)
    json.dumps(kwargs)

    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert type(rebuilt) is PredictionOneJobTrigger
    assert rebuilt.serialize() == (classpath, kwargs)


def test_serialize_without_deadline_or_model() -> None:
    _classpath, kwargs = make_trigger("p-1", deadline=None).serialize()
    assert kwargs["end_time"] is None
    assert kwargs["model_id"] is None
    assert kwargs["kind"] == "train"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"kind": "retrain", "model_id": None}, "model_id is required"),
        ({"kind": "predict"}, "kind must be one of"),
        ({"job_id": "  "}, "job id"),
        ({"kind": "retrain", "model_id": "abc"}, "model_id='abc' is not a whole number"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"predictionone_conn_id": ""}, "predictionone_conn_id"),
    ],
)
def test_constructor_rejects_bad_arguments(arguments: dict[str, Any], error: str) -> None:
    values: dict[str, Any] = {
        "kind": "train",
        "job_id": "p-1",
        "predictionone_conn_id": CONN_ID,
        "poll_interval": 1,
        "end_time": None,
    } | arguments
    with pytest.raises(ValueError, match=error):
        PredictionOneJobTrigger(**values)


# -- run against the emulator -------------------------------------------------------------------


@pytest.mark.usefixtures("connection")
def test_training_runs_to_success(start_training: Callable[..., str]) -> None:
    job_id = start_training()
    payload = run_trigger(make_trigger(job_id))
    assert payload == {
        "status": "success",
        "kind": "train",
        "job_id": job_id,
        "model_id": None,
        "job_status": "finished",
        "message": "",
    }
    assert job_event_result(payload, expected_job_id=job_id, expected_kind="train") is payload


@pytest.mark.usefixtures("connection")
def test_training_failure_carries_the_service_message(start_training: Callable[..., str]) -> None:
    job_id = start_training(FAILING_CONFIG)
    payload = run_trigger(make_trigger(job_id))
    assert payload["status"] == "failed"
    assert payload["job_status"] == "failed"
    assert "たぶん" in payload["message"]  # the emulator names the missing positive value

    with pytest.raises(JobFailedError) as raised:
        job_event_result(payload, expected_job_id=job_id)
    assert raised.value.status == "failed"
    assert raised.value.message == payload["message"]
    assert payload["message"] in str(raised.value)
    assert job_id in str(raised.value)


def test_deadline_gives_timeout(
    emulator_factory: Callable[..., Any], secret_key: str, monkeypatch: pytest.MonkeyPatch, customers_csv: Any
) -> None:
    slow = emulator_factory(train_seconds=60, secret_keys=(secret_key,))
    set_connection(monkeypatch, slow.url, secret_key)
    job_id = start_training_with(emulator_hook(monkeypatch, slow, secret_key), customers_csv, name="slow")

    # The poll interval is far longer than run_trigger waits for the event (WAIT_SECONDS): the event
    # arrives only because the sleep is cut short at the deadline.
    payload = run_trigger(make_trigger(job_id, deadline=0.5, poll_interval=3600))
    assert payload["status"] == "timeout"
    assert payload["job_status"] in {"queued", "running"}
    assert "deadline" in payload["message"]
    assert slow.request_count("GET", "/models/results") == 2  # once at the start, once at the deadline

    with pytest.raises(JobTimeoutError, match="did not finish before the deadline"):
        job_event_result(payload, expected_job_id=job_id)


def test_the_second_check_comes_early_by_a_random_phase(
    emulator_factory: Callable[..., Any], secret_key: str, monkeypatch: pytest.MonkeyPatch, customers_csv: Any
) -> None:
    """Waits started together (a triggerer picks triggers up in batches) must not check in step for
    ever: the second check comes up to PHASE_SPREAD of an interval early, then every interval."""
    from airflow_provider_predictionone.triggers import base

    slow = emulator_factory(train_seconds=60, secret_keys=(secret_key,))
    set_connection(monkeypatch, slow.url, secret_key)
    job_id = start_training_with(emulator_hook(monkeypatch, slow, secret_key), customers_csv, name="slow")
    monkeypatch.setattr(base.random, "uniform", lambda low, high: high)  # the earliest second check
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded(delay: float, *args: Any) -> Any:
        if delay > 0.05:  # the poll loop's sleeps (not a library's zero-length checkpoints)
            delays.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(base.asyncio, "sleep", recorded)
    payload = run_trigger(make_trigger(job_id, deadline=1.95, poll_interval=1.0))
    assert payload["status"] == "timeout"
    early = 1.0 - base.PHASE_SPREAD
    assert delays[0] <= early + 1e-9  # the interval minus the phase, minus the check's own time
    assert delays[1] > early + 0.05  # then the full interval again (minus the check's time)


def test_unreachable_service_gives_error_event(monkeypatch: pytest.MonkeyPatch, secret_key: str) -> None:
    set_connection(monkeypatch, f"http://127.0.0.1:{free_port()}", secret_key, retries=0, connect_timeout=2)
    payload = run_trigger(make_trigger("p-1"))
    assert payload["status"] == "error"
    assert payload["job_status"] is None
    assert payload["job_id"] == "p-1"
    assert "Could not check Prediction One training job p-1" in payload["message"]
    assert "Connect" in payload["message"]  # the client's transport error text
    assert secret_key not in payload["message"]

    with pytest.raises(PredictionOneError, match="Could not check") as raised:
        job_event_result(payload, expected_job_id="p-1")
    assert not isinstance(raised.value, (JobFailedError, JobTimeoutError))


def test_missing_connection_gives_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_PREDICTIONONE_DEFAULT", raising=False)
    payload = run_trigger(make_trigger("p-1"))
    assert payload["status"] == "error"
    assert CONN_ID in payload["message"]


def test_connection_with_an_extra_that_is_not_json_gives_error_event(
    monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str
) -> None:
    conn = {"conn_type": "predictionone", "host": emulator.url, "password": secret_key, "extra": "{retries: 1"}
    monkeypatch.setenv("AIRFLOW_CONN_PREDICTIONONE_DEFAULT", json.dumps(conn))
    payload = run_trigger(make_trigger("p-1"))
    assert payload["status"] == "error"
    assert CONN_ID in payload["message"]
    if airflow_reads_connection(CONN_ID):  # Airflow 3.0 refuses it itself, as if it did not exist
        assert "Extra field is not valid JSON" in payload["message"]
    assert emulator.request_count("GET", "/api-key") == 0  # refused before any request


def test_expired_api_key_is_refreshed_mid_wait(
    emulator_factory: Callable[..., Any],
    secret_key: str,
    monkeypatch: pytest.MonkeyPatch,
    customers_csv: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = emulator_factory(train_seconds=1.5, secret_keys=(secret_key,))
    set_connection(monkeypatch, server.url, secret_key)
    job_id = start_training_with(emulator_hook(monkeypatch, server, secret_key), customers_csv, name="refresh")
    server.reset_request_counts()

    async def scenario() -> dict[str, Any]:
        trigger_task = asyncio.ensure_future(anext(make_trigger(job_id, poll_interval=0.1).run()))
        await asyncio.sleep(0.4)
        assert not trigger_task.done()
        server.expire_api_keys()
        fired: TriggerEvent = await asyncio.wait_for(trigger_task, 30)
        return fired.payload

    with caplog.at_level(logging.INFO):
        payload = asyncio.run(scenario())
    assert payload["status"] == "success"
    assert server.request_count("GET", "/api-key") == 2  # the first key, then one re-issued key
    renewals = [r.getMessage() for r in caplog.records if "API key is no longer accepted" in r.getMessage()]
    assert renewals and all("Train Status Check" in line for line in renewals)


@pytest.mark.usefixtures("connection")
def test_status_changes_are_logged_once_each(
    start_training: Callable[..., str],
    emulator: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.set_train_seconds(3)  # long enough for the first check to see the job unfinished on a loaded machine
    job_id = start_training()
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        run_trigger(make_trigger(job_id, poll_interval=0.05))
    # Airflow 3 routes a trigger's ``self.log`` through structlog (stdout here), Airflow 2 through logging.
    output = capsys.readouterr().out + "\n" + caplog.text
    lines = [line for line in output.splitlines() if f"training job {job_id}: status" in line]
    assert len(lines) == len(set(lines))
    assert any("'finished'" in line for line in lines)
    # Spec 7.2: every raw value is logged, the ordinary not-yet-finished ones plainly (no alarm).
    running = [line for line in lines if "still running" in line]
    assert running and not any("not a documented value" in line for line in running)


@pytest.mark.usefixtures("connection")
def test_trigger_does_not_block_the_event_loop(
    start_training: Callable[..., str], emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = start_training()

    def no_sync_http(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the trigger used the blocking requests client")

    monkeypatch.setattr(requests.Session, "request", no_sync_http)
    payload, loop_was_free = run_with_first_request_held(emulator, make_trigger(job_id, poll_interval=0.2), monkeypatch)
    assert loop_was_free, "the event loop was blocked while the trigger's first request was in flight"
    assert payload["status"] == "success"


@pytest.mark.usefixtures("connection")
def test_trigger_reads_its_connection_without_blocking_the_event_loop(
    start_training: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection and its extras come from Airflow's async lookup (3.3.2+) or from the synchronous
    lookup in a worker thread (older versions), never from a synchronous lookup on the loop's own thread."""
    job_id = start_training()
    seen = record_connection_lookups(monkeypatch)
    assert run_trigger(make_trigger(job_id))["status"] == "success"
    assert seen[ON_THE_LOOP] == []
    assert f"aget_connection({CONN_ID})" in seen[ASYNC] or f"get_connection({CONN_ID})" in seen[OFF_THE_LOOP]

    # The guard does see a synchronous lookup made on the loop's thread (what the trigger must not do).
    async def blocking_lookup() -> None:
        PredictionOneHook(CONN_ID).settings  # noqa: B018

    asyncio.run(blocking_lookup())
    assert f"get_connection({CONN_ID})" in seen[ON_THE_LOOP]


@pytest.mark.usefixtures("connection")
def test_retraining_runs_to_success_with_the_new_model_id(
    deployed_model: int, start_retrain: Callable[..., str]
) -> None:
    job_id = start_retrain(deployed_model)
    payload = run_trigger(make_trigger(job_id, kind="retrain", model_id=deployed_model))
    assert payload["status"] == "success"
    assert payload["kind"] == "retrain"
    assert payload["job_status"] == "job_finished"
    assert isinstance(payload["model_id"], int)
    assert payload["model_id"] != deployed_model
    assert job_event_result(payload, expected_job_id=job_id, expected_kind=JobKind.RETRAIN) is payload


@pytest.mark.usefixtures("connection")
def test_retraining_failure(deployed_model: int, start_retrain: Callable[..., str]) -> None:
    job_id = start_retrain(deployed_model, fail=True)
    payload = run_trigger(make_trigger(job_id, kind="retrain", model_id=deployed_model))
    assert payload["status"] == "failed"
    assert payload["job_status"] == "job_failed"
    assert "購入" in payload["message"]  # the target column is missing from the new data
    with pytest.raises(JobFailedError, match="retraining job") as raised:
        job_event_result(payload, expected_job_id=job_id)
    assert raised.value.status == "job_failed"


# -- the hook's check_job (sync, poke mode) -----------------------------------------------------


def test_check_job_running_success_and_failure(p1_hook: Any, start_training: Callable[..., str]) -> None:
    running = start_training()
    assert p1_hook.check_job("train", running).state is JobState.RUNNING
    wait_for_training(p1_hook.get_conn(), running)
    assert p1_hook.check_job(JobKind.TRAIN, running).state is JobState.SUCCEEDED

    failing = start_training(FAILING_CONFIG)
    wait_for_training(p1_hook.get_conn(), failing)
    with pytest.raises(JobFailedError, match="たぶん") as raised:
        p1_hook.check_job(JobKind.TRAIN, failing)
    assert raised.value.status == "failed"


def test_check_job_needs_model_id_for_retrain(p1_hook: Any) -> None:
    with pytest.raises(ValueError, match="model_id is required"):
        p1_hook.check_job("retrain", "job")


# -- job_event_result ---------------------------------------------------------------------------


def test_event_result_returns_a_success_event() -> None:
    payload = event()
    assert job_event_result(payload, expected_job_id="job-1") is payload


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (None, "expected a dict"),
        ("success", "expected a dict"),
        (event(job_id="job-2"), "is for job 'job-2'"),
        ({"status": "success"}, "is for job None"),
        (event("cancelled"), "unknown status 'cancelled'"),
        (event(kind="retrain"), "'retrain' job"),
    ],
)
def test_event_result_rejects_malformed_events(payload: Any, match: str) -> None:
    with pytest.raises(PredictionOneError, match=match) as raised:
        job_event_result(payload, expected_job_id="job-1", expected_kind="train")
    assert type(raised.value) is PredictionOneError


def test_event_result_failed_without_service_message() -> None:
    with pytest.raises(JobFailedError, match="no message from the service") as raised:
        job_event_result(event("failed", job_status="ABORTED"), expected_job_id="job-1")
    assert raised.value.status == "ABORTED"
    assert raised.value.message is None


def test_event_result_error_and_timeout_use_the_message() -> None:
    with pytest.raises(PredictionOneError, match="^boom$"):
        job_event_result(event("error", message="boom"), expected_job_id="job-1")
    with pytest.raises(JobTimeoutError, match="^too slow$"):
        job_event_result(event("timeout", message="too slow"), expected_job_id="job-1")


# -- what is logged and how job arguments are read ----------------------------------------------


def train_status(status: str, *, result_url: str | None = None, message: str | None = None) -> TrainStatus:
    return TrainStatus("p-1", status, None, None, result_url, message)


@pytest.mark.parametrize(
    ("status", "reading"),
    [
        (train_status("finished"), "status 'finished': succeeded"),
        (train_status("DONE", result_url="https://example.invalid/r.zip"), "not a documented value, but the result"),
        (train_status("queued"), "status 'queued': still running"),
        (train_status("Preprocessing"), "status 'Preprocessing': still running"),
        (train_status("Training_Error", message="out of memory"), "failed; message: out of memory"),
    ],
)
def test_describe_job_status(status: TrainStatus, reading: str) -> None:
    line = status.describe()
    assert line.startswith("Prediction One training job p-1: ")
    assert reading in line


def test_job_arguments_accept_rendered_strings() -> None:
    assert arguments.job("retrain", " r-1 ", "12") == (JobKind.RETRAIN, "r-1", 12)
    assert arguments.job(JobKind.TRAIN, "p-1") == (JobKind.TRAIN, "p-1", None)
    with pytest.raises(PredictionOneConfigError, match="model_id=True is not an id"):
        arguments.job("retrain", "r-1", True)
