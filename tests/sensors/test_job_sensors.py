"""The training and retraining sensors in poke, reschedule and deferrable mode, against the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import JobKind
from airflow_provider_predictionone.api.errors import JobFailedError, PredictionOneError
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
from airflow_provider_predictionone.sensors import (
    MODEL_ID_XCOM_KEY,
    PredictionOneRetrainSensor,
    PredictionOneTrainingSensor,
)
from airflow_provider_predictionone.triggers import PredictionOneJobTrigger
from tests.clients import emulator_hook
from tests.triggers.job_fixtures import (
    BINARY_CONFIG,
    FAILING_CONFIG,
    run_trigger,
    set_connection,
    start_training_with,
    wait_for_training,
    wait_until,
)

try:  # Airflow 3
    from airflow.sdk.exceptions import (
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 2
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )


class FakeTaskInstance:
    """What the sensors use of ``context["ti"]``."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        # Airflow 2's reschedule mode looks up the first try's start in the metadata database.
        self.dag_id, self.task_id, self.run_id, self.map_index, self.max_tries = "unit", "wait", "manual__1", -1, 0

    def xcom_push(self, key: str, value: Any, **_kwargs: Any) -> None:
        self.xcom[key] = value

    def get_first_reschedule_date(self, _context: Any) -> datetime | None:
        return None


@pytest.fixture
def context() -> dict[str, Any]:
    return {"ti": FakeTaskInstance()}


def training_sensor(job_id: str, **kwargs: Any) -> PredictionOneTrainingSensor:
    options: dict[str, Any] = {"task_id": "wait_training", "poke_interval": 0.1, "timeout": 30} | kwargs
    return PredictionOneTrainingSensor(external_process_id=job_id, **options)


def retrain_sensor(job_id: str, model_id: Any, **kwargs: Any) -> PredictionOneRetrainSensor:
    options: dict[str, Any] = {"task_id": "wait_retrain", "poke_interval": 0.1, "timeout": 30} | kwargs
    return PredictionOneRetrainSensor(retrain_job_id=job_id, model_id=model_id, **options)


def deferred_trigger(sensor: Any, context: dict[str, Any]) -> tuple[PredictionOneJobTrigger, TaskDeferred]:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, PredictionOneJobTrigger)
    return trigger, deferred.value


def event(status: str, job_id: str = "p-1", **overrides: Any) -> dict[str, Any]:
    payload = {
        "status": status,
        "kind": "train",
        "job_id": job_id,
        "model_id": None,
        "job_status": None,
        "message": f"{status} message",
    }
    return payload | overrides


# -- construction -------------------------------------------------------------------------------


def test_constructors_touch_no_connection_and_template_the_ids() -> None:
    training = PredictionOneTrainingSensor(
        task_id="t", external_process_id="{{ ti.xcom_pull('train') }}", predictionone_conn_id="nowhere"
    )
    retrain = PredictionOneRetrainSensor(
        task_id="r", retrain_job_id="{{ params.job }}", model_id="{{ params.model }}", predictionone_conn_id="nowhere"
    )
    assert set(training.template_fields) >= {"external_process_id", "predictionone_conn_id"}
    assert set(retrain.template_fields) >= {"retrain_job_id", "model_id", "predictionone_conn_id"}
    assert training.deferrable is False  # [operators] default_deferrable is unset
    assert training.kind is JobKind.TRAIN
    assert retrain.kind is JobKind.RETRAIN
    assert PredictionOneTrainingSensor(task_id="d", external_process_id="p", deferrable=True).deferrable is True


# -- poke mode ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("connection")
def test_training_poke_running_then_finished(
    start_training: Callable[..., str], p1_client: PredictionOneClient, context: dict[str, Any], emulator: Any
) -> None:
    emulator.set_train_seconds(3.0)  # long enough that the first poke sees it running, even on a busy machine
    job_id = start_training()
    sensor = training_sensor(job_id)
    assert sensor.poke(context) is False
    wait_for_training(p1_client, job_id)
    assert sensor.poke(context) is True
    assert context["ti"].xcom == {}


@pytest.mark.usefixtures("connection")
def test_training_poke_failure_raises_with_the_service_message(
    start_training: Callable[..., str], p1_client: PredictionOneClient, context: dict[str, Any]
) -> None:
    job_id = start_training(FAILING_CONFIG)
    wait_for_training(p1_client, job_id)
    with pytest.raises(JobFailedError, match="たぶん") as raised:
        training_sensor(job_id).poke(context)
    assert raised.value.status == "failed"
    assert raised.value.message and "たぶん" in raised.value.message


