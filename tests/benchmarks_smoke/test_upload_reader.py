"""The upload body reader: reused buffers, an in-order MD5 computed alongside, nothing more read
than handed out (what ``benchmarks/upload.py`` measures)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest

from airflow_provider_predictionone.api import files


def drain(reader: Any) -> tuple[bytes, int]:
    parts, views = [], 0
    while chunk := reader.read():
        views += isinstance(chunk, memoryview)
        parts.append(bytes(chunk))  # the consumer sends a chunk before asking for the next
    return b"".join(parts), views


@pytest.mark.parametrize("size", [0, 1, 1000, 64 * 1024 + 7, 1024 * 1024 + 3])
@pytest.mark.parametrize("chunk", [4096, 65536])
def test_reader_hands_out_the_whole_file_and_its_md5(size: int, chunk: int) -> None:
    payload = os.urandom(size)
    reader = files._ProgressReader(io.BytesIO(payload), size, "test", chunk, 3600.0)
    assert len(reader) == size
    data, views = drain(reader)
    assert data == payload and reader.sent == size and len(reader) == 0
    assert reader.md5.hexdigest() == hashlib.md5(payload).hexdigest()
    assert views == (size + chunk - 1) // chunk  # chunks are views of reused buffers, not copies


def test_reader_without_readinto_falls_back_to_read() -> None:
    class ReadOnly:
        def __init__(self, payload: bytes) -> None:
            self._stream = io.BytesIO(payload)

        def read(self, size: int = -1) -> bytes:
            return self._stream.read(size)

    payload = os.urandom(200_000)
    reader = files._ProgressReader(ReadOnly(payload), len(payload), "test", 65536, 3600.0)  # type: ignore[arg-type]
    data, views = drain(reader)
    assert data == payload and views == 0
    assert reader.md5.hexdigest() == hashlib.md5(payload).hexdigest()


def test_caller_file_object_is_read_with_readinto() -> None:
    payload = os.urandom(300_000)
    stream = io.BytesIO(payload)
    source = files.UploadSource.of(stream, param="training_file")
    with source.open() as opened:
        buffer = bytearray(100_000)
        assert opened.readinto(buffer) == 100_000 and bytes(buffer) == payload[:100_000]
    assert not stream.closed
