"""When a cached API key is re-issued: five minutes before its ``end_date``, but not before half its life.

The rule documented in ``docs/reliability.md`` ("Expired API keys"): a key is re-issued after
``max(end_date - 5 min, now + (end_date - now) / 2)``. The client's key cache runs on a clock the
test moves forward; the keys come from the emulator (whose ``end_date`` is the real issue time plus
its ``key_lifetime``), and every Get API Key is counted where it arrives, on the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.keys import ApiKeyCache
from airflow_provider_predictionone.emulator import Emulator
from tests.clients import sync_client


class Clock:
    """A clock that starts now and moves only when told."""

    def __init__(self) -> None:
        self.start = datetime.now(timezone.utc)
        self.now = self.start

    def at(self, minutes: float) -> None:
        self.now = self.start + timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client_of(
    emulator_factory: Callable[..., Emulator], secret_key: str, clock: Clock
) -> Iterator[Callable[[float], tuple[PredictionOneClient, Emulator]]]:
    """``client_of(key_lifetime_seconds)``: an emulator issuing keys that live that long, and a
    client whose key cache reads ``clock``."""
    clients: list[PredictionOneClient] = []

    def make(key_lifetime: float) -> tuple[PredictionOneClient, Emulator]:
        emulator = emulator_factory(secret_keys=(secret_key,), key_lifetime=key_lifetime)
        client = sync_client(secret_key, host=emulator.url, key_cache=ApiKeyCache(clock=lambda: clock.now))
        clients.append(client)
        return client, emulator

    yield make
    for client in clients:
        client.close()


def key_requests_after(client: PredictionOneClient, emulator: Emulator) -> int:
    """Make one call that needs the train key; return how many Get API Key reached the emulator so far."""
    client.list_models()
    return emulator.request_count("GET", "/api-key")


def test_a_long_lived_key_is_reissued_five_minutes_before_its_end_date(
    client_of: Callable[[float], tuple[PredictionOneClient, Emulator]], clock: Clock
) -> None:
    client, emulator = client_of(3600)  # one hour: end_date - 5 min is later than half its life
    assert key_requests_after(client, emulator) == 1
    clock.at(54)
    assert key_requests_after(client, emulator) == 1  # reused
    clock.at(56)
    assert key_requests_after(client, emulator) == 2  # inside the last five minutes: re-issued


def test_a_short_lived_key_is_used_for_half_its_life(
    client_of: Callable[[float], tuple[PredictionOneClient, Emulator]], clock: Clock
) -> None:
    client, emulator = client_of(240)  # four minutes: already inside "five minutes before end_date"
    assert key_requests_after(client, emulator) == 1
    clock.at(1.5)
    assert key_requests_after(client, emulator) == 1  # not fetched again for every call
    clock.at(2.5)
    assert key_requests_after(client, emulator) == 2  # half its life has passed: re-issued