@pytest.mark.usefixtures("connection")
def test_poke_mode_execute_waits_and_stops_at_failure(
    start_training: Callable[..., str], context: dict[str, Any], emulator: Any
) -> None:
    assert training_sensor(start_training(), mode="poke").execute(context) is None

    failing = start_training(FAILING_CONFIG)
    with pytest.raises(JobFailedError, match="たぶん"):
        training_sensor(failing, mode="poke").execute(context)
    # No poke after the failure was seen: the status was read once more at most by nobody else.
    pokes = emulator.request_count("GET", "/models/results")
    time.sleep(0.3)
    assert emulator.request_count("GET", "/models/results") == pokes


@pytest.mark.usefixtures("connection", "airflow_db")
def test_reschedule_mode_reschedules_while_running(start_training: Callable[..., str], context: dict[str, Any]) -> None:
    sensor = training_sensor(start_training(), mode="reschedule", poke_interval=5)
    with pytest.raises(AirflowRescheduleException):
        sensor.execute(context)


@pytest.mark.usefixtures("connection", "airflow_db")
def test_retrain_reschedule_mode_reschedules_while_running_then_pushes_the_new_model_id(
    emulator: Any,
    p1_client: PredictionOneClient,
    deployed_model: int,
    start_retrain: Callable[..., str],
    context: dict[str, Any],
) -> None:
    emulator.set_train_seconds(2.0)  # the retraining is still running at the first check
    job_id = start_retrain(deployed_model)
    sensor = retrain_sensor(job_id, deployed_model, mode="reschedule", poke_interval=5)
    with pytest.raises(AirflowRescheduleException):
        sensor.execute(context)
    assert MODEL_ID_XCOM_KEY not in context["ti"].xcom
    finished = wait_until(
        lambda: (status := p1_client.retrain_status(deployed_model, job_id)).state.is_terminal and status
    )
    sensor.execute(context)  # the rescheduled try: the job has finished
    assert context["ti"].xcom[MODEL_ID_XCOM_KEY] == finished.model_id != deployed_model


def start_on_slow_emulator(
    slow: Any,
    secret_key: str,
    monkeypatch: pytest.MonkeyPatch,
    customers_csv: Any,
    config: dict[str, Any] = BINARY_CONFIG,
    *,
    read_connection: bool = False,
) -> str:
    """Point the connection at ``slow`` (an emulator with long jobs) and start a training there.

    ``read_connection`` reads the connection once first, so that a sensor's first check does not
    pay for importing Airflow's secrets code.
    """
    set_connection(monkeypatch, slow.url, secret_key)
    if read_connection:
        PredictionOneHook().get_connection("predictionone_default")
    hook = emulator_hook(monkeypatch, slow, secret_key)
    return start_training_with(hook, customers_csv, config=config, name=f"slow-{config['tv']}")


def test_poke_mode_timeout_and_soft_fail(
    emulator_factory: Callable[..., Any],
    secret_key: str,
    monkeypatch: pytest.MonkeyPatch,
    customers_csv: Any,
    context: dict[str, Any],
) -> None:
    job_id = start_on_slow_emulator(
        emulator_factory(train_seconds=60, secret_keys=(secret_key,)), secret_key, monkeypatch, customers_csv
    )
    with pytest.raises(AirflowSensorTimeout):
        training_sensor(job_id, timeout=0.3).execute(context)
    with pytest.raises(AirflowSkipException):
        training_sensor(job_id, timeout=0.3, soft_fail=True).execute(context)


@pytest.mark.usefixtures("connection")
def test_retrain_poke_pushes_the_new_model_id(
    deployed_model: int, start_retrain: Callable[..., str], context: dict[str, Any]
) -> None:
    job_id = start_retrain(deployed_model)
    sensor = retrain_sensor(job_id, str(deployed_model))  # as rendered from a template
    assert sensor.poke(context) is False
    assert wait_until(lambda: sensor.poke(context)) is True
    new_model_id = context["ti"].xcom[MODEL_ID_XCOM_KEY]
    assert isinstance(new_model_id, int)
    assert new_model_id != deployed_model


@pytest.mark.usefixtures("connection")
def test_retrain_poke_failure(deployed_model: int, start_retrain: Callable[..., str], context: dict[str, Any]) -> None:
    sensor = retrain_sensor(start_retrain(deployed_model, fail=True), deployed_model)
    with pytest.raises(JobFailedError, match="購入") as raised:
        wait_until(lambda: sensor.poke(context))
    assert raised.value.status == "job_failed"


# -- deferrable mode ----------------------------------------------------------------------------


