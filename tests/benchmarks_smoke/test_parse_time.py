"""Parse-time guarantees measured by ``benchmarks/parse_cost.py`` (issue 6, item 2).

No timing here (benchmarks measure, tests check behaviour): constructing every operator, sensor
and trigger makes no network call and no connection lookup; importing the operators and sensors
loads neither the HTTP stack, the API's data classes, the batch predictor nor the triggers, and
the hook loads neither the trigger machinery nor an HTTP client. The provider's ``compat`` covers
only what ``airflow.providers.common.compat`` does not.
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


def test_compat_keeps_only_what_common_compat_does_not_cover() -> None:
    """The provider's ``compat`` holds the version-dependent pieces common-compat lacks; every
    other Airflow name the provider uses comes from ``airflow.providers.common.compat``."""
    from airflow.providers.common.compat import sdk
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

    assert set(compat.__all__) == {
        "AIRFLOW_V3",
        "BaseOperator",
        "attach_object_store",
        "default_deferrable",
        "get_current_context_or_none",
        "mask_secret",
    }
    assert compat.AIRFLOW_V3 is AIRFLOW_V_3_0_PLUS
    # No lazy names: what compat does not define is not there.
    assert not hasattr(compat, "__getattr__")
    for name in ("BaseHook", "BaseSensorOperator", "BaseTrigger", "TriggerEvent", "conf", "aget_connection"):
        assert not hasattr(compat, name), name
    with pytest.raises(AttributeError):
        compat.NoSuchName  # noqa: B018

    # BaseOperator from the module each Airflow version's own operators use.
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk import BaseOperator

        assert compat.BaseOperator is BaseOperator is sdk.BaseOperator
    elif AIRFLOW_V_3_0_PLUS:  # 3.0: providers-standard 1.2 recognises only airflow.models operators
        from airflow.models import BaseOperator
        from airflow.sdk import BaseOperator as SdkBaseOperator

        assert compat.BaseOperator is BaseOperator and issubclass(BaseOperator, SdkBaseOperator)
    else:
        from airflow.models.baseoperator import BaseOperator

        assert compat.BaseOperator is BaseOperator is sdk.BaseOperator
    import airflow_provider_predictionone.operators as operators

    for name in operators.__all__:
        assert issubclass(getattr(operators, name), compat.BaseOperator), name


def test_compat_mask_secret_and_the_small_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import redact

    compat.mask_secret("compat-secret-7f3a")
    compat.mask_secret("compat-secret-7f3a")  # a second report is harmless
    assert redact("key=compat-secret-7f3a") == "key=***"
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert compat.default_deferrable() is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert compat.default_deferrable() is False
    assert compat.get_current_context_or_none() is None  # outside a task


def test_common_compat_provides_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook, the sensors and the triggers' connection lookup are common-compat's."""
    import asyncio
    from types import SimpleNamespace

    from airflow.providers.common.compat import connection, sdk

    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
    from airflow_provider_predictionone.sensors import PredictionOneRetrainSensor, PredictionOneTrainingSensor

    assert issubclass(PredictionOneHook, sdk.BaseHook)
    assert issubclass(PredictionOneTrainingSensor, sdk.BaseSensorOperator)
    assert issubclass(PredictionOneRetrainSensor, sdk.BaseSensorOperator)

    looked_up: list[str] = []
    conn = SimpleNamespace(
        conn_id="p1", password="secret", host="http://127.0.0.1:9", port=None, extra='{"timeout": 7}'
    )

    async def get_async_connection(conn_id: str) -> SimpleNamespace:
        looked_up.append(conn_id)
        return conn

    async def get_async_extra_dejson(found: SimpleNamespace) -> dict[str, object]:
        assert found is conn
        return {"timeout": 7}

    monkeypatch.setattr(connection, "get_async_connection", get_async_connection)
    monkeypatch.setattr(connection, "get_async_extra_dejson", get_async_extra_dejson)

    async def open_client() -> tuple[str, float]:
        async with await PredictionOneHook("p1").get_async_conn(shared=False) as client:
            return client.settings.base_url, client.settings.read_timeout

    assert asyncio.run(open_client()) == ("http://127.0.0.1:9/v1/external", 7.0)
    assert looked_up == ["p1"]


