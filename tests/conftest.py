"""Fixtures shared by the whole test suite: a running local Prediction One emulator.

* ``emulator`` — a started :class:`~airflow_provider_predictionone.emulator.Emulator` on a free
  loopback port with fast timings (training 0.5 s, prediction-API transitions 0.3 s); its
  management base URL is ``emulator.base_url`` (``emulator.url + "/v1/external"``).
* ``secret_key`` — the secret key the ``emulator`` accepts.
* ``emulator_factory(**kwargs)`` — start further emulators with special settings (any
  ``Emulator`` keyword); all are stopped at the end of the test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # the package is not necessarily installed in the virtualenv
    sys.path.insert(0, str(_ROOT))

from airflow_provider_predictionone.emulator import DEFAULT_SECRET_KEY, Emulator  # noqa: E402

# Airflow is configured (temporary SQLite home) before any test module imports it.
pytest_plugins = ["tests.airflow_setup"]

FAST_TRAIN_SECONDS = 0.5
FAST_BUILD_SECONDS = 0.3


@pytest.fixture
def secret_key() -> str:
    """The secret key accepted by the ``emulator`` fixture."""
    return DEFAULT_SECRET_KEY


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with custom settings: ``emulator_factory(train_seconds=0.1, key_lifetime=1)``."""
    started: list[Emulator] = []

    def factory(**kwargs: Any) -> Emulator:
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("port", 0)
        kwargs.setdefault("train_seconds", FAST_TRAIN_SECONDS)
        kwargs.setdefault("build_seconds", FAST_BUILD_SECONDS)
        emulator = Emulator(**kwargs).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in reversed(started):
        emulator.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator], secret_key: str) -> Emulator:
    """A running emulator with fast timings, accepting ``secret_key``."""
    return emulator_factory(secret_keys=(secret_key,))
