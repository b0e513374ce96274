"""The upload body: reused buffers, an in-order MD5 computed alongside, nothing more read than
handed out (what ``benchmarks/upload.py`` measures). The body is drained by a transport that stands
in for ``requests``, the way it reads it: a chunk is sent before the next one is asked for."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest

from airflow_provider_predictionone.api import transfer
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.sources import UploadSource
from airflow_provider_predictionone.api.transport import HttpRequest, HttpResponse

URL = "https://upload.example.com/bucket/key?signature=s"


class DrainingTransport:
    """Reads each upload body to the end and answers 200 with an S3-style MD5 ETag of what it read."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.announced: list[int] = []  # the Content-Length requests would send
        self.left_unread: list[int] = []
        self.views = 0

    def send(self, request: HttpRequest, **_: Any) -> HttpResponse:
        reader = request.body
        self.announced.append(len(reader))
        parts = []
        while chunk := reader.read(8192):
            self.views += isinstance(chunk, memoryview)
            parts.append(bytes(chunk))  # the consumer sends a chunk before asking for the next
        self.left_unread.append(len(reader))
        body = b"".join(parts)
        self.bodies.append(body)
        return HttpResponse(200, {"etag": f'"{hashlib.md5(body).hexdigest()}"'})


def upload(source: UploadSource, chunk: int) -> tuple[transfer.UploadReceipt, DrainingTransport]:
    transport = DrainingTransport()
    receipt = transfer.upload(
        transport,  # type: ignore[arg-type]
        RetryPolicy(max_retries=0),
        URL,
        source,
        label="test file",
        chunk_size=chunk,
        progress_interval=3600.0,
    )
    return receipt, transport


@pytest.mark.parametrize("size", [0, 1, 1000, 64 * 1024 + 7, 1024 * 1024 + 3])
@pytest.mark.parametrize("chunk", [4096, 65536])
def test_the_whole_file_is_handed_out_with_its_md5(size: int, chunk: int) -> None:
    payload = os.urandom(size)
    receipt, transport = upload(UploadSource.of(io.BytesIO(payload), param="training_file"), chunk)
    assert transport.bodies == [payload] and transport.announced == [size] and transport.left_unread == [0]
    assert (receipt.size, receipt.md5) == (size, hashlib.md5(payload).hexdigest()) and receipt.verified
    assert transport.views == (size + chunk - 1) // chunk  # chunks are views of reused buffers, not copies


class ReadOnlyStream:
    """A stream with ``read`` only (no ``readinto``), as some storage drivers open files."""

    def __init__(self, payload: bytes) -> None:
        self._stream = io.BytesIO(payload)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def __enter__(self) -> ReadOnlyStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


class StoragePath:
    """A storage path (duck-typed like ``ObjectStoragePath``) whose files open without ``readinto``."""

    name = "data.csv"

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def open(self, mode: str = "rb") -> ReadOnlyStream:
        assert mode == "rb"
        return ReadOnlyStream(self.payload)

    def exists(self) -> bool:
        return True

    def is_file(self) -> bool:
        return True

    def size(self) -> int:
        return len(self.payload)


def test_a_stream_without_readinto_is_read_chunk_by_chunk() -> None:
    payload = os.urandom(200_000)
    receipt, transport = upload(UploadSource.of(StoragePath(payload), param="training_file"), 65536)
    assert transport.bodies == [payload] and transport.views == 0
    assert receipt.md5 == hashlib.md5(payload).hexdigest() and receipt.verified


def test_caller_file_object_is_read_with_readinto() -> None:
    payload = os.urandom(300_000)
    stream = io.BytesIO(payload)
    source = UploadSource.of(stream, param="training_file")
    with source.open() as opened:
        buffer = bytearray(100_000)
        assert opened.readinto(buffer) == 100_000 and bytes(buffer) == payload[:100_000]
    assert not stream.closed
