"""Batch prediction (``api/batch.py``): against the emulator over real HTTP, plus fake clients for
the parts the emulator cannot provoke on demand (slow rows, odd responses, transient errors)."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.batch import HEADER_PROBE_ROWS, BatchPredictor, predict_csv
from airflow_provider_predictionone.api.batch_io import BatchPredictionResult
from airflow_provider_predictionone.api.batch_report import MAX_LOGGED_MESSAGE_CHARS, MAX_LOGGED_REJECTS
from airflow_provider_predictionone.api.batch_rows import TokenBucket
from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.errors import (
    BatchRejectedRowsError,
    BatchServiceDownError,
    InferenceBadRequestError,
    InferenceError,
    InferenceInvalidApiKeyError,
    PredictionApiNotRunningError,
    PredictionOneConfigError,
    PredictionOneTransportError,
    ServerError,
)
from airflow_provider_predictionone.api.models import Classifier, InferenceResult
from tests.triggers.job_fixtures import (
    customers_csv,
    deployed_model,
    p1_client,
    p1_hook,
    start_training,
    wait_until,
    write_customers_csv,
)

# Fixtures of job_fixtures must live in this module's namespace for pytest to find them.
__all__ = ["customers_csv", "deployed_model", "p1_client", "p1_hook", "start_training"]

HEADER = ["年齢", "性別", "年収", "地域"]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def prediction_api(p1_client: PredictionOneClient, deployed_model: int) -> Classifier:
    """The running prediction API of ``deployed_model`` (its ``url`` and ``api_key``)."""
    return wait_until(
        lambda: next(
            (item for item in p1_client.list_classifiers() if item.model_id == deployed_model and item.is_ready),
            None,
        )
    )


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw  # UTF-8 without BOM, \n line ends
    return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def single_call(client: PredictionOneClient, api: Classifier, values: list[str], **flags: Any) -> list[list[str]]:
    """What one plain Inference call returns for ``values``: ``[header, row]``."""
    assert api.url and api.api_key
    result = client.inference(api.url, api.api_key, csv_text([HEADER, values]), no_row_number=True, **flags)
    assert result.prediction_csv is not None
    return list(csv.reader(io.StringIO(result.prediction_csv, newline="")))


def no_part_files(folder: Path) -> bool:
    return not list(folder.glob("*.part"))


class FakeClient:
    """An ``inference`` that parses the one-row CSV and answers with ``respond(id, values)``.

    The first column of the input is an id (0 when empty). Counts calls and the peak of concurrent calls, and
    records the connections the batch asked the client to keep open.
    """

    def __init__(self, respond: Callable[[int, list[str]], InferenceResult] | None = None) -> None:
        self.respond = respond or (lambda row_id, _values: prediction(row_id))
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.texts: list[str] = []
        self.reserved: list[int] = []

    def reserve_connections(self, connections: int) -> None:
        self.reserved.append(connections)

    def inference(self, url: str, api_key: str, csv_text: str, **flags: Any) -> InferenceResult:
        rows = list(csv.reader(io.StringIO(csv_text, newline="")))
        assert len(rows) == 2, rows
        with self.lock:
            self.calls += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.texts.append(csv_text)
        try:
            return self.respond(int(rows[1][0] or 0), rows[1])
        finally:
            with self.lock:
                self.active -= 1


def prediction(row_id: int, header: str = "id,score") -> InferenceResult:
    return InferenceResult(version="1", outputs={"prediction_valid.csv": f"{header}\n{row_id},0.5\n"})


def write_ids(path: Path, count: int) -> Path:
    path.write_text(csv_text([["id", "x"], *[[str(i), f"v{i}"] for i in range(1, count + 1)]]), encoding="utf-8")
    return path


FAKE_URL = "https://user-api.example.com/v1/groups/g/classifiers/c/inference"


# --------------------------------------------------------------------------------------------
# Against the emulator
def test_an_async_client_scores_on_the_batchs_own_connections(
    p1_client: PredictionOneClient, prediction_api: Classifier, tmp_path: Path
) -> None:
    """An AsyncPredictionOneClient may be passed too: the batch sends with a client of the same
    settings on its own loop and leaves the given one untouched, usable in its own loop afterwards."""
    from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient

    given = AsyncPredictionOneClient(p1_client.settings)
    source = write_customers_csv(tmp_path / "score.csv", 12, seed=4, with_target=False)
    result = predict_csv(given, prediction_api.url, prediction_api.api_key, source, tmp_path / "p.csv", concurrency=4)
    assert (result.rows_total, result.rows_predicted) == (12, 12)

    async def still_usable() -> int:
        async with given:
            return len((await given.list_models(0, 5)).models)

    assert asyncio.run(still_usable()) >= 1


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 16])
def test_every_row_is_predicted_in_input_order(
    p1_client: PredictionOneClient,
    prediction_api: Classifier,
    emulator: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    concurrency: int,
) -> None:
    rows = 60
    source = write_customers_csv(tmp_path / "score.csv", rows, seed=3, with_target=False)
    output = tmp_path / "out" / "predictions.csv"
    caplog.set_level(logging.INFO)
    before = emulator.request_count("POST", "inference")
    connections_before = emulator.connections_accepted()

    result = predict_csv(p1_client, prediction_api.url, prediction_api.api_key, source, output, concurrency=concurrency)

    assert emulator.request_count("POST", "inference") - before == rows
    assert (result.rows_total, result.rows_predicted, result.rows_rejected, result.rejected_fraction) == (
        rows,
        rows,
        0,
        0.0,
    )
    assert result.output_path == output and result.rejects_path == Path(f"{output}.rejects.csv")
    assert result.seconds > 0 and result.rows_per_second > 0 and "60 predicted" in result.summary()
    table = read_csv(output)
    assert table[0][0] == "input_row" and "row_number" not in table[0]
    assert [int(line[0]) for line in table[1:]] == list(range(1, rows + 1))
    inputs = list(csv.reader(source.open(encoding="utf-8", newline="")))
    for number in (1, 31, rows):
        header, expected = single_call(p1_client, prediction_api, inputs[number])
        assert table[0][1:] == header and table[number][1:] == expected
    assert read_csv(result.rejects_path) == [["input_row", "error", "message", *HEADER]]
    assert no_part_files(output.parent)
    # connections were kept alive, one per concurrent request at most: none was opened per row
    assert 1 <= emulator.connections_accepted() - connections_before <= concurrency
    assert prediction_api.api_key not in caplog.text
    assert "Batch prediction of 'score.csv' done" in caplog.text


def test_bom_crlf_japanese_headers_and_quoted_fields_round_trip(
    p1_client: PredictionOneClient, prediction_api: Classifier, emulator: Any, tmp_path: Path
) -> None:
    source = tmp_path / "顧客スコア.csv"
    lines = [
        "年齢,性別,年収,地域",
        '30,男性,500,"東京,港区"',
        '41,"女性",720.5,"大阪\n北区 ""本町"""',
        "",
        "55,男性,800,福岡",
    ]
    source.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    output = tmp_path / "予測.csv"

    result = predict_csv(
        p1_client,
        prediction_api.url,
        prediction_api.api_key,
        source,
        output,
        include_input=True,
        pivot_column="地域",
        concurrency=4,
    )

    assert (result.rows_total, result.rows_predicted, result.blank_lines_skipped) == (3, 3, 1)
    table = read_csv(output)
    assert table[0][:5] == ["input_row", "地域", "年齢", "性別", "年収"]
    assert [line[:2] for line in table[1:]] == [["1", "東京,港区"], ["2", '大阪\n北区 "本町"'], ["3", "福岡"]]
    assert (
        table[2][1:]
        == single_call(
            p1_client,
            prediction_api,
            ["41", "女性", "720.5", '大阪\n北区 "本町"'],
            include_input=True,
            pivot_column="地域",
        )[1]
    )


