"""Parse-time guarantees measured by ``benchmarks/parse_cost.py`` (issue 6, item 2).

No timing here (benchmarks measure, tests check behaviour): constructing every operator, sensor
and trigger makes no network call and no connection lookup, and the train/retrain operators'
hook does not load the trigger machinery nor an HTTP client when a DAG file imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_predictionone import compat

ROOT = Path(__file__).resolve().parents[2]


def test_constructing_everything_makes_no_network_call_and_no_lookup(tmp_path: Path) -> None:
    # benchmarks/_construct_all.py builds every operator, sensor and trigger with connections
    # and lookups refused, and counts the attempts (the same script feeds parse_cost.py's table).
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    script = ROOT / "benchmarks" / "_construct_all.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("CONSTRUCT_RESULT "))
    result = json.loads(line.split(" ", 1)[1])
    assert (result["connect"], result["get_connection"], result["aget_connection"]) == (0, 0, 0)
    assert len(result["built"]) >= 13


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
