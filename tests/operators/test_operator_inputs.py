"""What the upload / train / retrain / switch operators accept, and when they check it.

Literal values are checked when the DAG is parsed, values known only at run time (Jinja templates,
``XComArg``) after rendering; ``[operators] default_deferrable``; the default model name; the retry
record of a task that does not wait.
"""

from __future__ import annotations

import csv
import logging
import types
from pathlib import Path
from typing import Any

import pytest

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.hooks.training import MODEL_NAME_MAX, default_model_name
from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
    PredictionOneTrainModelOperator,
)
from airflow_provider_predictionone.sensors import PredictionOneRetrainSensor, PredictionOneTrainingSensor
from tests.faults.remote import retrainings, trainings
from tests.operators.test_operators import DATA, START, train_op, upload_op
from tests.task_context import FakeTaskInstance, TaskStateStore, fake_context

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"


def train(**kwargs: Any) -> PredictionOneTrainModelOperator:
    return PredictionOneTrainModelOperator(task_id="t", external_process_id="x", **kwargs)


# -- literal values are checked at parse time, even next to templated ones ----------------------


def test_a_literal_rule_breach_fails_at_construction_while_the_target_is_templated() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"positive_value \(tv\) is not set but binary"):
        train(target_column="{{ params.target }}", prediction_type="binary_classification")


def test_an_unknown_option_fails_at_construction_while_the_target_is_templated() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"Unknown training option\(s\): 'cross_validaton'"):
        train(
            target_column="{{ params.target }}",
            prediction_type="regression",
            config={"cross_validaton": 5},
        )


def test_literal_values_next_to_templated_ones_in_config_are_checked() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"cross_validation_folds \(cv\) = -5"):
        train(
            target_column="y",
            prediction_type="regression",
            config={"cross_validation_folds": -5, "imbalance_correction": "{{ params.im }}"},
        )


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"target_column": "y", "prediction_type": "{{ params.kind }}"}, id="type-templated"),
        pytest.param(
            {"target_column": "y", "prediction_type": "binary_classification", "positive_value": "{{ params.yes }}"},
            id="positive-templated",
        ),
        pytest.param(
            {"target_column": "y", "prediction_type": "regression", "config": {"time_series": "{{ params.ts }}"}},
            id="time-series-templated",
        ),
        pytest.param({"config": "{{ params.cfg }}"}, id="whole-config-templated"),
    ],
)
def test_rules_that_involve_templated_values_wait_for_rendering(options: dict[str, Any]) -> None:
    train(**options)  # no error: each broken rule would involve a value known only at run time


def test_the_shipped_train_dag_checks_its_literal_options_at_parse_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """predictionone_train templates target_column and positive_value; its literal prediction_type is
    still checked when the file is parsed (here with a typo put into a copy of the shipped file)."""
    source = (EXAMPLES / "predictionone_train.py").read_text(encoding="utf-8")
    assert source.count('prediction_type="binary_classification"') == 1
    broken = source.replace('prediction_type="binary_classification"', 'prediction_type="binary_clasification"')
    module = types.ModuleType("broken_train_dag")
    module.__file__ = str(EXAMPLES / "predictionone_train.py")  # the bundled data path stays valid
    with pytest.raises(PredictionOneConfigError, match=r"prediction_type \(tt\) = 'binary_clasification'"):
        exec(compile(broken, module.__file__, "exec"), module.__dict__)


# -- a whole config from a template --------------------------------------------------------------


def test_a_templated_config_must_render_to_a_mapping(predictionone_conn: str, emulator: Any) -> None:
    op = train(target_column="y", prediction_type="regression", config="{{ params.cfg }}")
    assert op.config == "{{ params.cfg }}"
    op.render_template_fields({"params": {"cfg": {"cross_validation_folds": 5}}})  # not native: renders text
    assert op.config == "{'cross_validation_folds': 5}"
    with pytest.raises(PredictionOneConfigError) as raised:
        op.execute(fake_context())
    message = str(raised.value)
    assert message.startswith("config=\"{'cross_validation_folds': 5}\" is not a mapping of training options")
    assert "render_template_as_native_obj=True" in message
    assert emulator.request_count("GET", "/api-key") == 0  # before any request


