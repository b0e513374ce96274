"""Parse-time guarantees measured by ``benchmarks/parse_cost.py`` (issue 6, item 2).

No timing here (benchmarks measure, tests check behaviour): constructing every operator, sensor
and trigger makes no network call and no connection lookup, and the train/retrain operators'
hook does not load the trigger machinery nor an HTTP client when a DAG file imports it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone import compat
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

ROOT = Path(__file__).resolve().parents[2]


def _refuse(what: str) -> Any:
    def fail(*_: object, **__: object) -> None:
        raise AssertionError(f"{what} while constructing an operator, sensor or trigger")

    return fail


def test_constructing_everything_makes_no_network_call_and_no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("socket.connect_ex"))
    monkeypatch.setattr(PredictionOneHook, "get_connection", classmethod(_refuse("get_connection")))
    monkeypatch.setattr(PredictionOneHook, "aget_connection", classmethod(_refuse("aget_connection")), raising=False)
    monkeypatch.setattr(compat, "aget_connection", _refuse("aget_connection"))

    from airflow_provider_predictionone.operators import (
        PredictionOneBatchPredictOperator,
        PredictionOneDeleteDataSetOperator,
        PredictionOneDeleteModelOperator,
        PredictionOneDeletePredictionApiOperator,
        PredictionOneDeployModelOperator,
        PredictionOneUpdatePredictionApiOperator,
    )
    from airflow_provider_predictionone.operators.predictionone import (
        PredictionOneRetrainModelOperator,
        PredictionOneSwitchModelOperator,
        PredictionOneTrainModelOperator,
        PredictionOneUploadDataOperator,
    )
    from airflow_provider_predictionone.sensors.predictionone import (
        PredictionOneRetrainSensor,
        PredictionOneTrainingSensor,
    )
    from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger

    rules = [{"source": "203.0.113.0/24", "order": "allow", "priority": 0}]
    built: list[Any] = [
        PredictionOneDeployModelOperator(task_id="d", model_id=1, rules=rules, deferrable=True),
        PredictionOneUpdatePredictionApiOperator(task_id="up", classifier_id="c", rules=rules, active=True),
        PredictionOneDeletePredictionApiOperator(task_id="da", classifier_id="c"),
        PredictionOneDeleteModelOperator(task_id="dm", model_id=1),
        PredictionOneDeleteDataSetOperator(task_id="dd", data_set_id=1),
        PredictionOneBatchPredictOperator(task_id="b", classifier_id="c", input_file="i.csv", output_file="o.csv"),
        PredictionOneUploadDataOperator(task_id="u", training_file="t.csv", column_info={"a": "float", "b": "string"}),
        PredictionOneTrainModelOperator(
            task_id="t",
            external_process_id="x",
            target_column="b",
            prediction_type="binary_classification",
            positive_value="1",
            deferrable=True,
        ),
        PredictionOneRetrainModelOperator(task_id="r", model_id=1, training_file="t.csv"),
        PredictionOneSwitchModelOperator(task_id="s", model_id=1, retrain_job_id="j"),
        PredictionOneTrainingSensor(task_id="ts", external_process_id="x"),
        PredictionOneRetrainSensor(task_id="rs", retrain_job_id="j", model_id=1, deferrable=True),
        PredictionOneJobTrigger(
            kind="train", job_id="x", predictionone_conn_id="c", poll_interval=30, end_time=time.time() + 60
        ),
    ]
    try:
        from airflow_provider_predictionone.triggers.classifier import PredictionOneClassifierTrigger
    except ImportError:
        pass
    else:
        built.append(
            PredictionOneClassifierTrigger(
                classifier_id="c", predictionone_conn_id="c", target="running", poll_interval=30, end_time=None
            )
        )
    for item in built:
        if hasattr(item, "serialize"):
            item.serialize()
    assert len(built) >= 13


def test_compat_resolves_deferred_names_on_first_use() -> None:
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    assert compat.BaseTrigger is BaseTrigger and compat.TriggerEvent is TriggerEvent
    assert compat.BaseSensorOperator.__name__ == "BaseSensorOperator"
    assert compat.AirflowSensorTimeout.__name__ == "AirflowSensorTimeout"
    assert compat.conf.getboolean("operators", "default_deferrable", fallback=False) in (True, False)
    with pytest.raises(AttributeError):
        compat.NoSuchName  # noqa: B018


def test_importing_the_hook_and_the_operators_defers_heavy_modules(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "try:\n    import airflow.sdk\nexcept ImportError:  # Airflow 2\n    import airflow\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_predictionone.hooks.predictionone\n"
        "hook = sorted(set(sys.modules) - before)\n"
        # Airflow's operator and sensor base classes come with what they import (on Airflow 2 and
        # 3.0 the triggers and httpx); the operators and sensors are checked for what they add.
        "from airflow_provider_predictionone.compat import BaseOperator, BaseSensorOperator\n"
        "before |= set(sys.modules)\n"
        "import airflow_provider_predictionone.operators.predictionone\n"
        "operators = sorted(set(sys.modules) - before)\n"
        "import airflow_provider_predictionone.operators\n"  # also deploy and predict
        "import airflow_provider_predictionone.sensors\n"
        "print(json.dumps([hook, operators, sorted(set(sys.modules) - before)]))\n"
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    hook, operators, everything = json.loads(done.stdout.strip().splitlines()[-1])
    client = {"airflow_provider_predictionone.api.client", "httpx", "requests"}
    # The hook (what every operator module imports) loads neither the trigger base classes
    # (pydantic models, 15-30 ms) nor an HTTP client; those come with execute() / run().
    assert not ({"airflow.triggers.base"} | client) & set(hook), hook
    assert not client & set(operators), operators
    # Every operator (deploy, update, delete, batch predict too) and both sensors: the API's data
    # classes, the triggers and the batch predictor are imported by execute() / poke(), not by a
    # DAG file (on Airflow 3.3 "airflow.triggers.base" is then not loaded at all).
    deferred = client | {
        "airflow_provider_predictionone.api.models",
        "airflow_provider_predictionone.api.batch",
        "airflow_provider_predictionone.triggers",
        "airflow_provider_predictionone.triggers.classifier",
        "airflow_provider_predictionone.triggers.predictionone",
    }
    assert not deferred & set(everything), sorted(deferred & set(everything))
    assert "airflow_provider_predictionone.operators.deploy" in everything


def test_deferred_names_stay_importable_from_the_operator_and_sensor_modules() -> None:
    from airflow_provider_predictionone.api import models
    from airflow_provider_predictionone.operators import deploy
    from airflow_provider_predictionone.operators.deploy import IpRule, normalize_rules
    from airflow_provider_predictionone.sensors import PredictionOneRetrainSensor, PredictionOneTrainingSensor
    from airflow_provider_predictionone.sensors import predictionone as sensors
    from airflow_provider_predictionone.triggers import classifier, predictionone

    assert IpRule is models.IpRule and deploy.ALLOW_ALL is models.ALLOW_ALL
    for name in (
        "ClassifierTarget",
        "PredictionApiFailedError",
        "PredictionApiNotFoundError",
        "PredictionOneClassifierTrigger",
        "check_classifier",
        "classifier_event_result",
        "not_found_message",
        "wait_for_classifier",
    ):
        assert getattr(deploy, name) is getattr(classifier, name), name
    for name in ("JobKind", "PredictionOneJobTrigger", "check_job", "job_event_result", "normalize_job"):
        assert getattr(sensors, name) is getattr(predictionone, name), name
    with pytest.raises(AttributeError):
        deploy.NoSuchName  # noqa: B018
    with pytest.raises(AttributeError):
        sensors.NoSuchName  # noqa: B018
    assert PredictionOneTrainingSensor.kind is predictionone.JobKind.TRAIN
    assert PredictionOneRetrainSensor(task_id="r", retrain_job_id="j", model_id=1).kind is predictionone.JobKind.RETRAIN
    rule = IpRule("10.0.0.0/24", "allow", 0)
    assert normalize_rules([rule, {"source": "10.0.0.5/24", "order": "deny", "priority": 1}]) == (
        rule,
        IpRule("10.0.0.0/24", "deny", 1),
    )
