"""Permanent faults fail fast with the service's message, without a retry storm.

A documented ``message`` (spec 3) is an answer, not a glitch: it is never retried, even when it
comes with a 5xx code (``Not found configuration_file.``). Undocumented 4xx answers are not retried
either. Each case counts the attempts on the emulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_predictionone.api.batch import BatchPredictor
from airflow_provider_predictionone.api.errors import (
    ConfigurationFileNotFoundError,
    ModelDeletedError,
    PredictionOneAPIError,
    RetrainJobNotFoundError,
    UserDeletedError,
)
from airflow_provider_predictionone.emulator import Emulator
from airflow_provider_predictionone.operators import PredictionOneSwitchModelOperator
from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger
from tests.faults.remote import (
    deploy_op,
    fake_context,
    predict_op,
    prediction_apis,
    retrain_op,
    retrainings,
    train_op,
    trainings,
    upload_op,
)
from tests.task_context import TaskStateStore
from tests.triggers.job_fixtures import run_trigger

UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"


def test_retraining_an_unknown_model_fails_at_once(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    with pytest.raises(ModelDeletedError, match="This model may be deleted"):
        retrain_op(424242, customers_csv).execute(fake_context())
    assert emulator.request_count("GET", "/api-key") == 1  # the retrain key for the model: refused once
    assert emulator.request_count(None, "/retrain_jobs/upload_url") == 0


def test_a_documented_5xx_is_not_retried(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path, secret_key: str
) -> None:
    """``Not found configuration_file.`` comes with a 500 code but will not go away."""
    config = emulator.app.users[secret_key].directory / "models" / str(deployed_model) / "config.json"
    config.unlink()
    emulator.reset_request_counts()
    with pytest.raises(ConfigurationFileNotFoundError, match="Not found configuration_file") as failed:
        retrain_op(deployed_model, customers_csv).execute(fake_context())
    assert failed.value.status_code == 500
    assert emulator.request_count("GET", "/retrain_jobs/upload_url") == 1
    assert retrainings(emulator) == 0


def test_a_documented_message_wins_over_a_retryable_status(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    """A 503 that carries a documented message (here ``This user may be deleted.``) is that answer,
    not an outage: not retried, whatever the status says."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    deleted = "This user may be deleted."
    emulator.faults.add("/models/results", "error", None, status=503, retry_after=0, message=deleted)
    with pytest.raises(UserDeletedError, match="This user may be deleted"):
        train_op(epid).execute(fake_context())
    assert emulator.request_count("GET", "/models/results") == 1


def test_switching_to_an_unknown_retraining_fails_at_once(
    predictionone_conn: str, emulator: Emulator, deployed_model: int
) -> None:
    emulator.reset_request_counts()
    op = PredictionOneSwitchModelOperator(task_id="switch", model_id=deployed_model, retrain_job_id=UNKNOWN_JOB)
    with pytest.raises(RetrainJobNotFoundError, match="Not found retrain job"):
        op.execute(fake_context())
    assert emulator.request_count("GET", "/retrain_jobs/{retrain_job_id}") == 1
    assert emulator.request_count(None, "/retrain_jobs/{retrain_job_id}/update_model") == 0


def test_waiting_for_an_unknown_retraining_ends_the_deferred_wait_at_once(
    predictionone_conn: str, emulator: Emulator, deployed_model: int
) -> None:
    emulator.reset_request_counts()
    trigger = PredictionOneJobTrigger(
        kind="retrain",
        job_id=UNKNOWN_JOB,
        model_id=deployed_model,
        predictionone_conn_id=predictionone_conn,
        poll_interval=0.05,
        end_time=None,
    )
    event = run_trigger(trigger, timeout=10)
    assert event["status"] == "error" and "Not found retrain job." in event["message"]
    assert emulator.request_count("GET", "/retrain_jobs/{retrain_job_id}") == 1


def test_deploying_an_unknown_model_fails_at_once(predictionone_conn: str, emulator: Emulator) -> None:
    with pytest.raises(ModelDeletedError, match="This model may be deleted"):
        deploy_op(424242).execute(fake_context())
    assert emulator.request_count("POST", "/classifiers") == 1 and prediction_apis(emulator) == 0


