"""The batch predict operator against a deployed prediction API on the emulator."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.errors import (
    BatchRejectedRowsError,
    PredictionApiNotRunningError,
    PredictionOneConfigError,
)
from airflow_provider_predictionone.operators import PredictionOneBatchPredictOperator
from tests.task_context import fake_context
from tests.triggers.job_fixtures import wait_until, write_customers_csv


@pytest.fixture
def classifier_id(p1_client: Any, deployed_model: int) -> str:
    found = [c for c in p1_client.list_classifiers() if c.model_id == deployed_model]
    wait_until(lambda: p1_client.get_classifier(found[0].classifier_id).is_ready)
    return found[0].classifier_id


def predict_op(classifier_id: str, input_file: Path, output: Path, **kwargs: Any) -> PredictionOneBatchPredictOperator:
    return PredictionOneBatchPredictOperator(
        task_id="predict", classifier_id=classifier_id, input_file=str(input_file), output_file=str(output), **kwargs
    )


def test_scores_every_row_in_order_without_leaking_the_key(
    predictionone_conn: str, classifier_id: str, p1_client: Any, tmp_path: Path
) -> None:
    scoring = write_customers_csv(tmp_path / "score.csv", rows=120, with_target=False)
    output = tmp_path / "out" / "predictions.csv"
    summary = predict_op(classifier_id, scoring, output, concurrency=4).execute(fake_context())
    assert summary["rows_total"] == summary["rows_predicted"] == 120 and summary["rows_rejected"] == 0
    rows = list(csv.reader(output.open(encoding="utf-8")))
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 121))
    key = p1_client.get_classifier(classifier_id).api_key
    assert key not in json.dumps(summary)


def test_rejected_rows_are_reported_and_fail_the_task_above_the_threshold(
    predictionone_conn: str, classifier_id: str, tmp_path: Path
) -> None:
    scoring = write_customers_csv(tmp_path / "score.csv", rows=20, with_target=False)
    lines = scoring.read_text(encoding="utf-8").splitlines()
    lines[3] += ",extra-field"  # data row 3 has one field too many
    scoring.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "predictions.csv"
    with pytest.raises(BatchRejectedRowsError, match="1 of 20"):
        predict_op(classifier_id, scoring, output).execute(fake_context())
    rejects = list(csv.reader((tmp_path / "predictions.csv.rejects.csv").open(encoding="utf-8")))
    assert rejects[1][:2] == ["3", "FieldCountMismatch"]
    assert len(list(csv.reader(output.open(encoding="utf-8")))) == 20  # header + 19 predicted rows
    summary = predict_op(classifier_id, scoring, output, max_rejected_fraction=0.05).execute(fake_context())
    assert summary["rows_rejected"] == 1 and summary["rows_predicted"] == 19


def test_a_row_the_service_rejects_is_in_the_rejects_file_and_the_task_log(
    predictionone_conn: str,
    classifier_id: str,
    emulator: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A row with the right number of fields, all empty, is sent: the emulator answers ``Invalid
    request`` (spec 4.14), unlike a wrong field count, which is rejected before sending."""
    scoring = write_customers_csv(tmp_path / "score.csv", rows=12, with_target=False)
    table = list(csv.reader(scoring.open(encoding="utf-8", newline="")))
    header, rows = table[0], table[1:]
    rows[6] = [""] * len(header)  # data row 7
    with scoring.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    output = tmp_path / "predictions.csv"
    caplog.set_level(logging.INFO)
    before = emulator.request_count("POST", "inference")

    summary = predict_op(classifier_id, scoring, output, max_rejected_fraction=0.1).execute(fake_context())

    assert (summary["rows_total"], summary["rows_predicted"], summary["rows_rejected"]) == (12, 11, 1)
    assert emulator.request_count("POST", "inference") - before == 12  # row 7 was sent, and refused
    rejects = list(csv.reader((tmp_path / "predictions.csv.rejects.csv").open(encoding="utf-8", newline="")))
    assert rejects[0] == ["input_row", "error", "message", *header]
    assert len(rejects) == 2 and rejects[1][:2] == ["7", "InferenceBadRequestError"]
    assert "'Invalid request'" in rejects[1][2] and rejects[1][3:] == [""] * len(header)
    predicted = list(csv.reader(output.open(encoding="utf-8", newline="")))
    assert [int(line[0]) for line in predicted[1:]] == [n for n in range(1, 13) if n != 7]
    # The task log's end-of-batch summary lists the row with its error kind and the service's message
    # (Airflow 3 logs operators through structlog to stdout, Airflow 2 through logging).
    log = caplog.text + capsys.readouterr().out
    block = log[log.index("1 rejected row(s) (row, error, message):") :]
    assert "row 7: InferenceBadRequestError: " + rejects[1][2][:60] in block
    assert "'Invalid request'" in block and f"(see {str(output) + '.rejects.csv'!r})" in block


