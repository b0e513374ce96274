"""A training or retraining job that fails fails the task with the job's own message.

Both waits are covered: polling in the worker and deferring to the trigger. What the next try
does about a failed job is covered too: a retraining is started afresh (a new upload is a new job);
a training is not (the upload was trained already), and the retry fails at once with the message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_predictionone.api.errors import JobFailedError
from airflow_provider_predictionone.emulator import Emulator
from tests.faults.remote import (
    fake_context,
    retrain_op,
    retrainings,
    train_op,
    trainings,
    upload_op,
)
from tests.task_context import TaskStateStore
from tests.triggers.job_fixtures import run_trigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

TRAIN_MESSAGE = "Disk quota exceeded."
RETRAIN_MESSAGE = "Out of memory while reading the data."


def test_failed_training_fails_the_polling_task_with_its_message(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.fail_next_job(kind="train", message=TRAIN_MESSAGE)
    with pytest.raises(JobFailedError, match=TRAIN_MESSAGE) as failed:
        train_op(epid).execute(fake_context())
    assert failed.value.message == TRAIN_MESSAGE and failed.value.status == "failed"


def test_failed_training_fails_the_deferred_task_with_its_message(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    emulator.set_train_seconds(2.0)
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    context = fake_context()
    op = train_op(epid, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    emulator.fail_next_job(job_id=epid, message=TRAIN_MESSAGE)  # the running job fails
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "failed" and event["message"] == TRAIN_MESSAGE
    with pytest.raises(JobFailedError, match=TRAIN_MESSAGE):
        op.execute_complete(context, event, **deferred.value.kwargs)


def test_the_retry_of_a_failed_training_fails_at_once_with_its_message(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    emulator.fail_next_job(kind="train", message=TRAIN_MESSAGE)
    store = TaskStateStore()
    with pytest.raises(JobFailedError, match=TRAIN_MESSAGE):
        train_op(epid).execute(fake_context(store))
    with pytest.raises(JobFailedError, match=TRAIN_MESSAGE) as retried:
        train_op(epid).execute(fake_context(store))
    assert "not started again for the same upload" in str(retried.value)
    assert emulator.request_count("POST", "/models") == 1 and trainings(emulator) == 1


def test_failed_retraining_fails_the_polling_task_with_its_message(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    emulator.fail_next_job(kind="retrain", message=RETRAIN_MESSAGE)
    with pytest.raises(JobFailedError, match=RETRAIN_MESSAGE) as failed:
        retrain_op(deployed_model, customers_csv).execute(fake_context())
    assert failed.value.status == "job_failed"


def test_failed_retraining_fails_the_deferred_task_with_its_message(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    emulator.set_train_seconds(2.0)
    context = fake_context()
    op = retrain_op(deployed_model, customers_csv, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    emulator.fail_next_job(job_id=context["ti"].xcoms["retrain_job_id"], message=RETRAIN_MESSAGE)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "failed" and event["message"] == RETRAIN_MESSAGE
    with pytest.raises(JobFailedError, match=RETRAIN_MESSAGE):
        op.execute_complete(context, event, **deferred.value.kwargs)


def test_the_retry_of_a_failed_retraining_starts_one_new_job(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    emulator.fail_next_job(kind="retrain", message=RETRAIN_MESSAGE)
    store = TaskStateStore()
    with pytest.raises(JobFailedError, match=RETRAIN_MESSAGE):
        retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    summary = retrain_op(deployed_model, customers_csv).execute(fake_context(store))
    assert summary["status"] == "job_finished"
    assert retrainings(emulator) == 2  # the failed one and exactly one new one
