"""PredictionOneClassifierTrigger and the hook's prediction API checks, over real HTTP against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import ClassifierTarget, JobState
from airflow_provider_predictionone.api.errors import (
    JobFailedError,
    JobTimeoutError,
    PredictionApiFailedError,
    PredictionOneConfigError,
    PredictionOneError,
)
from airflow_provider_predictionone.api.models import ALLOW_ALL, Classifier, classifier_outcome
from airflow_provider_predictionone.events import classifier_event_result
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
from airflow_provider_predictionone.triggers.classifier import PredictionOneClassifierTrigger
from tests.triggers.job_fixtures import free_port, run_trigger, set_connection, wait_for_training
from tests.triggers.loop_check import run_with_first_request_held
from tests.triggers.loop_guard import ASYNC, OFF_THE_LOOP, ON_THE_LOOP, record_connection_lookups

CONN_ID = "predictionone_default"


@pytest.fixture
def trained_model(p1_client: PredictionOneClient, start_training: Callable[..., str]) -> int:
    """A trained model without a prediction API; returns its ``model_id``."""
    name = f"classifier-trigger-{uuid.uuid4().hex[:8]}"
    assert wait_for_training(p1_client, start_training(name=name)).state is JobState.SUCCEEDED
    model = p1_client.find_model_by_name(name)
    assert model is not None
    return model.model_id


@pytest.fixture
def new_classifier(p1_client: PredictionOneClient, trained_model: int) -> Callable[[], str]:
    """``new_classifier()`` creates a prediction API of ``trained_model`` and returns its id."""
    return lambda: p1_client.create_classifier(trained_model, ALLOW_ALL).classifier_id


def make_trigger(
    classifier_id: str, target: str = "running", *, deadline: float | None = 30.0, poll_interval: float = 0.05
) -> PredictionOneClassifierTrigger:
    return PredictionOneClassifierTrigger(
        classifier_id=classifier_id,
        predictionone_conn_id=CONN_ID,
        target=target,
        poll_interval=poll_interval,
        end_time=None if deadline is None else time.time() + deadline,
    )


def failing_classifier(emulator: Any, new_classifier: Callable[[], str]) -> str:
    """A prediction API whose build ends in ``failed`` (the emulator's ``fail-classifier`` fault)."""
    emulator.faults.add("/classifiers", "fail-classifier")
    return new_classifier()


def classifier(status: str, *, url: str | None = "https://p1.invalid/inference", active: bool = True) -> Classifier:
    return Classifier.from_json(
        {"classifier_id": "c-1", "model_id": 1, "status": status, "url": url, "active": active, "api_key": "k"}
    )


def event(status: str = "success", **overrides: Any) -> dict[str, Any]:
    return {"status": status, "classifier_id": "c-1", "classifier_status": "running", "message": ""} | overrides


# -- construction and serialisation -------------------------------------------------------------


def test_serialize_round_trip_has_only_primitives() -> None:
    trigger = PredictionOneClassifierTrigger(
        classifier_id=" c-1 ",
        predictionone_conn_id="p1",
        target=ClassifierTarget.STOPPED,
        poll_interval=15,
        end_time=1_900_000_000.5,
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs == {
        "classifier_id": "c-1",
        "predictionone_conn_id": "p1",
        "target": "stopped",
        "poll_interval": 15.0,
        "end_time": 1_900_000_000.5,
    }
    json.dumps(kwargs)
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert type(rebuilt) is PredictionOneClassifierTrigger
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"target": "ready"}, "target must be one of"),
        ({"classifier_id": " "}, "classifier_id"),
        ({"classifier_id": None}, "classifier_id"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"predictionone_conn_id": ""}, "predictionone_conn_id"),
    ],
)
def test_constructor_rejects_bad_arguments(arguments: dict[str, Any], error: str) -> None:
    values: dict[str, Any] = {
        "classifier_id": "c-1",
        "predictionone_conn_id": CONN_ID,
        "target": "running",
        "poll_interval": 1,
        "end_time": None,
    } | arguments
    with pytest.raises(ValueError, match=error):
        PredictionOneClassifierTrigger(**values)


# -- the classification (spec 7.9) ------------------------------------------------------------------


