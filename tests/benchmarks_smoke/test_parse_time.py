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

    built: list[Any] = [
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
    assert len(built) >= 7


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
        # Airflow's operator base class comes with what it imports (on Airflow 2 and 3.0 the triggers
        # and httpx); the operators are checked for what they add.
        "from airflow_provider_predictionone.compat import BaseOperator\n"
        "before |= set(sys.modules)\n"
        "import airflow_provider_predictionone.operators.predictionone\n"
        "print(json.dumps([hook, sorted(set(sys.modules) - before)]))\n"
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    hook, operators = json.loads(done.stdout.strip().splitlines()[-1])
    client = {"airflow_provider_predictionone.api.client", "httpx", "requests"}
    # The hook (what every operator module imports) loads neither the trigger base classes
    # (pydantic models, 15-30 ms) nor an HTTP client; those come with execute() / run().
    assert not ({"airflow.triggers.base"} | client) & set(hook), hook
    assert not client & set(operators), operators
