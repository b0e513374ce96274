"""The example DAGs, run with ``dag.test()`` against an emulator that misbehaves on every step.

The transient faults are absorbed by the client where they happen, and each DAG run succeeds with
exactly one training / retraining / prediction API and every scored row exactly once. A lost answer
to Train (``POST /models``) or Create Classifier (``POST /classifiers``) is not repeated by the
client: it fails the try, and the example's task ``retries`` recover — the retry finds what the lost
request created and re-attaches (the tests shorten the examples' production ``retry_delay`` to 0).
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.emulator import Emulator
from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger
from tests.dags.conftest import sample_prediction_api  # noqa: F401  (fixture)
from tests.dags.test_example_dags import EXAMPLES, load_dag
from tests.faults.remote import assert_every_row_once, prediction_apis, retrainings, trainings
from tests.promotion_data import more_data

NOW = {"retry_after": 0}


def add_faults(emulator: Emulator, faults: list[tuple[str, str, int, dict[str, Any]]]) -> int:
    for route, kind, count, options in faults:
        emulator.faults.add(route, kind, count, **options)
    return sum(count for _route, _kind, count, _options in faults)


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.1")


def without_retry_delay(dag: Any) -> Any:
    """The example DAG with its tasks' ``retry_delay`` (minutes in production) set to 0."""
    for example_task in dag.tasks:
        example_task.retry_delay = timedelta(0)
    return dag