def test_a_stopped_prediction_api(
    predictionone_conn: str, classifier_id: str, p1_client: Any, p1_hook: Any, emulator: Any, tmp_path: Path
) -> None:
    scoring = write_customers_csv(tmp_path / "score.csv", rows=5, with_target=False)
    p1_hook.update_prediction_api(classifier_id, active=False)
    wait_until(lambda: p1_client.get_classifier(classifier_id).is_stopped)
    before = emulator.request_count("POST", "inference")
    with pytest.raises(PredictionApiNotRunningError, match="not running") as failed:
        predict_op(classifier_id, scoring, tmp_path / "p.csv").execute(fake_context())
    text = str(failed.value)
    assert f"Prediction API {classifier_id} is " in text and "no row was sent" in text
    assert "PredictionOneUpdatePredictionApiOperator(" in text and "active=True" in text
    assert failed.value.message is not None and failed.value.message.startswith("status is not running (status: ")
    assert emulator.request_count("POST", "inference") == before
    assert not (tmp_path / "p.csv").exists()


def test_an_api_stopping_mid_batch_stops_the_batch(
    predictionone_conn: str,
    classifier_id: str,
    p1_client: Any,
    p1_hook: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient

    scoring = write_customers_csv(tmp_path / "score.csv", rows=40, with_target=False)
    original = AsyncPredictionOneClient.inference  # what the batch sends its rows with
    calls = {"n": 0}

    def stop_after_five(self: AsyncPredictionOneClient, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:  # blocks the batch's loop while the API stops: concurrency 1, nothing else runs
            p1_hook.update_prediction_api(classifier_id, active=False)
            wait_until(lambda: p1_client.get_classifier(classifier_id).is_stopped)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncPredictionOneClient, "inference", stop_after_five)
    with pytest.raises(PredictionApiNotRunningError, match="status is not running"):
        predict_op(classifier_id, scoring, tmp_path / "p.csv", concurrency=1).execute(fake_context())
    assert not (tmp_path / "p.csv").exists()


def test_bad_input_fails_before_any_request(predictionone_conn: str, emulator: Any, tmp_path: Path) -> None:
    with pytest.raises(PredictionOneConfigError, match="does not exist"):
        predict_op("c1", tmp_path / "missing.csv", tmp_path / "p.csv").execute(fake_context())
    with pytest.raises(PredictionOneConfigError, match="concurrency"):
        predict_op("c1", tmp_path / "x.csv", tmp_path / "p.csv", concurrency=0)
    for bad in (0, -3, 2.5, True, "10", None):
        with pytest.raises(PredictionOneConfigError, match=rf"max_consecutive_errors={bad!r} must be a whole number"):
            predict_op("c1", tmp_path / "x.csv", tmp_path / "p.csv", max_consecutive_errors=bad)
    assert emulator.request_count(None, "/classifiers") == 0
    assert emulator.request_count("GET", "/api-key") == 0


def test_unknown_classifier(predictionone_conn: str, emulator: Any, tmp_path: Path) -> None:
    scoring = write_customers_csv(tmp_path / "score.csv", rows=3, with_target=False)
    with pytest.raises(PredictionOneConfigError, match="no such prediction API"):
        predict_op("nope", scoring, tmp_path / "p.csv").execute(fake_context())