SUCCEEDED, RUNNING, FAILED = JobState.SUCCEEDED, JobState.RUNNING, JobState.FAILED


@pytest.mark.parametrize(
    ("state", "target", "outcome"),
    [
        (classifier("running"), "running", SUCCEEDED),
        (classifier("running", url=None), "running", RUNNING),  # running but no url yet: keep waiting
        (classifier("building"), "running", RUNNING),
        (classifier("updating"), "running", RUNNING),
        (classifier("terminated", active=False), "running", RUNNING),  # the status may lag a PATCH
        (classifier("failed"), "running", FAILED),
        (None, "running", FAILED),  # it vanished: it will never run
        (classifier("terminated", active=False), "stopped", SUCCEEDED),
        (classifier("stopped", active=False), "stopped", SUCCEEDED),
        (classifier("terminating", active=False), "stopped", RUNNING),
        (classifier("running"), "stopped", RUNNING),
        (classifier("failed"), "stopped", FAILED),
        (None, "stopped", SUCCEEDED),  # deleted counts as stopped
        (classifier("something-new"), "running", RUNNING),
    ],
)
def test_classifier_outcome(state: Classifier | None, target: str, outcome: JobState) -> None:
    assert classifier_outcome(state, arguments.classifier_target(target)) is outcome
    if state is not None:
        assert state.outcome(ClassifierTarget(target)) is outcome


def test_classifier_target_argument() -> None:
    assert arguments.classifier_target("stopped") is ClassifierTarget.STOPPED
    assert arguments.classifier_target(ClassifierTarget.RUNNING) is ClassifierTarget.RUNNING
    with pytest.raises(PredictionOneConfigError, match="'running', 'stopped'"):
        arguments.classifier_target("deleted")


# -- run against the emulator -------------------------------------------------------------------


@pytest.mark.usefixtures("connection")
def test_runs_to_running(new_classifier: Callable[[], str], p1_client: PredictionOneClient) -> None:
    classifier_id = new_classifier()
    assert p1_client.get_classifier(classifier_id).status == "building"  # type: ignore[union-attr]
    payload = run_trigger(make_trigger(classifier_id))
    assert payload == {
        "status": "success",
        "classifier_id": classifier_id,
        "classifier_status": "running",
        "message": "",
    }
    assert classifier_event_result(payload, expected_classifier_id=classifier_id) is payload
    assert p1_client.get_classifier(classifier_id).url  # type: ignore[union-attr]


@pytest.mark.usefixtures("connection")
def test_runs_to_stopped_and_to_deleted(
    new_classifier: Callable[[], str], p1_client: PredictionOneClient, p1_hook: PredictionOneHook
) -> None:
    classifier_id = new_classifier()
    assert run_trigger(make_trigger(classifier_id))["status"] == "success"
    p1_hook.update_prediction_api(classifier_id, active=False)
    payload = run_trigger(make_trigger(classifier_id, "stopped"))
    assert payload["status"] == "success"
    assert payload["classifier_status"] == "terminated"

    p1_client.delete_classifier(classifier_id)
    gone = run_trigger(make_trigger(classifier_id, "stopped"))
    assert gone == {"status": "success", "classifier_id": classifier_id, "classifier_status": None, "message": ""}


@pytest.mark.usefixtures("connection")
def test_failed_prediction_api(new_classifier: Callable[[], str], emulator: Any) -> None:
    classifier_id = failing_classifier(emulator, new_classifier)
    for target in ("running", "stopped"):
        payload = run_trigger(make_trigger(classifier_id, target))
        assert payload["status"] == "failed"
        assert payload["classifier_status"] == "failed"
        assert "'failed'" in payload["message"] and classifier_id in payload["message"]
        with pytest.raises(PredictionApiFailedError, match="'failed'") as raised:
            classifier_event_result(payload, expected_classifier_id=classifier_id)
        assert raised.value.status == "failed"
        assert isinstance(raised.value, JobFailedError)


