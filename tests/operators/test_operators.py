"""The operators against the emulator: real HTTP, real Airflow (``dag.test()`` on SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_predictionone.api.errors import JobFailedError, PredictionOneConfigError
from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)
from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger
from tests.task_context import TaskStateStore, fake_context
from tests.triggers.job_fixtures import COLUMNS, TARGET, run_trigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
START = datetime(2026, 1, 1)


def upload_op(**kwargs: Any) -> PredictionOneUploadDataOperator:
    options = {
        "task_id": "upload",
        "training_file": str(DATA / "customers_train.csv"),
        "column_info": str(DATA / "column_info.csv"),
    } | kwargs
    return PredictionOneUploadDataOperator(**options)


# -- construction and validation ---------------------------------------------------------------


def test_literal_config_errors_are_raised_when_the_dag_is_parsed() -> None:
    with pytest.raises(PredictionOneConfigError, match="positive_value"):
        PredictionOneTrainModelOperator(
            task_id="t", external_process_id="x", target_column="y", prediction_type="binary_classification"
        )
    with pytest.raises(PredictionOneConfigError, match="time_series"):
        PredictionOneTrainModelOperator(
            task_id="t",
            external_process_id="x",
            target_column="y",
            prediction_type="binary_classification",
            positive_value="1",
            config={"time_series": True},
        )
    with pytest.raises(PredictionOneConfigError, match="model_id"):
        PredictionOneRetrainModelOperator(task_id="r", model_id="abc", training_file="x.csv")
    with pytest.raises(PredictionOneConfigError, match="check_interval"):
        PredictionOneRetrainModelOperator(task_id="r", model_id=1, training_file="x.csv", check_interval=0)


def test_templated_config_is_validated_after_rendering(predictionone_conn: str, emulator: Any) -> None:
    op = PredictionOneTrainModelOperator(
        task_id="t",
        external_process_id="x",
        target_column="{{ params.target }}",
        prediction_type="{{ params.kind }}",  # binary or not is known only after rendering
    )
    op.render_template_fields({"params": {"target": TARGET, "kind": "binary_classification"}})
    with pytest.raises(PredictionOneConfigError, match="positive_value"):  # missing for binary
        op.execute(fake_context())
    assert emulator.request_count("GET", "/api-key") == 0


def test_constructors_make_no_connection_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

    def boom(*_: object) -> None:
        raise AssertionError("connection looked up in a constructor")

    monkeypatch.setattr(PredictionOneHook, "get_connection", classmethod(boom))
    upload_op()
    PredictionOneTrainModelOperator(
        task_id="t", external_process_id="x", target_column="y", prediction_type="regression"
    )
    PredictionOneRetrainModelOperator(task_id="r", model_id=1, training_file="x.csv")
    PredictionOneSwitchModelOperator(task_id="s", model_id=1, retrain_job_id="j")


def test_template_fields() -> None:
    assert {"training_file", "column_info", "evaluation_file"} <= set(PredictionOneUploadDataOperator.template_fields)
    assert {"external_process_id", "target_column", "positive_value", "model_name", "config"} <= set(
        PredictionOneTrainModelOperator.template_fields
    )
    assert {"model_id", "training_file"} <= set(PredictionOneRetrainModelOperator.template_fields)
    assert {"model_id", "retrain_job_id"} <= set(PredictionOneSwitchModelOperator.template_fields)


# -- upload ---------------------------------------------------------------------------------------


def test_upload_returns_the_process_id_and_checks_the_target(predictionone_conn: str, emulator: Any) -> None:
    context = fake_context()
    epid = upload_op(target_column="プレミアム購入").execute(context)
    assert epid and context["ti"].xcoms["external_process_id"] == epid
    with pytest.raises(PredictionOneConfigError, match="not a column of training_file"):  # checked before upload
        upload_op(target_column="購入したか").execute(fake_context())


def test_upload_refuses_bad_input_before_any_request(predictionone_conn: str, emulator: Any, tmp_path: Path) -> None:
    with pytest.raises(PredictionOneConfigError, match="does not exist"):
        upload_op(training_file=str(tmp_path / "nope.csv")).execute(fake_context())
    with pytest.raises(PredictionOneConfigError, match="is empty; it is required"):
        upload_op(training_file="").execute(fake_context())
    with pytest.raises(PredictionOneConfigError, match="column_info does not match"):
        upload_op(column_info={"顧客ID": "string"}).execute(fake_context())
    assert emulator.request_count("GET", "/data-sets/upload-url") == 0


# -- train ----------------------------------------------------------------------------------------


def train_op(epid: str, **kwargs: Any) -> PredictionOneTrainModelOperator:
    options = {
        "task_id": "train",
        "external_process_id": epid,
        "target_column": "プレミアム購入",
        "prediction_type": "binary_classification",
        "positive_value": "はい",
        "check_interval": 0.1,
    } | kwargs
    return PredictionOneTrainModelOperator(**options)


def test_train_waits_in_the_worker_and_returns_a_summary(
    predictionone_conn: str, emulator: Any, tmp_path: Path
) -> None:
    epid = upload_op().execute(fake_context())
    context = fake_context()
    summary = train_op(epid, deferrable=False, result_path=str(tmp_path / "out" / "result.zip")).execute(context)
    assert summary["status"] == "finished" and summary["model_id"] >= 1
    assert summary["model_name"] == "unit.task.manual__1"
    assert 0.5 < summary["metrics"]["accuracy"] <= 1
    assert (tmp_path / "out" / "result.zip").exists() and "metrics.csv" in summary["result_files"]
    assert context["ti"].xcoms["model_id"] == summary["model_id"]
    assert context["task_state_store"] == {}  # cleared on success


def test_train_deferrable_path(predictionone_conn: str, emulator: Any) -> None:
    emulator.set_train_seconds(1.0)
    epid = upload_op().execute(fake_context())
    context = fake_context()
    op = train_op(epid, deferrable=True, model_name="deferred-model")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PredictionOneJobTrigger)
    assert context["ti"].xcoms["external_process_id"] == trigger.serialize()[1]["job_id"]  # pushed before waiting
    event = run_trigger(trigger)
    assert event["status"] == "success"
    summary = op.execute_complete(context, event)
    assert summary["model_name"] == "deferred-model" and summary["metrics"]


def test_train_failure_carries_the_service_message(predictionone_conn: str, emulator: Any) -> None:
    epid = upload_op().execute(fake_context())
    with pytest.raises(JobFailedError, match="たぶん"):
        train_op(epid, positive_value="たぶん", deferrable=False, check_data=False).execute(fake_context())
    with pytest.raises(PredictionOneConfigError, match="positive_value"):
        train_op(epid, positive_value="たぶん", deferrable=False).execute(fake_context())  # caught by the data check


def test_a_retry_reattaches_instead_of_training_twice(predictionone_conn: str, emulator: Any) -> None:
    emulator.set_train_seconds(2.0)
    epid = upload_op().execute(fake_context())
    store = TaskStateStore()
    with pytest.raises(Exception, match="did not finish within"):
        train_op(epid, deferrable=False, timeout=0.3).execute(fake_context(store))  # the worker gives up mid-wait
    assert store["train"]["upload_id"] == epid
    summary = train_op(epid, deferrable=False).execute(fake_context(store))  # the next try
    assert summary["status"] == "finished"
    assert emulator.request_count("POST", "/models") == 1


def test_retry_reattachment_inside_airflow(run_dag: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real retry in dag.test(): the first try times out mid-wait, the second re-attaches."""
    emulator.set_train_seconds(2.0)
    with DAG("reattach", schedule=None, start_date=START, catchup=False) as dag:
        upload = upload_op()
        train = train_op(upload.output, deferrable=False, timeout=0.5, retries=1, retry_delay=timedelta(seconds=0))

        @task
        def collect(summary: dict[str, Any]) -> int:
            return summary["model_id"]

        collect(train.output)

    original_execute = PredictionOneTrainModelOperator.execute
    tries: list[int] = []

    def patient_retry(self: Any, context: Any) -> Any:
        tries.append(context["ti"].try_number)
        if context["ti"].try_number > 1:
            self.timeout = 60  # the first try gives up mid-wait; the retry waits long enough
        return original_execute(self, context)

    monkeypatch.setattr(PredictionOneTrainModelOperator, "execute", patient_retry)
    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    assert tries == [1, 2]
    assert emulator.request_count("POST", "/models") == 1
    assert results["collect"] >= 1