def test_predictionone_train_survives_faults_on_every_step(
    run_dag: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.set_train_seconds(1.0)  # long enough for the train task to defer
    injected = add_faults(
        emulator,
        [
            ("/api-key", "500", 1, {}),
            ("/data-sets/upload-url", "drop", 1, {}),
            ("upload", "drop-mid-upload", 1, {"method": "PUT"}),
            ("/data-sets/column-info", "html", 1, {}),
            ("/models", "503", 1, {"method": "POST", **NOW}),
            ("/models", "drop-mid-response", 1, {"method": "GET"}),
            ("download", "drop-mid-response", 1, {}),
        ],
    )
    while_deferred = [
        ("/models/results", "drop", 2, {}),
        ("/models/results", "500", 1, {}),
        ("/models/results", "expire-keys", 1, {}),
        ("/models/results", "drop-mid-response", 1, {}),
    ]
    original_run = PredictionOneJobTrigger.run

    def run_with_faults(self: PredictionOneJobTrigger) -> Any:
        add_faults(emulator, while_deferred)  # these hit the trigger's polls only
        return original_run(self)

    monkeypatch.setattr(PredictionOneJobTrigger, "run", run_with_faults)
    dag_run, results, states = run_dag(load_dag("predictionone_train"))
    assert str(dag_run.state) == "success", states
    assert results["report_metrics"]["model_id"] == 1 and results["report_metrics"]["metrics"]
    assert emulator.faults.fired() == injected + sum(count for _route, _kind, count, _options in while_deferred)
    assert trainings(emulator) == 1


def test_predictionone_retrain_survives_faults_on_every_step(
    run_dag: Any,
    emulator: Emulator,
    sample_deployed_model: int,
    sample_prediction_api: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    injected = add_faults(
        emulator,
        [
            ("/api-key", "503", 1, NOW),
            ("/retrain_jobs/upload_url", "drop-mid-response", 1, {}),
            ("upload", "drop-mid-response", 1, {"method": "PUT"}),  # the upload arrived, its answer did not
            ("/retrain_jobs/{retrain_job_id}", "html", 2, {}),
            ("/retrain_jobs/{retrain_job_id}", "429", 1, NOW),
            ("download", "drop", 1, {}),
            ("/retrain_jobs/{retrain_job_id}/update_model", "500", 1, {}),
            ("/retrain_jobs/{retrain_job_id}/update_model", "drop-mid-response", 1, {}),
        ],
    )
    good = str(more_data(tmp_path / "more.csv"))  # a better model: the promotion gate switches to it
    conf = {"classifier_id": sample_prediction_api, "training_file": good}
    dag_run, results, states = run_dag(load_dag("predictionone_retrain"), conf)
    assert str(dag_run.state) == "success", states
    assert results["report"]["base_model_id"] == sample_deployed_model and results["report"]["switched"] is True
    assert emulator.faults.fired() == injected
    assert retrainings(emulator) == 1
    with emulator.app.lock:
        served = [c.model_id for c in emulator.app.users["emulator-secret-key"].classifiers.values()]
    assert served == [results["report"]["model_id"]]


def test_predictionone_deploy_predict_survives_faults_without_losing_or_duplicating_rows(
    run_dag: Any, emulator: Emulator, tmp_path: Path
) -> None:
    injected = add_faults(
        emulator,
        [
            ("/models", "429", 1, {"method": "POST", **NOW}),
            ("/classifiers", "503", 1, {"method": "POST", **NOW}),
            ("/classifiers", "html", 2, {"method": "GET"}),
            ("/classifiers", "drop-mid-response", 1, {"method": "GET"}),
            ("inference", "drop-mid-response", 3, {}),
            ("inference", "500", 3, {}),
            ("inference", "drop", 2, {}),
            ("inference", "429", 2, NOW),
        ],
    )
    output = tmp_path / "predictions.csv"
    dag_run, results, states = run_dag(load_dag("predictionone_deploy_predict"), {"output_file": str(output)})
    assert str(dag_run.state) == "success", states
    with (EXAMPLES / "data" / "customers_score.csv").open(encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    assert results["report"]["rows_predicted"] == rows and results["report"]["rows_rejected"] == 0
    assert_every_row_once(output, rows)
    assert emulator.faults.fired() == injected
    assert trainings(emulator) == 1 and prediction_apis(emulator) == 1


# -- lost answers to the requests that create something: the task retry recovers -------------------

LOST_ANSWERS = [
    pytest.param("drop-mid-response", 1, id="answer-lost-after-the-server-acted"),
    pytest.param("500", 2, id="500-the-server-did-nothing"),
]


@pytest.mark.parametrize(("kind", "posts"), LOST_ANSWERS)
def test_predictionone_train_recovers_a_lost_train_answer_with_a_task_retry(
    run_dag: Any, emulator: Emulator, kind: str, posts: int
) -> None:
    emulator.faults.add("/models", kind, 1, method="POST")
    dag = without_retry_delay(load_dag("predictionone_train"))
    assert dag.get_task("train_model").retries >= 1  # the example's own setting
    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    assert emulator.faults.fired() == 1
    # drop-mid-response: the retry found the model by its name and re-attached; 500: it trained once
    assert emulator.request_count("POST", "/models") == posts
    assert trainings(emulator) == 1 and results["report_metrics"]["metrics"]


@pytest.mark.parametrize(("kind", "posts"), LOST_ANSWERS)
def test_predictionone_deploy_predict_recovers_lost_answers_with_task_retries(
    run_dag: Any, emulator: Emulator, tmp_path: Path, kind: str, posts: int
) -> None:
    emulator.faults.add("/models", kind, 1, method="POST")
    emulator.faults.add("/classifiers", kind, 1, method="POST")
    dag = without_retry_delay(load_dag("predictionone_deploy_predict"))
    assert dag.get_task("train_model").retries >= 1 and dag.get_task("deploy_model").retries >= 1
    output = tmp_path / "predictions.csv"
    dag_run, results, states = run_dag(dag, {"output_file": str(output)})
    assert str(dag_run.state) == "success", states
    assert emulator.faults.fired() == 2
    assert emulator.request_count("POST", "/models") == emulator.request_count("POST", "/classifiers") == posts
    assert trainings(emulator) == 1 and prediction_apis(emulator) == 1
    with (EXAMPLES / "data" / "customers_score.csv").open(encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    assert results["report"]["rows_predicted"] == rows
    assert_every_row_once(output, rows)
