"""How file arguments are resolved, and how the API layer reads and writes storage paths
(no Prediction One service needed: uploads and downloads go to a scripted server on loopback)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.datafiles import HEADER_READ_LIMIT, column_info_source, read_csv_header
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.sources import UploadSource, is_storage_path
from airflow_provider_predictionone.storage import resolve_path
from tests.api.scripted_server import Reply, scripted_server
from tests.clients import sync_client
from tests.storage.conftest import DATA, put, storage_path


def test_local_paths_stay_local_and_urls_become_object_storage_paths(tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    assert resolve_path(str(tmp_path / "a.csv"), param="input_file") == str(tmp_path / "a.csv")
    assert resolve_path(tmp_path / "a.csv", param="input_file") == str(tmp_path / "a.csv")
    assert resolve_path(None, param="input_file") is None and resolve_path("  ", param="input_file") is None
    for url in ("memory://bucket/a.csv", f"file://{tmp_path}/a.csv"):
        path = resolve_path(url, param="input_file")
        # universal-pathlib < 0.3 (Airflow 2.11, 3.0) writes memory://bucket as memory:///bucket
        assert isinstance(path, ObjectStoragePath) and str(path) in (url, url.replace("memory://", "memory:///"))
    given = ObjectStoragePath(f"file://{tmp_path}/b.csv")
    assert resolve_path(given, param="input_file") is given  # passed through (keeps its conn_id)
    assert is_storage_path(given) and not is_storage_path(tmp_path) and not is_storage_path("x")


def test_a_scheme_without_a_filesystem_names_the_parameter_and_value() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"training_file='nosuch://b/k\.csv': no filesystem for nosuch"):
        resolve_path("nosuch://b/k.csv", param="training_file")


def test_a_missing_or_folder_object_is_refused_with_its_parameter(memory_root: str) -> None:
    with pytest.raises(PredictionOneConfigError, match=rf"input_file='{memory_root}/nope.csv' does not exist"):
        UploadSource.of(storage_path(f"{memory_root}/nope.csv"), param="input_file")
    put(f"{memory_root}/folder/x.csv", b"a,b\n")
    with pytest.raises(PredictionOneConfigError, match="is not a file"):
        UploadSource.of(storage_path(f"{memory_root}/folder"), param="input_file")


def test_upload_source_of_a_storage_path_is_reopened_for_each_read(memory_root: str, tmp_path: Path) -> None:
    payload = (DATA / "customers_train.csv").read_bytes()
    for url in (f"{memory_root}/train.csv", f"file://{tmp_path}/train.csv"):
        source = UploadSource.of(put(url, payload), param="training_file")
        assert source.name == "train.csv" and source.size == len(payload) and source.path is None
        for _ in range(2):  # a retried upload starts from the beginning again
            with source.open() as stream:
                assert stream.read() == payload
        assert read_csv_header(source, param="training_file")[0] == "顧客ID"


class _SpyStream:
    def __init__(self, inner: Any, reads: list[int]) -> None:
        self._inner, self._reads = inner, reads

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._reads.append(size if size is not None and size >= 0 else -1)
        return data

    def readinto(self, buffer: Any) -> int:  # what the uploader reads with (reused buffers)
        count = self._inner.readinto(buffer)
        self._reads.append(len(buffer))
        return int(count or 0)

    def read1(self, size: int = -1) -> bytes:  # what io.TextIOWrapper reads with
        reader = getattr(self._inner, "read1", self._inner.read)
        data = reader(size)
        self._reads.append(size if size is not None and size >= 0 else -1)
        return data

    def __enter__(self) -> _SpyStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ChunkSpy:
    """A storage path (duck-typed) that records the size of every read of its streams."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reads = inner, []
        self.name = inner.name

    def open(self, mode: str = "rb") -> _SpyStream:
        return _SpyStream(self.inner.open(mode), self.reads)

    def exists(self) -> bool:
        return bool(self.inner.exists())

    def is_file(self) -> bool:
        return bool(self.inner.is_file())

    def stat(self) -> Any:
        return self.inner.stat()

    def __str__(self) -> str:
        return str(self.inner)


def test_uploads_stream_a_storage_file_in_chunks(memory_root: str) -> None:
    size = 6 * 1024 * 1024  # more than the 4 MiB the header check reads at most
    line = b"1,2,3\n"
    put(f"{memory_root}/big.csv", b"a,b,c\n" + line * ((size - 6) // len(line)))
    spy = ChunkSpy(storage_path(f"{memory_root}/big.csv"))
    source = UploadSource.of(spy, param="training_file")
    assert read_csv_header(source, param="training_file") == ["a", "b", "c"]
    assert spy.reads and max(spy.reads) <= HEADER_READ_LIMIT and -1 not in spy.reads
    spy.reads.clear()
    with scripted_server([Reply(200, b"")]) as server, sync_client("secret", host=server.url) as client:
        receipt = client.upload(server.url + "/upload/x", source, label="training file", chunk_size=65536)
        assert len(server.seen[-1].body) == source.size == receipt.size
    assert len(spy.reads) > source.size // 65536 and max(spy.reads) == 65536 and -1 not in spy.reads


def test_downloads_stream_to_a_storage_path(memory_root: str, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metrics.csv", "metric,value\naccuracy,0.9\n")
    payload = buffer.getvalue()

    reply = Reply(200, payload, {"Content-Type": "application/zip"})
    with scripted_server([reply]) as server, sync_client("secret", host=server.url, retry=RetryPolicy()) as client:
        for url in (f"{memory_root}/results/r.zip", f"file://{tmp_path}/new-folder/r.zip"):
            target = storage_path(url)
            written = client.download(server.url + "/result.zip", label="result", destination=target)
            assert written is target and target.read_bytes() == payload


def test_column_info_from_memory_is_checked_against_the_data(memory_root: str) -> None:
    good = put(f"{memory_root}/column_info.csv", DATA / "column_info.csv")
    header = read_csv_header(UploadSource.of(DATA / "customers_train.csv", param="t"), param="t")
    _source, columns = column_info_source(good, header)
    assert list(columns) == header
    bad = put(f"{memory_root}/bad_info.csv", "column_name,column_type\n顧客ID,string\n".encode("utf-8-sig"))
    with pytest.raises(PredictionOneConfigError, match="column_info does not match the data"):
        column_info_source(bad, header)