def test_rejected_rows_are_reported_and_the_threshold_applies(
    p1_client: PredictionOneClient,
    prediction_api: Classifier,
    emulator: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = list(csv.reader(write_customers_csv(tmp_path / "g.csv", 20, with_target=False).open(encoding="utf-8")))
    rows = good[1:]
    rows[4] = [*rows[4], "SECRET-VALUE"]  # row 5: one field too many (never sent)
    rows[8] = rows[8][:2]  # row 9: too few fields (never sent)
    rows[12] = ["", "", "", ""]  # row 13: all empty: the emulator answers "Invalid request"
    source = tmp_path / "score.csv"
    source.write_text(csv_text([HEADER, *rows]), encoding="utf-8")
    output = tmp_path / "predictions.csv"
    caplog.set_level(logging.INFO)
    before = emulator.request_count("POST", "inference")

    with pytest.raises(BatchRejectedRowsError, match=r"rejected 3 of 20 rows \(15.0%\)") as failed:
        predict_csv(p1_client, prediction_api.url, prediction_api.api_key, source, output)

    assert emulator.request_count("POST", "inference") - before == 18
    assert str(output) + ".rejects.csv" in str(failed.value)
    result = failed.value.result
    assert result is not None and (result.rows_predicted, result.rows_rejected) == (17, 3)
    assert [int(line[0]) for line in read_csv(output)[1:]] == [n for n in range(1, 21) if n not in (5, 9, 13)]
    rejects = read_csv(result.rejects_path)
    assert rejects[0] == ["input_row", "error", "message", *HEADER]
    assert [(line[0], line[1], line[3:]) for line in rejects[1:]] == [
        ("5", "FieldCountMismatch", rows[4]),
        ("9", "FieldCountMismatch", rows[8]),
        ("13", "InferenceBadRequestError", ["", "", "", ""]),
    ]
    assert "has 5 field(s) but the header has 4" in rejects[1][2] and "Invalid request" in rejects[3][2]
    assert "row 13 rejected (InferenceBadRequestError)" in caplog.text
    block = caplog.text[caplog.text.index("3 rejected row(s) (row, error, message):") :]
    assert "row 5: FieldCountMismatch: Row 5 has 5 field(s) but the header has 4" in block
    assert "row 13: InferenceBadRequestError: " in block and "'Invalid request'" in block
    assert f"(see {str(result.rejects_path)!r})" in block
    assert "SECRET-VALUE" not in caplog.text and prediction_api.api_key not in caplog.text
    assert pickle.loads(pickle.dumps(failed.value)).result == result

    # At the threshold the batch passes (3 / 20 == 0.15), and the outputs are replaced.
    passed = predict_csv(
        p1_client, prediction_api.url, prediction_api.api_key, source, output, max_rejected_fraction=0.15
    )
    assert passed.rejected_fraction == pytest.approx(0.15) and len(read_csv(output)) == 18


def test_a_prediction_api_stopped_mid_batch_stops_the_batch(
    p1_client: PredictionOneClient, prediction_api: Classifier, emulator: Any, tmp_path: Path
) -> None:
    source = write_customers_csv(tmp_path / "score.csv", 40, with_target=False)
    output = tmp_path / "predictions.csv"
    calls = 0

    class StopsTheApi:
        def reserve_connections(self, connections: int) -> None:
            p1_client.reserve_connections(connections)

        def inference(self, *args: Any, **kwargs: Any) -> InferenceResult:
            nonlocal calls
            calls += 1
            if calls == 10:
                p1_client.update_classifier(prediction_api.classifier_id, rules=None, active=False, is_editable=None)
            return p1_client.inference(*args, **kwargs)

    before = emulator.request_count("POST", "inference")
    predictor = BatchPredictor(StopsTheApi(), prediction_api.url, prediction_api.api_key, source, output, concurrency=1)
    with pytest.raises(PredictionApiNotRunningError, match=r"stopped after \d+ row\(s\) were done") as failed:
        predictor.run()
    # Rows 1-9 were predicted; those still waiting in the window to be written when row 10 failed
    # (how many depends on the threads' timing) are not counted, nothing is written after the error.
    done = failed.value.rows_done  # type: ignore[attr-defined]
    assert 9 - (predictor.window - 1) <= done <= 9
    assert f"stopped after {done} row(s) were done ({done} predicted, 0 rejected" in str(failed.value)
    assert emulator.request_count("POST", "inference") - before == 10
    assert not output.exists() and not Path(f"{output}.rejects.csv").exists() and no_part_files(tmp_path)

    wait_until(lambda: p1_client.get_classifier(prediction_api.classifier_id).is_stopped)  # type: ignore[union-attr]
    with pytest.raises(PredictionApiNotRunningError, match=r"status is not running.*stopped after 0 row\(s\)"):
        predict_csv(p1_client, prediction_api.url, prediction_api.api_key, source, output, concurrency=1)
    assert emulator.request_count("POST", "inference") - before == 11
    assert not output.exists() and no_part_files(tmp_path)


def test_an_input_without_a_model_column_stops_after_the_header_probe(
    p1_client: PredictionOneClient, prediction_api: Classifier, emulator: Any, tmp_path: Path
) -> None:
    """The emulator refuses every row of an input that lacks a column the model uses (Invalid
    request, spec 4.14): the batch stops after HEADER_PROBE_ROWS requests, not one per row."""
    rows = list(csv.reader(write_customers_csv(tmp_path / "g.csv", 50, with_target=False).open(encoding="utf-8")))
    source = tmp_path / "score.csv"
    source.write_text(csv_text([[*row[:1], *row[2:]] for row in rows]), encoding="utf-8")  # no 性別
    output = tmp_path / "predictions.csv"
    before = emulator.request_count("POST", "inference")

    with pytest.raises(PredictionOneConfigError) as failed:
        predict_csv(p1_client, prediction_api.url, prediction_api.api_key, source, output, concurrency=8)

    assert emulator.request_count("POST", "inference") - before == HEADER_PROBE_ROWS == 3
    text = str(failed.value)
    assert "refused the first 3 rows of input_file ('score.csv'; rows 1, 2, 3) with 'Invalid request'" in text
    assert "the header is the likely cause" in text and "['年齢', '年収', '地域']" in text
    assert "stopped after 3 row(s) were done (0 predicted, 3 rejected, 3 read)" in text
    assert not output.exists() and not Path(f"{output}.rejects.csv").exists() and no_part_files(tmp_path)


def test_a_wrong_api_key_writes_nothing(
    p1_client: PredictionOneClient, prediction_api: Classifier, emulator: Any, tmp_path: Path
) -> None:
    source = write_customers_csv(tmp_path / "score.csv", 200, with_target=False)
    output = tmp_path / "predictions.csv"
    reasons = tmp_path / "reasons.csv"
    predictor = BatchPredictor(
        p1_client, prediction_api.url, "wrong-key", source, output, reasons_file=reasons, concurrency=8
    )
    before = emulator.request_count("POST", "inference")
    with pytest.raises(InferenceInvalidApiKeyError, match=r"stopped after 0 row\(s\)") as failed:
        predictor.run()
    assert failed.value.rows_done == 0  # type: ignore[attr-defined]
    assert emulator.request_count("POST", "inference") - before <= predictor.window
    assert not output.exists() and not reasons.exists() and not Path(f"{output}.rejects.csv").exists()
    assert no_part_files(tmp_path)


def test_requests_per_second_paces_the_workers(
    p1_client: PredictionOneClient,
    prediction_api: Classifier,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = write_customers_csv(tmp_path / "score.csv", 30, with_target=False)
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    result = predict_csv(
        p1_client,
        prediction_api.url,
        prediction_api.api_key,
        source,
        tmp_path / "predictions.csv",
        concurrency=8,
        requests_per_second=20,
        progress_interval=0.3,
    )
    assert time.monotonic() - started >= 1.4 and result.seconds >= 1.4  # 29 gaps of 1/20 s
    assert result.rows_predicted == 30
    assert "rows/s" in caplog.text and "ETA" in caplog.text and "at most 20 requests/s" in caplog.text


def test_reasons_are_written_in_input_order(
    p1_client: PredictionOneClient, prediction_api: Classifier, tmp_path: Path
) -> None:
    source = write_customers_csv(tmp_path / "score.csv", 25, with_target=False)
    reasons = tmp_path / "reasons.csv"
    result = predict_csv(
        p1_client,
        prediction_api.url,
        prediction_api.api_key,
        source,
        tmp_path / "predictions.csv",
        reasons_file=reasons,
        concurrency=8,
    )
    assert result.reasons_path == reasons
    table = read_csv(reasons)
    assert table[0] == ["input_row", "column", "value", "contribution"]
    numbers = [int(line[0]) for line in table[1:]]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, 26))
    row_7 = list(csv.reader(source.open(encoding="utf-8")))[7]
    assert api_reasons(p1_client, prediction_api, row_7) == [line[1:] for line in table[1:] if line[0] == "7"]


