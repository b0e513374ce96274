"""Data-aware scheduling (issue 14): the producer's asset event queues the consumer, which retrains; the
operators' asset events carry the ids and metrics in ``extra``; DAGs without outlets run as before.

Everything is read back from Airflow's metadata database (AssetEvent / AssetDagRunQueue on Airflow 3,
DatasetEvent / DatasetDagRunQueue on Airflow 2) after real ``dag.test()`` runs against the emulator.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.assets import data_asset, data_asset_uri, event_extra, model_asset
from tests.airflow_setup import _serialize
from tests.dags.test_example_dags import EXAMPLES, load_dag

DATA = EXAMPLES / "data"


def asset_tables() -> tuple[Any, Any, Any, str]:
    """(event, asset, queue) models and the name of their asset-id column, per Airflow version."""
    try:  # Airflow 3
        from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel

        return AssetEvent, AssetModel, AssetDagRunQueue, "asset_id"
    except ImportError:  # Airflow 2.x: Datasets
        from airflow.models.dataset import DatasetDagRunQueue, DatasetEvent, DatasetModel

        return DatasetEvent, DatasetModel, DatasetDagRunQueue, "dataset_id"


def asset_events(uri: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(source_dag_id, source_task_id, extra)`` of every event of the asset, oldest first."""
    from airflow.utils.session import create_session

    event, asset, _queue, id_column = asset_tables()
    with create_session() as session:
        found = session.query(asset).filter(asset.uri == uri).one_or_none()
        if found is None:
            return []
        rows = session.query(event).filter(getattr(event, id_column) == found.id).order_by(event.id).all()
        return [(row.source_dag_id, row.source_task_id, dict(row.extra or {})) for row in rows]


def queued_for(dag_id: str, uri: str) -> bool:
    """Whether an event of the asset is queued to start a run of ``dag_id`` (what the scheduler reads)."""
    from airflow.utils.session import create_session

    _event, asset, queue, id_column = asset_tables()
    with create_session() as session:
        found = session.query(asset).filter(asset.uri == uri).one()
        rows = session.query(queue).filter(queue.target_dag_id == dag_id, getattr(queue, id_column) == found.id)
        return rows.count() > 0