@pytest.mark.usefixtures("connection")
def test_vanished_while_waiting_for_running_is_a_failure() -> None:
    payload = run_trigger(make_trigger("no-such-classifier"))
    assert payload["status"] == "failed"
    assert payload["classifier_status"] is None
    assert "no longer exists" in payload["message"]
    with pytest.raises(PredictionApiFailedError, match="no longer exists") as raised:
        classifier_event_result(payload, expected_classifier_id="no-such-classifier")
    assert raised.value.status is None


@pytest.mark.usefixtures("connection")
def test_deadline_gives_timeout(new_classifier: Callable[[], str], emulator: Any) -> None:
    emulator.set_build_seconds(60)
    classifier_id = new_classifier()
    emulator.reset_request_counts()
    # The poll interval is far longer than run_trigger waits for the event (WAIT_SECONDS): the event
    # arrives only because the sleep is cut short at the deadline.
    payload = run_trigger(make_trigger(classifier_id, deadline=3, poll_interval=3600))
    assert payload["status"] == "timeout"
    assert payload["classifier_status"] == "building"
    assert "did not become running before the deadline" in payload["message"]
    assert emulator.request_count("GET", "/classifiers") == 2  # once at the start, once at the deadline
    with pytest.raises(JobTimeoutError, match="before the deadline"):
        classifier_event_result(payload, expected_classifier_id=classifier_id)


def test_unreachable_service_gives_error_event(monkeypatch: pytest.MonkeyPatch, secret_key: str) -> None:
    set_connection(monkeypatch, f"http://127.0.0.1:{free_port()}", secret_key, retries=0, connect_timeout=2)
    payload = run_trigger(make_trigger("c-1"))
    assert payload["status"] == "error"
    assert payload["classifier_status"] is None
    assert payload["classifier_id"] == "c-1"
    assert "Could not check Prediction One prediction API c-1" in payload["message"]
    assert "Connect" in payload["message"]
    assert secret_key not in payload["message"]
    with pytest.raises(PredictionOneError, match="Could not check") as raised:
        classifier_event_result(payload, expected_classifier_id="c-1")
    assert not isinstance(raised.value, (JobFailedError, JobTimeoutError))


def test_missing_connection_gives_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_PREDICTIONONE_DEFAULT", raising=False)
    payload = run_trigger(make_trigger("c-1"))
    assert payload["status"] == "error"
    assert CONN_ID in payload["message"]


