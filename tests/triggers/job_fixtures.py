"""Fixtures that start real training and retraining jobs on the local emulator.

Shared by the trigger tests and the sensor tests (both ``conftest.py`` files import them). They
rely on the ``emulator`` and ``secret_key`` fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import csv
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import JobState
from airflow_provider_predictionone.api.models import ALLOW_ALL
from tests.clients import emulator_hook, install_connection, sync_client

TARGET = "購入"
COLUMNS = {"年齢": "float", "性別": "string", "年収": "float", "地域": "string", TARGET: "string"}
BINARY_CONFIG = {"tc": TARGET, "tt": "binary_classification", "tv": "はい"}
FAILING_CONFIG = {"tc": TARGET, "tt": "binary_classification", "tv": "たぶん"}
"""The positive value is not a value of the target column: the emulator fails the training."""

WAIT_SECONDS = 30.0


def write_customers_csv(path: Path, rows: int = 300, *, seed: int = 7, with_target: bool = True) -> Path:
    """A small synthetic customer table with Japanese headers; 購入 depends on 年収 and 年齢."""
    rng = random.Random(seed)
    names = [name for name in COLUMNS if with_target or name != TARGET]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for _ in range(rows):
            age = rng.randint(20, 70)
            income = round(rng.gauss(500 + 8 * (age - 20), 150), 1)
            row = {
                "年齢": age,
                "性別": rng.choice(["男性", "女性"]),
                "年収": income,
                "地域": rng.choice(["東京", "大阪", "名古屋", "福岡"]),
                TARGET: "はい" if income + rng.gauss(0, 120) > 750 else "いいえ",
            }
            writer.writerow([row[name] for name in names])
    return path


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def set_connection(monkeypatch: pytest.MonkeyPatch, host: str, secret_key: str, **extra: Any) -> None:
    """Install ``predictionone_default`` as an ``AIRFLOW_CONN_*`` environment variable."""
    install_connection(monkeypatch, host, secret_key, **extra)


def airflow_reads_connection(conn_id: str) -> bool:
    """Whether Airflow itself gives the connection back: before 3.3 it refuses one whose Extra is not a
    JSON object as if it did not exist; 2.x accepts an Extra that is not JSON at all."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def wait_until(check: Callable[[], Any], *, timeout: float = WAIT_SECONDS, interval: float = 0.1) -> Any:
    """Call ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str) -> None:
    """``predictionone_default`` pointing at the emulator."""
    set_connection(monkeypatch, emulator.url, secret_key, retries=1, retry_delay=0.05)


@pytest.fixture
def p1_client(emulator: Any, secret_key: str) -> Iterator[PredictionOneClient]:
    """A sync client of the emulator, for setting jobs up."""
    with sync_client(secret_key, host=emulator.url) as client:
        yield client


@pytest.fixture
def p1_hook(monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str) -> Any:
    """A hook on the emulator (its own connection ``predictionone_setup``), for setting jobs up."""
    return emulator_hook(monkeypatch, emulator, secret_key)


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    return write_customers_csv(tmp_path / "顧客.csv")


@pytest.fixture
def start_training(p1_hook: Any, customers_csv: Path) -> Callable[..., str]:
    """``start_training(config=BINARY_CONFIG, name=None)`` uploads data, starts training and returns
    the ``external_process_id`` to poll."""

    def start(config: dict[str, Any] | None = None, name: str | None = None) -> str:
        return start_training_with(p1_hook, customers_csv, config=config, name=name)

    return start


def start_training_with(
    hook: Any, training_file: Path, *, config: dict[str, Any] | None = None, name: str | None = None
) -> str:
    """Upload ``training_file`` (typed by ``COLUMNS``) with ``hook`` and start training it without
    checking the data first; returns the ``external_process_id`` to poll."""
    upload_id = hook.upload_training_data(training_file, COLUMNS, check_data=False)
    return hook.get_conn().create_model(
        upload_id, name or f"trigger-test-{uuid.uuid4().hex[:8]}", config or BINARY_CONFIG
    )


def wait_for_training(client: PredictionOneClient, external_process_id: str) -> Any:
    """Block until the training job ends; returns its last status."""
    return wait_until(
        lambda: (status := client.train_status(external_process_id)).state.is_terminal and status,
    )


@pytest.fixture
def deployed_model(p1_client: PredictionOneClient, start_training: Callable[..., str]) -> int:
    """A trained model with a prediction API (what retraining needs); returns its ``model_id``."""
    name = f"retrain-base-{uuid.uuid4().hex[:8]}"
    status = wait_for_training(p1_client, start_training(name=name))
    assert status.state is JobState.SUCCEEDED, status
    model = p1_client.find_model_by_name(name)
    assert model is not None
    p1_client.create_classifier(model.model_id, ALLOW_ALL)
    return model.model_id


@pytest.fixture
def start_retrain(p1_hook: Any, tmp_path: Path) -> Callable[..., str]:
    """``start_retrain(model_id, fail=False)`` uploads retraining data and returns the
    ``retrain_job_id``. With ``fail=True`` the data lacks the target column, so the job fails."""

    def start(model_id: int, *, fail: bool = False) -> str:
        path = write_customers_csv(tmp_path / f"retrain-{uuid.uuid4().hex[:6]}.csv", seed=11, with_target=not fail)
        return p1_hook.start_retraining(model_id, path)

    return start


def run_trigger(trigger: Any, *, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
    """Run a trigger on a fresh event loop; check it yields exactly one event and returns it."""
    import asyncio

    async def collect() -> dict[str, Any]:
        events = trigger.run()
        try:
            event = await asyncio.wait_for(anext(events), timeout)
            with pytest.raises(StopAsyncIteration):
                await anext(events)
        finally:
            await events.aclose()
        return event.payload

    return asyncio.run(collect())
