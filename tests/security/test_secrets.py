"""Secrets stay secret: the secret key, every API key derived from it and every inference key.

The example DAGs run with ``dag.test()`` against the emulator; afterwards none of those values may
appear in the task logs (``caplog``: the raw log records, before Airflow's masker; ``capfd``: what
reached stdout / stderr; the log files under ``AIRFLOW_HOME``), in XCom, in the rendered template
fields, in the serialized triggers the operators deferred with, in any row of the metadata database
(which also holds the trigger events, ``next_kwargs``), or in the text, ``repr`` and pickle of the
exceptions raised for a wrong secret key, a failing job and a wrong inference key.
"""

from __future__ import annotations

import json
import logging
import pickle
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.batch import BatchPredictor
from airflow_provider_predictionone.api.errors import (
    InferenceInvalidApiKeyError,
    InvalidCredentialsError,
    JobFailedError,
)
from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)
from airflow_provider_predictionone.triggers import PredictionOneClassifierTrigger, PredictionOneJobTrigger
from tests.airflow_setup import _HOME
from tests.clients import sync_client
from tests.dags.test_example_dags import load_dag
from tests.security.conftest import Secrets, database_rows, emulator_secrets, files_text
from tests.task_context import fake_context
from tests.triggers.job_fixtures import set_connection

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
TRIGGER_CLASSES = (PredictionOneJobTrigger, PredictionOneClassifierTrigger)


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record what the client registers with the secret masker and every trigger serialization."""
    import airflow_provider_predictionone.hooks.predictionone as hook_module

    seen: dict[str, list[Any]] = {"masked": [], "triggers": []}
    mask = hook_module.mask_secret

    def recording_mask(secret: Any, *args: Any, **kwargs: Any) -> Any:
        seen["masked"].append(secret)
        return mask(secret, *args, **kwargs)

    monkeypatch.setattr(hook_module, "mask_secret", recording_mask)
    for cls in TRIGGER_CLASSES:
        serialize = cls.serialize

        def recording_serialize(self: Any, _serialize: Callable[..., Any] = serialize) -> Any:
            result = _serialize(self)
            seen["triggers"].append(result)
            return result

        monkeypatch.setattr(cls, "serialize", recording_serialize)
    return seen


def run_rows(model: Any, dag_run: Any) -> list[Any]:
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(model).filter(model.dag_id == dag_run.dag_id, model.run_id == dag_run.run_id).all()
        session.expunge_all()
        return rows


def xcom_text(dag_run: Any) -> str:
    try:  # Airflow 3
        from airflow.models.xcom import XComModel
    except ImportError:  # Airflow 2.x: rows are deserialized when loaded
        from airflow.models.xcom import XCom

        rows = run_rows(XCom, dag_run)
        assert rows, "no XCom found for the run"
        return json.dumps({f"{r.task_id}/{r.key}": r.value for r in rows}, ensure_ascii=False, default=str)

    rows = run_rows(XComModel, dag_run)
    assert rows, "no XCom found for the run"
    values = {f"{r.task_id}/{r.key}": XComModel.deserialize_value(r) for r in rows}
    return json.dumps(values, ensure_ascii=False, default=str)


def rendered_fields_text(dag_run: Any) -> str:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    rows = run_rows(RenderedTaskInstanceFields, dag_run)
    assert rows, "no rendered template fields stored for the run"
    return json.dumps({r.task_id: r.rendered_fields for r in rows}, ensure_ascii=False, default=str)


def database_text() -> str:
    return "\n".join(f"{table}: {row}" for table, row in database_rows())


def exception_texts(exc: BaseException) -> str:
    """Everything an exception shows: its text, repr, full traceback (with its chain) and pickle."""
    return "\n".join(
        [str(exc), repr(exc), "".join(traceback.format_exception(exc)), pickle.dumps(exc).decode("latin-1")]
    )


def test_example_dags_keep_every_secret(
    run_dag: Any,
    emulator: Any,
    secret_key: str,
    sample_deployed_model: int,
    spies: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_predictionone")
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    keys_before = set(emulator.app.keys)
    (prediction_api,) = emulator.app.classifiers  # the fixture's: the asset-scheduled retrain keeps it fresh
    monkeypatch.setenv("PREDICTIONONE_TRAINING_DATA", str(tmp_path / "shared" / "customers_retrain.csv"))
    runs = []
    for name, conf in (
        ("predictionone_train", None),
        ("predictionone_retrain", {"model_id": sample_deployed_model}),
        ("predictionone_training_data_producer", None),
        ("predictionone_retrain_on_new_data", {"classifier_id": prediction_api}),
        ("predictionone_deploy_predict", {"output_file": str(tmp_path / "predictions.csv")}),
    ):
        if name == "predictionone_deploy_predict":
            # The new prediction API is still building at the deploy task's first check, however loaded
            # the machine, so the task defers and its trigger is serialized (checked below).
            emulator.set_build_seconds(2.0)
        dag_run, _results, states = run_dag(load_dag(name), conf)
        assert str(dag_run.state) == "success", (name, states)
        runs.append(dag_run)

    secrets = emulator_secrets(emulator, secret_key)
    # The search is meaningful only if every kind of secret was in play.
    assert {"secret key", "train API key", "deploy API key", "retrain API key"} <= secrets.kinds()
    assert "inference key (classifier api_key)" in secrets.kinds()
    # Each trigger class the operators defer with was serialized during the runs (Airflow 2's dag.test()
    # runs triggers inline, unserialized; test_triggers_serialize_without_secrets covers them there).
    from airflow_provider_predictionone.compat import AIRFLOW_V3

    assert {classpath.rsplit(".", 1)[1] for classpath, _ in spies["triggers"]} == (
        {"PredictionOneJobTrigger", "PredictionOneClassifierTrigger"} if AIRFLOW_V3 else set()
    )

    out, err = capfd.readouterr()
    logs = caplog.text
    assert "Uploaded training file" in logs and "PREDICTIONONE_RESULT" in out  # both captures work
    surfaces = {
        "log records (caplog)": logs,
        "stdout": out,
        "stderr": err,
        "log files under AIRFLOW_HOME": files_text(_HOME),
        "serialized triggers": json.dumps(spies["triggers"], default=str),
        "metadata database (every table)": database_text(),
    }
    for dag_run in runs:
        surfaces[f"XCom of {dag_run.dag_id}"] = xcom_text(dag_run)
        surfaces[f"rendered template fields of {dag_run.dag_id}"] = rendered_fields_text(dag_run)
    assert secrets.leaks(surfaces) == []

    # Defence in depth: every key issued during the runs was registered with Airflow's secret masker.
    issued = set(emulator.app.keys) - keys_before
    assert issued and issued <= set(spies["masked"])
    assert secret_key in spies["masked"]
    assert {c.api_key for c in emulator.app.classifiers.values()} <= set(spies["masked"])


def test_triggers_serialize_without_secrets(emulator: Any, secret_key: str) -> None:
    """Every trigger as the operators and sensors create it: kwargs hold ids and the conn id only."""
    triggers = [
        PredictionOneJobTrigger(
            kind="train", job_id="epid-1", predictionone_conn_id="predictionone_default", poll_interval=30, end_time=1.0
        ),
        PredictionOneJobTrigger(
            kind="retrain",
            job_id="job-1",
            model_id=7,
            predictionone_conn_id="predictionone_default",
            poll_interval=30,
            end_time=1.0,
        ),
        PredictionOneClassifierTrigger(
            classifier_id="c-1",
            predictionone_conn_id="predictionone_default",
            target="running",
            poll_interval=30,
            end_time=None,
        ),
        PredictionOneClassifierTrigger(
            classifier_id="c-1",
            predictionone_conn_id="predictionone_default",
            target="stopped",
            poll_interval=30,
            end_time=1.0,
        ),
    ]
    allowed = {"kind", "job_id", "model_id", "classifier_id", "target", "predictionone_conn_id"}
    allowed |= {"poll_interval", "end_time"}
    for trigger in triggers:
        classpath, kwargs = trigger.serialize()
        assert set(kwargs) <= allowed, (classpath, sorted(kwargs))
        rebuilt = type(trigger)(**kwargs)  # what the triggerer does
        assert rebuilt.serialize() == (classpath, kwargs)
        assert secret_key not in json.dumps(kwargs, default=str) and secret_key not in repr(trigger)


def test_exceptions_keep_secrets(
    emulator: Any,
    secret_key: str,
    sample_deployed_model: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_predictionone")
    texts: dict[str, str] = {}

    # 1. A wrong secret key: the service refuses Get API Key.
    wrong_secret = f"P1WRONG-{uuid.uuid4().hex}"
    set_connection(monkeypatch, emulator.url, wrong_secret, retries=0)
    upload = PredictionOneUploadDataOperator(
        task_id="upload", training_file=str(DATA / "customers_train.csv"), column_info=str(DATA / "column_info.csv")
    )
    with pytest.raises(InvalidCredentialsError) as wrong:
        upload.execute(fake_context())
    texts["wrong secret key"] = exception_texts(wrong.value)

    # 2. A failing training job (polled in the worker) and a failing retraining job (deferred: the
    #    trigger's event carries the message).
    set_connection(monkeypatch, emulator.url, secret_key, retries=1, retry_delay=0.01)
    epid = PredictionOneUploadDataOperator(
        task_id="upload", training_file=str(DATA / "customers_train.csv"), column_info=str(DATA / "column_info.csv")
    ).execute(fake_context())
    emulator.fail_next_job("train", message="Injected: the training data could not be read.")
    train = PredictionOneTrainModelOperator(
        task_id="train",
        external_process_id=epid,
        target_column="プレミアム購入",
        prediction_type="binary_classification",
        positive_value="はい",
        check_interval=0.1,
        deferrable=False,
    )
    with pytest.raises(JobFailedError, match="could not be read") as failed:
        train.execute(fake_context())
    texts["failed training"] = exception_texts(failed.value)

    from tests.triggers.job_fixtures import run_trigger, write_customers_csv

    emulator.fail_next_job("retrain", message="Injected: retraining failed.")
    retrain = PredictionOneRetrainModelOperator(
        task_id="retrain",
        model_id=sample_deployed_model,
        training_file=str(write_customers_csv(tmp_path / "retrain.csv", seed=3)),
        check_interval=0.1,
        deferrable=True,
    )
    context = fake_context()
    deferred_exc: Any
    try:  # Airflow 3.1+
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # Airflow 2.x, 3.0
        from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]
    with pytest.raises(TaskDeferred) as deferred:
        retrain.execute(context)
    deferred_exc = deferred.value
    texts["deferral (trigger kwargs)"] = json.dumps(deferred_exc.trigger.serialize(), default=str) + repr(deferred_exc)
    event = run_trigger(deferred_exc.trigger)
    texts["trigger event"] = json.dumps(event, default=str)
    with pytest.raises(JobFailedError, match="retraining failed") as failed_retrain:
        retrain.execute_complete(context, event, **(deferred_exc.kwargs or {}))
    texts["failed retraining"] = exception_texts(failed_retrain.value)

    # 3. A wrong inference key: the prediction API refuses the row.
    classifier = next(iter(emulator.app.classifiers.values()))
    from tests.triggers.job_fixtures import wait_until

    wait_until(lambda: classifier.status == "running" and classifier.built)
    wrong_key = f"P1WRONGKEY-{uuid.uuid4().hex}"
    with sync_client(secret_key, host=emulator.url) as client:
        url = client.get_classifier(classifier.classifier_id).url
        predictor = BatchPredictor(client, url, wrong_key, DATA / "customers_score.csv", tmp_path / "out.csv")
        with pytest.raises(InferenceInvalidApiKeyError) as refused:
            predictor.run()
    texts["wrong inference key"] = exception_texts(refused.value)

    secrets = emulator_secrets(emulator, secret_key)
    secrets.add("wrong secret key", wrong_secret)
    secrets.add("wrong inference key", wrong_key)
    out, err = capfd.readouterr()
    texts["log records (caplog)"] = caplog.text
    texts["stdout"], texts["stderr"] = out, err
    assert "retrain API key" in secrets.kinds() and "inference key (classifier api_key)" in secrets.kinds()
    assert secrets.leaks(texts) == []


def test_a_dag_run_with_a_wrong_secret_key_leaks_nothing(
    run_dag: Any,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    wrong_secret = f"P1WRONG-{uuid.uuid4().hex}"
    dag = load_dag("predictionone_train")
    for task in dag.tasks:
        task.retries = 0  # dag.test() would wait out the 5-minute retry delay of a refused secret key
    monkeypatch.setenv(
        "AIRFLOW_CONN_PREDICTIONONE_DEFAULT",
        json.dumps({"conn_type": "predictionone", "host": emulator.url, "password": wrong_secret, "extra": {}}),
    )
    dag_run, _results, states = run_dag(dag)
    assert str(dag_run.state) == "failed" and states["upload_training_data"] == "failed", states
    out, err = capfd.readouterr()
    assert "invalid_api_key." in out + err + caplog.text  # the failure was logged …
    secrets = Secrets()
    secrets.add("wrong secret key", wrong_secret)
    surfaces = {
        "log records (caplog)": caplog.text,
        "stdout": out,
        "stderr": err,
        "log files under AIRFLOW_HOME": files_text(_HOME),
        "metadata database (every table)": database_text(),
    }
    import airflow

    if airflow.__version__.startswith("3.0."):
        # Airflow 3.0's dag.test() console renders tracebacks with every frame's local variables (its
        # task logs do not: they are rendered without locals, as on later versions).
        del surfaces["stdout"]
    assert secrets.leaks(surfaces) == []  # … without the key
