"""Persistent transient faults: a service that stays down fails the task after a bounded number of
requests, instead of retrying every row or every status check for ever.

A transient fault (HTTP 500 / 503, no answer) is retried by the client — ``RETRIES`` retries, so
``ATTEMPTS`` requests per call. When it does not go away (``count=None``: every matching request),
the batch stops after ``max_consecutive_errors`` rows in a row failed (its circuit breaker) and a
status check gives up after one call's attempts. Requests are counted on the emulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_predictionone.api.batch import WINDOW_PER_WORKER
from airflow_provider_predictionone.api.errors import BatchServiceDownError, ServerError
from airflow_provider_predictionone.emulator import Emulator
from tests.faults.conftest import RETRIES
from tests.faults.remote import fake_context, predict_op, train_op, trainings, upload_op
from tests.triggers.job_fixtures import write_customers_csv

ATTEMPTS = RETRIES + 1
"""Requests one call makes against a fault that never goes away."""
ROWS = 200
"""Rows to score: without the breaker, a persistent fault would cost ``ROWS * ATTEMPTS`` requests."""


@pytest.mark.parametrize(("concurrency", "max_consecutive_errors"), [(1, 3), (4, 10)])
def test_a_persistent_500_on_inference_trips_the_circuit_breaker(
    predictionone_conn: str,
    emulator: Emulator,
    running_api: str,
    tmp_path: Path,
    concurrency: int,
    max_consecutive_errors: int,
) -> None:
    scoring = write_customers_csv(tmp_path / "score.csv", rows=ROWS, seed=3, with_target=False)
    output = tmp_path / "out" / "predictions.csv"
    emulator.reset_request_counts()
    emulator.faults.add("inference", "500", None)

    op = predict_op(
        running_api, scoring, output, concurrency=concurrency, max_consecutive_errors=max_consecutive_errors
    )
    with pytest.raises(BatchServiceDownError) as failed:
        op.execute(fake_context())

    text = str(failed.value)
    assert "looks down" in text and f"max_consecutive_errors={max_consecutive_errors}" in text
    assert f"rows 1 to {max_consecutive_errors}" in text  # in input order: the first K rows
    assert "ServerError" in text and "HTTP 500" in text and "Injected fault" in text  # the last error
    assert "Re-run the task when the service is back" in text
    assert f"stopped after {max_consecutive_errors} row(s) were done" in text
    assert failed.value.rows_done == max_consecutive_errors  # type: ignore[attr-defined]
    assert isinstance(failed.value.__cause__, ServerError)

    # The K rows that tripped the breaker got every one of the client's attempts; the rows after
    # them that were already started (at most the rest of the window: concurrency *
    # WINDOW_PER_WORKER) are abandoned when the breaker trips, mid-retry; queued rows are never sent.
    sent = emulator.request_count("POST", "inference")
    assert sent == emulator.faults.fired()
    window = concurrency * WINDOW_PER_WORKER
    assert max_consecutive_errors * ATTEMPTS <= sent <= (max_consecutive_errors - 1 + window) * ATTEMPTS
    assert sent < ROWS * ATTEMPTS
    # The fatal path: nothing written, no .part file left behind.
    assert not output.parent.exists() or sorted(p.name for p in output.parent.iterdir()) == []


def test_a_persistent_503_on_a_status_check_fails_after_one_calls_retries(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    """Train Status Check answering 503 for ever (waiting in the worker): the task fails with the
    ServerError after the client's attempts, and the training is not started twice."""
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.reset_request_counts()
    emulator.faults.add("/models/results", "503", None, retry_after=0)

    with pytest.raises(ServerError, match="HTTP 503") as failed:
        train_op(epid).execute(fake_context())

    assert failed.value.status_code == 503
    assert emulator.request_count("GET", "/models/results") == ATTEMPTS == emulator.faults.fired()
    assert emulator.request_count("POST", "/models") == 1 and trainings(emulator) == 1
