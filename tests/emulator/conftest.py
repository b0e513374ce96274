"""Fixtures of the emulator tests: synthetic data sets, a manual-style client, trained models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from emulator_testkit import (
    BINARY_CONFIG,
    COLUMN_TYPES,
    HEADER,
    ManualClient,
    column_info,
    purchase_rows,
    to_csv,
)

from airflow_provider_predictionone.emulator import Emulator


@pytest.fixture
def p1(emulator: Emulator, secret_key: str) -> ManualClient:
    """A manual-style client of the ``emulator`` fixture."""
    return ManualClient(emulator, secret_key)


@pytest.fixture
def client_for() -> Callable[..., ManualClient]:
    """Build a manual-style client for another emulator / secret key."""
    return ManualClient


@pytest.fixture(scope="session")
def learn_csv() -> bytes:
    """300 training rows (UTF-8 with BOM, Japanese headers)."""
    return to_csv(HEADER, purchase_rows(300, seed=1), bom=True)


@pytest.fixture(scope="session")
def eval_csv() -> bytes:
    """100 evaluation rows."""
    return to_csv(HEADER, purchase_rows(100, seed=2, start_id=1000))


@pytest.fixture(scope="session")
def info_csv() -> bytes:
    return column_info(HEADER, COLUMN_TYPES)


@pytest.fixture
def trained_model(p1: ManualClient, learn_csv: bytes, info_csv: bytes) -> int:
    """A finished binary model's id."""
    model_id, _ = p1.train("fixture-model", learn_csv, info_csv, BINARY_CONFIG)
    return model_id


@pytest.fixture
def deployed(p1: ManualClient, trained_model: int) -> tuple[str, dict[str, Any]]:
    """(deploy key, running classifier) of ``trained_model``."""
    return p1.deploy(trained_model)