def test_a_literal_config_that_is_not_a_mapping_fails_at_construction() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"config=\['cv', 5\] is not a mapping"):
        train(target_column="y", prediction_type="regression", config=["cv", 5])


def test_a_templated_config_rendered_natively_trains(run_dag: Any, emulator: Any) -> None:
    with DAG(
        "native_config",
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        params={"cfg": {"cross_validation_folds": 1}},
    ) as dag:
        upload = upload_op()
        train_op(upload.output, positive_value=None, config="{{ params.cfg }}", deferrable=False)
    # positive_value comes from the rendered config: nothing could be checked against it at parse time
    dag_run, results, states = run_dag(dag, {"cfg": {"positive_value": "はい", "cross_validation_folds": 1}})
    assert str(dag_run.state) == "success", states
    assert results["train"]["status"] == "finished"
    assert trainings(emulator) == 1


# -- XComArg values (an upstream task's output) --------------------------------------------------


def test_xcom_args_are_accepted_at_parse_time_and_resolved_at_run_time(
    run_dag: Any, emulator: Any, deployed_model: int, customers_csv: Path
) -> None:
    with DAG("xcom_args", schedule=None, start_date=START, catchup=False) as dag:

        @task
        def model_to_retrain() -> int:
            return deployed_model

        @task
        def positive_class() -> str:
            return "はい"

        model_id = model_to_retrain()
        retrain = PredictionOneRetrainModelOperator(
            task_id="retrain", model_id=model_id, training_file=str(customers_csv), deferrable=False, check_interval=0.1
        )
        switch = PredictionOneSwitchModelOperator(
            task_id="switch",
            model_id=model_id,
            retrain_job_id="{{ ti.xcom_pull(task_ids='retrain', key='retrain_job_id') }}",
        )
        retrain >> switch
        upload = upload_op()
        train_op(upload.output, positive_value=positive_class(), deferrable=False)

    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    assert results["retrain"]["base_model_id"] == results["switch"]["base_model_id"] == deployed_model
    assert results["switch"]["model_id"] == results["retrain"]["model_id"] != deployed_model
    assert results["train"]["status"] == "finished"


def test_an_xcom_arg_is_checked_after_it_resolved(run_dag: Any, emulator: Any, customers_csv: Path) -> None:
    with DAG("bad_xcom_arg", schedule=None, start_date=START, catchup=False) as dag:

        @task
        def model_to_retrain() -> str:
            return "not-a-number"

        PredictionOneRetrainModelOperator(
            task_id="retrain", model_id=model_to_retrain(), training_file=str(customers_csv), deferrable=False
        )

    dag_run, _results, states = run_dag(dag)
    assert str(dag_run.state) == "failed" and states["retrain"] == "failed", states
    assert emulator.request_count("GET", "/api-key") == 0


# -- no wait: the task succeeds at once, and its retry record goes -------------------------------


def test_train_without_waiting_clears_its_retry_record(predictionone_conn: str, emulator: Any) -> None:
    epid = upload_op().execute(fake_context())
    store = TaskStateStore()
    summary = train_op(epid, wait_for_completion=False).execute(fake_context(store))
    assert summary["status"] == "started" and store == {}  # a cleared task does not re-attach to it
    assert trainings(emulator) == 1


