"""The prediction-API and housekeeping operators against the emulator: real HTTP, real Airflow."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import JobState
from airflow_provider_predictionone.api.errors import (
    InferenceIpNotAllowedError,
    JobTimeoutError,
    PredictionApiNotFoundError,
    PredictionOneConfigError,
    UnknownIdError,
)
from airflow_provider_predictionone.api.ip_rules import normalize_rules
from airflow_provider_predictionone.api.models import ALLOW_ALL, IpRule
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
from airflow_provider_predictionone.operators.deploy import (
    PredictionOneDeleteDataSetOperator,
    PredictionOneDeleteModelOperator,
    PredictionOneDeletePredictionApiOperator,
    PredictionOneDeployModelOperator,
    PredictionOneUpdatePredictionApiOperator,
)
from airflow_provider_predictionone.triggers.classifier import PredictionOneClassifierTrigger
from tests.task_context import TaskStateStore, fake_context
from tests.triggers.job_fixtures import run_trigger, wait_for_training, wait_until

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

START = datetime(2026, 1, 1)
DENY_ALL = [{"source": "0.0.0.0/0", "order": "deny", "priority": 0}]
INFERENCE_CSV = "年齢,性別,年収,地域\n45,女性,820.5,東京\n"  # a row for the job_fixtures model


@pytest.fixture
def trained_model(p1_client: PredictionOneClient, start_training: Callable[..., str]) -> int:
    """A trained model without a prediction API; returns its ``model_id``."""
    name = f"deploy-test-{uuid.uuid4().hex[:8]}"
    assert wait_for_training(p1_client, start_training(name=name)).state is JobState.SUCCEEDED
    model = p1_client.find_model_by_name(name)
    assert model is not None
    return model.model_id


@pytest.fixture
def running_api(p1_client: PredictionOneClient, p1_hook: PredictionOneHook, trained_model: int) -> str:
    """A running prediction API of ``trained_model``; returns its ``classifier_id``."""
    classifier_id = p1_client.create_classifier(trained_model, ALLOW_ALL).classifier_id
    p1_hook.wait_for_prediction_api(classifier_id, "running", check_interval=0.05, timeout=30)
    return classifier_id


@pytest.fixture
def request_log(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """``(method, route)`` of every request the emulator receives, in order."""
    seen: list[tuple[str, str]] = []

    def record(request: Any) -> None:
        seen.append((request.method, request.route))

    monkeypatch.setattr(emulator.app, "intercept", record)
    yield seen


@pytest.fixture
def received_json(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, route, JSON body)`` of every JSON request body the emulator read, in order."""
    seen: list[tuple[str, str, dict[str, Any]]] = []
    read = emulator.app._json_object

    def record(request: Any) -> dict[str, Any]:
        body: dict[str, Any] = read(request)
        seen.append((request.method, request.route, body))
        return body

    monkeypatch.setattr(emulator.app, "_json_object", record)
    return seen