@pytest.mark.usefixtures("connection")
def test_deferrable_training_defers_then_completes(start_training: Callable[..., str], context: dict[str, Any]) -> None:
    job_id = start_training()
    sensor = training_sensor(job_id, deferrable=True, poke_interval=0.2, timeout=120)
    before = time.time()
    trigger, _deferred = deferred_trigger(sensor, context)
    _classpath, kwargs = trigger.serialize()
    assert kwargs["kind"] == "train"
    assert kwargs["job_id"] == job_id
    assert kwargs["predictionone_conn_id"] == "predictionone_default"
    assert kwargs["poll_interval"] == 0.2
    assert kwargs["model_id"] is None
    assert before + 120 <= kwargs["end_time"] <= time.time() + 120

    payload = run_trigger(trigger)
    assert payload["status"] == "success"
    assert sensor.resume_execution("execute_complete", {"event": payload}, context) is None


@pytest.mark.usefixtures("connection")
def test_deferrable_sensor_returns_at_once_when_already_finished(
    start_training: Callable[..., str], p1_client: PredictionOneClient, context: dict[str, Any]
) -> None:
    job_id = start_training()
    wait_for_training(p1_client, job_id)
    assert training_sensor(job_id, deferrable=True).execute(context) is None


def test_deferrable_training_failure(
    emulator_factory: Callable[..., Any],
    secret_key: str,
    monkeypatch: pytest.MonkeyPatch,
    customers_csv: Any,
    context: dict[str, Any],
) -> None:
    # The sensor's first check must find the job not yet failed: jobs stay queued for 1 s here, and the
    # connection is read once beforehand (its first read imports Airflow's secrets code: ~1 s on Airflow 2
    # and 3.0 on a loaded machine).
    slow = emulator_factory(train_seconds=5, secret_keys=(secret_key,))
    job_id = start_on_slow_emulator(slow, secret_key, monkeypatch, customers_csv, FAILING_CONFIG, read_connection=True)
    sensor = training_sensor(job_id, deferrable=True)
    trigger, _deferred = deferred_trigger(sensor, context)
    payload = run_trigger(trigger)
    with pytest.raises(JobFailedError, match="たぶん") as raised:
        sensor.execute_complete(context, event=payload)
    assert raised.value.message == payload["message"]


@pytest.mark.usefixtures("connection")
def test_deferrable_retrain_pushes_the_new_model_id(
    deployed_model: int, start_retrain: Callable[..., str], context: dict[str, Any]
) -> None:
    job_id = start_retrain(deployed_model)
    sensor = retrain_sensor(job_id, str(deployed_model), deferrable=True)
    trigger, _deferred = deferred_trigger(sensor, context)
    _classpath, kwargs = trigger.serialize()
    assert kwargs["kind"] == "retrain"
    assert kwargs["model_id"] == deployed_model
    assert kwargs["job_id"] == job_id

    payload = run_trigger(trigger)
    assert payload["status"] == "success"
    sensor.execute_complete(context, event=payload)
    assert context["ti"].xcom[MODEL_ID_XCOM_KEY] == payload["model_id"] != deployed_model


def test_timeout_event_raises_sensor_timeout(context: dict[str, Any]) -> None:
    sensor = training_sensor("p-1", deferrable=True)
    with pytest.raises(AirflowSensorTimeout, match="timeout message"):
        sensor.execute_complete(context, event=event("timeout"))
    with pytest.raises(AirflowSensorTimeout):
        sensor.resume_execution("execute_complete", {"event": event("timeout")}, context)


def test_timeout_event_with_soft_fail_skips(context: dict[str, Any]) -> None:
    sensor = training_sensor("p-1", deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        sensor.resume_execution("execute_complete", {"event": event("timeout")}, context)


@pytest.mark.parametrize(
    ("payload", "error", "match"),
    [
        (event("failed", job_status="failed"), JobFailedError, "failed message"),
        (event("error"), PredictionOneError, "error message"),
        (event("success", job_id="other"), PredictionOneError, "is for job 'other'"),
        (event("success", kind="retrain"), PredictionOneError, "'retrain' job"),
        ("success", PredictionOneError, "expected a dict"),
    ],
)
def test_execute_complete_raises_for_bad_outcomes(
    payload: Any, error: type[Exception], match: str, context: dict[str, Any]
) -> None:
    with pytest.raises(error, match=match):
        training_sensor("p-1", deferrable=True).execute_complete(context, event=payload)


def test_retrain_execute_complete_without_reported_model_pushes_the_given_one(context: dict[str, Any]) -> None:
    sensor = retrain_sensor("r-1", "7", deferrable=True)
    sensor.execute_complete(context, event=event("success", job_id="r-1", kind="retrain", model_id=None))
    assert context["ti"].xcom[MODEL_ID_XCOM_KEY] == 7
