"""Fault injection of the emulator (``emulator.faults``, ``/_emulator/...``, ``--fault``).

These tests talk to the emulator with plain ``requests`` and raw sockets on purpose: they test the
emulator's misbehaviour itself, not a client's handling of it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_testkit import BINARY_CONFIG, HEADER, ManualClient, purchase_rows, retrain_zip, to_csv

from airflow_provider_predictionone.emulator import Emulator, FaultError, FaultRegistry
from airflow_provider_predictionone.emulator.__main__ import build_parser
from airflow_provider_predictionone.emulator.faults.specs import parse_fault_spec, parse_job_failure_spec
from airflow_provider_predictionone.emulator.paths import KNOWN_ROUTES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "emulator-secret-key"
INACTIVE = "Inactive_credential."


def get_key(emulator: Emulator, credential_type: str = "train", **params: Any) -> requests.Response:
    return requests.get(
        emulator.base_url + "/api-key",
        params={"credential_type": credential_type, **params},
        headers={"x-api-key": SECRET},
        timeout=10,
    )


def train_key(emulator: Emulator) -> str:
    response = get_key(emulator)
    assert response.status_code == 200, response.text
    return response.json()["api_key"]


def models(emulator: Emulator, key: str) -> requests.Response:
    return requests.get(emulator.base_url + "/models", headers={"x-api-key": key}, timeout=10)


def control(emulator: Emulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, emulator.control_url + path, timeout=10, **kwargs)


def raw_exchange(emulator: Emulator, request: bytes, *, timeout: float = 5) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    return received


def api_key_request(emulator: Emulator) -> bytes:
    return (
        f"GET /v1/external/api-key?credential_type=train HTTP/1.1\r\nHost: 127.0.0.1:{emulator.port}\r\n"
        f"x-api-key: {SECRET}\r\nConnection: close\r\n\r\n"
    ).encode()


def wait_status(check: Any, done: tuple[str, ...], timeout: float = 20) -> tuple[dict[str, Any], list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = check()
        if not seen or seen[-1] != status["status"]:
            seen.append(status["status"])
        if status["status"] in done:
            return status, seen
        time.sleep(0.05)
    raise AssertionError(f"the job did not end: {seen}")


# --------------------------------------------------------------------------------------------
# HTTP error kinds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, "1"), (429, "1")])
def test_error_fault_fires_n_times_then_normal(emulator: Emulator, status: int, retry_after: str | None) -> None:
    fault = emulator.faults.add("/api-key", str(status), count=2)
    assert (fault.kind, fault.status, fault.remaining) == ("error", status, 2)
    for _ in range(2):
        response = get_key(emulator)
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"code", "error", "message"}
        assert body["message"] == "Injected fault"
        assert len(body["code"]) == 10 and body["code"].startswith(str(status))
        assert response.headers.get("Retry-After") == retry_after
    assert get_key(emulator).status_code == 200
    assert emulator.faults.fired("/api-key") == 2
    assert emulator.faults.fired(kind="error") == 2
    assert emulator.faults.get(fault.id).remaining == 0
    assert not emulator.faults.get(fault.id).active
    assert emulator.request_count("GET", "/api-key") == 3  # faulted calls are counted too


def test_error_fault_options_method_and_custom_retry_after(emulator: Emulator) -> None:
    key = train_key(emulator)
    emulator.faults.add("/models", "error", status=503, retry_after=7, message="Maintenance", method="POST")
    assert models(emulator, key).status_code == 200  # GET /models is not matched
    response = requests.post(emulator.base_url + "/models", json={}, headers={"x-api-key": key}, timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json()["message"] == "Maintenance"
    response = requests.post(emulator.base_url + "/models", json={}, headers={"x-api-key": key}, timeout=10)
    assert response.status_code == 400  # normal behaviour again (a real validation error)
    assert emulator.faults.fired(method="POST") == 1 and emulator.faults.fired(method="GET") == 0


def test_html_fault_is_not_json(emulator: Emulator) -> None:
    emulator.faults.add("/api-key", "html", count=2)
    for _ in range(2):
        response = get_key(emulator)
        assert response.status_code == 502
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<html>") and "502 Bad Gateway" in response.text
        with pytest.raises(ValueError):
            response.json()
    assert get_key(emulator).status_code == 200

    emulator.faults.add("/api-key", "html", status=503, retry_after=4)
    response = get_key(emulator)
    assert response.status_code == 503 and response.headers["Retry-After"] == "4"
    assert "503 Service Unavailable" in response.text


# --------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------


def test_latency_fault_delays_the_next_n_calls(emulator: Emulator) -> None:
    emulator.faults.add("/api-key", "latency", count=2, latency=0.3)
    for _ in range(2):
        started = time.monotonic()
        assert get_key(emulator).status_code == 200
        assert time.monotonic() - started >= 0.3
    assert get_key(emulator).status_code == 200
    assert emulator.faults.fired("/api-key", "latency") == 2


def test_latency_for_all_calls_stacks_with_another_fault(emulator: Emulator) -> None:
    fault = emulator.faults.add("*", "latency", count=None, latency=0.15)
    emulator.faults.add("/api-key", 503)
    started = time.monotonic()
    assert get_key(emulator).status_code == 503
    assert time.monotonic() - started >= 0.15
    for _ in range(2):
        started = time.monotonic()
        response = get_key(emulator)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.15
        started = time.monotonic()
        assert models(emulator, response.json()["api_key"]).status_code == 200
        assert time.monotonic() - started >= 0.15
    assert emulator.faults.get(fault.id).remaining is None and emulator.faults.get(fault.id).fired == 5
    emulator.faults.clear()
    assert emulator.faults.list() == [] and emulator.faults.fired() == 0


# --------------------------------------------------------------------------------------------
# Connection drops
# --------------------------------------------------------------------------------------------


def test_drop_before_response(emulator: Emulator) -> None:
    emulator.faults.add("/api-key", "drop", count=2)
    session = requests.Session()
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            session.get(
                emulator.base_url + "/api-key",
                params={"credential_type": "train"},
                headers={"x-api-key": SECRET},
                timeout=10,
            )
    assert get_key(emulator).status_code == 200
    emulator.faults.add("/api-key", "drop")
    assert raw_exchange(emulator, api_key_request(emulator)) == b""  # closed without a single byte
    assert emulator.faults.fired("/api-key", "drop") == 3


def test_drop_mid_response(emulator: Emulator) -> None:
    emulator.faults.add("/api-key", "drop-mid-response", count=2)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        get_key(emulator)
    received = raw_exchange(emulator, api_key_request(emulator))
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(headers[b"Content-Length"])
    assert 0 < len(body) < length  # headers announce the full length, part of the body came
    assert get_key(emulator).status_code == 200


def test_drop_mid_response_without_body_cuts_the_status_line(emulator: Emulator) -> None:
    urls = requests.get(
        emulator.base_url + "/data-sets/upload-url",
        params={"extension": "csv"},
        headers={"x-api-key": train_key(emulator)},
        timeout=10,
    ).json()
    emulator.faults.add("upload", "drop-mid-response", method="PUT")
    with pytest.raises(requests.ConnectionError):  # the 200 answer has no body: the status line is cut
        requests.put(urls["column_info_upload_url"], data=b"column_name,column_type\n", timeout=10)
    assert requests.put(urls["column_info_upload_url"], data=b"column_name,column_type\n", timeout=10).ok


def _column_info(emulator: Emulator, key: str, process_id: str) -> requests.Response:
    return requests.get(
        emulator.base_url + "/data-sets/column-info",
        params={"external_process_id": process_id},
        headers={"x-api-key": key},
        timeout=10,
    )


def test_drop_mid_upload_stores_nothing(emulator: Emulator) -> None:
    key = train_key(emulator)
    urls = requests.get(
        emulator.base_url + "/data-sets/upload-url", params={"extension": "csv"}, headers={"x-api-key": key}, timeout=10
    ).json()
    first = to_csv(HEADER, purchase_rows(120, seed=1))
    second = to_csv(HEADER, purchase_rows(3000, seed=2))  # ~150 kB
    assert requests.put(urls["learn_data_set_upload_url"], data=first, timeout=10).status_code == 200
    before = _column_info(emulator, key, urls["external_process_id"]).json()["raw_training_data"]

    emulator.faults.add("upload", "drop-mid-upload", count=2, method="PUT")
    with pytest.raises(requests.ConnectionError):
        requests.put(urls["learn_data_set_upload_url"], data=second, timeout=10)
    assert _column_info(emulator, key, urls["external_process_id"]).json()["raw_training_data"] == before

    # a slot never uploaded stays empty
    fresh = requests.get(
        emulator.base_url + "/data-sets/upload-url", params={"extension": "csv"}, headers={"x-api-key": key}, timeout=10
    ).json()
    with pytest.raises(requests.ConnectionError):
        requests.put(fresh["learn_data_set_upload_url"], data=second, timeout=10)
    response = _column_info(emulator, key, fresh["external_process_id"])
    assert response.status_code == 400 and "has not been uploaded" in response.json()["message"]
    assert not list(emulator.data_dir.rglob("*.part"))

    # normal behaviour resumes
    assert requests.put(urls["learn_data_set_upload_url"], data=second, timeout=10).status_code == 200
    assert _column_info(emulator, key, urls["external_process_id"]).json()["raw_training_data"] != before
    assert emulator.faults.fired("upload", "drop-mid-upload") == 2


def test_drop_mid_upload_reads_part_of_the_body_then_closes(emulator: Emulator) -> None:
    key = train_key(emulator)
    urls = requests.get(
        emulator.base_url + "/data-sets/upload-url", params={"extension": "csv"}, headers={"x-api-key": key}, timeout=10
    ).json()
    path = urls["learn_data_set_upload_url"].split(str(emulator.port), 1)[1]
    emulator.faults.add("upload", "drop-mid-upload")
    total = 200_000
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n".encode())
        sent, received = 0, b""
        try:
            while sent < total:  # the server reads about half, then goes away
                sock.sendall(b"x" * 10_000)
                sent += 10_000
            received = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert received == b""  # no answer at all
    response = _column_info(emulator, key, urls["external_process_id"])
    assert response.status_code == 400 and "has not been uploaded" in response.json()["message"]


# --------------------------------------------------------------------------------------------
# Handler faults: corrupt-upload, fail-classifier
# --------------------------------------------------------------------------------------------


def _upload_slot(emulator: Emulator) -> tuple[str, Path]:
    """A fresh training-file upload URL and the path where the emulator stores what it receives."""
    key = train_key(emulator)
    urls = requests.get(
        emulator.base_url + "/data-sets/upload-url", params={"extension": "csv"}, headers={"x-api-key": key}, timeout=10
    ).json()
    process = emulator.app.users[SECRET].processes[urls["external_process_id"]]
    return urls["learn_data_set_upload_url"], process.path("learn")


def test_corrupt_upload_stores_altered_bytes_and_answers_their_md5(emulator: Emulator) -> None:
    url, stored = _upload_slot(emulator)
    data = to_csv(HEADER, purchase_rows(3000, seed=4))  # large enough for the emulator's threaded hashing
    fault = emulator.faults.add("upload", "corrupt-upload", count=2)
    assert requests.get(url, timeout=10).status_code == 405  # another method on the route does not consume it

    answer = requests.put(url, data=data, timeout=10)
    kept = stored.read_bytes()
    assert answer.status_code == 200 and answer.content == b""
    assert len(kept) == len(data) and kept != data
    assert sum(a != b for a, b in zip(kept, data, strict=True)) == 1  # one byte altered, the size kept
    assert answer.headers["ETag"] == f'"{hashlib.md5(kept).hexdigest()}"' != f'"{hashlib.md5(data).hexdigest()}"'

    empty = requests.put(url, data=b"", timeout=10)  # nothing to alter: one byte is stored instead
    altered = b"\xff"
    assert stored.read_bytes() == altered and empty.headers["ETag"] == f'"{hashlib.md5(altered).hexdigest()}"'
    assert emulator.faults.get(fault.id).remaining == 0

    intact = requests.put(url, data=data, timeout=10)  # normal behaviour resumes
    assert stored.read_bytes() == data and intact.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert emulator.faults.fired("upload", "corrupt-upload") == 2
    assert not list(emulator.data_dir.rglob("*.part"))


def test_handler_faults_fire_only_on_their_route_even_for_star(emulator: Emulator) -> None:
    corrupt = emulator.faults.add("*", "corrupt-upload")
    fail = emulator.faults.add("*", "fail-classifier")
    assert models(emulator, train_key(emulator)).status_code == 200  # neither fires on other routes
    assert (emulator.faults.get(corrupt.id).remaining, emulator.faults.get(fail.id).remaining) == (1, 1)
    url, stored = _upload_slot(emulator)
    requests.put(url, data=b"a,b\n1,2\n", timeout=10)
    assert stored.read_bytes() != b"a,b\n1,2\n" and emulator.faults.fired(kind="corrupt-upload") == 1
    assert emulator.faults.get(fail.id).remaining == 1


def test_corrupt_upload_through_the_control_endpoint(emulator: Emulator) -> None:
    response = control(emulator, "POST", "/faults", json={"route": "upload", "kind": "corrupt-upload", "count": 1})
    assert response.status_code == 201 and response.json()["faults"][0]["kind"] == "corrupt-upload"
    url, stored = _upload_slot(emulator)
    answer = requests.put(url, data=b"x,y\n1,2\n", timeout=10)
    assert answer.headers["ETag"] == f'"{hashlib.md5(stored.read_bytes()).hexdigest()}"'
    assert stored.read_bytes() != b"x,y\n1,2\n"
    assert control(emulator, "GET", "/faults").json()["fired"][0]["kind"] == "corrupt-upload"


def test_fail_classifier_makes_the_next_builds_end_in_failed(
    p1: ManualClient, emulator: Emulator, trained_model: int
) -> None:
    key = p1.api_key("deploy")
    rules = [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}]
    emulator.faults.add("/classifiers", "fail-classifier", count=2)
    created = [p1.ok("POST", "/classifiers", key, json={"model_id": trained_model, "rules": rules}) for _ in range(2)]
    for item in created:
        failed = p1.wait_classifier(key, item["classifier_id"], "failed")
        assert failed["url"] is None and failed["active"] is True  # never built; active is the requested state
    assert emulator.faults.fired("/classifiers", "fail-classifier") == 2
    _key, healthy = p1.deploy(trained_model, key)  # the third build runs again
    assert healthy["status"] == "running"

    # a failed prediction API answers inference with its status, and can be started again
    classifier_id = created[0]["classifier_id"]
    restarted = p1.ok("PATCH", f"/classifiers/{classifier_id}", key, json={"active": True})["classifier"]
    assert restarted["status"] == "building"
    assert p1.wait_classifier(key, classifier_id, "running")["url"] is not None


def test_fail_classifier_through_the_control_endpoint(p1: ManualClient, emulator: Emulator, trained_model: int) -> None:
    response = control(emulator, "POST", "/faults", json={"route": "/classifiers", "kind": "fail-classifier"})
    assert response.status_code == 201
    key = p1.api_key("deploy")
    rules = [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}]
    created = p1.ok("POST", "/classifiers", key, json={"model_id": trained_model, "rules": rules})
    assert p1.wait_classifier(key, created["classifier_id"], "failed")["status"] == "failed"


# --------------------------------------------------------------------------------------------
# API keys
# --------------------------------------------------------------------------------------------


def test_expire_keys_fault_expires_issued_keys(emulator: Emulator) -> None:
    first = train_key(emulator)
    deploy = get_key(emulator, "deploy").json()["api_key"]
    emulator.faults.add("*", "expire-keys", count=2)
    response = models(emulator, first)
    assert response.status_code == 400 and response.json()["message"] == INACTIVE
    second = train_key(emulator)  # /api-key is never affected
    assert models(emulator, second).json()["message"] == INACTIVE  # the second (last) firing
    assert emulator.faults.fired(kind="expire-keys") == 2
    # the keys really expired: they keep failing although the fault no longer fires
    assert models(emulator, first).json()["message"] == INACTIVE
    assert models(emulator, second).json()["message"] == INACTIVE
    deploy_response = requests.get(emulator.base_url + "/classifiers", headers={"x-api-key": deploy}, timeout=10)
    assert deploy_response.json()["message"] == INACTIVE
    third = train_key(emulator)
    assert models(emulator, third).status_code == 200
    assert emulator.faults.fired(kind="expire-keys") == 2


def test_expire_keys_with_short_lived_new_keys(emulator: Emulator) -> None:
    old = train_key(emulator)
    emulator.faults.add("/models", "expire-keys", key_lifetime=0.4)
    assert models(emulator, old).json()["message"] == INACTIVE
    fresh = get_key(emulator).json()
    assert models(emulator, fresh["api_key"]).status_code == 200
    time.sleep(0.5)
    assert models(emulator, fresh["api_key"]).json()["message"] == INACTIVE
    emulator.set_key_lifetime(3600)
    assert emulator.expire_api_keys() == 0  # nothing valid left to expire
    key = train_key(emulator)
    assert emulator.expire_api_keys() == 1
    assert models(emulator, key).json()["message"] == INACTIVE


# --------------------------------------------------------------------------------------------
# Job failures
# --------------------------------------------------------------------------------------------


def _start_training(p1: ManualClient, key: str, learn: bytes, info: bytes, name: str) -> str:
    process_id = p1.upload_training_data(key, learn, info)
    return p1.start_training(key, process_id, name, BINARY_CONFIG)


def test_fail_next_job_makes_the_next_training_fail(
    p1: ManualClient, emulator: Emulator, learn_csv: bytes, info_csv: bytes
) -> None:
    emulator.fail_next_job(kind="retrain", message="not for training")
    failure = emulator.fail_next_job(kind="train", message="Disk quota exceeded.")
    assert (failure.kind, failure.job_id) == ("train", None)
    key = p1.api_key("train")
    process_id = _start_training(p1, key, learn_csv, info_csv, "doomed")
    status, seen = p1.wait_training(key, process_id)
    assert status["status"] == "failed" and status["message"] == "Disk quota exceeded."
    assert seen[0] == "queued"
    assert emulator.faults.failed_jobs() == [{"kind": "train", "job_id": process_id, "message": "Disk quota exceeded."}]

    process_id = _start_training(p1, key, learn_csv, info_csv, "fine")  # normal behaviour again
    status, _ = p1.wait_training(key, process_id)
    assert status["status"] == "finished"
    assert [f.kind for f in emulator.faults.pending_job_failures()] == ["retrain"]


def test_fail_next_job_via_control_makes_retraining_fail(
    p1: ManualClient, emulator: Emulator, trained_model: int
) -> None:
    response = control(emulator, "POST", "/fail-next-job", json={"kind": "retrain", "message": "Out of memory."})
    assert response.status_code == 201 and response.json()["job_failure"]["kind"] == "retrain"
    key = p1.api_key("retrain", model_id=trained_model)
    created = p1.ok("GET", "/retrain_jobs/upload_url", key, params={"filename": "retrain.zip"})
    data = retrain_zip(to_csv(HEADER, purchase_rows(150, seed=11)))
    assert requests.put(created["upload_url"], data=data, timeout=10).status_code == 200
    job_id = created["retrain_job_id"]
    status, _ = wait_status(lambda: p1.ok("GET", f"/retrain_jobs/{job_id}", key), ("job_finished", "job_failed"))
    assert status["status"] == "job_failed" and status["message"] == "Out of memory."
    assert "download_url" not in status
    assert control(emulator, "GET", "/faults").json()["failed_jobs"][0]["job_id"] == job_id


def test_fail_a_given_running_job_by_id(
    p1: ManualClient, emulator: Emulator, learn_csv: bytes, info_csv: bytes
) -> None:
    emulator.set_train_seconds(1.0)
    key = p1.api_key("train")
    other = p1.upload_training_data(key, learn_csv, info_csv)
    process_id = _start_training(p1, key, learn_csv, info_csv, "running")
    emulator.fail_next_job(job_id=process_id, message="Cancelled by the operator.")
    status = p1.ok("GET", "/models/results", key, params={"external_process_id": process_id})
    assert status["status"] == "failed" and status["message"] == "Cancelled by the operator."
    time.sleep(1.2)  # the job thread does not overwrite the injected failure
    status = p1.ok("GET", "/models/results", key, params={"external_process_id": process_id})
    assert status["status"] == "failed" and status["message"] == "Cancelled by the operator."
    with pytest.raises(ValueError, match="already failed"):
        emulator.fail_next_job(job_id=process_id)
    with pytest.raises(ValueError, match="unknown job id"):
        emulator.fail_next_job(job_id="no-such-job")
    # a job not started yet fails when it starts
    emulator.set_train_seconds(0.3)
    emulator.fail_next_job(job_id=other, message="Later.")
    p1.start_training(key, other, "later", BINARY_CONFIG)
    status, _ = p1.wait_training(key, other)
    assert status["message"] == "Later."


# --------------------------------------------------------------------------------------------
# Control endpoint
# --------------------------------------------------------------------------------------------


def test_control_endpoint(emulator: Emulator) -> None:
    counts = emulator.request_counts()
    response = control(emulator, "POST", "/faults", json={"route": "/api-key", "kind": "503", "retry_after": 2})
    assert response.status_code == 201
    fault = response.json()["faults"][0]
    assert (fault["kind"], fault["status"], fault["remaining"], fault["active"]) == ("error", 503, 1, True)
    response = control(
        emulator,
        "POST",
        "/faults",
        json=[{"route": "*", "kind": "drop", "count": None}, {"route": "/models", "kind": "html"}],
    )
    assert response.status_code == 201 and len(response.json()["faults"]) == 2
    # control calls are neither counted nor faulted (the "*" drop fault does not hit them)
    state = control(emulator, "GET", "/faults").json()
    assert [f["id"] for f in state["faults"]] == [1, 2, 3] and state["fired_total"] == 0
    assert emulator.request_counts() == counts
    assert control(emulator, "DELETE", f"/faults/{state['faults'][1]['id']}").status_code == 204

    response = get_key(emulator)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    state = control(emulator, "GET", "/faults").json()
    assert state["fired"] == [{"method": "GET", "route": "/api-key", "kind": "error", "fault_id": 1, "count": 1}]
    assert state["faults"][0]["active"] is False and state["fired_total"] == 1

    assert control(emulator, "DELETE", "/faults").json() == {"cleared": 2}
    assert control(emulator, "GET", "/faults").json()["faults"] == []
    key = train_key(emulator)
    assert models(emulator, key).status_code == 200

    expired = control(emulator, "POST", "/expire-keys", json={"key_lifetime": 120})
    assert expired.json() == {"expired": 1, "key_lifetime": 120.0}
    assert models(emulator, key).json()["message"] == INACTIVE
    assert control(emulator, "POST", "/expire-keys").status_code == 200  # the body is optional

    # errors
    for body in ({"route": "/nope", "kind": "drop"}, {"route": "/models", "kind": "explode"}, {"kind": "drop"}):
        response = control(emulator, "POST", "/faults", json=body)
        assert response.status_code == 400 and response.json()["message"]
    assert control(emulator, "POST", "/faults", data=b"not json").status_code == 400
    assert control(emulator, "POST", "/fail-next-job", json={"kind": "predict"}).status_code == 400
    assert control(emulator, "POST", "/fail-next-job", json={"job_id": "nope"}).status_code == 400
    response = control(emulator, "PUT", "/faults")
    assert response.status_code == 405 and response.headers["Allow"] == "DELETE, GET, POST"
    assert control(emulator, "GET", "/nothing").status_code == 404
    assert emulator.request_counts() == {**counts, ("GET", "/api-key"): 2, ("GET", "/models"): 2}


def test_control_endpoint_is_404_when_disabled(emulator_factory: Any) -> None:
    emulator = emulator_factory(enable_control=False)
    for method, path in (
        ("GET", "/faults"),
        ("POST", "/faults"),
        ("DELETE", "/faults"),
        ("POST", "/expire-keys"),
        ("POST", "/fail-next-job"),
    ):
        response = control(emulator, method, path, json={"route": "/api-key", "kind": "drop"})
        assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    assert emulator.request_count(None, "unmatched") == 5
    assert emulator.faults.list() == []
    key = train_key(emulator)
    assert models(emulator, key).status_code == 200  # nothing was expired


# --------------------------------------------------------------------------------------------
# Concurrency, logging, validation
# --------------------------------------------------------------------------------------------


def test_counts_decrement_atomically_under_concurrency(emulator: Emulator) -> None:
    emulator.faults.add("/api-key", 503, count=7)

    def call(_: int) -> int:
        return get_key(emulator).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(call, range(40)))
    assert statuses.count(503) == 7 and statuses.count(200) == 33
    assert emulator.faults.fired() == 7


def test_firing_is_logged_at_info(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    emulator.faults.add("/api-key", "html")
    with caplog.at_level(logging.INFO, logger="airflow_provider_predictionone.emulator.faults"):
        get_key(emulator)
    records = [r for r in caplog.records if r.name.endswith("emulator.faults")]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert "html" in records[0].getMessage() and "/api-key" in records[0].getMessage()


def test_registry_validation() -> None:
    registry = FaultRegistry()
    assert registry.add("/v1/external/models/results/", "latency", latency=1).route == "/models/results"
    assert registry.add("download", "html").status == 502
    assert registry.add("*", "429").retry_after == 1
    assert registry.add("/models", "error").status == 500 and registry.list()[-1].retry_after is None
    bad: list[dict[str, Any]] = [
        {"route": "/nope", "kind": "drop"},
        {"route": "/models", "kind": "nope"},
        {"route": "/models", "kind": "200"},
        {"route": "/models", "kind": "drop", "count": 0},
        {"route": "/models", "kind": "latency"},
        {"route": "/models", "kind": "latency", "latency": -1},
        {"route": "/models", "kind": "drop", "status": 500},
        {"route": "/models", "kind": "html", "message": "x"},
        {"route": "/models", "kind": "error", "retry_after": 1.5},
        {"route": "/models", "kind": "drop", "method": "FETCH"},
        {"route": "/api-key", "kind": "expire-keys"},
        {"route": "upload", "kind": "expire-keys"},
        {"route": "/models", "kind": "drop", "key_lifetime": 1},
        {"route": "/models", "kind": "corrupt-upload"},
        {"route": "upload", "kind": "corrupt-upload", "method": "POST"},
        {"route": "upload", "kind": "fail-classifier"},
        {"route": "/classifiers", "kind": "fail-classifier", "method": "GET"},
        {"route": "/classifiers", "kind": "fail-classifier", "message": "x"},
    ]
    for spec in bad:
        with pytest.raises(FaultError):
            registry.add(**spec)
    assert registry.add("upload", "corrupt-upload", count=3, method="put").method == "PUT"
    assert registry.add("*", "fail-classifier").route == "*"
    assert len(registry.list()) == 6


def test_known_routes_are_the_emulator_routes(emulator: Emulator) -> None:
    assert {route.name for route in emulator.app.router.routes} | {"unmatched"} == KNOWN_ROUTES


def test_cli_fault_spec_parser() -> None:
    assert parse_fault_spec("/models/results:503:2:5") == {
        "route": "/models/results",
        "kind": "503",
        "count": 2,
        "retry_after": "5",
    }
    assert parse_fault_spec("GET:/api-key:500") == {"method": "GET", "route": "/api-key", "kind": "500"}
    assert parse_fault_spec("*:latency:*:0.5") == {"route": "*", "kind": "latency", "count": None, "latency": "0.5"}
    assert parse_fault_spec("put:upload:drop-mid-upload") == {
        "method": "PUT",
        "route": "upload",
        "kind": "drop-mid-upload",
    }
    assert parse_fault_spec("download:drop-mid-response:3") == {
        "route": "download",
        "kind": "drop-mid-response",
        "count": 3,
    }
    assert parse_fault_spec("/classifiers:html::503") == {"route": "/classifiers", "kind": "html", "status": "503"}
    assert parse_fault_spec("/models:expire-keys:1:30") == {
        "route": "/models",
        "kind": "expire-keys",
        "count": 1,
        "key_lifetime": "30",
    }
    assert parse_fault_spec("PUT:upload:corrupt-upload:2") == {
        "method": "PUT",
        "route": "upload",
        "kind": "corrupt-upload",
        "count": 2,
    }
    assert parse_fault_spec("/classifiers:fail-classifier:*") == {
        "route": "/classifiers",
        "kind": "fail-classifier",
        "count": None,
    }
    for text in ("/models:corrupt-upload", "upload:corrupt-upload:1:5", "GET:/classifiers:fail-classifier"):
        with pytest.raises(FaultError):
            parse_fault_spec(text)
    for text in ("/models", "/models:drop:x", "/models:drop:1:2", "/models:latency", "/nope:500", "a:b:c:d:e:f"):
        with pytest.raises(FaultError):
            parse_fault_spec(text)
    assert parse_job_failure_spec("train:Disk full: really") == {"kind": "train", "message": "Disk full: really"}
    assert parse_job_failure_spec("any") == {"kind": None}
    with pytest.raises(FaultError):
        parse_job_failure_spec("predict:x")

    args = build_parser().parse_args(["--fault", "/models/results:503:2:5", "--fault", "upload:drop"])
    assert [f["kind"] for f in args.faults] == ["503", "drop"] and args.enable_control is False
    assert build_parser().parse_args(["--enable-control"]).enable_control is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fault", "/models:teleport"])


def test_cli_starts_with_a_fault() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PREDICTIONONE_EMULATOR_SECRET_KEYS"}
    environment["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_predictionone.emulator",
            "--port",
            "0",
            "--fault",
            "GET:/api-key:503:1:9",
            "--fail-next-job",
            "train:Boom",
            "--fault",
            "upload:corrupt-upload",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Prediction One emulator listening on "), line
        url = line.rsplit(" ", 1)[1].strip()
        first = requests.get(
            url + "/v1/external/api-key", params={"credential_type": "train"}, headers={"x-api-key": SECRET}, timeout=5
        )
        assert first.status_code == 503 and first.headers["Retry-After"] == "9"
        second = requests.get(
            url + "/v1/external/api-key", params={"credential_type": "train"}, headers={"x-api-key": SECRET}, timeout=5
        )
        assert second.status_code == 200
        assert requests.get(url + "/_emulator/faults", timeout=5).status_code == 404  # control is off by default
        key = second.json()["api_key"]
        slots = requests.get(
            url + "/v1/external/data-sets/upload-url",
            params={"extension": "csv"},
            headers={"x-api-key": key},
            timeout=5,
        ).json()
        sent = b"a,b\n1,2\n"
        etags = [requests.put(slots["learn_data_set_upload_url"], data=sent, timeout=5).headers["ETag"] for _ in "12"]
        assert etags[0] != etags[1] == f'"{hashlib.md5(sent).hexdigest()}"'  # the first upload was corrupted
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "fault injected: error on GET /api-key" in err
    assert "2 fault(s), 1 job failure(s)" in err
    assert "fault injected: corrupt-upload on PUT upload" in err