def unpause(dag: Any) -> None:
    """Write the DAG to the database and unpause it (Airflow queues runs of unpaused DAGs only)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    _serialize(dag)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag.dag_id).update({"is_paused": False})


def test_asset_uris(tmp_path: Path) -> None:
    assert data_asset_uri(tmp_path / "a.csv") == f"file://{tmp_path}/a.csv"
    assert data_asset_uri("/data/顧客 2026.csv") == "file:///data/%E9%A1%A7%E5%AE%A2%202026.csv"  # ASCII only
    assert data_asset_uri("file:///data/x%20y.csv") == "file:///data/x%20y.csv"  # not encoded twice
    assert data_asset_uri("s3://bucket/new/customers.csv") == "s3://bucket/new/customers.csv"
    assert data_asset("/data/a.csv").uri == "file:///data/a.csv"
    assert model_asset("customer-premium").uri == "predictionone://predictionone_default/models/customer-premium"
    assert model_asset("m", "p1_prod").uri == "predictionone://p1_prod/models/m"
    with pytest.raises(PredictionOneConfigError, match="relative path"):
        data_asset_uri("data/a.csv")
    with pytest.raises(PredictionOneConfigError, match="empty"):
        data_asset_uri("None")
    with pytest.raises(PredictionOneConfigError, match="cannot be a template"):
        model_asset("{{ params.name }}")


def test_event_extra_keeps_ids_and_numeric_metrics_only() -> None:
    summary = {
        "retrain_job_id": "j-1",
        "base_model_id": 3,
        "model_id": 4,
        "status": "job_finished",
        "message": "",
        "result_path": "/tmp/r.zip",
        "metrics": {"auc": 0.8, "accuracy": 0.75, "note": "ok", "bad": float("nan"), "flag": True},
    }
    assert event_extra(summary) == {
        "model_id": 4,
        "base_model_id": 3,
        "retrain_job_id": "j-1",
        "metrics": {"auc": 0.8, "accuracy": 0.75},
    }


def test_producer_event_queues_the_consumer_which_retrains_and_records_its_metrics(
    run_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sample_deployed_model: int,
    sample_prediction_api: str,
    p1_client: Any,
    emulator: Any,
) -> None:
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    training = tmp_path / "shared" / "customers_retrain.csv"
    monkeypatch.setenv("PREDICTIONONE_TRAINING_DATA", str(training))
    # What an asset-triggered run reads (it has no trigger form): the Airflow Variable, here from the env.
    monkeypatch.setenv("AIRFLOW_VAR_PREDICTIONONE_CLASSIFIER_ID", sample_prediction_api)
    monkeypatch.delenv("PREDICTIONONE_CLASSIFIER_ID", raising=False)
    consumer = load_dag("predictionone_retrain_on_new_data")
    producer = load_dag("predictionone_training_data_producer")
    data_uri = training.as_uri()
    unpause(consumer)
    assert not queued_for(consumer.dag_id, data_uri)

    dag_run, results, states = run_dag(producer)
    assert str(dag_run.state) == "success", states
    with training.open(encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    assert training.read_bytes() == (DATA / "customers_retrain.csv").read_bytes()
    assert results["refresh_training_data"]["rows"] == rows
    assert asset_events(data_uri) == [(producer.dag_id, "refresh_training_data", {"rows": rows})]
    assert queued_for(consumer.dag_id, data_uri)  # the scheduler would start the consumer now

    retrain_uploads = emulator.request_count("GET", "/retrain_jobs/upload_url")
    dag_run, results, states = run_dag(consumer)  # no conf: the classifier comes from the Variable
    assert str(dag_run.state) == "success", states
    assert results["served_model"] == sample_deployed_model
    report, retrained = results["report"], results["retrain_model"]
    assert report["base_model_id"] == sample_deployed_model and report["run_type"] == "manual"
    assert retrained["model_id"] not in (None, sample_deployed_model)
    assert emulator.request_count("GET", "/retrain_jobs/upload_url") == retrain_uploads + 1  # one retraining
    # The promotion gate decides which model serves (tests/dags/test_example_dags.py covers both outcomes).
    assert report["model_id"] == (retrained["model_id"] if report["switched"] else sample_deployed_model)
    assert [c.model_id for c in p1_client.list_classifiers()] == [report["model_id"]]

    ((source_dag, source_task, extra),) = asset_events(model_asset("customer-premium").uri)
    assert (source_dag, source_task) == (consumer.dag_id, "retrain_model")
    assert extra["model_id"] == retrained["model_id"] and extra["base_model_id"] == sample_deployed_model
    assert extra["retrain_job_id"] == retrained["retrain_job_id"]
    assert extra["metrics"] and extra["metrics"] == {
        name: value for name, value in retrained["metrics"].items() if isinstance(value, float)
    }
    assert 0.5 < extra["metrics"]["auc"] <= 1.0
    assert set(extra) == {"model_id", "base_model_id", "retrain_job_id", "metrics"}


def test_upload_events_only_for_declared_outlets(run_dag: Any, emulator: Any, tmp_path: Path) -> None:
    """A DAG without outlets runs as before and records no asset event; a declared outlet gets one
    whose extra names the upload. A literal training path becomes the task's inlet."""
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.x
        from airflow import DAG

    from airflow_provider_predictionone.operators import PredictionOneUploadDataOperator

    uploaded = model_asset(f"uploads-{tmp_path.name}")
    with DAG(f"asset_upload_{tmp_path.name}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        for task_id, outlets in (("plain", []), ("declared", [uploaded])):
            PredictionOneUploadDataOperator(
                task_id=task_id,
                training_file=str(DATA / "customers_train.csv"),
                column_info=str(DATA / "column_info.csv"),
                check_data=False,
                outlets=outlets,
            )
    assert [a.uri for a in dag.get_task("plain").inlets] == [data_asset_uri(DATA / "customers_train.csv")]
    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    assert asset_events(uploaded.uri) == [(dag.dag_id, "declared", {"external_process_id": results["declared"]})]
    assert [e for e in asset_events(data_asset_uri(DATA / "customers_train.csv")) if e[0] == dag.dag_id] == []


def test_consumer_run_without_a_prediction_api_skips_unless_manual(
    monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    from airflow.providers.common.compat.sdk import AirflowSkipException, Variable

    monkeypatch.delenv("PREDICTIONONE_CLASSIFIER_ID", raising=False)
    # The Variable is not set. (Outside a task, Airflow 3.0's Variable.get asks a supervisor that is not
    # there; the test above reads a real Variable inside a task.)
    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None, **_: default))
    served_model = load_dag("predictionone_retrain_on_new_data").get_task("served_model").python_callable
    params = {"classifier_id": "", "model_id": 0}
    for run_type in ("asset_triggered", "dataset_triggered", "scheduled"):
        with pytest.raises(AirflowSkipException, match=f"this {run_type} run skips.*predictionone_classifier_id"):
            served_model(params=params, dag_run=SimpleNamespace(run_type=run_type))
    with pytest.raises(PredictionOneConfigError, match="params.classifier_id is empty"):
        served_model(params=params, dag_run=SimpleNamespace(run_type="manual"))
    assert emulator.request_count("GET", "/classifiers/{classifier_id}") == 0