def api_reasons(client: PredictionOneClient, api: Classifier, values: list[str]) -> list[list[str]]:
    assert api.url and api.api_key
    result = client.inference(api.url, api.api_key, csv_text([HEADER, values]), reasons=True, no_row_number=True)
    assert result.reasons_csv is not None
    return list(csv.reader(io.StringIO(result.reasons_csv)))[1:]


# --------------------------------------------------------------------------------------------
# With fake clients
# --------------------------------------------------------------------------------------------


def test_the_window_bounds_rows_in_flight_and_waiting(tmp_path: Path) -> None:
    release = threading.Event()

    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id == 2:
            assert release.wait(10)
        return prediction(row_id)

    fake = FakeClient(respond)
    predictor = BatchPredictor(
        fake, FAKE_URL, "key", write_ids(tmp_path / "in.csv", 500), tmp_path / "out.csv", concurrency=4
    )
    assert predictor.window == 16
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=predictor.run()))
    worker.start()
    try:
        # Row 1 is answered (until then at most 3 rows go: the header probe) and written; row 2
        # hangs: the rows after it finish but cannot be written, so reading stops when the window
        # (rows 2 to 17) is full.
        wait_until(lambda: fake.calls >= predictor.window, timeout=5, interval=0.01)
        time.sleep(0.3)
        assert fake.calls <= predictor.window + 1
    finally:
        release.set()
        worker.join(10)
    result: BatchPredictionResult = outcome["result"]
    assert result.rows_predicted == 500 and fake.calls == 500
    assert fake.peak <= 4 and fake.reserved == [4]  # one connection kept per worker
    assert [int(line[0]) for line in read_csv(tmp_path / "out.csv")[1:]] == list(range(1, 501))
    assert read_csv(tmp_path / "out.csv")[0] == ["input_row", "id", "score"]