# -- retrain and switch -------------------------------------------------------------------------


def test_retrain_and_switch(predictionone_conn: str, emulator: Any, deployed_model: int, customers_csv: Path) -> None:
    context = fake_context()
    op = PredictionOneRetrainModelOperator(
        task_id="retrain",
        model_id=str(deployed_model),
        training_file=str(customers_csv),
        check_interval=0.1,
        deferrable=False,
    )
    summary = op.execute(context)
    assert summary["base_model_id"] == deployed_model and summary["model_id"] not in (None, deployed_model)
    assert context["ti"].xcoms["retrain_job_id"] == summary["retrain_job_id"]
    switched = PredictionOneSwitchModelOperator(
        task_id="switch", model_id=deployed_model, retrain_job_id=summary["retrain_job_id"]
    ).execute(fake_context())
    assert switched["model_id"] == summary["model_id"]


def test_switch_refuses_an_unfinished_retraining(
    predictionone_conn: str, emulator: Any, deployed_model: int, customers_csv: Path
) -> None:
    emulator.set_train_seconds(5.0)
    summary = PredictionOneRetrainModelOperator(
        task_id="retrain", model_id=deployed_model, training_file=str(customers_csv), wait_for_completion=False
    ).execute(fake_context())
    with pytest.raises(PredictionOneConfigError, match="is not finished"):
        PredictionOneSwitchModelOperator(
            task_id="switch", model_id=deployed_model, retrain_job_id=summary["retrain_job_id"]
        ).execute(fake_context())
    assert emulator.request_count("PUT", "/retrain_jobs/{retrain_job_id}/update_model") == 0


def test_columns_fixture_matches() -> None:
    assert TARGET in COLUMNS
