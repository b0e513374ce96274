"""The retrain flow (spec 1.3, 4.15 - 4.17)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from emulator_testkit import (
    HEADER,
    ManualClient,
    assert_error,
    outputs,
    purchase_rows,
    read_csv,
    retrain_zip,
    to_csv,
)

from airflow_provider_predictionone.emulator import Emulator

ROW = purchase_rows(1, seed=77)[0]


def wait_retrain(p1: ManualClient, key: str, job_id: str, timeout: float = 30) -> tuple[dict[str, Any], list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = p1.ok("GET", f"/retrain_jobs/{job_id}", key)
        if not seen or seen[-1] != status["status"]:
            seen.append(status["status"])
        if status["status"] in ("job_finished", "job_failed"):
            return status, seen
        time.sleep(p1.poll)
    raise AssertionError(f"retraining did not finish: {seen}")


def test_full_retrain_flow(
    p1: ManualClient, emulator: Emulator, trained_model: int, deployed: tuple[str, dict[str, Any]]
) -> None:
    deploy_key, classifier = deployed
    key = p1.api_key("retrain", model_id=trained_model)

    created = p1.ok("GET", "/retrain_jobs/upload_url", key, params={"filename": "retrain.zip"})
    assert set(created) == {"retrain_job_id", "upload_url"}
    job_id = created["retrain_job_id"]
    before = p1.ok("GET", f"/retrain_jobs/{job_id}", key)
    assert before["status"] == "job_queued" and before["metadata"] == {"retrain_job_id": job_id}
    assert "download_url" not in before
    assert_error(p1.call("PUT", f"/retrain_jobs/{job_id}/update_model", key), "Retrain job is not finished.")

    data = retrain_zip(to_csv(HEADER, purchase_rows(250, seed=11)), to_csv(HEADER, purchase_rows(80, seed=12)))
    assert p1.session.put(created["upload_url"], data=data).status_code == 200

    status, seen = wait_retrain(p1, key, job_id)
    assert seen[-1] == "job_finished" and "job_running" in seen
    new_model_id = status["model_id"]
    assert isinstance(new_model_id, int) and new_model_id != trained_model
    archive = p1.download_zip(status["download_url"])
    assert {"metrics.csv", "analysis_summary.csv", "evaluation_raw_data.csv"} == set(archive.namelist())
    assert len(read_csv(archive.read("evaluation_raw_data.csv"))) == 80

    # the retrained model is a new model record with the same config
    train_key = p1.api_key("train")
    models = {m["model_id"]: m for m in p1.ok("GET", "/models", train_key)["models"]}
    assert models[new_model_id]["config"] == models[trained_model]["config"]
    assert models[new_model_id]["version"] == "2"

    emulator.set_build_seconds(0.8)  # room to observe "updating"
    switched = p1.ok("PUT", f"/retrain_jobs/{job_id}/update_model", key)
    assert switched == {"metadata": {"retrain_job_id": job_id}}
    after = p1.classifier(deploy_key, classifier["classifier_id"])
    assert after["model_id"] == new_model_id
    assert after["status"] == "updating"
    assert int(after["version"]) == int(classifier["version"]) + 1
    running = p1.wait_classifier(deploy_key, classifier["classifier_id"], "running")
    response = p1.infer(running["url"], running["api_key"], HEADER, ROW)
    assert response.json()["version"] == running["version"]
    assert outputs(response)["prediction_valid.csv"][0]["prediction"] in ("はい", "いいえ")
    # switching again is harmless
    assert p1.call("PUT", f"/retrain_jobs/{job_id}/update_model", key).status_code == 200


def test_a_queued_retrain_job_says_whether_it_waits_for_its_upload(
    p1: ManualClient, emulator: Emulator, trained_model: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hold the job thread in its queued phase (it waits on app.stopping) until the test has looked.
    release = threading.Event()
    stopping = emulator.app.stopping
    real_wait = stopping.wait

    def held_wait(timeout: float | None = None) -> bool:
        release.wait(30)
        return real_wait(timeout)

    monkeypatch.setattr(stopping, "wait", held_wait)
    key = p1.api_key("retrain", model_id=trained_model)
    created = p1.ok("GET", "/retrain_jobs/upload_url", key, params={"filename": "train.csv"})
    job_id = created["retrain_job_id"]
    try:
        waiting = p1.ok("GET", f"/retrain_jobs/{job_id}", key)
        assert (waiting["status"], waiting["message"]) == (
            "job_queued",
            "Waiting for the upload of the retraining data.",
        )
        assert (
            p1.session.put(created["upload_url"], data=to_csv(HEADER, purchase_rows(200, seed=31))).status_code == 200
        )
        queued = p1.ok("GET", f"/retrain_jobs/{job_id}", key)
        assert (queued["status"], queued["message"]) == ("job_queued", "Retraining is queued.")
        assert isinstance(queued["model_id"], int)  # the new model record exists from the upload on
    finally:
        release.set()
    status, seen = wait_retrain(p1, key, job_id)
    assert seen[-1] == "job_finished" and status["message"] == "Retraining finished."


def test_retrain_with_a_plain_csv(p1: ManualClient, trained_model: int) -> None:
    key = p1.api_key("retrain", model_id=trained_model)
    created = p1.ok("GET", "/retrain_jobs/upload_url", key, params={"filename": "train.csv"})
    p1.session.put(created["upload_url"], data=to_csv(HEADER, purchase_rows(200, seed=21)))
    status, _ = wait_retrain(p1, key, created["retrain_job_id"])
    assert status["status"] == "job_finished"
    # no prediction API serves the model: the switch fails
    assert_error(
        p1.call("PUT", f"/retrain_jobs/{created['retrain_job_id']}/update_model", key), "Not found classifier."
    )
    # a second upload to the same job is refused
    assert p1.session.put(created["upload_url"], data=b"a,b\n").status_code == 409


def test_failed_retraining_reports_a_message(p1: ManualClient, trained_model: int) -> None:
    key = p1.api_key("retrain", model_id=trained_model)
    for data, fragment in (
        (retrain_zip(to_csv(["x"], [[1]])).replace(b"train_src", b"wrong_dir"), "train_src/"),
        (to_csv(HEADER[:-1], [r[:-1] for r in purchase_rows(150)]), "does not match"),
        (b"PK\x03\x04 this is no zip", "zip"),
    ):
        created = p1.ok("GET", "/retrain_jobs/upload_url", key, params={"filename": "bad.zip"})
        p1.session.put(created["upload_url"], data=data)
        status, _ = wait_retrain(p1, key, created["retrain_job_id"])
        assert status["status"] == "job_failed", status
        assert fragment in status["message"]
        assert "download_url" not in status
        assert_error(
            p1.call("PUT", f"/retrain_jobs/{created['retrain_job_id']}/update_model", key),
            "Retrain job is not finished.",
        )


def test_retrain_errors(
    p1: ManualClient, emulator: Emulator, trained_model: int, learn_csv: bytes, info_csv: bytes
) -> None:
    secret = p1.secret_key
    # Get API Key: model_id required / unknown
    assert_error(p1.call("GET", "/api-key", secret, params={"credential_type": "retrain"}), "Model id is required.")
    assert_error(
        p1.call("GET", "/api-key", secret, params={"credential_type": "retrain", "model_id": 999}),
        "This model may be deleted.",
    )
    assert_error(
        p1.call("GET", "/api-key", secret, params={"credential_type": "retrain", "model_id": "abc"}),
        "This model may be deleted.",
    )
    key = p1.api_key("retrain", model_id=trained_model)
    assert_error(p1.call("GET", "/retrain_jobs/unknown", key), "Not found retrain job.")
    assert_error(p1.call("PUT", "/retrain_jobs/unknown/update_model", key), "Not found retrain job.")
    response = p1.call("GET", "/retrain_jobs/upload_url", key)
    assert response.status_code == 400 and "filename" in response.json()["message"]

    # a retrain key of another model does not open this model's job
    other_model, _ = p1.train(
        "other", learn_csv, info_csv, {"tc": "購入", "tt": "binary_classification", "tv": "いいえ"}
    )
    other_key = p1.api_key("retrain", model_id=other_model)
    job_id = p1.ok("GET", "/retrain_jobs/upload_url", key, params={"filename": "a.csv"})["retrain_job_id"]
    assert_error(p1.call("GET", f"/retrain_jobs/{job_id}", other_key), "Not_found_credential.")
    assert_error(p1.call("PUT", f"/retrain_jobs/{job_id}/update_model", other_key), "Not_found_credential.")

    # the configuration file of the model is gone
    (config_file,) = emulator.data_dir.glob(f"users/*/models/{other_model}/config.json")
    config_file.unlink()
    assert_error(
        p1.call("GET", "/retrain_jobs/upload_url", other_key, params={"filename": "a.csv"}),
        "Not found configuration_file.",
        code="5001000201",
    )

    # the model is deleted: its key and jobs go with it
    train_key = p1.api_key("train")
    assert p1.call("DELETE", f"/models/{trained_model}", train_key).status_code == 200
    assert_error(
        p1.call("GET", "/retrain_jobs/upload_url", key, params={"filename": "a.csv"}), "This model may be deleted."
    )
    assert_error(p1.call("GET", f"/retrain_jobs/{job_id}", key), "This job may be deleted.")
    assert_error(p1.call("PUT", f"/retrain_jobs/{job_id}/update_model", key), "Not found retrain job.")
    assert_error(
        p1.call("GET", "/api-key", secret, params={"credential_type": "retrain", "model_id": trained_model}),
        "This model may be deleted.",
    )