def test_retrain_without_waiting_clears_its_retry_record_so_a_cleared_task_retrains_again(
    predictionone_conn: str, emulator: Any, deployed_model: int, customers_csv: Path
) -> None:
    store = TaskStateStore()

    def run() -> dict[str, Any]:
        return PredictionOneRetrainModelOperator(
            task_id="retrain", model_id=deployed_model, training_file=str(customers_csv), wait_for_completion=False
        ).execute(fake_context(store))

    first = run()
    assert first["status"] == "started" and store == {}
    second = run()  # the task cleared after it succeeded: a new retraining, as README says
    assert second["retrain_job_id"] != first["retrain_job_id"]
    assert retrainings(emulator) == 2


# -- [operators] default_deferrable --------------------------------------------------------------


@pytest.mark.parametrize("setting", ["true", "false"])
def test_default_deferrable_setting_is_read_at_construction(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    expected = setting == "true"
    assert train(target_column="y", prediction_type="regression").deferrable is expected
    assert PredictionOneRetrainModelOperator(task_id="r", model_id=1, training_file="x.csv").deferrable is expected
    assert PredictionOneTrainingSensor(task_id="s", external_process_id="p").deferrable is expected
    assert PredictionOneRetrainSensor(task_id="s2", retrain_job_id="j", model_id=1).deferrable is expected
    explicit = train(target_column="y", prediction_type="regression", deferrable=not expected)
    assert explicit.deferrable is not expected  # an explicit value wins


# -- the default model name ----------------------------------------------------------------------


def test_long_default_model_names_stay_unique_and_within_the_limit() -> None:
    def name(run_id: str) -> str:
        ti = FakeTaskInstance("train_model", "d" * 150)
        ti.run_id = run_id
        return default_model_name({"ti": ti})

    first, second = name("scheduled__2026-01-01T00:00:00+00:00"), name("scheduled__2026-01-08T00:00:00+00:00")
    assert first != second
    assert len(first) == len(second) == MODEL_NAME_MAX
    assert first.startswith("d" * 50) and first == name("scheduled__2026-01-01T00:00:00+00:00")  # deterministic
    assert default_model_name({"ti": FakeTaskInstance("t", "short")}) == "short.t.manual__1"  # short: unchanged


# -- the connection id is templated --------------------------------------------------------------


def test_the_connection_id_is_templated_on_every_operator_and_sensor() -> None:
    import airflow_provider_predictionone.operators as operators
    import airflow_provider_predictionone.sensors as sensors

    classes = [getattr(module, name) for module in (operators, sensors) for name in module.__all__]
    tasks = [cls for cls in classes if isinstance(cls, type) and "template_fields" in dir(cls)]
    assert len(tasks) >= 12, tasks
    for operator in tasks:
        assert "predictionone_conn_id" in operator.template_fields, operator.__name__
    op = PredictionOneSwitchModelOperator(
        task_id="s", model_id=1, retrain_job_id="j", predictionone_conn_id="{{ params.conn }}"
    )
    op.render_template_fields({"params": {"conn": "predictionone_eu"}})
    assert op.hook.predictionone_conn_id == "predictionone_eu"


# -- upload: a target the service cannot learn ---------------------------------------------------


def test_upload_with_a_constant_target_fails_clearly_and_logs_the_summary(
    predictionone_conn: str,
    emulator: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with (DATA / "customers_train.csv").open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    target = header.index("プレミアム購入")
    for row in rows:
        row[target] = "はい"  # every customer bought it: nothing to learn
    constant = tmp_path / "constant_target.csv"
    with constant.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    caplog.set_level(logging.INFO)
    with pytest.raises(PredictionOneConfigError, match="judged the target column 'プレミアム購入' unusable"):
        upload_op(training_file=str(constant), target_column="プレミアム購入").execute(fake_context())
    # Airflow 3 logs operators through structlog to stdout, Airflow 2 through logging.
    log = caplog.text + capsys.readouterr().out
    expected = f"Prediction One read {len(rows)} rows x {len(header)} columns; columns judged unusable: "
    line = next(text for text in log.splitlines() if expected in text)
    assert "プレミアム購入" in line[line.index(expected) :]
