"""Fixtures for the object-storage tests: a fresh ``memory://`` folder per test, with the bundled
sample data copied in on request."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.triggers.job_fixtures import (  # noqa: F401  (fixtures)
    customers_csv,
    deployed_model,
    p1_client,
    p1_hook,
    start_training,
)

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"


def object_storage_available() -> bool:
    try:
        from airflow.providers.common.compat.sdk import ObjectStoragePath  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if object_storage_available():
        return
    skip = pytest.mark.skip(reason="Airflow's ObjectStoragePath is not available in this Airflow version")
    for item in items:
        if "tests/storage/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)


def storage_path(url: str) -> Any:
    """``ObjectStoragePath(url)`` the way the operators build it (memory:// gets fsspec's filesystem)."""
    from airflow_provider_predictionone.storage import resolve_path

    return resolve_path(url, param="test")


def put(url: str, source: Path | bytes) -> Any:
    """Write a local file (streamed) or bytes to ``url``; returns its ObjectStoragePath."""
    path = storage_path(url)
    if isinstance(source, bytes):
        path.write_bytes(source)
        return path
    with source.open("rb") as local, path.open("wb") as remote:
        shutil.copyfileobj(local, remote, 64 * 1024)
    return path


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A ``memory://`` folder of its own (removed afterwards), without a trailing slash."""
    import fsspec

    name = f"p1-test-{uuid.uuid4().hex[:10]}"
    # As this Airflow's ObjectStoragePath writes it: universal-pathlib < 0.3 (Airflow 2.11, 3.0) renders
    # memory://x as memory:///x, the same object.
    yield str(storage_path(f"memory://{name}"))
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


@pytest.fixture
def memory_data(memory_root: str) -> str:
    """The bundled sample data set copied into ``memory://``: the folder's URL."""
    for name in ("customers_train.csv", "customers_eval.csv", "customers_score.csv", "column_info.csv"):
        put(f"{memory_root}/data/{name}", DATA / name)
    return f"{memory_root}/data"
