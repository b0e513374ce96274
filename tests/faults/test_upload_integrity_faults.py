"""Uploads that the emulator stores altered (fault kind ``corrupt-upload``), seen by the real upload operator.

The emulator's ETag is the MD5 of what it stored, so an altered upload no longer matches the MD5
the client computed while sending. The client retries such an upload from the start, up to the
connection's ``retries`` (5 in this suite): as many corrupted attempts as retries still end with
the intact file on the service; one more fails the task naming both checksums, before anything
downstream (Train Data Set Info, training) happens.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.errors import PredictionOneUploadError
from airflow_provider_predictionone.emulator import Emulator
from tests.faults.conftest import RETRIES
from tests.faults.remote import fake_context, train_op, trainings, upload_op
from tests.triggers.job_fixtures import COLUMNS

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG  # type: ignore[no-redef,attr-defined,unused-ignore]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def stored_upload(emulator: Emulator, secret_key: str, external_process_id: str, kind: str) -> bytes:
    """What the emulator holds in an upload slot (``learn``, ``eval`` or ``column_info``) of a process."""
    with emulator.app.lock:
        process = emulator.app.users[secret_key].processes[external_process_id]
    return process.path(kind).read_bytes()


def only_process(emulator: Emulator, secret_key: str) -> str:
    """The ``external_process_id`` of the one set of upload URLs issued so far."""
    with emulator.app.lock:
        (process_id,) = emulator.app.users[secret_key].processes
    return process_id


@pytest.mark.parametrize("corrupted", [1, RETRIES], ids=["one corrupted upload", "as many as the retries"])
def test_corrupted_uploads_within_the_retries_end_with_intact_data(
    predictionone_conn: str, emulator: Emulator, secret_key: str, customers_csv: Path, corrupted: int
) -> None:
    emulator.faults.add("upload", "corrupt-upload", count=corrupted)
    context = fake_context(task_id="upload")

    epid = upload_op(customers_csv).execute(context)

    assert emulator.faults.fired("upload", "corrupt-upload") == corrupted
    # the training file was sent corrupted + 1 times (the last one intact), the column info once
    assert emulator.request_count("PUT", "upload") == corrupted + 2
    assert stored_upload(emulator, secret_key, epid, "learn") == customers_csv.read_bytes()
    column_info = stored_upload(emulator, secret_key, epid, "column_info").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(column_info)))
    assert rows[0] == ["column_name", "column_type"] and dict(rows[1:]) == dict(COLUMNS)
    assert context["ti"].xcoms["external_process_id"] == epid
    assert emulator.request_count("GET", "/data-sets/column-info") == 1  # Train Data Set Info read the intact file


def test_more_corrupted_uploads_than_retries_fail_naming_both_checksums(
    predictionone_conn: str, emulator: Emulator, secret_key: str, customers_csv: Path
) -> None:
    emulator.faults.add("upload", "corrupt-upload", count=RETRIES + 1)
    context = fake_context(task_id="upload")

    with pytest.raises(PredictionOneUploadError) as failed:
        upload_op(customers_csv).execute(context)

    sent = md5(customers_csv.read_bytes())
    received = md5(stored_upload(emulator, secret_key, only_process(emulator, secret_key), "learn"))
    assert received != sent
    message = str(failed.value)
    assert f"training file {customers_csv.name!r} was not received intact" in message
    assert f"after {RETRIES + 1} attempts" in message
    assert f"MD5 {sent}" in message and f"received MD5 {received}" in message
    assert "the task can be retried safely" in message
    assert emulator.request_count("PUT", "upload") == RETRIES + 1  # the column info was never sent
    assert context["ti"].xcoms == {}  # no external_process_id for a downstream training
    assert emulator.request_count("GET", "/data-sets/column-info") == 0
    assert emulator.request_count("POST", "/models") == 0 and trainings(emulator) == 0


def test_a_dag_run_does_not_train_on_an_upload_that_was_not_received_intact(
    run_dag: Any, emulator: Emulator, customers_csv: Path
) -> None:
    emulator.faults.add("upload", "corrupt-upload", count=RETRIES + 1)
    with DAG("corrupt_upload", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        train_op(upload_op(customers_csv).output)

    dag_run, _results, states = run_dag(dag)

    assert str(dag_run.state) == "failed", states
    assert states == {"upload": "failed", "train": "upstream_failed"}, states
    assert emulator.faults.fired("upload", "corrupt-upload") == RETRIES + 1
    assert emulator.request_count("POST", "/models") == 0 and trainings(emulator) == 0
