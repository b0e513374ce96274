"""Files against the emulator over real HTTP: what the service receives (the column-info file the
hook uploads, the retrain archive), the client's upload progress and memory, retrain-key caching
per model and the connect timeout."""

from __future__ import annotations

import csv
import io
import logging
import re
import socket
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api import transfer
from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import JobState
from airflow_provider_predictionone.api.datafiles import (
    build_column_info,
    build_retrain_zip,
    parse_column_info,
    read_csv_header,
)
from airflow_provider_predictionone.api.errors import (
    PredictionOneConfigError,
    PredictionOneTransportError,
    RetrainJobNotFoundError,
)
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.sources import UploadSource
from tests.clients import emulator_hook, sync_client

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
TRAIN = DATA / "customers_train.csv"
EVAL = DATA / "customers_eval.csv"
COLUMN_INFO = DATA / "column_info.csv"
CONFIG = {"tc": "プレミアム購入", "tt": "binary_classification", "tv": "はい"}
MiB = 1024 * 1024


@pytest.fixture
def client(emulator: Any, secret_key: str) -> Iterator[PredictionOneClient]:
    with sync_client(secret_key, host=emulator.url, retry=RetryPolicy(max_retries=2, backoff_seconds=0.01)) as client:
        yield client


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str) -> Any:
    """The hook on the same emulator: it checks the data files and uploads them."""
    return emulator_hook(monkeypatch, emulator, secret_key)


def header_of(path: Path) -> list[str]:
    return read_csv_header(UploadSource.of(path, param="training_file"), param="training_file")


def stored_column_info(emulator: Any, external_process_id: str) -> bytes:
    """The column-info file the emulator received for a train upload."""
    found = list(emulator.data_dir.glob(f"users/*/processes/{external_process_id}/column_info.csv"))
    assert len(found) == 1, found
    return found[0].read_bytes()


# -- the column-info file ------------------------------------------------------------------------


def test_column_info_file_is_uploaded_canonical(
    client: PredictionOneClient, hook: Any, emulator: Any, tmp_path: Path
) -> None:
    """A column-info file saved without BOM, with its rows out of order and its types in upper case
    with spaces, is uploaded as spec 4.2.2 / 7.12 want it: UTF-8 with BOM, the header, one row per
    column in the training file's order."""
    header = header_of(TRAIN)
    types = dict(parse_column_info(COLUMN_INFO.read_bytes()))
    assert list(types) == header  # the example file is canonical: this test reorders it
    sloppy = tmp_path / "my_column_info.csv"
    rows = [f"{name}, {kind.upper()} " for name, kind in reversed(types.items())]
    sloppy.write_bytes(("column_name,column_type\n" + "\n".join(rows) + "\n").encode("utf-8"))  # no BOM

    upload_id = hook.upload_training_data(TRAIN, sloppy, check_data=False)

    received = stored_column_info(emulator, upload_id)
    assert received == build_column_info({name: types[name] for name in header})
    assert received.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(received.decode("utf-8-sig"))))
    assert tuple(table[0]) == c.COLUMN_INFO_HEADER and [row[0] for row in table[1:]] == header
    assert client.data_set_info(upload_id).row_count == 2000  # the service can read it


def test_column_info_file_must_still_cover_the_data(hook: Any, emulator: Any, tmp_path: Path) -> None:
    partial = tmp_path / "partial.csv"
    lines = COLUMN_INFO.read_bytes().decode("utf-8-sig").splitlines()
    partial.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    emulator.reset_request_counts()
    with pytest.raises(PredictionOneConfigError, match="no type for column"):
        hook.upload_training_data(TRAIN, partial)
    assert emulator.request_counts() == {}  # refused before any request


# -- the retrain archive ---------------------------------------------------------------------------


