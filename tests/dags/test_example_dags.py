"""The example DAGs: they import cleanly and run end to end against the emulator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tests.promotion_data import more_data, shuffled_labels

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"


def load_dag(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_dagbag_imports_every_example_without_errors(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

    def no_network(*_: object, **__: object) -> None:
        raise AssertionError("network call at DAG parse time")

    monkeypatch.setattr("socket.socket.connect", no_network)
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    examples = {
        "predictionone_train",
        "predictionone_retrain",
        "predictionone_deploy_predict",
        "predictionone_taskflow",
        "predictionone_training_data_producer",
        "predictionone_retrain_on_new_data",
    }
    assert examples <= set(bag.dag_ids)


def test_predictionone_train_runs_end_to_end(run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    dag = load_dag("predictionone_train")
    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    report = results["report_metrics"]
    assert report["model_id"] >= 1
    assert 0.5 < float(report["metrics"]["accuracy"]) <= 1.0


def test_predictionone_taskflow_runs_end_to_end(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, emulator: Any, p1_client: Any
) -> None:
    """Plain @task functions calling the hook: upload, train (waiting in the worker), report."""
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    dag_run, results, states = run_dag(load_dag("predictionone_taskflow"))
    assert str(dag_run.state) == "success", states
    report = results["report"]
    assert 0.5 < float(report["metrics"]["accuracy"]) <= 1.0
    (model,) = [m for m in p1_client.iter_models() if m.model_id == report["model_id"]]
    assert model.name == report["model_name"] and report["model_name"].startswith("predictionone_taskflow.train.")
    assert emulator.request_count("POST", "/models") == 1


def test_predictionone_taskflow_checks_its_input_before_any_request(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    """The hook refuses a target column the file lacks before anything is uploaded, as the operator does."""
    dag = load_dag("predictionone_taskflow")
    for task in dag.tasks:
        task.retries = 0  # dag.test() would wait out the 5-minute retry delay of bad input
    dag_run, _results, states = run_dag(dag, {"target_column": "no-such-column"})
    assert str(dag_run.state) == "failed", states
    assert states["upload"] == "failed" and states["train"] == "upstream_failed", states
    assert emulator.request_count("GET", "/data-sets/upload-url") == 0


def test_predictionone_retrain_runs_end_to_end(
    run_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    sample_deployed_model: int,
    sample_prediction_api: str,
    p1_client: Any,
    tmp_path: Path,
) -> None:
    """Good data (more rows than the served model had): the gate passes and the API switches."""
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    dag = load_dag("predictionone_retrain")
    conf = {"classifier_id": sample_prediction_api, "training_file": str(more_data(tmp_path / "more.csv"))}
    dag_run, results, states = run_dag(dag, conf)
    assert str(dag_run.state) == "success", states
    assert results["served_model"] == sample_deployed_model  # read from Get Classifier at run time
    report = results["report"]
    new_model_id = report["model_id"]
    assert report["switched"] is True and new_model_id == report["retrained_model_id"] != sample_deployed_model
    assert report["metric"] == "auc" and report["evaluation_rows"] == 500
    assert report["retrained_value"] >= report["served_value"] > 0.7
    served = [c.model_id for c in p1_client.list_classifiers()]
    assert served == [new_model_id]  # the prediction API now serves the retrained model


def test_predictionone_retrain_keeps_the_served_model_when_the_new_one_is_worse(
    run_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    sample_deployed_model: int,
    sample_prediction_api: str,
    p1_client: Any,
    tmp_path: Path,
) -> None:
    """A broken export (labels shuffled): the run succeeds, the prediction API keeps the old model."""
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    conf = {"classifier_id": sample_prediction_api, "training_file": str(shuffled_labels(tmp_path / "bad.csv"))}
    dag_run, results, states = run_dag(load_dag("predictionone_retrain"), conf)
    assert str(dag_run.state) == "success", states
    report = results["report"]
    assert report["switched"] is False and report["model_id"] == sample_deployed_model
    assert report["retrained_model_id"] != sample_deployed_model
    assert report["retrained_value"] < 0.6 < 0.7 < report["served_value"]
    assert p1_client.get_classifier(sample_prediction_api).model_id == sample_deployed_model  # Get Classifier
    figures = f"has auc {report['retrained_value']:.4f} on 500 evaluation rows, served model {sample_deployed_model}"
    assert report["reason"].startswith(f"Kept model {sample_deployed_model} on prediction API {sample_prediction_api}")
    assert figures in report["reason"] and f"has {report['served_value']:.4f} (needs >= " in report["reason"]


def test_predictionone_retrain_runs_week_after_week(
    run_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    sample_deployed_model: int,
    sample_prediction_api: str,
    p1_client: Any,
    tmp_path: Path,
) -> None:
    """The weekly schedule: the second run retrains the model the first run switched to (spec 7.16)."""
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    monkeypatch.setenv("PREDICTIONONE_CLASSIFIER_ID", sample_prediction_api)  # the scheduled runs' default
    dag = load_dag("predictionone_retrain")
    good = {"training_file": str(more_data(tmp_path / "more.csv"))}  # the same data twice: an equal AUC passes
    first_run, first, states = run_dag(dag, good)
    assert str(first_run.state) == "success", states
    assert first["report"]["base_model_id"] == sample_deployed_model
    second_run, second, states = run_dag(dag, good)
    assert str(second_run.state) == "success", states
    assert second_run.run_id != first_run.run_id
    assert second["served_model"] == second["report"]["base_model_id"] == first["report"]["model_id"]
    assert second["report"]["model_id"] not in (sample_deployed_model, first["report"]["model_id"])
    (api,) = p1_client.list_classifiers()
    assert (api.classifier_id, api.model_id) == (sample_prediction_api, second["report"]["model_id"])


def test_predictionone_retrain_with_a_given_model_id(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, sample_deployed_model: int, p1_client: Any, tmp_path: Path
) -> None:
    """``params.model_id`` overrides the look-up (no classifier_id needed)."""
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    conf = {"model_id": sample_deployed_model, "training_file": str(more_data(tmp_path / "more.csv"))}
    dag_run, results, states = run_dag(load_dag("predictionone_retrain"), conf)
    assert str(dag_run.state) == "success", states
    assert results["report"]["switched"] is True  # the gate found the prediction API itself (Get Classifiers)
    assert results["report"]["base_model_id"] == sample_deployed_model
    assert [c.model_id for c in p1_client.list_classifiers()] == [results["report"]["model_id"]]


def test_predictionone_retrain_without_a_prediction_api_fails_clearly(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    monkeypatch.delenv("PREDICTIONONE_CLASSIFIER_ID", raising=False)
    dag = load_dag("predictionone_retrain")
    dag_run, _results, states = run_dag(dag, {"classifier_id": "no-such-api"})
    assert states["served_model"] == "failed" and states["retrain_model"] == "upstream_failed", states
    dag_run, _results, states = run_dag(dag)  # no classifier_id at all
    assert str(dag_run.state) == "failed" and states["served_model"] == "failed", states
    assert emulator.request_count("GET", "/retrain_jobs/upload_url") == 0


def test_predictionone_deploy_predict_trains_deploys_and_scores_every_row(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, p1_client: Any
) -> None:
    import csv

    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    output = tmp_path / "predictions.csv"
    dag = load_dag("predictionone_deploy_predict")
    dag_run, results, states = run_dag(dag, {"output_file": str(output)})
    assert str(dag_run.state) == "success", states
    assert states["use_given_model"] == "skipped"
    summary = results["report"]
    scoring = EXAMPLES / "data" / "customers_score.csv"
    with scoring.open(encoding="utf-8") as handle:
        input_rows = sum(1 for _ in csv.reader(handle)) - 1
    with output.open(encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert summary["rows_predicted"] == input_rows == len(table) - 1 and summary["rows_rejected"] == 0
    assert table[0][0] == "input_row" and [int(row[0]) for row in table[1:]] == list(range(1, input_rows + 1))
    assert "api_key" not in json.dumps(results) and all(
        c.api_key not in json.dumps(results) for c in p1_client.list_classifiers()
    )


def test_predictionone_deploy_predict_with_a_given_model_reuses_its_prediction_api(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_deployed_model: int, emulator: Any
) -> None:
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    dag = load_dag("predictionone_deploy_predict")
    conf = {"model_id": sample_deployed_model, "output_file": str(tmp_path / "p.csv")}
    dag_run, results, states = run_dag(dag, conf)
    assert str(dag_run.state) == "success", states
    assert states["upload_training_data"] == "skipped"
    assert emulator.request_count("POST", "/classifiers") == 1  # the fixture's; the DAG reused it
    assert results["report"]["model_id"] == sample_deployed_model


def test_predictionone_retrain_scheduled_run_without_a_prediction_api_skips(
    monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    """Unpausing the weekly DAG before PREDICTIONONE_CLASSIFIER_ID is set must not make a red run: the
    scheduled run skips, saying why (a manual run without one fails: see the test above)."""
    from types import SimpleNamespace

    from airflow.providers.common.compat.sdk import AirflowSkipException

    monkeypatch.delenv("PREDICTIONONE_CLASSIFIER_ID", raising=False)
    served_model = load_dag("predictionone_retrain").get_task("served_model").python_callable
    scheduled = SimpleNamespace(run_type="scheduled")
    with pytest.raises(AirflowSkipException, match="PREDICTIONONE_CLASSIFIER_ID is not set"):
        served_model(params={"classifier_id": "", "model_id": 0}, dag_run=scheduled)
    from airflow_provider_predictionone.api.errors import PredictionOneConfigError

    with pytest.raises(PredictionOneConfigError, match="params.classifier_id is empty"):
        served_model(params={"classifier_id": "", "model_id": 0}, dag_run=SimpleNamespace(run_type="manual"))
    assert emulator.request_count("GET", "/classifiers") == 0