def test_odd_responses_and_persistent_transient_errors_become_rejected_rows(tmp_path: Path) -> None:
    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id == 2:
            return InferenceResult(version="1", outputs={"prediction_skip.csv": "id\n2\n"})
        if row_id == 3:
            return InferenceResult(version="1", outputs={"prediction_valid.csv": "id,score\n3,0.1\n3,0.2\n"})
        if row_id == 4:
            return InferenceResult(version="1", outputs={"prediction_valid.csv": "id,score\n"})
        if row_id == 5:
            raise ServerError("Inference (POST <prediction API url>)", 502, excerpt="bad gateway")
        if row_id == 6:
            raise PredictionOneTransportError("Prediction One Inference failed: ReadTimeout. Gave up after 6 attempts")
        if row_id == 7:
            return prediction(row_id, header="id,other")
        return prediction(row_id)

    fake = FakeClient(respond)
    result = predict_csv(
        fake,
        FAKE_URL,
        "key",
        write_ids(tmp_path / "in.csv", 8),
        tmp_path / "out.csv",
        rejects_file=tmp_path / "bad.csv",
        max_rejected_fraction=1.0,
    )
    assert (result.rows_predicted, result.rows_rejected) == (2, 6)
    rejects = {line[0]: line for line in read_csv(tmp_path / "bad.csv")[1:]}
    assert {n: line[1] for n, line in rejects.items()} == {
        "2": "MissingPrediction",
        "3": "UnexpectedRowCount",
        "4": "UnexpectedRowCount",
        "5": "ServerError",
        "6": "PredictionOneTransportError",
        "7": "HeaderMismatch",
    }
    assert "prediction_skip.csv" in rejects["2"][2] and "2 data row(s)" in rejects["3"][2]
    assert "HTTP 502" in rejects["5"][2] and "ReadTimeout" in rejects["6"][2]
    assert "['id', 'other']" in rejects["7"][2] and "row 1" in rejects["7"][2]
    assert rejects["7"][3:] == ["7", "v7"]
    assert [line[0] for line in read_csv(tmp_path / "out.csv")[1:]] == ["1", "8"]


