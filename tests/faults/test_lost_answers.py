"""Requests that create something are never repeated blindly.

``POST /models`` (Train) and ``POST /classifiers`` (Create Classifier) have no idempotency key. The
client retries them only on answers that prove the server did not act (a refused connection, HTTP
429, HTTP 503). Anything else after the request was sent — a broken connection, a read timeout, a
500 — fails the task with "may have reached the service"; the *next try* then finds out what
happened before sending again: the train operator looks the model up by its deterministic name, the
deploy operator looks for a prediction API of the model that appeared since. The retraining upload
starts a job by itself, so a lost answer there is settled in the same try by the job's status.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG

from airflow_provider_predictionone.api.errors import (
    PredictionOneTransportError,
    PredictionOneUploadError,
    ServerError,
)
from airflow_provider_predictionone.emulator import Emulator
from airflow_provider_predictionone.operators import PredictionOneTrainModelOperator
from tests.faults.conftest import RETRIES
from tests.faults.remote import (
    deploy_op,
    fake_context,
    models,
    prediction_apis,
    retrain_op,
    retrainings,
    train_op,
    trainings,
    upload_op,
)
from tests.task_context import TaskStateStore
from tests.triggers.job_fixtures import wait_until

MAY_HAVE_REACHED = "may have reached the service"


# -- Train (POST /models) -------------------------------------------------------------------------


def test_train_answer_lost_after_the_server_acted_fails_and_the_retry_reattaches(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    """The dangerous case: training started, but the client saw a broken connection."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models", "drop-mid-response", method="POST")
    store = TaskStateStore()
    with pytest.raises(PredictionOneTransportError, match=MAY_HAVE_REACHED) as failed:
        train_op(epid).execute(fake_context(store, task_id="train"))
    assert "looks for a model named 'faults.train.manual__1'" in str(failed.value)
    assert emulator.request_count("POST", "/models") == 1  # not repeated inside the try
    assert trainings(emulator) == 1  # ... although the server did start the training
    assert store["train"] == {"upload_id": epid, "job_id": None, "model_name": "faults.train.manual__1"}

    summary = train_op(epid).execute(fake_context(store, task_id="train"))  # the next try of the task
    assert summary["status"] == "finished" and summary["external_process_id"] == epid
    assert emulator.request_count("POST", "/models") == 1  # looked up by name, not sent again
    assert trainings(emulator) == 1 and models(emulator) == 1
    assert store == {}


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        pytest.param("drop", PredictionOneTransportError, MAY_HAVE_REACHED, id="drop"),
        pytest.param("500", ServerError, "HTTP 500", id="500"),
        pytest.param("html", ServerError, "HTTP 502", id="html-502"),
    ],
)
def test_train_refused_before_the_server_acted_fails_and_the_retry_trains_once(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path, kind: str, error: type, match: str
) -> None:
    """A 500 / 502 / dropped connection on Train may mean anything, so the try fails; here the
    server did nothing, and the next try finds no model of that name and trains once."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models", kind, method="POST")
    store = TaskStateStore()
    with pytest.raises(error, match=match):
        train_op(epid).execute(fake_context(store))
    assert emulator.request_count("POST", "/models") == 1 and trainings(emulator) == 0

    summary = train_op(epid).execute(fake_context(store))
    assert summary["status"] == "finished"
    assert emulator.request_count("POST", "/models") == 2 and trainings(emulator) == 1


def test_train_read_timeout_is_not_repeated_and_the_retry_reattaches(
    short_timeout_conn: float, emulator: Emulator, customers_csv: Path
) -> None:
    """Train answered after the read timeout: the client gave up, the server went on."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models", "latency", method="POST", latency=short_timeout_conn + 0.3)
    store = TaskStateStore()
    with pytest.raises(PredictionOneTransportError, match=MAY_HAVE_REACHED):
        train_op(epid).execute(fake_context(store))
    wait_until(lambda: trainings(emulator) == 1)  # the late handler starts the training (Airflow's retry_delay)
    summary = train_op(epid).execute(fake_context(store))
    assert summary["status"] == "finished"
    assert emulator.request_count("POST", "/models") == 1 and trainings(emulator) == 1


