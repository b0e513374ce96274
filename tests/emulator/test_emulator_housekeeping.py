"""Get/Delete Model and Get/Delete Data Set: paging and deletion (spec 4.6 - 4.9)."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_testkit import HEADER, ManualClient, assert_error, purchase_rows, to_csv


@pytest.fixture
def seven_models(emulator_factory: Any, client_for: Any, info_csv: bytes) -> tuple[ManualClient, str]:
    client = client_for(emulator_factory(train_seconds=0.2), "emulator-secret-key")
    key = client.api_key("train")
    config = {"tc": "購入", "tt": "binary_classification", "tv": "はい"}
    process_ids = []
    for i in range(7):
        process_id = client.upload_training_data(key, to_csv(HEADER, purchase_rows(100 + i, seed=i)), info_csv)
        process_ids.append(client.start_training(key, process_id, f"model-{i}", config))
    for process_id in process_ids:
        assert client.wait_training(key, process_id)[0]["status"] == "finished"
    return client, key


def test_model_paging(seven_models: tuple[ManualClient, str]) -> None:
    client, key = seven_models
    everything = client.ok("GET", "/models", key)
    assert everything["metadata"] == {"offset": 0, "limit": 30, "total": 7}
    names = []
    offset = 0
    while offset < 7:
        page = client.ok("GET", "/models", key, params={"offset": offset, "limit": 3})
        assert page["metadata"] == {"offset": offset, "limit": 3, "total": 7}
        names += [m["name"] for m in page["models"]]
        offset += 3
    assert names == [f"model-{i}" for i in range(7)]
    assert client.ok("GET", "/models", key, params={"offset": 10})["models"] == []
    for params in ({"offset": -1}, {"limit": "many"}):
        response = client.call("GET", "/models", key, params=params)
        assert response.status_code == 400 and "offset and limit" in response.json()["message"]


def test_data_set_paging_and_delete(seven_models: tuple[ManualClient, str]) -> None:
    client, key = seven_models
    page = client.ok("GET", "/data-sets", key, params={"offset": 5, "limit": 5})
    assert page["metadata"] == {"offset": 5, "limit": 5, "total": 7}
    assert [d["data_set_id"] for d in page["data_sets"]] == [6, 7]
    assert [d["data_count"] for d in page["data_sets"]] == [105, 106]
    doomed = page["data_sets"][0]
    assert client.session.get(doomed["download_url"]).status_code == 200
    response = client.call("DELETE", f"/data-sets/{doomed['data_set_id']}", key)
    assert response.status_code == 200 and response.content == b""  # spec 4.9: no response body
    assert client.ok("GET", "/data-sets", key)["metadata"]["total"] == 6
    assert client.session.get(doomed["download_url"]).status_code == 404
    for data_set_id in (doomed["data_set_id"], 999, "abc"):
        response = client.call("DELETE", f"/data-sets/{data_set_id}", key)
        assert response.status_code == 400 and "was not found" in response.json()["message"]


def test_delete_model(seven_models: tuple[ManualClient, str]) -> None:
    client, key = seven_models
    response = client.call("DELETE", "/models/3", key)
    assert response.status_code == 200 and response.content == b""  # spec 4.7: no response body
    listed = client.ok("GET", "/models", key)
    assert listed["metadata"]["total"] == 6
    assert 3 not in [m["model_id"] for m in listed["models"]]
    assert_error(client.call("DELETE", "/models/3", key), "This model may be deleted.")
    assert_error(client.call("DELETE", "/models/abc", key), "This model may be deleted.")
    deploy_key = client.api_key("deploy")
    rules = [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}]
    assert_error(
        client.call("POST", "/classifiers", deploy_key, json={"model_id": 3, "rules": rules}),
        "This model may be deleted.",
    )