def patches(received: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The Update Classifier bodies among ``received``."""
    return [body for method, route, body in received if (method, route) == ("PATCH", "/classifiers/{classifier_id}")]


def deploy_op(model_id: Any, **kwargs: Any) -> PredictionOneDeployModelOperator:
    options: dict[str, Any] = {"task_id": "deploy", "model_id": model_id, "check_interval": 0.05} | kwargs
    return PredictionOneDeployModelOperator(**options)


def update_op(classifier_id: Any, **kwargs: Any) -> PredictionOneUpdatePredictionApiOperator:
    options: dict[str, Any] = {"task_id": "update", "classifier_id": classifier_id, "check_interval": 0.05} | kwargs
    return PredictionOneUpdatePredictionApiOperator(**options)


def delete_op(classifier_id: Any, **kwargs: Any) -> PredictionOneDeletePredictionApiOperator:
    options: dict[str, Any] = {"task_id": "delete", "classifier_id": classifier_id, "check_interval": 0.05} | kwargs
    return PredictionOneDeletePredictionApiOperator(**options)


# -- construction and validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: deploy_op("abc"), "model_id='abc' is not a whole number"),
        (lambda: deploy_op(0), "ids are positive"),
        (lambda: deploy_op("*"), "wildcard"),
        (lambda: deploy_op([1, 2]), "not one id"),
        (lambda: deploy_op(1, if_exists="replace"), "if_exists='replace'"),
        (lambda: deploy_op(1, rules=[{"source": "10.0.0.300/8", "order": "allow", "priority": 0}]), r"rules\[0\]"),
        (lambda: deploy_op(1, rules=[{"source": "10.0.0.0/8", "order": "permit", "priority": 0}]), "'allow' or 'deny'"),
        (lambda: deploy_op(1, rules=[{"source": "10.0.0.0/8", "order": "allow", "priority": "high"}]), "whole number"),
        (lambda: deploy_op(1, rules=[{"source": "10.0.0.0/8", "order": "allow"}]), "missing priority"),
        (lambda: deploy_op(1, rules=[{"source": "::/0", "order": "allow", "priority": 0, "x": 1}]), "unknown x"),
        (lambda: deploy_op(1, rules=[]), "rules is empty"),
        (lambda: deploy_op(1, rules=["0.0.0.0/0"]), r"rules\[0\]='0.0.0.0/0' is not a rule"),
        (lambda: deploy_op(1, check_interval=0), "check_interval"),
        (lambda: update_op("c-1"), "Nothing to update"),
        (lambda: update_op("c-1", active="maybe"), "active='maybe' is not true or false"),
        (lambda: update_op("", active=True), "classifier_id='' is empty"),
        (lambda: update_op("c-1", rules=[IpRule("10.0.0.0/33", "allow", 0)]), r"rules\[0\] has source"),
        (lambda: delete_op("  "), "is empty"),
        (lambda: PredictionOneDeleteModelOperator(task_id="m", model_id="all"), "wildcard"),
        (lambda: PredictionOneDeleteModelOperator(task_id="m", model_id=-3), "ids are positive"),
        (lambda: PredictionOneDeleteDataSetOperator(task_id="d", data_set_id=[4, 5]), "exactly one data_set_id"),
        (lambda: PredictionOneDeleteDataSetOperator(task_id="d", data_set_id=True), "not an id"),
    ],
)
def test_literal_errors_are_raised_when_the_dag_is_parsed(build: Callable[[], Any], match: str) -> None:
    with pytest.raises(PredictionOneConfigError, match=match):
        build()


def test_templates_and_xcom_args_are_checked_after_rendering() -> None:
    with DAG("parse", schedule=None, start_date=START):

        @task
        def produce() -> dict[str, Any]:
            return {"model_id": 1, "classifier_id": "c-1"}

        produced = produce()
        deploy_op("{{ params.model_id }}", rules="{{ params.rules }}")
        deploy_op(
            produced["model_id"],
            task_id="deploy2",
            rules=[{"source": "{{ params.office }}", "order": "allow", "priority": 0}],
        )
        update_op(produced["classifier_id"], rules="{{ params.rules }}")
        update_op("{{ ti.xcom_pull('deploy', key='classifier_id') }}", task_id="update2", active="{{ params.active }}")
        delete_op(produced["classifier_id"])
        PredictionOneDeleteModelOperator(task_id="m", model_id=produced["model_id"])
        PredictionOneDeleteDataSetOperator(task_id="d", data_set_id="{{ params.data_set_id }}")


def test_constructors_make_no_connection_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

    def boom(*_: object) -> None:
        raise AssertionError("connection looked up in a constructor")

    monkeypatch.setattr(PredictionOneHook, "get_connection", classmethod(boom))
    deploy_op(1, rules=[IpRule("10.0.0.0/8", "allow", 0)])
    update_op("c-1", active=False)
    delete_op("c-1")
    PredictionOneDeleteModelOperator(task_id="m", model_id=1)
    PredictionOneDeleteDataSetOperator(task_id="d", data_set_id="2")


def test_template_fields() -> None:
    assert {"model_id", "rules"} <= set(PredictionOneDeployModelOperator.template_fields)
    assert {"classifier_id", "rules", "active", "is_editable"} <= set(
        PredictionOneUpdatePredictionApiOperator.template_fields
    )
    assert "classifier_id" in PredictionOneDeletePredictionApiOperator.template_fields
    assert "model_id" in PredictionOneDeleteModelOperator.template_fields
    assert "data_set_id" in PredictionOneDeleteDataSetOperator.template_fields


def test_normalize_rules() -> None:
    rules = normalize_rules(
        [
            IpRule("203.0.113.0/24", "allow", 1),
            {"source": " 10.1.2.3/8 ", "order": "DENY", "priority": "2"},  # host bits, case, a rendered number
            {"source": "198.51.100.7", "order": "allow", "priority": 3},  # a bare address
            {"source": "2001:db8::/32", "order": "allow", "priority": 4},
        ]
    )
    assert rules == (
        IpRule("203.0.113.0/24", "allow", 1),
        IpRule("10.0.0.0/8", "deny", 2),
        IpRule("198.51.100.7/32", "allow", 3),
        IpRule("2001:db8::/32", "allow", 4),
    )
    assert normalize_rules(json.dumps(DENY_ALL)) == (IpRule("0.0.0.0/0", "deny", 0),)
    assert normalize_rules(str(DENY_ALL)) == (IpRule("0.0.0.0/0", "deny", 0),)  # non-native rendering
    assert normalize_rules({"source": "0.0.0.0/0", "order": "allow", "priority": 0}) == ALLOW_ALL
    with pytest.raises(PredictionOneConfigError, match="neither JSON nor a Python list"):
        normalize_rules("allow everyone")


# -- deploy ---------------------------------------------------------------------------------------


def test_deploy_waits_in_the_worker_and_never_exposes_the_key(
    predictionone_conn: str,
    emulator: Any,
    trained_model: int,
    p1_client: PredictionOneClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = fake_context()
    with caplog.at_level(logging.DEBUG):
        summary = deploy_op(str(trained_model), deferrable=False).execute(context)
    assert set(summary) == {"classifier_id", "model_id", "url", "version", "status"}
    assert summary["model_id"] == trained_model and summary["status"] == "running" and summary["url"]
    assert context["ti"].xcoms == {"classifier_id": summary["classifier_id"]}
    assert context["task_state_store"] == {}  # cleared on success
    api_key = p1_client.get_classifier(summary["classifier_id"]).api_key  # type: ignore[union-attr]
    assert api_key
    output = json.dumps([summary, context["ti"].xcoms]) + caplog.text + capsys.readouterr().out
    assert api_key not in output
    assert emulator.request_count("POST", "/classifiers") == 1


def test_deploy_deferrable_path(
    predictionone_conn: str, emulator: Any, trained_model: int, p1_client: PredictionOneClient
) -> None:
    emulator.set_build_seconds(1.0)
    context = fake_context()
    op = deploy_op(trained_model, deferrable=True, rules=[IpRule("127.0.0.0/8", "allow", 0)])
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PredictionOneClassifierTrigger)
    kwargs = trigger.serialize()[1]
    classifier_id = kwargs["classifier_id"]
    assert kwargs["target"] == "running"
    assert context["ti"].xcoms["classifier_id"] == classifier_id  # pushed before waiting
    assert context["task_state_store"]["deploy"] == {"model_id": trained_model, "classifier_id": classifier_id}
    event = run_trigger(trigger)
    assert event["status"] == "success"
    summary = op.execute_complete(context, event)  # dag.test() passes no resume kwargs: read back from XCom
    assert summary["classifier_id"] == classifier_id and summary["status"] == "running" and summary["url"]
    api_key = p1_client.get_classifier(classifier_id).api_key  # type: ignore[union-attr]
    assert api_key and api_key not in json.dumps([summary, context["ti"].xcoms, kwargs, event])
    assert p1_client.get_classifier(classifier_id).rules == [IpRule("127.0.0.0/8", "allow", 0)]  # type: ignore[union-attr]


def test_deploy_reuses_the_models_prediction_api(
    predictionone_conn: str,
    emulator: Any,
    trained_model: int,
    p1_client: PredictionOneClient,
    p1_hook: PredictionOneHook,
) -> None:
    first = deploy_op(trained_model, deferrable=False).execute(fake_context())
    again = deploy_op(trained_model, deferrable=False).execute(fake_context())
    assert again["classifier_id"] == first["classifier_id"]
    assert emulator.request_count("POST", "/classifiers") == 1
    assert emulator.request_count("PATCH", "/classifiers/{classifier_id}") == 0  # nothing to change

    # Given rules that differ are applied; a stopped API is started again.
    p1_hook.update_prediction_api(first["classifier_id"], active=False)
    reused = deploy_op(trained_model, deferrable=False, rules=DENY_ALL).execute(fake_context())
    assert reused["classifier_id"] == first["classifier_id"] and reused["status"] == "running"
    state = p1_client.get_classifier(first["classifier_id"])
    assert state is not None and state.rules == [IpRule("0.0.0.0/0", "deny", 0)] and state.active is True
    assert emulator.request_count("POST", "/classifiers") == 1

    created = deploy_op(trained_model, deferrable=False, if_exists="create").execute(fake_context())
    assert created["classifier_id"] != first["classifier_id"]
    assert emulator.request_count("POST", "/classifiers") == 2


def test_rules_none_allows_all_on_a_new_api_and_keeps_a_reused_apis_rules(
    predictionone_conn: str,
    emulator: Any,
    trained_model: int,
    p1_client: PredictionOneClient,
    p1_hook: PredictionOneHook,
    received_json: list[tuple[str, str, dict[str, Any]]],
) -> None:
    allow_all = [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}]
    created = deploy_op(trained_model, deferrable=False).execute(fake_context())  # rules=None
    creates = [body for method, route, body in received_json if (method, route) == ("POST", "/classifiers")]
    assert creates == [{"model_id": trained_model, "rules": allow_all}]
    with emulator.app.lock:
        assert emulator.app.classifiers[created["classifier_id"]].rules == allow_all  # what the service stored

    local = IpRule("127.0.0.0/8", "allow", 0)
    p1_hook.update_prediction_api(created["classifier_id"], rules=[local], active=False)
    del received_json[:]
    reused = deploy_op(trained_model, deferrable=False).execute(fake_context())  # rules=None, if_exists="reuse"
    assert reused["classifier_id"] == created["classifier_id"] and reused["status"] == "running"
    # Started again with its rules sent back unchanged: rules=None never widens a reused API's access.
    assert patches(received_json) == [{"rules": [local.to_json()], "active": True, "is_editable": True}]
    assert p1_client.get_classifier(created["classifier_id"]).rules == [local]  # type: ignore[union-attr]


def test_deploy_does_not_reuse_a_failed_prediction_api(
    predictionone_conn: str, emulator: Any, p1_client: PredictionOneClient, trained_model: int
) -> None:
    emulator.faults.add("/classifiers", "fail-classifier")  # the build of the next prediction API fails
    failed_id = p1_client.create_classifier(trained_model, ALLOW_ALL).classifier_id
    wait_until(lambda: (api := p1_client.get_classifier(failed_id)) is not None and api.status == "failed")
    summary = deploy_op(trained_model, deferrable=False).execute(fake_context())
    assert summary["classifier_id"] != failed_id
    assert emulator.request_count("POST", "/classifiers") == 2  # the fixture's, then a new one


def test_a_retry_reattaches_instead_of_deploying_twice(
    predictionone_conn: str, emulator: Any, trained_model: int
) -> None:
    emulator.set_build_seconds(1.5)
    store = TaskStateStore()
    op = deploy_op(trained_model, deferrable=False, if_exists="create", timeout=0.3)
    with pytest.raises(JobTimeoutError, match="did not become running"):
        op.execute(fake_context(store))  # the worker gives up mid-wait
    classifier_id = store["deploy"]["classifier_id"]
    summary = deploy_op(trained_model, deferrable=False, if_exists="create").execute(fake_context(store))  # next try
    assert summary["classifier_id"] == classifier_id and summary["status"] == "running"
    assert emulator.request_count("POST", "/classifiers") == 1
    assert store == {}


def test_invalid_rules_are_refused_before_any_request(
    predictionone_conn: str, emulator: Any, trained_model: int
) -> None:
    emulator.reset_request_counts()
    op = deploy_op("{{ params.model_id }}", rules="{{ params.rules }}", deferrable=False)
    op.model_id, op.rules = str(trained_model), json.dumps([{"source": "office", "order": "allow", "priority": 0}])
    with pytest.raises(PredictionOneConfigError, match=r"rules\[0\] has source='office'"):
        op.execute(fake_context())
    update = update_op("{{ params.classifier_id }}", rules="{{ params.rules }}")
    update.classifier_id, update.rules = "c-1", "[]"
    with pytest.raises(PredictionOneConfigError, match="rules is empty"):
        update.execute(fake_context())
    assert emulator.request_count(None, "/api-key") == 0
    assert emulator.request_count(None, "/classifiers") == 0


# -- update ---------------------------------------------------------------------------------------


def test_update_rules_and_active_with_waits(
    predictionone_conn: str,
    emulator: Any,
    running_api: str,
    p1_client: PredictionOneClient,
    received_json: list[tuple[str, str, dict[str, Any]]],
) -> None:
    api_key = p1_client.get_classifier(running_api).api_key  # type: ignore[union-attr]
    url = p1_client.get_classifier(running_api).url  # type: ignore[union-attr]
    assert api_key and url
    with emulator.app.lock:
        emulator.app.classifiers[running_api].is_editable = False  # the lock flag must survive updates (7.8)
    allow_all = [rule.to_json() for rule in ALLOW_ALL]
    local = {"source": "127.0.0.0/8", "order": "allow", "priority": 0}

    denied = update_op(running_api, rules=DENY_ALL, deferrable=False).execute(fake_context())
    assert denied["status"] == "running" and denied["rules"] == DENY_ALL
    assert denied["is_editable"] is False and "api_key" not in denied and api_key not in json.dumps(denied)
    # Spec 4.12 / 7.8: every update carries rules, active and is_editable; what is not changed is sent as read.
    assert patches(received_json)[-1] == {"rules": DENY_ALL, "active": True, "is_editable": False}
    with pytest.raises(InferenceIpNotAllowedError):
        p1_client.inference(url, api_key, INFERENCE_CSV)

    allowed = update_op(running_api, rules=[IpRule("127.0.0.0/8", "allow", 0)], deferrable=False).execute(
        fake_context()
    )
    assert allowed["status"] == "running"
    assert p1_client.inference(url, api_key, INFERENCE_CSV).prediction_csv

    stopped = update_op(running_api, active=False, deferrable=False).execute(fake_context())
    assert stopped["status"] == "terminated" and stopped["active"] is False
    assert patches(received_json)[-1] == {"rules": [local], "active": False, "is_editable": False}

    # New rules on a stopped API: nothing to wait for (it would never become running by itself).
    quiet = update_op(running_api, rules=list(ALLOW_ALL), deferrable=False, timeout=1).execute(fake_context())
    assert quiet["status"] == "terminated"
    assert patches(received_json)[-1] == {"rules": allow_all, "active": False, "is_editable": False}

    started = update_op(running_api, active="True", is_editable="true", deferrable=False).execute(fake_context())
    assert started["status"] == "running" and started["active"] is True and started["is_editable"] is True
    assert patches(received_json)[-1] == {"rules": allow_all, "active": True, "is_editable": True}


def test_update_deferrable_path(predictionone_conn: str, emulator: Any, running_api: str) -> None:
    emulator.set_build_seconds(1.0)
    context = fake_context()
    op = update_op(running_api, active=False, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PredictionOneClassifierTrigger)
    assert trigger.serialize()[1]["target"] == "stopped"
    event = run_trigger(trigger)
    assert event["status"] == "success" and event["classifier_status"] == "terminated"
    summary = op.execute_complete(context, event)
    assert summary["classifier_id"] == running_api and summary["status"] == "terminated"


def test_update_of_a_missing_prediction_api(predictionone_conn: str, emulator: Any) -> None:
    with pytest.raises(PredictionApiNotFoundError, match="no prediction API 'c-404'"):
        update_op("c-404", active=True).execute(fake_context())
    assert emulator.request_count("PATCH", "/classifiers/{classifier_id}") == 0
    op = update_op("c-1", active="{{ params.active }}")
    op.active = "None"  # rendered to nothing
    with pytest.raises(PredictionOneConfigError, match="Nothing to update"):
        op.execute(fake_context())


# -- delete ---------------------------------------------------------------------------------------


def test_delete_stops_a_running_api_first(
    predictionone_conn: str,
    emulator: Any,
    running_api: str,
    trained_model: int,
    p1_client: PredictionOneClient,
    p1_hook: PredictionOneHook,
    request_log: list[tuple[str, str]],
    received_json: list[tuple[str, str, dict[str, Any]]],
) -> None:
    rules = [{"source": "127.0.0.0/8", "order": "allow", "priority": 0}]
    p1_hook.update_prediction_api(running_api, rules=[IpRule.from_json(rules[0])])
    p1_hook.wait_for_prediction_api(running_api, "running", check_interval=0.05, timeout=30)
    with emulator.app.lock:
        emulator.app.classifiers[running_api].is_editable = False
    del received_json[:], request_log[:]
    result = delete_op(running_api, deferrable=False).execute(fake_context())
    assert result == {"classifier_id": running_api, "model_id": trained_model, "deleted": True}
    assert p1_client.get_classifier(running_api) is None
    writes = [entry for entry in request_log if entry[0] in {"PATCH", "DELETE"}]
    assert writes == [("PATCH", "/classifiers/{classifier_id}"), ("DELETE", "/classifiers/{classifier_id}")]
    patch, delete = request_log.index(writes[0]), request_log.index(writes[1])
    # Between them the operator waited: Get Classifier until the API had stopped.
    assert ("GET", "/classifiers") in request_log[patch + 1 : delete]
    # The stop request sends the current rules and lock flag back unchanged (spec 4.12, 7.8).
    assert patches(received_json) == [{"rules": rules, "active": False, "is_editable": False}]


def test_delete_deferrable_path_deletes_on_resume(
    predictionone_conn: str, emulator: Any, running_api: str, p1_client: PredictionOneClient
) -> None:
    emulator.set_build_seconds(1.0)
    context = fake_context()
    op = delete_op(running_api, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert emulator.request_count("DELETE", "/classifiers/{classifier_id}") == 0
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success" and event["classifier_status"] == "terminated"
    result = op.execute_complete(context, event)
    assert result["deleted"] is True and p1_client.get_classifier(running_api) is None
    assert emulator.request_count("PATCH", "/classifiers/{classifier_id}") == 1


def test_delete_a_stopped_api_directly(
    predictionone_conn: str,
    emulator: Any,
    running_api: str,
    p1_client: PredictionOneClient,
    p1_hook: PredictionOneHook,
) -> None:
    p1_hook.update_prediction_api(running_api, active=False)
    emulator.reset_request_counts()
    emulator.set_build_seconds(0.0)
    assert delete_op(running_api, deferrable=False).execute(fake_context())["deleted"] is True
    assert emulator.request_count("PATCH", "/classifiers/{classifier_id}") == 0
    assert p1_client.get_classifier(running_api) is None


def test_delete_missing_prediction_api(predictionone_conn: str, emulator: Any) -> None:
    with pytest.raises(PredictionApiNotFoundError, match="no prediction API 'c-404'"):
        delete_op("c-404", deferrable=False).execute(fake_context())
    result = delete_op("c-404", missing_ok=True).execute(fake_context())
    assert result == {"classifier_id": "c-404", "model_id": None, "deleted": False}
    assert emulator.request_count(None, "/classifiers/{classifier_id}") == 0


# -- delete model / data set ------------------------------------------------------------------------


def test_delete_model_and_data_set(
    predictionone_conn: str,
    emulator: Any,
    trained_model: int,
    p1_client: PredictionOneClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_set_id = next(iter(p1_client.iter_data_sets())).data_set_id
    with caplog.at_level(logging.WARNING):
        model = PredictionOneDeleteModelOperator(task_id="m", model_id=str(trained_model)).execute(fake_context())
        data = PredictionOneDeleteDataSetOperator(task_id="d", data_set_id=data_set_id).execute(fake_context())
    assert model == {"model_id": trained_model, "deleted": True}
    assert data == {"data_set_id": data_set_id, "deleted": True}
    assert all(m.model_id != trained_model for m in p1_client.iter_models())
    assert all(d.data_set_id != data_set_id for d in p1_client.iter_data_sets())
    output = caplog.text + capsys.readouterr().out
    assert f"Deleting Prediction One model {trained_model}: it also disappears from the web app" in output
    assert f"Deleting Prediction One data set {data_set_id}" in output

    # Deleting again: the id is no longer listed, so the task is refused before any DELETE is sent.
    deletes = emulator.request_count("DELETE", "/models/{model_id}") + emulator.request_count(
        "DELETE", "/data-sets/{data_set_id}"
    )
    with pytest.raises(UnknownIdError, match=f"model_id={trained_model}: .* no model with this id"):
        PredictionOneDeleteModelOperator(task_id="m", model_id=trained_model).execute(fake_context())
    with pytest.raises(UnknownIdError, match=f"data_set_id={data_set_id}: .* no data set with this id"):
        PredictionOneDeleteDataSetOperator(task_id="d", data_set_id=data_set_id).execute(fake_context())
    assert (
        emulator.request_count("DELETE", "/models/{model_id}")
        + emulator.request_count("DELETE", "/data-sets/{data_set_id}")
        == deletes
    )


# -- a real DAG run ---------------------------------------------------------------------------------


def test_deploy_update_delete_dag(run_dag: Any, emulator: Any, trained_model: int) -> None:
    """deploy -> update (deny) -> update (allow) -> delete, in dag.test(), with a deferred deploy."""
    emulator.set_build_seconds(0.5)
    with DAG(
        "prediction_api_lifecycle",
        schedule=None,
        start_date=START,
        catchup=False,
        params={"model_id": trained_model},
    ) as dag:
        deploy = deploy_op("{{ params.model_id }}", deferrable=True, rules=[IpRule("127.0.0.0/8", "allow", 0)])
        deny = update_op(deploy.output["classifier_id"], task_id="deny", rules=DENY_ALL, deferrable=False)
        allow = update_op(
            "{{ ti.xcom_pull(task_ids='deploy', key='classifier_id') }}",
            task_id="allow",
            rules=list(ALLOW_ALL),
            deferrable=True,
        )
        delete = delete_op(deploy.output["classifier_id"], deferrable=True)
        deploy >> deny >> allow >> delete

    dag_run, results, states = run_dag(dag)
    assert str(dag_run.state) == "success", states
    classifier_id = results["deploy"]["classifier_id"]
    assert results["deploy"]["status"] == "running" and results["deploy"]["model_id"] == trained_model
    assert results["deny"]["rules"] == DENY_ALL and results["deny"]["status"] == "running"
    assert results["allow"]["rules"] == [rule.to_json() for rule in ALLOW_ALL]
    assert results["delete"] == {"classifier_id": classifier_id, "model_id": trained_model, "deleted": True}
    assert emulator.request_count("POST", "/classifiers") == 1
    assert emulator.app.classifiers == {}
