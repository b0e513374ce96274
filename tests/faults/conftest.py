"""Fixtures of the fault suite: a fast emulator, a patient connection, and jobs to build on.

Every test here injects faults with ``emulator.faults`` (see ``docs/emulator.md``, "Fault
injection") and runs a real operator, trigger or example DAG against the faulty emulator over
loopback HTTP. Remote state is counted on the emulator itself (:mod:`tests.faults.remote`), never
through the API, so that counting adds no requests of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import JobState
from airflow_provider_predictionone.api.models import ALLOW_ALL
from airflow_provider_predictionone.emulator import Emulator
from tests.dags.conftest import sample_deployed_model  # noqa: F401  (fixture)
from tests.triggers.job_fixtures import (  # noqa: F401  (fixtures)
    customers_csv,
    deployed_model,
    p1_client,
    p1_hook,
    start_retrain,
    start_training,
    wait_for_training,
    wait_until,
    write_customers_csv,
)

TRAIN_SECONDS = 0.2
BUILD_SECONDS = 0.1
RETRIES = 5
READ_TIMEOUT = 5.0


def connection_json(emulator: Emulator, secret_key: str, **extra: Any) -> str:
    """``AIRFLOW_CONN_PREDICTIONONE_DEFAULT`` for the emulator: fast, patient retries by default."""
    options = {"retries": RETRIES, "retry_delay": 0.01, "timeout": READ_TIMEOUT} | extra
    return json.dumps({"conn_type": "predictionone", "host": emulator.url, "password": secret_key, "extra": options})


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator], secret_key: str) -> Emulator:
    """The suite's emulator: jobs take 0.2 s, prediction-API transitions 0.1 s."""
    return emulator_factory(secret_keys=(secret_key,), train_seconds=TRAIN_SECONDS, build_seconds=BUILD_SECONDS)


@pytest.fixture
def predictionone_conn(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, secret_key: str) -> str:
    """``predictionone_default`` with 5 retries 10 ms apart and a 5 s read timeout (``run_dag`` uses it too)."""
    monkeypatch.setenv("AIRFLOW_CONN_PREDICTIONONE_DEFAULT", connection_json(emulator, secret_key))
    return "predictionone_default"


@pytest.fixture
def short_timeout_conn(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, secret_key: str) -> float:
    """``predictionone_default`` with a 1 s read timeout; returns the timeout."""
    monkeypatch.setenv("AIRFLOW_CONN_PREDICTIONONE_DEFAULT", connection_json(emulator, secret_key, timeout=1.0))
    return 1.0


@pytest.fixture
def trained_model(p1_client: PredictionOneClient, start_training: Callable[..., str]) -> int:  # noqa: F811
    """A trained model without a prediction API; returns its ``model_id``."""
    name = "fault-suite-base"
    assert wait_for_training(p1_client, start_training(name=name)).state is JobState.SUCCEEDED
    model = p1_client.find_model_by_name(name)
    assert model is not None
    return model.model_id


@pytest.fixture
def running_api(p1_client: PredictionOneClient, trained_model: int) -> str:  # noqa: F811
    """A running prediction API of ``trained_model``; returns its ``classifier_id``."""
    created = p1_client.create_classifier(trained_model, ALLOW_ALL)
    wait_until(lambda: (found := p1_client.get_classifier(created.classifier_id)) and found.is_ready)
    return created.classifier_id


@pytest.fixture
def scoring_csv(tmp_path: Path) -> Path:
    """40 rows to score (the columns of the ``trained_model`` data, without the target)."""
    return write_customers_csv(tmp_path / "score.csv", rows=40, seed=3, with_target=False)
