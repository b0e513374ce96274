"""An API key the service stops accepting (``Inactive_credential.``) is re-issued once.

The ``expire-keys`` fault expires every key issued so far and answers ``Inactive_credential.``; the
client must fetch a new key with the secret key (``GET /api-key``) and repeat the call — once. Each
operator builds its own client, so a task fetches its own key first: the counts below are "its own
key + exactly one refresh".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_predictionone.api.errors import InvalidCredentialsError
from airflow_provider_predictionone.emulator import Emulator
from tests.faults.remote import (
    deploy_op,
    fake_context,
    prediction_apis,
    retrain_op,
    retrainings,
    train_op,
    trainings,
    upload_op,
)
from tests.triggers.job_fixtures import run_trigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

OWN_KEY_AND_ONE_REFRESH = 2


def key_requests(emulator: Emulator) -> int:
    return emulator.request_count("GET", "/api-key")


def test_train_wait_refreshes_an_expired_key_once(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    before = key_requests(emulator)
    emulator.faults.add("/models/results", "expire-keys")
    assert train_op(epid).execute(fake_context())["status"] == "finished"
    assert emulator.faults.fired() == 1
    assert key_requests(emulator) == before + OWN_KEY_AND_ONE_REFRESH
    assert trainings(emulator) == 1


def test_deferred_train_wait_refreshes_an_expired_key_once(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    emulator.set_train_seconds(1.0)  # still running at the first check, so the task defers
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    context = fake_context()
    op = train_op(epid, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    before = key_requests(emulator)
    emulator.faults.add("/models/results", "expire-keys")
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success", event
    assert emulator.faults.fired() == 1
    assert key_requests(emulator) == before + OWN_KEY_AND_ONE_REFRESH  # the trigger's client: its key + 1
    assert op.execute_complete(context, event, **deferred.value.kwargs)["status"] == "finished"


def test_retrain_refreshes_an_expired_retrain_key_once(
    predictionone_conn: str, emulator: Emulator, deployed_model: int, customers_csv: Path
) -> None:
    before = key_requests(emulator)
    emulator.faults.add("/retrain_jobs/{retrain_job_id}", "expire-keys")
    assert retrain_op(deployed_model, customers_csv).execute(fake_context())["status"] == "job_finished"
    assert emulator.faults.fired() == 1
    assert key_requests(emulator) == before + OWN_KEY_AND_ONE_REFRESH
    assert retrainings(emulator) == 1


def test_deploy_refreshes_an_expired_deploy_key_once(
    predictionone_conn: str, emulator: Emulator, trained_model: int
) -> None:
    before = key_requests(emulator)
    emulator.faults.add("/classifiers", "expire-keys", method="GET")
    assert deploy_op(trained_model).execute(fake_context())["status"] == "running"
    assert emulator.faults.fired() == 1
    assert key_requests(emulator) == before + OWN_KEY_AND_ONE_REFRESH
    assert prediction_apis(emulator) == 1


def test_a_key_refused_again_right_after_the_refresh_fails_instead_of_looping(
    predictionone_conn: str, emulator: Emulator, customers_csv: Path
) -> None:
    epid = upload_op(customers_csv).execute(fake_context(task_id="upload"))
    before = key_requests(emulator)
    emulator.faults.add("/models/results", "expire-keys", 2)
    with pytest.raises(InvalidCredentialsError, match="Inactive_credential"):
        train_op(epid).execute(fake_context())
    assert emulator.faults.fired() == 2
    assert key_requests(emulator) == before + OWN_KEY_AND_ONE_REFRESH