def test_retrain_zip_layout(tmp_path: Path) -> None:
    """Spec 4.15 / 7.14: ``train_src/<csv>`` and ``eval_src/<csv>`` at the archive root, deflated."""
    training = UploadSource.of(TRAIN, param="training_file")
    evaluation = UploadSource.of(EVAL, param="evaluation_file")
    archive = build_retrain_zip(training, evaluation, tmp_path / "retrain.zip")
    assert archive.name == "retrain.zip" and archive.size == (tmp_path / "retrain.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "retrain.zip") as opened:
        entries = opened.infolist()
        assert [entry.filename for entry in entries] == [
            f"{c.RETRAIN_ZIP_TRAIN_DIR}/{TRAIN.name}",
            f"{c.RETRAIN_ZIP_EVAL_DIR}/{EVAL.name}",
        ]
        assert [entry.filename for entry in entries] == ["train_src/customers_train.csv", "eval_src/customers_eval.csv"]
        assert all(entry.compress_type == zipfile.ZIP_DEFLATED for entry in entries)
        assert opened.read(entries[0]) == TRAIN.read_bytes() and opened.read(entries[1]) == EVAL.read_bytes()
        assert opened.testzip() is None


# -- uploads: progress and memory ---------------------------------------------------------------


PROGRESS = re.compile(r"Uploading training file: [\d.]+ (?:B|KiB|MiB) of [\d.]+ (?:KiB|MiB) \((\d+)%\), [\d.]+ MB/s")


def test_upload_progress_is_logged_with_bytes_percent_and_rate(
    client: PredictionOneClient, caplog: pytest.LogCaptureFixture
) -> None:
    url = client.train_upload_urls().learn_data_set_upload_url
    source = UploadSource.of(TRAIN, param="training_file")
    with caplog.at_level(logging.INFO, logger=transfer.__name__):
        client.upload(url, source, label="training file", chunk_size=64 * 1024, progress_interval=0)
    lines = [record.getMessage() for record in caplog.records if record.name == transfer.__name__]
    progress = [PROGRESS.fullmatch(line) for line in lines if line.startswith("Uploading training file")]
    assert len(progress) >= 2 and all(progress), lines
    percents = [int(match.group(1)) for match in progress if match]
    assert percents == sorted(percents) and percents[-1] == 100
    assert any(re.fullmatch(r"Uploaded training file \([\d.]+ KiB\) in [\d.]+s, [\d.]+ MB/s.*", line) for line in lines)


def write_file(path: Path, size: int) -> Path:
    block = (b"0123456789abcdef" * 4096)[: MiB // 4]
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)
    assert path.stat().st_size == size
    return path


def upload_peak(client: PredictionOneClient, path: Path) -> int:
    """Peak traced memory (bytes) while the client uploads ``path`` to a train upload URL."""
    url = client.train_upload_urls().learn_data_set_upload_url
    source = UploadSource.of(path, param="training_file")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        client.upload(url, source, label="training file")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_upload_memory_does_not_grow_with_the_file_size(client: PredictionOneClient, tmp_path: Path) -> None:
    """Uploads stream in chunks (default 1 MiB, two buffers): the peak does not depend on the size.
    The emulator runs in this process, so its receiving buffers are counted too."""
    small = upload_peak(client, write_file(tmp_path / "small.bin", 8 * MiB))
    large = upload_peak(client, write_file(tmp_path / "large.bin", 64 * MiB))
    bound = 16 * MiB  # measured: about 6 MiB for both; a client that held the file would pass 64 MiB
    assert small < bound and large < bound, (small, large)
    assert large - small < 2 * MiB, (small, large)  # eight times the data, the same peak


# -- retrain keys are cached per model -----------------------------------------------------------


def train_model(client: PredictionOneClient, hook: Any, name: str) -> int:
    upload_id = hook.upload_training_data(TRAIN, COLUMN_INFO, check_data=False)
    job = client.create_model(upload_id, name, CONFIG)
    deadline = time.monotonic() + 30
    while not (status := client.train_status(job)).state.is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status.state is JobState.SUCCEEDED, status
    model = client.find_model_by_name(name)
    assert model is not None
    return model.model_id


def test_retrain_key_is_cached_per_model(
    client: PredictionOneClient, hook: Any, emulator: Any, secret_key: str
) -> None:
    models = [train_model(client, hook, "key-cache-a"), train_model(client, hook, "key-cache-b")]
    emulator.reset_request_counts()
    with sync_client(secret_key, host=emulator.url, retry=RetryPolicy(max_retries=0)) as fresh:
        for model_id in models:
            for _ in range(2):
                with pytest.raises(RetrainJobNotFoundError):  # the key was accepted; the job does not exist
                    fresh.retrain_status(model_id, "no-such-job")
        assert fresh.key_requests == 2
    assert emulator.request_count("GET", "/api-key") == 2  # one retrain key per model, each used twice
    assert emulator.request_count("GET", c.PATH_RETRAIN_JOB) == 4


# -- the connect timeout -------------------------------------------------------------------------


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A loopback port whose listen queue is full: new connections are neither accepted nor
    refused (Linux drops their SYN), so connecting can only end by the client's connect timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, server]:
            sock.close()


def test_connect_timeout_is_honoured(full_backlog: int) -> None:
    with sync_client(
        "secret", host=f"http://127.0.0.1:{full_backlog}", connect_timeout=0.2, retry=RetryPolicy(max_retries=0)
    ) as client:
        with pytest.raises(PredictionOneTransportError) as info:
            client.list_models()
    text = str(info.value)
    assert "ConnectTimeout" in text and "connect timeout=0.2" in text
    assert "Gave up after 1 attempts" in text