def test_consecutive_transient_errors_in_input_order_trip_the_circuit_breaker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Transient errors on rows 2-3, 5-6 and 8 never make 3 in a row (a prediction or a rejection for
    bad data resets the count); rows 10, 11 and 12 do, whatever order the workers finish in."""

    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id in (2, 5, 8) or row_id >= 10:
            raise ServerError("Inference (POST <prediction API url>)", 503, excerpt="down for maintenance")
        if row_id in (3, 6):
            raise PredictionOneTransportError(
                "Prediction One Inference failed: ConnectTimeout. Gave up after 6 attempts"
            )
        if row_id == 4:
            raise InferenceBadRequestError("Inference (POST <prediction API url>)", 400, message="Invalid request")
        return prediction(row_id)

    fake = FakeClient(respond)
    caplog.set_level(logging.INFO)
    predictor = BatchPredictor(
        fake,
        FAKE_URL,
        "key",
        write_ids(tmp_path / "in.csv", 1000),
        tmp_path / "out.csv",
        concurrency=4,
        max_consecutive_errors=3,
    )
    with pytest.raises(BatchServiceDownError) as failed:
        predictor.run()
    text = str(failed.value)
    assert text.startswith(f"The prediction API at {FAKE_URL} looks down: rows 10 to 12 (the last 3 in input order")
    assert "ServerError: Prediction One Inference (POST <prediction API url>) failed (HTTP 503)" in text
    assert "Re-run the task when the service is back" in text
    assert "stopped after 12 row(s) were done (3 predicted, 9 rejected" in text
    assert failed.value.rows_done == 12  # type: ignore[attr-defined]
    assert isinstance(failed.value.__cause__, ServerError)
    assert fake.calls < 12 + predictor.window  # queued rows were never sent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # the fatal path: no file kept
    # The rejected rows of a stopped batch are listed in the log, since its rejects file is gone.
    block = caplog.text[caplog.text.index("9 rejected row(s) (row, error, message):") :]
    assert "row 4: InferenceBadRequestError: " in block and "row 12: ServerError: " in block
    assert "the rejects file was not kept" in block
    copy = pickle.loads(pickle.dumps(failed.value))
    assert type(copy) is BatchServiceDownError and str(copy) == text


def test_one_transient_error_per_row_does_not_trip_a_breaker_of_one_row_more(tmp_path: Path) -> None:
    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id % 3:  # two rows in three fail, never three in a row
            raise PredictionOneTransportError("Prediction One Inference failed: ReadTimeout. Gave up after 6 attempts")
        return prediction(row_id)

    source = write_ids(tmp_path / "in.csv", 30)
    result = predict_csv(
        FakeClient(respond),
        FAKE_URL,
        "key",
        source,
        tmp_path / "out.csv",
        max_consecutive_errors=3,
        max_rejected_fraction=1.0,
    )
    assert (result.rows_predicted, result.rows_rejected) == (10, 20)
    with pytest.raises(BatchServiceDownError, match="rows 1 to 2"):
        predict_csv(FakeClient(respond), FAKE_URL, "key", source, tmp_path / "out.csv", max_consecutive_errors=2)


def test_the_log_lists_rejected_rows_with_short_messages_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id % 2:
            raise InferenceError(
                "Inference (POST <prediction API url>)",
                413,
                excerpt=f"row {row_id} too large for key the-api-key\n" + "x" * 400,
            )
        return prediction(row_id)

    caplog.set_level(logging.INFO)
    source = write_ids(tmp_path / "in.csv", 30)
    with pytest.raises(BatchRejectedRowsError, match="rejected 15 of 30 rows"):
        predict_csv(FakeClient(respond), FAKE_URL, "the-api-key", source, tmp_path / "out.csv")
    block = caplog.text[caplog.text.index("15 rejected row(s) (row, error, message):") :]
    listed = [line.strip() for line in block.splitlines()[1 : MAX_LOGGED_REJECTS + 1]]
    assert [line.split(":")[0] for line in listed] == [f"row {n}" for n in range(1, 2 * MAX_LOGGED_REJECTS, 2)]
    assert all(line.split(": ", 2)[1] == "InferenceError" for line in listed)
    assert all(line.split(": ", 2)[2].startswith("Prediction One Inference (POST") for line in listed)
    assert all(len(line.split(": ", 2)[2]) <= MAX_LOGGED_MESSAGE_CHARS and line.endswith("...") for line in listed)
    assert "'row 1 too large for key ***" in listed[0]  # the key masked
    rejects = tmp_path / "out.csv.rejects.csv"
    assert block.splitlines()[MAX_LOGGED_REJECTS + 1].strip() == f"... and 5 more (see {str(rejects)!r})."
    assert "the-api-key" not in caplog.text and "v3" not in caplog.text  # no key, no row values


@pytest.mark.parametrize(
    "error",
    [
        PredictionApiNotRunningError("Inference", 503, message="status is not running (status: stopped)"),
        InferenceError("Inference (POST <prediction API url>)", 404, excerpt="<html>Not Found</html>"),
    ],
    ids=["not-running", "undocumented-404"],
)
def test_a_fatal_error_on_a_later_row_stops_everything(tmp_path: Path, error: Exception) -> None:
    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id >= 50:
            raise error
        return prediction(row_id)

    fake = FakeClient(respond)
    source = write_ids(tmp_path / "in.csv", 1000)
    predictor = BatchPredictor(fake, FAKE_URL, "key", source, tmp_path / "out.csv", concurrency=4)
    with pytest.raises(type(error), match=r"stopped after \d+ row\(s\) were done") as failed:
        predictor.run()
    assert failed.value.rows_done <= 49  # type: ignore[attr-defined]  # nothing is written after the error
    assert fake.calls < 50 + predictor.window
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def bad_request() -> InferenceBadRequestError:
    return InferenceBadRequestError("Inference (POST <prediction API url>)", 400, message="Invalid request")


def test_refused_first_rows_do_not_stop_the_batch_once_a_row_is_answered(tmp_path: Path) -> None:
    """Rows 1 and 2 are refused, row 3 is answered: the header is taken, the batch goes on in
    parallel; an empty row or a row with a wrong field count at the start does not count."""

    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id in (1, 2, 40):
            raise bad_request()
        time.sleep(0.01)  # long enough for the workers to overlap
        return prediction(row_id)

    source = tmp_path / "in.csv"
    rows = [["id", "x"], ["1", "a"], ["", ""], ["2", "b", "extra"], ["2", "b"]]
    rows += [[str(i), f"v{i}"] for i in range(3, 201)]
    source.write_text(csv_text(rows), encoding="utf-8")
    fake = FakeClient(lambda row_id, values: bad_request_or(respond, row_id, values))
    result = predict_csv(fake, FAKE_URL, "key", source, tmp_path / "out.csv", max_rejected_fraction=1.0)
    assert (result.rows_total, result.rows_predicted, result.rows_rejected) == (202, 197, 5)
    assert fake.calls == 201 and fake.peak > 1  # every row with the right field count was sent, in parallel
    rejects = [(line[0], line[1]) for line in read_csv(tmp_path / "out.csv.rejects.csv")[1:]]
    assert rejects == [
        ("1", "InferenceBadRequestError"),
        ("2", "InferenceBadRequestError"),  # empty: not counted by the probe
        ("3", "FieldCountMismatch"),  # not sent
        ("4", "InferenceBadRequestError"),
        ("42", "InferenceBadRequestError"),
    ]


def bad_request_or(respond: Callable[[int, list[str]], InferenceResult], row_id: int, values: list[str]) -> Any:
    """An empty row (no id) is refused like the emulator refuses it."""
    if not any(values):
        raise bad_request()
    return respond(row_id, values)


def test_rows_refused_from_the_start_stop_the_batch_after_the_probe(tmp_path: Path) -> None:
    fake = FakeClient(lambda _row_id, _values: (_ for _ in ()).throw(bad_request()))
    predictor = BatchPredictor(
        fake, FAKE_URL, "key", write_ids(tmp_path / "in.csv", 100), tmp_path / "out.csv", concurrency=8
    )
    with pytest.raises(PredictionOneConfigError, match=r"rows 1, 2, 3\) with 'Invalid request'") as failed:
        predictor.run()
    assert fake.calls == HEADER_PROBE_ROWS and fake.peak <= HEADER_PROBE_ROWS
    assert "Its columns are ['id', 'x']" in str(failed.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_until_a_row_is_answered_at_most_the_probe_rows_are_sent(tmp_path: Path) -> None:
    release = threading.Event()

    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id == 1:
            assert release.wait(10)
        return prediction(row_id)

    fake = FakeClient(respond)
    predictor = BatchPredictor(
        fake, FAKE_URL, "key", write_ids(tmp_path / "in.csv", 100), tmp_path / "out.csv", concurrency=8
    )
    worker = threading.Thread(target=predictor.run)
    worker.start()
    try:
        wait_until(lambda: fake.calls >= HEADER_PROBE_ROWS, timeout=5, interval=0.01)
        time.sleep(0.3)
        assert fake.calls == HEADER_PROBE_ROWS  # rows 2 and 3 are answered, but row 1 decides first
    finally:
        release.set()
        worker.join(10)
    assert fake.calls == 100


def test_a_transient_error_on_the_first_row_ends_the_probe(tmp_path: Path) -> None:
    def respond(row_id: int, _values: list[str]) -> InferenceResult:
        if row_id == 1:
            raise ServerError("Inference (POST <prediction API url>)", 503, excerpt="busy")
        time.sleep(0.01)
        raise bad_request()

    fake = FakeClient(respond)
    with pytest.raises(BatchRejectedRowsError, match="rejected 50 of 50 rows"):
        predict_csv(fake, FAKE_URL, "key", write_ids(tmp_path / "in.csv", 50), tmp_path / "out.csv", concurrency=4)
    assert fake.calls == 50 and fake.peak > 1  # the header could not be judged: every row was sent


def test_every_request_holds_the_header_and_exactly_one_row(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('id,note\n1,"a,b"\n2,"line1\nline2"\n3,"say ""hi"""\n', encoding="utf-8")
    fake = FakeClient()
    predict_csv(fake, FAKE_URL, "key", source, tmp_path / "out.csv", concurrency=1)
    assert fake.texts == ['id,note\n1,"a,b"\n', 'id,note\n2,"line1\nline2"\n', 'id,note\n3,"say ""hi"""\n']


