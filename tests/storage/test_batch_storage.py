"""Batch prediction from and to object storage (``memory://``, ``file://``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.batch import BatchPredictor
from airflow_provider_predictionone.api.errors import InferenceInvalidApiKeyError, PredictionOneConfigError
from tests.api.test_batch import FAKE_URL, FakeClient, csv_text, prediction
from tests.storage.conftest import put, storage_path
from tests.storage.test_paths import ChunkSpy


def ids_csv(count: int) -> bytes:
    return csv_text([["id", "x"], *[[str(i), f"v{i}"] for i in range(1, count + 1)]]).encode("utf-8")


def rows_of(path: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_batch_predict_from_and_to_memory_keeps_rows_in_order(memory_root: str) -> None:
    source = put(f"{memory_root}/in/score.csv", ids_csv(500))
    output = storage_path(f"{memory_root}/out/predictions.csv")
    result = BatchPredictor(FakeClient(), FAKE_URL, "key", source, output, concurrency=8).run()
    assert result.rows_total == result.rows_predicted == 500
    table = rows_of(output)
    assert table[0] == ["input_row", "id", "score"]
    assert [int(row[0]) for row in table[1:]] == list(range(1, 501)) == [int(row[1]) for row in table[1:]]
    rejects = storage_path(f"{memory_root}/out/predictions.csv.rejects.csv")  # default: next to the output
    assert result.rejects_path == rejects and rows_of(rejects) == [["input_row", "error", "message", "id", "x"]]


def test_batch_predict_between_file_urls_and_local_paths(tmp_path: Path) -> None:
    (tmp_path / "score.csv").write_bytes(ids_csv(30))
    output = storage_path(f"file://{tmp_path}/new/out.csv")
    rejects = tmp_path / "local-rejects.csv"
    BatchPredictor(
        FakeClient(), FAKE_URL, "key", storage_path(f"file://{tmp_path}/score.csv"), output, rejects_file=rejects
    ).run()
    assert [int(r[0]) for r in rows_of(output)[1:]] == list(range(1, 31))
    assert rejects.exists() and not list(tmp_path.rglob("*.part"))


def test_the_input_is_streamed_in_chunks(memory_root: str) -> None:
    spy = ChunkSpy(put(f"{memory_root}/score.csv", ids_csv(20000)))
    predictor = BatchPredictor(FakeClient(), FAKE_URL, "key", spy, storage_path(f"{memory_root}/o.csv"))
    spy.reads.clear()  # the header check read its bounded head
    predictor.run()
    size = spy.inner.stat().st_size
    assert len(spy.reads) > 3 and -1 not in spy.reads and max(spy.reads) < size // 4


def test_a_batch_that_stops_writes_nothing_to_the_store(memory_root: str) -> None:
    def respond(row_id: int, _values: list[str]) -> Any:
        if row_id == 40:
            raise InferenceInvalidApiKeyError("Inference", 401, message="invalid api key")
        return prediction(row_id)

    source = put(f"{memory_root}/score.csv", ids_csv(100))
    output = storage_path(f"{memory_root}/out/p.csv")
    with pytest.raises(InferenceInvalidApiKeyError):
        BatchPredictor(FakeClient(respond), FAKE_URL, "key", source, output, concurrency=2).run()
    assert not output.exists() and not storage_path(f"{memory_root}/out/p.csv.rejects.csv").exists()


def test_storage_paths_are_checked_before_any_request(memory_root: str) -> None:
    client = FakeClient()
    with pytest.raises(PredictionOneConfigError, match=rf"input_file='{memory_root}/missing.csv' does not exist"):
        BatchPredictor(client, FAKE_URL, "key", storage_path(f"{memory_root}/missing.csv"), "/tmp/never.csv")
    source = put(f"{memory_root}/score.csv", ids_csv(3))
    with pytest.raises(PredictionOneConfigError, match="is the input file"):
        BatchPredictor(client, FAKE_URL, "key", source, storage_path(f"{memory_root}/score.csv"))
    assert client.calls == 0