@pytest.mark.usefixtures("connection")
def test_trigger_does_not_block_the_event_loop(
    new_classifier: Callable[[], str], emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.set_build_seconds(0.6)
    classifier_id = new_classifier()

    def no_sync_http(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the trigger used the blocking requests client")

    monkeypatch.setattr(requests.Session, "request", no_sync_http)
    trigger = make_trigger(classifier_id, poll_interval=0.2)
    payload, loop_was_free = run_with_first_request_held(emulator, trigger, monkeypatch)
    assert loop_was_free, "the event loop was blocked while the trigger's first request was in flight"
    assert payload["status"] == "success"


@pytest.mark.usefixtures("connection")
def test_trigger_reads_its_connection_without_blocking_the_event_loop(
    new_classifier: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the job trigger: Airflow's async lookup (3.3.2+) or the synchronous one in a worker thread,
    never a synchronous lookup or extras read on the loop's own thread."""
    classifier_id = new_classifier()
    seen = record_connection_lookups(monkeypatch)
    assert run_trigger(make_trigger(classifier_id))["status"] == "success"
    assert seen[ON_THE_LOOP] == []
    assert f"aget_connection({CONN_ID})" in seen[ASYNC] or f"get_connection({CONN_ID})" in seen[OFF_THE_LOOP]

    async def blocking_lookup() -> None:  # what the trigger must not do: the guard sees it
        PredictionOneHook(CONN_ID).settings  # noqa: B018

    asyncio.run(blocking_lookup())
    assert f"get_connection({CONN_ID})" in seen[ON_THE_LOOP]


@pytest.mark.usefixtures("connection")
def test_the_inference_key_never_reaches_the_event(
    new_classifier: Callable[[], str], p1_client: PredictionOneClient, capsys: pytest.CaptureFixture[str]
) -> None:
    classifier_id = new_classifier()
    api_key = p1_client.get_classifier(classifier_id).api_key  # type: ignore[union-attr]
    assert api_key
    payload = run_trigger(make_trigger(classifier_id))
    assert api_key not in json.dumps(payload)
    assert api_key not in capsys.readouterr().out


# -- the hook's sync checks (blocking waits in a worker) ---------------------------------------------


def test_check_and_wait_with_the_hook(
    new_classifier: Callable[[], str], p1_client: PredictionOneClient, p1_hook: PredictionOneHook, emulator: Any
) -> None:
    # Transitions long enough that the first check still sees 'building' on a loaded machine (with the
    # suite's 0.3 s the hook's first API key request alone could outlast it).
    emulator.set_build_seconds(2)
    classifier_id = new_classifier()
    reached, state = p1_hook.check_prediction_api(classifier_id, "running")
    assert not reached and state is not None and state.status == "building"
    ready = p1_hook.wait_for_prediction_api(classifier_id, "running", check_interval=0.05, timeout=30)
    assert ready is not None and ready.is_ready

    p1_hook.update_prediction_api(classifier_id, active=False)
    stopped = p1_hook.wait_for_prediction_api(classifier_id, ClassifierTarget.STOPPED, check_interval=0.05, timeout=30)
    assert stopped is not None and stopped.status == "terminated"

    p1_client.delete_classifier(classifier_id)
    assert p1_hook.check_prediction_api(classifier_id, "stopped") == (True, None)
    with pytest.raises(PredictionApiFailedError, match="no longer exists"):
        p1_hook.check_prediction_api(classifier_id, "running")


def test_sync_wait_timeout_and_failure(
    new_classifier: Callable[[], str],
    p1_hook: PredictionOneHook,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.set_build_seconds(60)
    classifier_id = new_classifier()
    emulator.reset_request_counts()
    waits: list[float] = []
    real_sleep = time.sleep
    waiting_thread = threading.current_thread()

    def recording_sleep(seconds: float) -> None:
        if threading.current_thread() is waiting_thread:
            waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", recording_sleep)
    with pytest.raises(JobTimeoutError, match="did not become running within 0.3s") as raised:
        p1_hook.wait_for_prediction_api(classifier_id, "running", check_interval=3600, timeout=0.3)
    assert "'building'" in str(raised.value)
    # The wait ended at the timeout: a sleep was cut short at the deadline instead of lasting the check
    # interval, and a check was made after each sleep (none when the first check already took 0.3 s).
    assert len(waits) <= 1 and all(seconds <= 0.3 for seconds in waits)
    assert emulator.request_count("GET", "/classifiers") == len(waits) + 1
    monkeypatch.setattr(time, "sleep", real_sleep)

    emulator.set_build_seconds(0.1)
    failed_id = failing_classifier(emulator, new_classifier)
    with pytest.raises(PredictionApiFailedError, match="'failed'") as failed:
        p1_hook.wait_for_prediction_api(failed_id, "running", check_interval=0.05, timeout=30)
    assert failed.value.status == "failed" and failed_id in str(failed.value)


# -- classifier_event_result --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (None, "expected a dict"),
        ("success", "expected a dict"),
        (event(classifier_id="c-2"), "is for prediction API 'c-2'"),
        ({"status": "success"}, "is for prediction API None"),
        (event("cancelled"), "unknown status 'cancelled'"),
    ],
)
def test_event_result_rejects_malformed_events(payload: Any, match: str) -> None:
    with pytest.raises(PredictionOneError, match=match) as raised:
        classifier_event_result(payload, expected_classifier_id="c-1")
    assert type(raised.value) is PredictionOneError


def test_event_result_outcomes() -> None:
    payload = event()
    assert classifier_event_result(payload, expected_classifier_id="c-1") is payload
    with pytest.raises(PredictionApiFailedError, match="'failed'") as raised:
        classifier_event_result(event("failed", classifier_status="failed"), expected_classifier_id="c-1")
    assert raised.value.status == "failed"
    with pytest.raises(PredictionOneError, match="^boom$"):
        classifier_event_result(event("error", message="boom"), expected_classifier_id="c-1")
    with pytest.raises(JobTimeoutError, match="^too slow$"):
        classifier_event_result(event("timeout", message="too slow"), expected_classifier_id="c-1")