def test_lost_train_answer_inside_airflow_is_recovered_by_the_task_retry(
    run_dag: Any, emulator: Emulator, customers_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as a real DAG run: the first try fails, Airflow retries, the retry re-attaches."""
    with DAG("lost_train_answer", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        upload = upload_op(customers_csv)
        train_op(upload.output, retries=1, retry_delay=timedelta(seconds=0))
    errors: list[str] = []
    original = PredictionOneTrainModelOperator.execute

    def recording(self: Any, context: Any) -> Any:
        if context["ti"].try_number == 1:
            emulator.faults.add("/models", "drop-mid-response", method="POST")
        try:
            return original(self, context)
        except Exception as exc:
            errors.append(str(exc))
            raise

    monkeypatch.setattr(PredictionOneTrainModelOperator, "execute", recording)
    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    assert len(errors) == 1 and MAY_HAVE_REACHED in errors[0]
    assert results["train"]["status"] == "finished"
    assert emulator.request_count("POST", "/models") == 1 and trainings(emulator) == 1


# -- Create Classifier (POST /classifiers) ---------------------------------------------------------


@pytest.mark.parametrize("if_exists", ["reuse", "create"])
def test_create_classifier_answer_lost_fails_and_the_retry_adopts_the_new_api(
    predictionone_conn: str, emulator: Emulator, trained_model: int, if_exists: str
) -> None:
    emulator.faults.add("/classifiers", "drop-mid-response", method="POST")
    store = TaskStateStore()
    with pytest.raises(PredictionOneTransportError, match=MAY_HAVE_REACHED):
        deploy_op(trained_model, if_exists=if_exists).execute(fake_context(store))
    assert emulator.request_count("POST", "/classifiers") == 1 and prediction_apis(emulator) == 1

    summary = deploy_op(trained_model, if_exists=if_exists).execute(fake_context(store))
    assert summary["status"] == "running"
    assert emulator.request_count("POST", "/classifiers") == 1 and prediction_apis(emulator) == 1
    assert store == {}


def test_create_classifier_refused_with_500_fails_and_the_retry_creates_one(
    predictionone_conn: str, emulator: Emulator, trained_model: int
) -> None:
    emulator.faults.add("/classifiers", "500", method="POST")
    store = TaskStateStore()
    with pytest.raises(Exception, match="HTTP 500"):
        deploy_op(trained_model, if_exists="create").execute(fake_context(store))
    assert emulator.request_count("POST", "/classifiers") == 1 and prediction_apis(emulator) == 0
    summary = deploy_op(trained_model, if_exists="create").execute(fake_context(store))
    assert summary["status"] == "running" and prediction_apis(emulator) == 1


# -- the retraining upload (PUT starts the job) ------------------------------------------------------


def test_retrain_upload_answer_lost_is_settled_by_the_job_status(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    """The upload reached the service (retraining started) but its answer was lost; the client's
    repeated upload is refused (the job already has its data), and the operator waits for the job."""
    emulator.faults.add("upload", "drop-mid-response", method="PUT")
    summary = retrain_op(deployed_model, customers_csv).execute(fake_context())
    assert summary["status"] == "job_finished"
    assert emulator.request_count("GET", "/retrain_jobs/upload_url") == 1 and retrainings(emulator) == 1


def test_retrain_upload_that_never_arrived_is_started_afresh_by_the_retry(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    """Every upload attempt broke off: the job never got data; the next try starts one new job."""
    emulator.faults.add("upload", "drop-mid-upload", RETRIES + 1, method="PUT")
    store = TaskStateStore()
    with pytest.raises(PredictionOneUploadError, match=f"after {RETRIES + 1} attempts"):
        retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    assert retrainings(emulator) == 0 and store["retrain"]["uploaded"] is False
    summary = retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    assert summary["status"] == "job_finished"
    assert emulator.request_count("GET", "/retrain_jobs/upload_url") == 2 and retrainings(emulator) == 1


def test_retrain_worker_died_after_the_upload_reattaches(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    """The ledger says "uploaded: false" (the worker died before recording the end of the upload),
    but the job has its data: the next try waits for it instead of starting another."""
    store = TaskStateStore()
    first = retrain_op(deployed_model, customers_csv, wait_for_completion=False).execute(fake_context(store))
    store["retrain"] = {"model_id": deployed_model, "job_id": first["retrain_job_id"], "uploaded": False}
    time.sleep(0.05)
    summary = retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    assert summary["retrain_job_id"] == first["retrain_job_id"] and summary["status"] == "job_finished"
    assert retrainings(emulator) == 1


def test_retrain_upload_received_altered_is_never_waited_for(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    """The service stored other bytes than were sent (its ETag disagrees with the MD5 sent) and
    started retraining on them; the repeated upload is refused (the job has its data). The
    retraining started on altered data is not adopted, neither in this try nor by the next one,
    which starts one new job."""
    emulator.faults.add("upload", "corrupt-upload", 1, method="PUT")
    store = TaskStateStore()
    with pytest.raises(PredictionOneUploadError, match="not received intact"):
        retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    assert emulator.faults.fired("upload", "corrupt-upload") == 1
    assert retrainings(emulator) == 1 and store["retrain"]["damaged"] is True
    assert emulator.request_count("GET", "/retrain_jobs/{retrain_job_id}") == 0  # never waited for
    damaged_job = store["retrain"]["job_id"]
    summary = retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    assert summary["status"] == "job_finished" and summary["retrain_job_id"] != damaged_job
    assert retrainings(emulator) == 2 and emulator.request_count("GET", "/retrain_jobs/upload_url") == 2
