"""Transient faults are retried where they happen; the task succeeds and nothing is created twice.

Each case injects one fault kind on one route (a few times), runs the affected operator against
the emulator and checks that the task succeeds, that the fault really fired, and that exactly one
training / retraining / prediction API exists afterwards — or, for batch prediction, that every
input row is in the output exactly once, in order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.emulator import Emulator
from airflow_provider_predictionone.triggers.classifier import PredictionOneClassifierTrigger
from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger
from tests.faults.remote import (
    assert_every_row_once,
    deploy_op,
    fake_context,
    predict_op,
    prediction_apis,
    record_arrivals,
    retrain_op,
    retrainings,
    train_op,
    trainings,
    upload_op,
)
from tests.triggers.job_fixtures import TARGET, run_trigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

NOW = {"retry_after": 0}  # 429 / 503 say "Retry-After: 0": retry at once (the default, 1 s, is tested once)


def fault(route: str, kind: str, count: int = 1, *, method: str | None = None, **options: Any) -> Any:
    """One parametrize case: the arguments of ``emulator.faults.add``."""
    name = f"{method + ' ' if method else ''}{route} {kind} x{count}"
    return pytest.param(route, kind, count, {"method": method, **options}, id=name)


def inject(emulator: Emulator, route: str, kind: str, count: int, options: dict[str, Any]) -> None:
    emulator.faults.add(route, kind, count, **options)


# -- train flow (upload -> train, waiting in the worker) -----------------------------------------

TRAIN_FAULTS = [
    fault("/api-key", "500", 2),
    fault("/api-key", "html", 1),
    fault("/data-sets/upload-url", "503", 2, **NOW),
    fault("/data-sets/upload-url", "drop-mid-response", 1),
    fault("upload", "429", 1, method="PUT", **NOW),
    fault("upload", "500", 2, method="PUT"),
    fault("upload", "drop-mid-upload", 2, method="PUT"),
    fault("upload", "drop-mid-response", 1, method="PUT"),
    fault("/data-sets/column-info", "html", 1),
    fault("/data-sets/column-info", "drop", 2),
    fault("/models", "503", 2, method="POST", **NOW),
    fault("/models", "429", 1, method="POST", **NOW),
    fault("/models/results", "500", 2),
    fault("/models/results", "html", 2),
    fault("/models/results", "drop", 2),
    fault("/models/results", "drop-mid-response", 2),
    fault("/models/results", "latency", 1, latency=0.3),
    fault("/models", "500", 1, method="GET"),
    fault("/models", "drop-mid-response", 1, method="GET"),
    fault("download", "503", 1, **NOW),
    fault("download", "drop", 1),
    fault("download", "drop-mid-response", 1),
]


@pytest.mark.parametrize(("route", "kind", "count", "options"), TRAIN_FAULTS)
def test_train_flow_retries_transient_faults_and_trains_once(
    predictionone_conn: str,
    emulator: Emulator,
    customers_csv: Path,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    inject(emulator, route, kind, count, options)
    epid = upload_op(customers_csv, target_column=TARGET).execute(fake_context(task_id="upload"))
    context = fake_context()
    summary = train_op(epid).execute(context)
    assert summary["status"] == "finished" and summary["model_id"] == 1
    assert 0.5 < summary["metrics"]["accuracy"] <= 1
    assert emulator.faults.fired() == count  # the fault did happen
    assert trainings(emulator) == 1
    assert context["task_state_store"] == {}  # the ledger entry is cleared on success


ASYNC_WAIT_FAULTS = [
    fault("/models/results", "500", 2),
    fault("/models/results", "503", 2, **NOW),
    fault("/models/results", "html", 2),
    fault("/models/results", "drop", 2),
    fault("/models/results", "drop-mid-response", 2),
    fault("/models/results", "latency", 1, latency=0.3),
]


@pytest.mark.parametrize(("route", "kind", "count", "options"), ASYNC_WAIT_FAULTS)
def test_deferred_train_wait_retries_transient_faults(
    predictionone_conn: str,
    emulator: Emulator,
    customers_csv: Path,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    """The same faults hit the trigger's async client (httpx) while the task is deferred."""
    emulator.set_train_seconds(0.8)  # still running at the first check, so the task defers
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    context = fake_context()
    op = train_op(epid, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    inject(emulator, route, kind, count, options)  # now: the faults hit the trigger, not the first check
    event = run_trigger(deferred.value.trigger)
    assert isinstance(deferred.value.trigger, PredictionOneJobTrigger)
    assert event["status"] == "success", event
    summary = op.execute_complete(context, event, **deferred.value.kwargs)
    assert summary["status"] == "finished" and summary["metrics"]
    assert emulator.faults.fired() == count
    assert trainings(emulator) == 1


def test_retry_after_is_honoured(predictionone_conn: str, emulator: Emulator, customers_csv: Path) -> None:
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models/results", "503", 1, retry_after=1)
    started = time.monotonic()
    assert train_op(epid).execute(fake_context())["status"] == "finished"
    assert time.monotonic() - started >= 1.0  # waited as told, not the connection's 10 ms backoff
    assert emulator.faults.fired() == 1 and trainings(emulator) == 1


RETRY_AFTER = 1  # seconds; the connection's own backoff is 10 ms, so a gap this long comes from the header


def test_retry_after_of_a_429_is_honoured_before_train_is_sent_again(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 proves the server did not act, so even Train is sent again — after the Retry-After it asked for."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    arrivals = record_arrivals(emulator, monkeypatch)
    emulator.faults.add("/models", "429", 1, method="POST", retry_after=RETRY_AFTER)
    assert train_op(epid).execute(fake_context())["status"] == "finished"
    first, second = arrivals.times("POST", "/models")  # the refused Train and its one repeat
    assert second - first >= RETRY_AFTER
    assert emulator.faults.fired() == 1 and trainings(emulator) == 1


def test_retry_after_of_a_429_is_honoured_by_the_trigger(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger's async client waits as told too (it sleeps on the event loop, not the 10 ms backoff)."""
    emulator.set_train_seconds(0.8)  # still running at the first check, so the task defers
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    context = fake_context()
    op = train_op(epid, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    arrivals = record_arrivals(emulator, monkeypatch)
    emulator.faults.add("/models/results", "429", 1, retry_after=RETRY_AFTER)  # the trigger's first poll
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success", event
    polls = arrivals.times("GET", "/models/results")
    assert len(polls) >= 2 and polls[1] - polls[0] >= RETRY_AFTER  # the refused poll and its repeat
    assert op.execute_complete(context, event, **deferred.value.kwargs)["status"] == "finished"
    assert emulator.faults.fired() == 1 and trainings(emulator) == 1


def test_a_read_timeout_on_a_status_check_is_retried(
    short_timeout_conn: float, emulator: Emulator, customers_csv: Path
) -> None:
    """A GET that outlives the read timeout is abandoned and asked again (it creates nothing)."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models/results", "latency", 1, latency=short_timeout_conn + 0.5)
    assert train_op(epid).execute(fake_context())["status"] == "finished"
    assert emulator.faults.fired() == 1 and trainings(emulator) == 1
    assert emulator.request_count("POST", "/models") == 1


# -- retrain flow ---------------------------------------------------------------------------------

RETRAIN_FAULTS = [
    fault("/api-key", "503", 2, **NOW),
    fault("/retrain_jobs/upload_url", "500", 2),
    fault("/retrain_jobs/upload_url", "drop-mid-response", 1),
    fault("upload", "drop-mid-upload", 2, method="PUT"),
    fault("upload", "500", 1, method="PUT"),
    fault("upload", "drop", 1, method="PUT"),
    fault("upload", "drop-mid-response", 1, method="PUT"),
    fault("/retrain_jobs/{retrain_job_id}", "429", 2, **NOW),
    fault("/retrain_jobs/{retrain_job_id}", "html", 2),
    fault("/retrain_jobs/{retrain_job_id}", "drop", 2),
    fault("/retrain_jobs/{retrain_job_id}", "drop-mid-response", 2),
    fault("/retrain_jobs/{retrain_job_id}", "latency", 1, latency=0.3),
    fault("download", "drop-mid-response", 1),
]


@pytest.mark.parametrize(("route", "kind", "count", "options"), RETRAIN_FAULTS)
def test_retrain_flow_retries_transient_faults_and_retrains_once(
    predictionone_conn: str,
    emulator: Emulator,
    deployed_model: int,
    customers_csv: Path,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    inject(emulator, route, kind, count, options)
    context = fake_context()
    summary = retrain_op(deployed_model, customers_csv).execute(context)
    assert summary["status"] == "job_finished" and summary["model_id"] not in (None, deployed_model)
    assert summary["metrics"]
    assert emulator.faults.fired() == count
    assert retrainings(emulator) == 1
    assert context["task_state_store"] == {}


RETRAIN_STATUS = "/retrain_jobs/{retrain_job_id}"
ASYNC_RETRAIN_WAIT_FAULTS = [
    fault(RETRAIN_STATUS, "500", 2),
    fault(RETRAIN_STATUS, "503", 2, **NOW),
    fault(RETRAIN_STATUS, "429", 2, **NOW),
    fault(RETRAIN_STATUS, "html", 2),
    fault(RETRAIN_STATUS, "drop", 2),
    fault(RETRAIN_STATUS, "drop-mid-response", 2),
    fault(RETRAIN_STATUS, "latency", 1, latency=0.3),
]


@pytest.mark.parametrize(("route", "kind", "count", "options"), ASYNC_RETRAIN_WAIT_FAULTS)
def test_deferred_retrain_wait_retries_transient_faults(
    predictionone_conn: str,
    emulator: Emulator,
    deployed_model: int,
    customers_csv: Path,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    """Faults on Retrain Status Check hit the trigger's async client while the retrain task is deferred."""
    emulator.set_train_seconds(0.8)  # still running at the first check, so the task defers
    context = fake_context()
    op = retrain_op(deployed_model, customers_csv, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PredictionOneJobTrigger) and trigger.serialize()[1]["kind"] == "retrain"
    inject(emulator, route, kind, count, options)  # now: the faults hit the trigger, not the first check
    event = run_trigger(trigger)
    assert event["status"] == "success", event
    assert emulator.faults.fired() == count  # before execute_complete's own check: the trigger met them all
    summary = op.execute_complete(context, event, **deferred.value.kwargs)
    assert summary["status"] == "job_finished" and summary["model_id"] not in (None, deployed_model)
    assert summary["metrics"]
    assert retrainings(emulator) == 1
    assert context["task_state_store"] == {}


def test_retrain_zip_upload_dropped_midway_is_sent_again(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path, tmp_path: Path
) -> None:
    """With an evaluation file the upload is a zip; a dropped upload is sent again from the start."""
    emulator.faults.add("upload", "drop-mid-upload", 2, method="PUT")
    evaluation = tmp_path / "eval.csv"
    evaluation.write_bytes(customers_csv.read_bytes())
    summary = retrain_op(deployed_model, customers_csv, evaluation_file=str(evaluation)).execute(fake_context())
    assert summary["status"] == "job_finished"
    assert emulator.faults.fired() == 2 and retrainings(emulator) == 1


# -- deploy -----------------------------------------------------------------------------------------

DEPLOY_FAULTS = [
    fault("/api-key", "500", 1),
    fault("/classifiers", "503", 2, method="POST", **NOW),
    fault("/classifiers", "429", 1, method="POST", **NOW),
    fault("/classifiers", "500", 2, method="GET"),
    fault("/classifiers", "html", 2, method="GET"),
    fault("/classifiers", "drop", 2, method="GET"),
    fault("/classifiers", "drop-mid-response", 2, method="GET"),
    fault("/classifiers", "latency", 1, method="GET", latency=0.3),
]


@pytest.mark.parametrize(("route", "kind", "count", "options"), DEPLOY_FAULTS)
def test_deploy_retries_transient_faults_and_creates_one_prediction_api(
    predictionone_conn: str,
    emulator: Emulator,
    trained_model: int,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    inject(emulator, route, kind, count, options)
    context = fake_context()
    summary = deploy_op(trained_model).execute(context)
    assert summary["status"] == "running" and summary["url"]
    assert emulator.faults.fired() == count
    assert prediction_apis(emulator) == 1
    assert context["task_state_store"] == {}


@pytest.mark.parametrize(("route", "kind", "count", "options"), [case for case in DEPLOY_FAULTS if "GET" in case.id])
def test_deferred_deploy_wait_retries_transient_faults(
    predictionone_conn: str,
    emulator: Emulator,
    trained_model: int,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    emulator.set_build_seconds(1.0)  # still building at the first check, so the task defers
    context = fake_context()
    op = deploy_op(trained_model, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert isinstance(deferred.value.trigger, PredictionOneClassifierTrigger)
    inject(emulator, route, kind, count, options)  # now: the faults hit the trigger's polls
    event = run_trigger(deferred.value.trigger)
    summary = op.execute_complete(context, event, **deferred.value.kwargs)
    assert summary["status"] == "running" and summary["url"]
    assert emulator.faults.fired() == count
    assert prediction_apis(emulator) == 1


# -- batch predict ----------------------------------------------------------------------------------

PREDICT_FAULTS = [
    fault("inference", "500", 3),
    fault("inference", "503", 3, **NOW),
    fault("inference", "429", 3, **NOW),
    fault("inference", "html", 3),
    fault("inference", "drop", 3),
    fault("inference", "drop-mid-response", 3),
    fault("inference", "latency", 4, latency=0.3),
    fault("/classifiers", "500", 1, method="GET"),
]


@pytest.mark.parametrize(("route", "kind", "count", "options"), PREDICT_FAULTS)
def test_batch_predict_retries_transient_faults_without_losing_or_duplicating_rows(
    predictionone_conn: str,
    emulator: Emulator,
    running_api: str,
    scoring_csv: Path,
    tmp_path: Path,
    route: str,
    kind: str,
    count: int,
    options: dict[str, Any],
) -> None:
    emulator.reset_request_counts()
    inject(emulator, route, kind, count, options)
    output = tmp_path / "predictions.csv"
    summary = predict_op(running_api, scoring_csv, output).execute(fake_context())
    assert summary["rows_total"] == summary["rows_predicted"] == 40 and summary["rows_rejected"] == 0
    assert_every_row_once(output, 40)
    assert emulator.faults.fired() == count
    failed_attempts = count if route == "inference" and kind != "latency" else 0
    assert emulator.request_count("POST", "inference") == 40 + failed_attempts  # each fault cost one retry
    assert prediction_apis(emulator) == 1


def test_a_read_timeout_on_inference_is_retried(
    short_timeout_conn: float, emulator: Emulator, running_api: str, scoring_csv: Path, tmp_path: Path
) -> None:
    """Scoring a row changes nothing remotely, so an Inference that timed out is sent again."""
    emulator.reset_request_counts()
    emulator.faults.add("inference", "latency", 2, latency=short_timeout_conn + 0.5)
    output = tmp_path / "predictions.csv"
    summary = predict_op(running_api, scoring_csv, output).execute(fake_context())
    assert summary["rows_predicted"] == 40 and summary["rows_rejected"] == 0
    assert_every_row_once(output, 40)
    assert emulator.request_count("POST", "inference") == 42


# -- housekeeping: PATCH and DELETE are repeated, and a repeat that finds the work done is fine ----


@pytest.mark.parametrize("kind", ["drop-mid-response", "500"])
def test_deleting_survives_a_lost_answer(
    predictionone_conn: str, emulator: Emulator, running_api: str, trained_model: int, secret_key: str, kind: str
) -> None:
    """A DELETE whose answer is lost is repeated; when the first attempt did delete (the handler
    ran), the repeat is told "not found" — the task still succeeds: the thing is gone."""
    from airflow_provider_predictionone.operators import (
        PredictionOneDeleteDataSetOperator,
        PredictionOneDeleteModelOperator,
        PredictionOneDeletePredictionApiOperator,
    )

    with emulator.app.lock:
        data_set_id = next(iter(emulator.app.users[secret_key].data_sets))
    for route in ("/classifiers/{classifier_id}", "/models/{model_id}", "/data-sets/{data_set_id}"):
        emulator.faults.add(route, kind, method="DELETE")
    deleted_api = PredictionOneDeletePredictionApiOperator(
        task_id="delete_api", classifier_id=running_api, check_interval=0.05
    ).execute(fake_context())
    deleted_model = PredictionOneDeleteModelOperator(task_id="delete_model", model_id=trained_model).execute(
        fake_context()
    )
    deleted_data = PredictionOneDeleteDataSetOperator(task_id="delete_data", data_set_id=data_set_id).execute(
        fake_context()
    )
    assert deleted_api["deleted"] and deleted_model["deleted"] and deleted_data["deleted"]
    assert emulator.faults.fired() == 3
    with emulator.app.lock:
        user = emulator.app.users[secret_key]
        assert not user.classifiers and trained_model not in user.models and data_set_id not in user.data_sets


def test_updating_a_prediction_api_survives_a_lost_answer(
    predictionone_conn: str, emulator: Emulator, running_api: str
) -> None:
    from airflow_provider_predictionone.operators import PredictionOneUpdatePredictionApiOperator

    emulator.faults.add("/classifiers/{classifier_id}", "drop-mid-response", method="PATCH")
    summary = PredictionOneUpdatePredictionApiOperator(
        task_id="stop", classifier_id=running_api, active=False, check_interval=0.05
    ).execute(fake_context())
    assert summary["status"] == "terminated" and summary["active"] is False
    assert emulator.faults.fired() == 1 and emulator.request_count("PATCH", "/classifiers/{classifier_id}") == 2
