"""HTTP behaviour: routing errors, keep-alive, streaming uploads, concurrency, counters."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_testkit import HEADER, ManualClient, outputs, purchase_rows

from airflow_provider_predictionone.emulator import Emulator


def test_unknown_route_and_wrong_method(p1: ManualClient, emulator: Emulator) -> None:
    response = requests.get(emulator.url + "/v1/external/nothing-here")
    assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    response = requests.get(emulator.url + "/")
    assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    response = requests.post(emulator.base_url + "/api-key")
    assert response.status_code == 405 and response.json() == {"message": "Method Not Allowed"}
    assert response.headers["Allow"] == "GET"
    response = requests.get(emulator.url + "/uploads/whatever")
    assert response.status_code == 405
    response = requests.put(emulator.url + "/uploads/not-a-token", data=b"x" * 1000)
    assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    assert requests.get(emulator.url + "/downloads/not-a-token").status_code == 404
    assert emulator.request_count("GET", "unmatched") == 2
    assert emulator.request_count("POST", "/api-key") == 1


def test_keep_alive_connection_is_reused(emulator: Emulator, secret_key: str) -> None:
    host, port = emulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/v1/external/api-key?credential_type=train", headers={"x-api-key": secret_key})
    first = connection.getresponse()
    key = json.loads(first.read())["api_key"]
    local = connection.sock.getsockname()
    for _ in range(5):
        connection.request("GET", "/v1/external/models", headers={"x-api-key": key})
        response = connection.getresponse()
        assert response.status == 200
        json.loads(response.read())
        assert connection.sock.getsockname() == local  # same TCP connection
    # an error answer keeps the connection usable, even with an unread request body
    connection.request("PUT", "/uploads/unknown", body=b"z" * 100_000)
    response = connection.getresponse()
    assert response.status == 404
    response.read()
    connection.request("DELETE", "/v1/external/models/42", headers={"x-api-key": key})
    response = connection.getresponse()
    assert response.status == 400 and json.loads(response.read())["message"] == "This model may be deleted."
    assert connection.sock.getsockname() == local
    connection.close()


def _upload_slot(p1: ManualClient) -> tuple[str, str]:
    key = p1.api_key("train")
    urls = p1.ok("GET", "/data-sets/upload-url", key, params={"extension": "csv"})
    return urls["eval_data_set_upload_url"], urls["external_process_id"]


def _stored(emulator: Emulator, process_id: str, name: str) -> Path:
    (path,) = emulator.data_dir.glob(f"users/*/processes/{process_id}/{name}")
    return path


def _blocks(count: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    for i in range(count):
        yield bytes([i % 251]) * size


def test_streaming_uploads_use_bounded_memory(p1: ManualClient, emulator: Emulator, tmp_path: Path) -> None:
    size_mib = 24
    expected = hashlib.sha256(b"".join(_blocks(size_mib))).hexdigest()
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        for block in _blocks(size_mib):
            handle.write(block)

    tracemalloc.start()
    try:
        # chunked transfer encoding (a generator body)
        url, process_id = _upload_slot(p1)
        tracemalloc.reset_peak()
        response = requests.put(url, data=_blocks(size_mib))
        assert response.status_code == 200 and response.content == b""
        _current, peak_chunked = tracemalloc.get_traced_memory()
        stored = _stored(emulator, process_id, "eval.csv")
        assert stored.stat().st_size == size_mib * 1024 * 1024
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == expected

        # Content-Length (a file body)
        url, process_id = _upload_slot(p1)
        tracemalloc.reset_peak()
        with big.open("rb") as handle:
            response = requests.put(url, data=handle)
        assert response.status_code == 200
        _current, peak_length = tracemalloc.get_traced_memory()
        assert hashlib.sha256(_stored(emulator, process_id, "eval.csv").read_bytes()).hexdigest() == expected
    finally:
        tracemalloc.stop()
    assert peak_chunked < 8 * 1024 * 1024, peak_chunked
    assert peak_length < 8 * 1024 * 1024, peak_length


def test_raw_chunked_upload_with_extensions_and_trailers(p1: ManualClient, emulator: Emulator) -> None:
    url, process_id = _upload_slot(p1)
    path = "/" + url.split("/", 3)[3]
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200")
    assert _stored(emulator, process_id, "eval.csv").read_bytes() == b"hello world"


def test_parallel_requests(p1: ManualClient, emulator: Emulator, learn_csv: bytes, info_csv: bytes) -> None:
    key = p1.api_key("train")

    def one_upload(i: int) -> tuple[str, int]:
        session = requests.Session()
        headers = {"x-api-key": key}
        urls = session.get(
            emulator.base_url + "/data-sets/upload-url", params={"extension": "csv"}, headers=headers
        ).json()
        assert session.put(urls["learn_data_set_upload_url"], data=learn_csv + os.urandom(0)).status_code == 200
        assert session.put(urls["column_info_upload_url"], data=info_csv).status_code == 200
        assert session.put(urls["eval_data_set_upload_url"], data=b"x" * (512 * 1024 + i)).status_code == 200
        info = session.get(
            emulator.base_url + "/data-sets/column-info",
            params={"external_process_id": urls["external_process_id"]},
            headers=headers,
        ).json()
        return urls["external_process_id"], info["trainingdata_row_count"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one_upload, range(16)))
    assert len({process_id for process_id, _ in results}) == 16
    assert all(rows == 300 for _, rows in results)
    assert emulator.request_count("PUT", "upload") == 48
    assert emulator.request_count("GET", "/data-sets/upload-url") == 16
    assert emulator.request_count(None, "/data-sets/column-info") == 16


def test_parallel_inference_and_training(
    p1: ManualClient, emulator: Emulator, deployed: tuple[str, dict[str, Any]], learn_csv: bytes, info_csv: bytes
) -> None:
    _key, classifier = deployed
    rows = purchase_rows(40, seed=5)
    errors: list[BaseException] = []

    def train_in_background() -> None:
        try:
            p1_local = ManualClient(emulator, p1.secret_key)
            p1_local.train("parallel", learn_csv, info_csv, {"tc": "購入", "tt": "binary_classification", "tv": "はい"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    trainer = threading.Thread(target=train_in_background)
    trainer.start()

    def predict(row: list[Any]) -> str:
        local = ManualClient(emulator, p1.secret_key)
        return outputs(local.infer(classifier["url"], classifier["api_key"], HEADER, row))["prediction_valid.csv"][0][
            "prediction"
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        predictions = list(pool.map(predict, rows))
    trainer.join(30)
    assert not errors
    assert set(predictions) <= {"はい", "いいえ"}
    assert emulator.request_count("POST", "inference") == 40


def test_urls_follow_the_host_header(emulator: Emulator, secret_key: str) -> None:
    localhost_url = emulator.url.replace("127.0.0.1", "localhost")
    key = requests.get(
        localhost_url + "/v1/external/api-key", params={"credential_type": "train"}, headers={"x-api-key": secret_key}
    ).json()["api_key"]
    urls = requests.get(
        localhost_url + "/v1/external/data-sets/upload-url", params={"extension": "csv"}, headers={"x-api-key": key}
    ).json()
    assert urls["learn_data_set_upload_url"].startswith(localhost_url + "/uploads/")


def test_request_counts_by_route(p1: ManualClient, emulator: Emulator) -> None:
    emulator.reset_request_counts()
    key = p1.api_key("deploy")
    p1.call("GET", "/classifiers", key)
    p1.call("GET", "/classifiers/abc", key)
    p1.call("DELETE", "/classifiers/abc", key)
    assert emulator.request_count("GET", "/api-key") == 1
    assert emulator.request_count("get", "/classifiers") == 1
    assert emulator.request_count("GET", "/classifiers/{classifier_id}") == 1
    assert emulator.request_count(None, "/classifiers/{classifier_id}") == 2
    assert emulator.request_counts()[("DELETE", "/classifiers/{classifier_id}")] == 1


def test_stop_is_quick_and_closes_keep_alive_connections(emulator_factory: Any) -> None:
    emulator = emulator_factory()
    url = emulator.url
    data_dir = emulator.data_dir
    session = requests.Session()
    assert session.get(url + "/nothing").status_code == 404  # leaves an idle keep-alive connection
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 30  # idle keep-alive connections do not hold the shutdown
    assert not data_dir.exists()  # the temporary data dir is removed
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/nothing", timeout=2)