def test_an_undocumented_4xx_on_a_status_check_fails_at_once(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    """A 400 with a message is an answer: the wait stops; the job stays recorded for a retry."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models/results", "error", status=400, message="Request rejected by policy.")
    store = TaskStateStore()
    with pytest.raises(PredictionOneAPIError, match="Request rejected by policy") as failed:
        train_op(epid).execute(fake_context(store))
    assert failed.value.status_code == 400
    assert emulator.request_count("GET", "/models/results") == 1
    assert store["train"]["job_id"] == epid  # the training runs on: the next try re-attaches to it
    assert train_op(epid).execute(fake_context(store))["status"] == "finished"
    assert trainings(emulator) == 1


def test_a_bad_request_on_train_is_sent_once_more_with_the_alternate_types_then_fails(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    """Spec 7.6: a plain bad request on Train is retried once with the other value types — the
    documented "small number" of attempts is 2 — and then fails with the service's message."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.faults.add("/models", "error", 2, method="POST", status=400, message="config is invalid.")
    with pytest.raises(PredictionOneAPIError, match="config is invalid"):
        train_op(epid).execute(fake_context())
    assert emulator.request_count("POST", "/models") == 2 and trainings(emulator) == 0


def test_a_404_while_deploying_fails_at_once(predictionone_conn: str, emulator: Emulator, trained_model: int) -> None:
    emulator.reset_request_counts()
    emulator.faults.add("/classifiers", "error", method="GET", status=404, message="Not Found")
    with pytest.raises(PredictionOneAPIError, match="HTTP 404"):
        deploy_op(trained_model).execute(fake_context())
    assert emulator.request_count("GET", "/classifiers") == 1
    assert emulator.request_count("POST", "/classifiers") == 0


def test_a_403_from_the_prediction_api_stops_the_batch_without_output(
    predictionone_conn: str, emulator: Emulator, running_api: str, scoring_csv: Path, tmp_path: Path
) -> None:
    """A 403 means the key or URL is wrong for every row: the batch stops, nothing is retried."""
    emulator.reset_request_counts()
    emulator.faults.add("inference", "html", status=403)
    output = tmp_path / "predictions.csv"
    with pytest.raises(PredictionOneAPIError, match="HTTP 403") as failed:
        predict_op(running_api, scoring_csv, output, concurrency=1).execute(fake_context())
    assert "no output file was written" in str(failed.value)
    assert emulator.faults.fired() == 1 and emulator.request_count("POST", "inference") == 1
    assert not output.exists()


def test_the_batch_stops_when_the_prediction_api_key_is_refused(
    predictionone_conn: str, emulator: Emulator, running_api: str, scoring_csv: Path, tmp_path: Path
) -> None:
    """``Invalid API key`` is documented and fatal: at most the requests already in flight are sent."""
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

    client = PredictionOneHook().get_conn()
    url = client.get_classifier(running_api).url
    emulator.reset_request_counts()
    with pytest.raises(PredictionOneAPIError, match="Invalid API key"):
        BatchPredictor(client, url, "wrong-key", scoring_csv, tmp_path / "p.csv", concurrency=2).run()
    assert emulator.request_count("POST", "inference") <= 3  # two in flight, at most one more racing the stop


def test_train_data_set_info_errors_are_asked_again_a_bounded_number_of_times(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spec 7.5: Data Set Info may fail while the uploads are still processed, so an undocumented
    error there is asked again — 5 attempts, 2 to 8 s apart — then the task fails before Train."""
    from types import SimpleNamespace

    import tenacity.nap

    sleeps: list[float] = []
    monkeypatch.setattr(tenacity.nap, "time", SimpleNamespace(sleep=sleeps.append))  # the retries' waits
    epid = upload_op(customers_csv, check_data=False).execute(fake_context(task_id="upload"))
    emulator.faults.add("/data-sets/column-info", "error", None, status=400, message="Still processing.")
    with pytest.raises(PredictionOneAPIError, match="Still processing"):
        train_op(epid).execute(fake_context())
    assert emulator.request_count("GET", "/data-sets/column-info") == 5
    assert sleeps == [2.0, 4.0, 8.0, 8.0]  # growing, never more than 8 s
    assert emulator.request_count("POST", "/models") == 0