def test_an_input_without_data_rows_gives_header_only_files(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,x\n", encoding="utf-8")
    result = predict_csv(FakeClient(), FAKE_URL, "key", source, tmp_path / "out.csv", reasons_file=tmp_path / "r.csv")
    assert (result.rows_total, result.rejected_fraction) == (0, 0.0)
    assert read_csv(tmp_path / "out.csv") == [["input_row"]] and read_csv(tmp_path / "r.csv") == [["input_row"]]


def test_inputs_are_checked_before_any_request(tmp_path: Path) -> None:
    fake = FakeClient()
    good = write_ids(tmp_path / "in.csv", 3)
    out = tmp_path / "out.csv"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("年齢,購入\n1,はい\n".encode("shift_jis"))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input_file": tmp_path / "missing.csv"}, "does not exist"),
        ({"input_file": empty}, "is empty"),
        ({"input_file": sjis}, "not UTF-8"),
        ({"concurrency": 0}, "concurrency=0 must be"),
        ({"concurrency": 257}, "concurrency=257 must be"),
        ({"requests_per_second": 0}, "requests_per_second=0 must be"),
        ({"requests_per_second": -1.5}, "requests_per_second=-1.5 must be"),
        ({"max_rejected_fraction": -0.1}, "max_rejected_fraction=-0.1 must be"),
        ({"max_rejected_fraction": 1.5}, "max_rejected_fraction=1.5 must be"),
        ({"progress_interval": 0}, "progress_interval=0 must be"),
        ({"max_consecutive_errors": 0}, r"max_consecutive_errors=0 must be a whole number of rows, 1 or more \("),
        ({"max_consecutive_errors": True}, "max_consecutive_errors=True must be"),
        ({"max_consecutive_errors": 2.5}, "max_consecutive_errors=2.5 must be"),
        ({"output_file": good}, "is the input file"),
        ({"rejects_file": out}, "are the same file"),
        ({"pivot_column": "nope"}, "not a column of input_file"),
        ({"url": "http://user-api.example.com/inference"}, "plain http://"),
        ({"url": "not a url"}, "not an http"),
        ({"api_key": " "}, "api_key is empty"),
    ]
    for overrides, message in cases:
        kwargs: dict[str, Any] = {"url": FAKE_URL, "api_key": "key", "input_file": good, "output_file": out}
        kwargs.update(overrides)
        with pytest.raises(PredictionOneConfigError, match=message):
            BatchPredictor(fake, **kwargs)
    assert fake.calls == 0 and not out.exists()


def test_invalid_utf8_further_down_stops_with_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,x\n1,a\n" + "2,\u5e74\n".encode("shift_jis"))
    with pytest.raises(PredictionOneConfigError, match="not UTF-8 after data row"):
        predict_csv(FakeClient(), FAKE_URL, "key", source, tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_secrets_stay_out_of_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = FAKE_URL + "?sig=query-secret"
    predict_csv(FakeClient(), url, "the-api-key", write_ids(tmp_path / "in.csv", 5), tmp_path / "o.csv")
    assert "query-secret" not in caplog.text and "the-api-key" not in caplog.text and "v3" not in caplog.text
    assert "https://user-api.example.com/v1/groups/g/classifiers/c/inference" in caplog.text


def test_token_bucket_spaces_requests_without_bursts() -> None:
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    now[0] = 10.0
    assert bucket.reserve() == 0.0  # saved up at most one token
    assert bucket.reserve() == pytest.approx(0.1)
    stop = threading.Event()
    stop.set()
    assert asyncio.run(TokenBucket(0.01).acquire()) is True  # the first token is there at once
    slow = TokenBucket(0.01)
    slow.reserve()
    assert asyncio.run(asyncio.wait_for(slow.acquire(stop), 1)) is False  # a stopping batch does not wait
