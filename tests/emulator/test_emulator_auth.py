"""API keys, credential types, expiry and users (spec 3, 4.1, 7.11, 7.16)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest
from emulator_testkit import ManualClient, assert_error

from airflow_provider_predictionone.emulator import Emulator

TRAIN_ENDPOINTS = [
    ("GET", "/data-sets/upload-url", {"extension": "csv"}),
    ("GET", "/data-sets/column-info", {"external_process_id": "x"}),
    ("POST", "/models", None),
    ("GET", "/models/results", {"external_process_id": "x"}),
    ("GET", "/models", None),
    ("DELETE", "/models/1", None),
    ("GET", "/data-sets", None),
    ("DELETE", "/data-sets/1", None),
]
DEPLOY_ENDPOINTS = [
    ("POST", "/classifiers", None),
    ("GET", "/classifiers", None),
    ("GET", "/classifiers/x", None),
    ("PATCH", "/classifiers/x", None),
    ("DELETE", "/classifiers/x", None),
]
RETRAIN_ENDPOINTS = [
    ("GET", "/retrain_jobs/upload_url", {"filename": "a.csv"}),
    ("GET", "/retrain_jobs/x", None),
    ("PUT", "/retrain_jobs/x/update_model", None),
]
ALL_ENDPOINTS = TRAIN_ENDPOINTS + DEPLOY_ENDPOINTS + RETRAIN_ENDPOINTS


def test_get_api_key(p1: ManualClient, emulator: Emulator) -> None:
    for credential_type in ("train", "deploy"):
        body = p1.ok("GET", "/api-key", p1.secret_key, params={"credential_type": credential_type})
        assert set(body) == {"api_key", "end_date"}
        remaining = (datetime.fromisoformat(body["end_date"]) - datetime.now(timezone.utc)).total_seconds()
        assert 3500 < remaining <= 3600
    keys = {p1.api_key("train") for _ in range(5)}
    assert len(keys) == 5
    assert_error(p1.call("GET", "/api-key", "wrong-secret", params={"credential_type": "train"}), "invalid_api_key.")
    assert_error(p1.call("GET", "/api-key", None, params={"credential_type": "train"}), "invalid_api_key.")
    train_key = p1.api_key("train")
    assert_error(p1.call("GET", "/api-key", train_key, params={"credential_type": "train"}), "invalid_api_key.")
    for params, fragment in (({}, "credential_type is required"), ({"credential_type": "admin"}, "one of")):
        response = p1.call("GET", "/api-key", p1.secret_key, params=params)
        assert response.status_code == 400 and fragment in response.json()["message"]


@pytest.mark.parametrize(("method", "path", "params"), ALL_ENDPOINTS)
def test_unknown_and_missing_keys(p1: ManualClient, method: str, path: str, params: Any) -> None:
    assert_error(p1.call(method, path, "no-such-key", params=params), "invalid_api_key.")
    assert_error(p1.call(method, path, None, params=params), "invalid_api_key.")
    # the secret key is no API key
    assert_error(p1.call(method, path, p1.secret_key, params=params), "Not_found_credential.")


def test_wrong_credential_type(p1: ManualClient, trained_model: int) -> None:
    keys = {
        "train": p1.api_key("train"),
        "deploy": p1.api_key("deploy"),
        "retrain": p1.api_key("retrain", model_id=trained_model),
    }
    for kind, endpoints in (("train", TRAIN_ENDPOINTS), ("deploy", DEPLOY_ENDPOINTS), ("retrain", RETRAIN_ENDPOINTS)):
        for method, path, params in endpoints:
            for key_kind, key in keys.items():
                response = p1.call(method, path, key, params=params)
                if key_kind == kind:
                    if response.content:
                        assert response.json().get("message") != "Not_found_credential."
                    else:  # Delete Model / Delete Data Set: 200 without a body
                        assert response.status_code == 200
                else:
                    assert_error(response, "Not_found_credential.")


def test_keys_expire_after_their_lifetime(emulator_factory: Any, client_for: Any) -> None:
    client = client_for(emulator_factory(key_lifetime=1.0), "emulator-secret-key")
    key = client.api_key("train")
    assert client.call("GET", "/models", key).status_code == 200
    time.sleep(1.1)
    assert_error(client.call("GET", "/models", key), "Inactive_credential.")
    fresh = client.api_key("train")
    assert client.call("GET", "/models", fresh).status_code == 200


def test_expire_api_keys_helper(p1: ManualClient, emulator: Emulator, trained_model: int) -> None:
    keys = [p1.api_key("train"), p1.api_key("deploy"), p1.api_key("retrain", model_id=trained_model)]
    emulator.expire_api_keys()
    for method, path, params in ALL_ENDPOINTS:
        for key in keys:
            assert_error(p1.call(method, path, key, params=params), "Inactive_credential.")
    new_key = p1.api_key("train")
    assert p1.call("GET", "/models", new_key).status_code == 200


def test_deleted_user(p1: ManualClient, emulator: Emulator, trained_model: int) -> None:
    keys = {
        "train": p1.api_key("train"),
        "deploy": p1.api_key("deploy"),
        "retrain": p1.api_key("retrain", model_id=trained_model),
    }
    emulator.delete_user(p1.secret_key)
    assert_error(
        p1.call("GET", "/api-key", p1.secret_key, params={"credential_type": "train"}), "This user may be deleted."
    )
    for method, path, params in TRAIN_ENDPOINTS:
        assert_error(p1.call(method, path, keys["train"], params=params), "This user may be deleted.")
    for method, path, params in DEPLOY_ENDPOINTS:
        assert_error(p1.call(method, path, keys["deploy"], params=params), "This user may be deleted.")
    assert_error(
        p1.call("GET", "/retrain_jobs/upload_url", keys["retrain"], params={"filename": "a.csv"}),
        "This user may be deleted.",
    )
    # the two retrain endpoints whose pages do not list the message
    assert_error(p1.call("GET", "/retrain_jobs/x", keys["retrain"]), "Not_found_credential.")
    assert_error(p1.call("PUT", "/retrain_jobs/x/update_model", keys["retrain"]), "Not_found_credential.")


def test_users_are_independent(emulator_factory: Any, client_for: Any, learn_csv: bytes, info_csv: bytes) -> None:
    emulator = emulator_factory(secret_keys=("secret-a", "secret-b"), train_seconds=0.1)
    alice, bob = client_for(emulator, "secret-a"), client_for(emulator, "secret-b")
    config = {"tc": "購入", "tt": "binary_classification", "tv": "はい"}
    alice_model, _ = alice.train("alice-model", learn_csv, info_csv, config)
    bob_model, _ = bob.train("bob-model", learn_csv, info_csv, config)
    assert alice_model == bob_model == 1  # ids are per user
    alice_key, bob_key = alice.api_key("train"), bob.api_key("train")
    assert [m["name"] for m in alice.ok("GET", "/models", alice_key)["models"]] == ["alice-model"]
    assert [m["name"] for m in bob.ok("GET", "/models", bob_key)["models"]] == ["bob-model"]
    owners = {
        alice.ok("GET", "/models", alice_key)["models"][0]["owner_user_id"],
        bob.ok("GET", "/models", bob_key)["models"][0]["owner_user_id"],
    }
    assert len(owners) == 2
    # bob cannot read alice's process or classifier
    process_id = alice.upload_training_data(alice_key, learn_csv, info_csv)
    response = bob.call("GET", "/data-sets/column-info", bob_key, params={"external_process_id": process_id})
    assert response.status_code == 400
    _deploy_key, classifier = alice.deploy(alice_model)
    bob_deploy = bob.api_key("deploy")
    assert bob.ok("GET", "/classifiers", bob_deploy) == {"classifiers": []}
    assert_error(bob.call("DELETE", f"/classifiers/{classifier['classifier_id']}", bob_deploy), "Not found classifier.")
    # deleting bob leaves alice alone
    emulator.delete_user("secret-b")
    assert alice.call("GET", "/models", alice_key).status_code == 200
    emulator.add_user("secret-c")
    assert client_for(emulator, "secret-c").api_key("train")