def test_importing_the_hook_and_the_operators_defers_heavy_modules(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "try:\n    import airflow.sdk\nexcept ImportError:  # Airflow 2\n    import airflow\n"
        # Airflow's operator and sensor base classes come with what they import (on Airflow 2 and
        # 3.0 the triggers and httpx; every DAG file has them); the provider is checked for what it adds.
        "from airflow.providers.common.compat.sdk import BaseHook, BaseSensorOperator\n"
        "from airflow_provider_predictionone.compat import BaseOperator\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_predictionone.operators.predictionone\n"
        "operators = sorted(set(sys.modules) - before)\n"
        "import airflow_provider_predictionone.operators\n"  # also deploy and predict
        "import airflow_provider_predictionone.sensors\n"
        "everything = sorted(set(sys.modules) - before)\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_predictionone.hooks.predictionone\n"
        "hook = sorted(set(sys.modules) - before)\n"
        "print(json.dumps([hook, operators, everything]))\n"
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    hook, operators, everything = json.loads(done.stdout.strip().splitlines()[-1])
    client = {
        "airflow_provider_predictionone.api.client",
        "airflow_provider_predictionone.api.aclient",
        "airflow_provider_predictionone.api.transport",
        "aiohttp",
        "requests",
    }
    assert not client & set(operators), operators
    # Every operator (deploy, update, delete, batch predict too) and both sensors: the hook (with
    # the workflow and the API's data classes), the triggers and the batch predictor are imported
    # by execute() / poke(), not by a DAG file (on Airflow 3.3 "airflow.triggers.base" is then not
    # loaded at all).
    deferred = client | {
        "airflow_provider_predictionone.hooks.predictionone",
        "airflow_provider_predictionone.api.models",
        "airflow_provider_predictionone.api.batch",
        "airflow_provider_predictionone.triggers",
        "airflow_provider_predictionone.triggers.classifier",
        "airflow_provider_predictionone.triggers.predictionone",
    }
    assert not deferred & set(everything), sorted(deferred & set(everything))
    assert "airflow_provider_predictionone.operators.deploy" in everything
    # The hook (what a TaskFlow DAG file imports) loads neither the trigger base classes (pydantic
    # models, 15-30 ms) nor an HTTP client; those come with its first request / a trigger's run().
    assert "airflow_provider_predictionone.hooks.predictionone" in hook
    assert not ({"airflow.triggers.base", "airflow_provider_predictionone.triggers"} | client) & set(hook), hook


def test_public_names_live_in_their_modules() -> None:
    """Each public name has one home, importable without lazy tricks: operator classes from the
    operator modules (the train / retrain ones also from ``operators.predictionone``, the delete
    ones also from ``operators.deploy``, as in earlier releases), sensors and triggers from theirs,
    enums and IP rules from the API layer, event readers from ``events``, checks on the hook."""
    from airflow_provider_predictionone import events, operators
    from airflow_provider_predictionone.api.contract import ClassifierTarget, JobKind
    from airflow_provider_predictionone.api.errors import PredictionApiFailedError, PredictionApiNotFoundError
    from airflow_provider_predictionone.api.ip_rules import normalize_rules
    from airflow_provider_predictionone.api.models import ALLOW_ALL, IpRule
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
    from airflow_provider_predictionone.operators import deploy, predictionone
    from airflow_provider_predictionone.sensors import PredictionOneRetrainSensor, PredictionOneTrainingSensor
    from airflow_provider_predictionone.triggers import PredictionOneClassifierTrigger, PredictionOneJobTrigger
    from airflow_provider_predictionone.triggers import classifier as classifier_triggers
    from airflow_provider_predictionone.triggers import predictionone as job_triggers

    for name in (
        "PredictionOneTrainModelOperator",
        "PredictionOneUploadDataOperator",
        "PredictionOneSwitchModelOperator",
    ):
        assert getattr(predictionone, name) is getattr(operators, name), name
    for name in ("PredictionOneDeleteModelOperator", "PredictionOneDeleteDataSetOperator"):
        assert getattr(deploy, name) is getattr(operators, name), name
    assert classifier_triggers.PredictionOneClassifierTrigger is PredictionOneClassifierTrigger
    assert job_triggers.PredictionOneJobTrigger is PredictionOneJobTrigger
    for name in ("check_job", "wait_for_job", "check_prediction_api", "wait_for_prediction_api"):
        assert callable(getattr(PredictionOneHook, name)), name
    assert callable(events.job_event_result) and callable(events.classifier_event_result)
    assert "c-1" in str(PredictionApiNotFoundError.for_id("c-1"))
    assert PredictionApiFailedError("failed", status="failed").status == "failed"
    assert ClassifierTarget("running") is ClassifierTarget.RUNNING
    assert (IpRule("0.0.0.0/0", "allow", 0),) == ALLOW_ALL

    assert PredictionOneTrainingSensor.kind is JobKind.TRAIN
    assert PredictionOneRetrainSensor(task_id="r", retrain_job_id="j", model_id=1).kind is JobKind.RETRAIN
    rule = IpRule("10.0.0.0/24", "allow", 0)
    assert normalize_rules([rule, {"source": "10.0.0.5/24", "order": "deny", "priority": 1}]) == (
        rule,
        IpRule("10.0.0.0/24", "deny", 1),
    )
