"""The deploy / predict flow (spec 1.2, 4.10 - 4.14)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

import pytest
from emulator_testkit import (
    HEADER,
    REGRESSION_HEADER,
    REGRESSION_TYPES,
    ManualClient,
    assert_error,
    column_info,
    outputs,
    purchase_rows,
    regression_rows,
    to_csv,
)

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator import Emulator
from airflow_provider_predictionone.emulator.resources.rules import source_ip_allowed

ALLOW_ALL = [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}]
ROW = purchase_rows(1, seed=99)[0]


def test_full_deploy_flow(p1: ManualClient, emulator: Emulator, trained_model: int) -> None:
    emulator.set_build_seconds(0.8)  # room to observe the transitional statuses on a busy machine
    key = p1.api_key("deploy")
    created = p1.ok("POST", "/classifiers", key, json={"model_id": trained_model, "rules": ALLOW_ALL})
    assert set(created) == {"classifier_id", "api_key", "version"}
    assert all(isinstance(v, str) for v in created.values())
    classifier_id = created["classifier_id"]

    building = p1.classifier(key, classifier_id)
    assert building["status"] == "building" and building["url"] is None
    assert set(building) == {
        "classifier_id",
        "model_id",
        "status",
        "api_key",
        "version",
        "url",
        "active",
        "is_editable",
        "create_datetime",
        "update_datetime",
        "rules",
    }
    assert building["model_id"] == trained_model and building["rules"] == ALLOW_ALL and building["active"] is True

    running = p1.wait_classifier(key, classifier_id, "running")
    url = running["url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == emulator.url
    assert parts.path.startswith("/v1/groups/") and parts.path.endswith(f"/classifiers/{classifier_id}/inference")

    # the model now backs a prediction API
    train_key = p1.api_key("train")
    assert p1.ok("GET", "/models", train_key)["models"][0]["is_api_option"] is True

    response = p1.infer(url, running["api_key"], HEADER, ROW, ar=True, ad=True, nc=False)
    assert response.json()["version"] == created["version"]
    files = outputs(response)
    assert set(files) == {"prediction_valid.csv", "prediction_analysis.csv"}
    (row,) = files["prediction_valid.csv"]
    assert list(row)[:1] == ["row_number"] and row["row_number"] == "1"
    assert row["年齢"] == str(ROW[0]) and row["会員ID"] == ROW[5]
    assert row["prediction"] in ("はい", "いいえ")
    assert abs(float(row["probability_はい"]) + float(row["probability_いいえ"]) - 1) < 1e-6
    reasons = files["prediction_analysis.csv"]
    assert {r["column"] for r in reasons} <= set(HEADER)

    # stop it: terminating -> terminated; inference then answers 503 "stopped"
    patched = p1.ok(
        "PATCH",
        f"/classifiers/{classifier_id}",
        key,
        json={"rules": ALLOW_ALL, "active": False, "is_editable": running["is_editable"]},
    )
    assert patched["classifier"]["status"] == "terminating"
    assert patched["classifier"]["active"] is False
    assert_error(
        p1.infer(url, running["api_key"], HEADER, ROW),
        "status is not running (status: stopped)",
        code=contract.CODE_INFERENCE_UNAVAILABLE,
    )
    p1.wait_classifier(key, classifier_id, "terminated")
    assert_error(
        p1.infer(url, running["api_key"], HEADER, ROW),
        "status is not running (status: stopped)",
        code=contract.CODE_INFERENCE_UNAVAILABLE,
    )

    # delete: 200 with an empty JSON object (the manual's example calls .json() on it), then it is gone
    deleted = p1.call("DELETE", f"/classifiers/{classifier_id}", key)
    assert deleted.status_code == 200 and deleted.json() == {}
    assert deleted.headers["Content-Type"].startswith("application/json")
    assert p1.ok("GET", "/classifiers", key) == {"classifiers": []}
    assert_error(p1.call("DELETE", f"/classifiers/{classifier_id}", key), "Not found classifier.")
    assert_error(
        p1.infer(url, running["api_key"], HEADER, ROW),
        "Not found classifier in classifiers table",
        code=contract.CODE_INFERENCE_CLASSIFIER_NOT_FOUND,
    )


def test_update_classifier_transitions(
    p1: ManualClient, emulator: Emulator, deployed: tuple[str, dict[str, Any]]
) -> None:
    emulator.set_build_seconds(0.8)  # room to observe the transitional statuses on a busy machine
    key, classifier = deployed
    path = f"/classifiers/{classifier['classifier_id']}"
    single = p1.ok("GET", path, key)["classifier"]
    assert single["classifier_id"] == classifier["classifier_id"] and single["status"] == "running"

    new_rules = [{"source": "127.0.0.0/8", "order": "allow", "priority": 1}]
    updated = p1.ok("PATCH", path, key, json={"rules": new_rules})["classifier"]
    assert updated["status"] == "updating" and updated["rules"] == new_rules
    assert_error(
        p1.infer(classifier["url"], classifier["api_key"], HEADER, ROW),
        "status is not running (status: updating)",
        code=contract.CODE_INFERENCE_UNAVAILABLE,
    )
    p1.wait_classifier(key, classifier["classifier_id"], "running")

    flagged = p1.ok("PATCH", path, key, json={"is_editable": False})["classifier"]
    assert flagged["is_editable"] is False and flagged["status"] == "running"

    p1.ok("PATCH", path, key, json={"active": False})
    p1.wait_classifier(key, classifier["classifier_id"], "terminated")
    restarted = p1.ok("PATCH", path, key, json={"active": True})["classifier"]
    assert restarted["status"] == "building" and restarted["active"] is True
    assert_error(
        p1.infer(classifier["url"], classifier["api_key"], HEADER, ROW),
        "status is not running (status: building)",
        code=contract.CODE_INFERENCE_UNAVAILABLE,
    )
    p1.wait_classifier(key, classifier["classifier_id"], "running")
    assert p1.infer(classifier["url"], classifier["api_key"], HEADER, ROW).status_code == 200

    for body, fragment in (
        ({"active": "no"}, "active must be a boolean"),
        ({"colour": 1}, "Unknown field"),
        ({"rules": "all"}, "rules must be a list"),
    ):
        response = p1.call("PATCH", path, key, json=body)
        assert response.status_code == 400 and fragment in response.json()["message"]
    assert_error(p1.call("PATCH", "/classifiers/unknown", key, json={"active": False}), "Not found classifier.")
    assert_error(p1.call("GET", "/classifiers/unknown", key), "Not found classifier.")


def test_create_classifier_errors(p1: ManualClient, trained_model: int, learn_csv: bytes, info_csv: bytes) -> None:
    key = p1.api_key("deploy")
    assert_error(
        p1.call("POST", "/classifiers", key, json={"model_id": 999, "rules": ALLOW_ALL}), "This model may be deleted."
    )
    # a model still training cannot be deployed
    train_key = p1.api_key("train")
    process_id = p1.upload_training_data(train_key, learn_csv, info_csv)
    p1.start_training(
        train_key, process_id, "still-training", {"tc": "購入", "tt": "binary_classification", "tv": "はい"}
    )
    training_id = p1.model_id_by_name(train_key, "still-training")
    assert_error(
        p1.call("POST", "/classifiers", key, json={"model_id": training_id, "rules": ALLOW_ALL}),
        "This model may be deleted.",
    )
    bad_rules = [
        ([{"source": "not-an-ip", "order": "allow", "priority": 0}], "CIDR"),
        ([{"source": "10.0.0.0/8", "order": "maybe", "priority": 0}], "order"),
        ([{"source": "10.0.0.0/8", "order": "allow", "priority": "high"}], "priority"),
        ("0.0.0.0/0", "rules must be a list"),
    ]
    for rules, fragment in bad_rules:
        response = p1.call("POST", "/classifiers", key, json={"model_id": trained_model, "rules": rules})
        assert response.status_code == 400 and fragment in response.json()["message"], response.text
    response = p1.call("POST", "/classifiers", key, json={"model_id": trained_model})
    assert response.status_code == 400 and "rules" in response.json()["message"]


def test_inference_errors(p1: ManualClient, deployed: tuple[str, dict[str, Any]]) -> None:
    _key, classifier = deployed
    url, api_key = classifier["url"], classifier["api_key"]
    assert_error(p1.infer(url, "wrong-key", HEADER, ROW), "Invalid API key", code="4031030201")
    other_group = url.replace("/v1/groups/", "/v1/groups/x")
    assert_error(p1.infer(other_group, api_key, HEADER, ROW), "Invalid classifier id", code="4031030201")
    unknown = url.replace(classifier["classifier_id"], "00000000-0000-0000-0000-000000000000")
    assert_error(
        p1.infer(unknown, api_key, HEADER, ROW), "Not found classifier in classifiers table", code="4001030101"
    )

    def invalid(response: Any) -> None:
        assert_error(response, "Invalid request", code="4001030104")

    headers = {"x-api-key": api_key}
    invalid(p1.session.post(url, data=b"{broken", headers=headers))
    invalid(p1.session.post(url, json={"input": []}, headers=headers))
    pr = base64.b64encode(to_csv(HEADER, [ROW])).decode()
    flags = [{"name": n, "type": "boolean", "data": False} for n in ("ar", "ad", "nc")]
    invalid(p1.session.post(url, json={"inputs": flags}, headers=headers))  # no pr
    invalid(
        p1.session.post(url, json={"inputs": [{"name": "pr", "type": "csv", "data": pr}, *flags[:2]]}, headers=headers)
    )  # nc missing
    invalid(
        p1.session.post(url, json={"inputs": [{"name": "pr", "type": "csv", "data": "%%%"}, *flags]}, headers=headers)
    )  # not base64
    two_rows = base64.b64encode(to_csv(HEADER, [ROW, ROW])).decode()
    invalid(
        p1.session.post(
            url, json={"inputs": [{"name": "pr", "type": "csv", "data": two_rows}, *flags]}, headers=headers
        )
    )
    header_only = base64.b64encode(to_csv(HEADER, [])).decode()
    invalid(
        p1.session.post(
            url, json={"inputs": [{"name": "pr", "type": "csv", "data": header_only}, *flags]}, headers=headers
        )
    )
    invalid(p1.infer(url, api_key, HEADER[1:], ROW[1:]))  # 年齢 (a feature) missing
    invalid(p1.infer(url, api_key, HEADER, ROW, extra=[{"name": "pc", "type": "string", "data": "無い列"}]))
    invalid(
        p1.session.post(
            url,
            json={
                "inputs": [
                    {"name": "pr", "type": "csv", "data": pr},
                    {"name": "ar", "type": "boolean", "data": "yes"},
                    *flags[1:],
                ]
            },
            headers=headers,
        )
    )
    # columns the model does not use (target, ID-like) may be left out
    assert p1.infer(url, api_key, HEADER[:5], ROW[:5]).status_code == 200


def test_inference_output_options(p1: ManualClient, deployed: tuple[str, dict[str, Any]]) -> None:
    _key, classifier = deployed
    url, api_key = classifier["url"], classifier["api_key"]
    (plain,) = outputs(p1.infer(url, api_key, HEADER, ROW))["prediction_valid.csv"]
    assert list(plain) == ["row_number", "prediction", "probability_いいえ", "probability_はい"]
    (no_class,) = outputs(p1.infer(url, api_key, HEADER, ROW, nc=True))["prediction_valid.csv"]
    assert list(no_class) == ["row_number", "probability_いいえ", "probability_はい"]
    extra = [{"name": "nr", "type": "boolean", "data": True}, {"name": "pc", "type": "string", "data": "会員ID"}]
    (pivot,) = outputs(p1.infer(url, api_key, HEADER, ROW, ad=True, extra=extra))["prediction_valid.csv"]
    assert list(pivot)[:2] == ["会員ID", "年齢"] and "row_number" not in pivot
    assert list(pivot).count("会員ID") == 1
    # ar=false: no reasons file; same row -> same prediction
    files = outputs(p1.infer(url, api_key, HEADER, ROW, ar=False))
    assert set(files) == {"prediction_valid.csv"}
    assert files["prediction_valid.csv"][0] == plain


def test_regression_inference(p1: ManualClient) -> None:
    model_id, _ = p1.train(
        "price",
        to_csv(REGRESSION_HEADER, regression_rows(200)),
        column_info(REGRESSION_HEADER, REGRESSION_TYPES),
        {"tc": "価格", "tt": "regression"},
    )
    _key, classifier = p1.deploy(model_id)
    cheap = outputs(p1.infer(classifier["url"], classifier["api_key"], REGRESSION_HEADER[:4], [25, 35, 20, "足立区"]))
    dear = outputs(p1.infer(classifier["url"], classifier["api_key"], REGRESSION_HEADER[:4], [110, 1, 2, "港区"]))
    assert list(cheap["prediction_valid.csv"][0]) == ["row_number", "prediction"]
    assert float(dear["prediction_valid.csv"][0]["prediction"]) > float(cheap["prediction_valid.csv"][0]["prediction"])


def test_source_ip_rules_applied_to_the_caller(p1: ManualClient, trained_model: int) -> None:
    deny_local = [{"source": "10.0.0.0/8", "order": "allow", "priority": 0}]
    _key, classifier = p1.deploy(trained_model, rules=deny_local)
    assert_error(
        p1.infer(classifier["url"], classifier["api_key"], HEADER, ROW), "Not allowed source ip", code="4031030201"
    )
    ordered = [
        {"source": "0.0.0.0/0", "order": "allow", "priority": 5},
        {"source": "127.0.0.1/32", "order": "deny", "priority": 1},
    ]
    _key, classifier = p1.deploy(trained_model, rules=ordered)
    assert_error(
        p1.infer(classifier["url"], classifier["api_key"], HEADER, ROW), "Not allowed source ip", code="4031030201"
    )


@pytest.mark.parametrize(
    ("address", "rules", "allowed"),
    [
        ("127.0.0.1", [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}], True),
        ("::1", [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}], True),
        ("10.1.2.3", [], False),
        ("10.1.2.3", [{"source": "192.168.0.0/16", "order": "allow", "priority": 0}], False),
        (
            "10.1.2.3",
            [
                {"source": "10.0.0.0/8", "order": "deny", "priority": 2},
                {"source": "10.1.0.0/16", "order": "allow", "priority": 1},
            ],
            True,
        ),
        (
            "10.1.2.3",
            [
                {"source": "10.0.0.0/8", "order": "deny", "priority": 0},
                {"source": "10.1.0.0/16", "order": "allow", "priority": 1},
            ],
            False,
        ),
        ("::ffff:192.168.1.10", [{"source": "192.168.1.0/24", "order": "allow", "priority": 0}], True),
        ("::ffff:192.168.2.10", [{"source": "192.168.1.0/24", "order": "allow", "priority": 0}], False),
        ("2001:db8::1", [{"source": "2001:db8::/32", "order": "allow", "priority": 0}], True),
        ("2001:db8::1", [{"source": "10.0.0.0/8", "order": "allow", "priority": 0}], False),
    ],
)
def test_source_ip_allowed(address: str, rules: list[dict[str, Any]], allowed: bool) -> None:
    assert source_ip_allowed(address, rules) is allowed


def test_ipv4_mapped_caller_on_dual_stack_server(
    emulator_factory: Any, client_for: Any, learn_csv: bytes, info_csv: bytes
) -> None:
    try:
        emulator = emulator_factory(host="::")
    except OSError:
        pytest.skip("no IPv6 on this machine")
    client = client_for(emulator, "emulator-secret-key")
    client.base = client.base.replace("[::1]", "127.0.0.1")  # connect over IPv4 -> ::ffff:127.0.0.1
    model_id, _ = client.train("dual", learn_csv, info_csv, {"tc": "購入", "tt": "binary_classification", "tv": "はい"})
    rules = [{"source": "127.0.0.0/8", "order": "allow", "priority": 0}]
    _key, classifier = client.deploy(model_id, rules=rules)
    assert urlsplit(classifier["url"]).hostname == "127.0.0.1"
    assert client.infer(classifier["url"], classifier["api_key"], HEADER, ROW).status_code == 200
