"""The upload handler's body copy: the stored bytes and their MD5 (the ``ETag``) are the same
whether the body is hashed in the request's thread (small bodies) or on the helper thread
(large ones), with Content-Length or chunked framing; a short body fails and stops the helper."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
from email.message import Message

import pytest
import requests
from emulator_testkit import ManualClient

from airflow_provider_predictionone.emulator import Emulator
from airflow_provider_predictionone.emulator.web import BodyError, RequestBody

PIECE = 4096  # small pieces: the helper thread is used from 4 pieces up


def body(raw: bytes, **headers: str) -> RequestBody:
    message = Message()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return RequestBody(io.BufferedReader(io.BytesIO(raw), 8192), message)  # type: ignore[arg-type]


def chunked(payload: bytes, piece: int) -> bytes:
    framed = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(payload[i : i + piece]), payload[i : i + piece])
        for i in range(0, len(payload), piece)
    )
    return framed + b"0\r\nX-Trailer: yes\r\n\r\n"


def md5_helpers_alive() -> int:
    return sum(t.name == "emulator-upload-md5" for t in threading.enumerate())


@pytest.mark.parametrize("size", [0, 1, PIECE - 1, 3 * PIECE + 5, 4 * PIECE, 37 * PIECE + 123])
def test_copy_stores_every_byte_in_order_and_hashes_it(size: int) -> None:
    payload = os.urandom(size)
    request_body = body(payload + b"next request", Content_Length=str(size))
    out, digest = io.BytesIO(), hashlib.md5()
    assert request_body.copy_to(out, digest, PIECE) == size
    assert out.getvalue() == payload and digest.hexdigest() == hashlib.md5(payload).hexdigest()
    assert request_body.consumed and md5_helpers_alive() == 0


@pytest.mark.parametrize("piece", [1000, 3 * PIECE])
def test_copy_of_a_chunked_body(piece: int) -> None:
    payload = os.urandom(50 * PIECE + 7)
    request_body = body(chunked(payload, piece), Transfer_Encoding="chunked")
    out, digest = io.BytesIO(), hashlib.md5()
    assert request_body.copy_to(out, digest, PIECE) == len(payload)
    assert out.getvalue() == payload and digest.hexdigest() == hashlib.md5(payload).hexdigest()
    assert request_body.consumed


@pytest.mark.parametrize("sent", [2 * PIECE, 20 * PIECE + 3])
def test_a_short_body_fails_and_stops_the_helper(sent: int) -> None:
    request_body = body(os.urandom(sent), Content_Length=str(40 * PIECE))
    with pytest.raises(BodyError, match="ended early"):
        request_body.copy_to(io.BytesIO(), hashlib.md5(), PIECE)
    assert md5_helpers_alive() == 0


def test_a_failing_write_stops_the_helper() -> None:
    class Full(io.RawIOBase):
        writes = 0

        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            Full.writes += 1
            if Full.writes == 6:
                raise OSError(28, "No space left on device")
            return len(data)  # type: ignore[arg-type]

    with pytest.raises(OSError, match="No space"):
        body(os.urandom(40 * PIECE), Content_Length=str(40 * PIECE)).copy_to(Full(), hashlib.md5(), PIECE)
    assert md5_helpers_alive() == 0


def test_a_large_upload_is_stored_and_its_etag_is_its_md5(p1: ManualClient, emulator: Emulator) -> None:
    payload = os.urandom(9 * 1024 * 1024 + 12345)  # several 1 MiB pieces: the helper thread hashes them
    urls = p1.ok("GET", "/data-sets/upload-url", p1.api_key("train"), params={"extension": "csv"})
    response = requests.put(urls["learn_data_set_upload_url"], data=io.BytesIO(payload), timeout=30)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    (stored,) = emulator.data_dir.glob(f"users/*/processes/{urls['external_process_id']}/learn.csv")
    assert stored.read_bytes() == payload
    assert not list(emulator.data_dir.rglob("*.part"))


def test_an_upload_cut_short_stores_nothing(p1: ManualClient, emulator: Emulator) -> None:
    urls = p1.ok("GET", "/data-sets/upload-url", p1.api_key("train"), params={"extension": "csv"})
    path = "/" + urls["learn_data_set_upload_url"].split("/", 3)[3]
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {8 << 20}\r\n\r\n".encode())
        sock.sendall(os.urandom(5 << 20))
        sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")
    assert not list(emulator.data_dir.glob(f"users/*/processes/{urls['external_process_id']}/learn.csv"))
    assert not list(emulator.data_dir.rglob("*.part"))
