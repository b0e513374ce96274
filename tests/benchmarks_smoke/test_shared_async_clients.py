"""The async clients triggers get share one connection pool and one key cache per event loop
(what ``benchmarks/waits.py`` measures at 1,000 waits)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_predictionone.api.aclient import (
    AsyncClientRegistry,
    AsyncPredictionOneClient,
    shared_async_clients,
)
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
from tests.clients import install_connection, settings

LOCAL = "http://127.0.0.1:9"


def test_clients_of_one_loop_share_a_pool_and_a_key_cache_until_the_last_closes() -> None:
    registry = AsyncClientRegistry(max_connections=3)

    async def scenario() -> None:
        first = registry.client(settings("secret-one", host=LOCAL))
        second = registry.client(settings("secret-one", host=LOCAL))
        other_secret = registry.client(settings("secret-two", host=LOCAL))
        other_timeout = registry.client(settings("secret-one", host=LOCAL, read_timeout=5))
        assert first.transport is second.transport is other_secret.transport  # one pool per timeouts / TLS
        assert other_timeout.transport is not first.transport
        assert first.keys is second.keys and first.keys is not other_secret.keys  # keys per settings
        assert registry.open_pools() == 2
        await other_timeout.aclose()
        assert registry.open_pools() == 1
        await first.aclose()
        await first.aclose()  # idempotent: releases its share once
        assert not second.transport.closed
        await second.aclose()
        assert not other_secret.transport.closed
        await other_secret.aclose()
        assert first.transport.closed and registry.open_pools() == 0
        third = registry.client(settings("secret-one", host=LOCAL))
        assert third.transport is not first.transport and third.keys is first.keys  # new pool, same keys
        await third.aclose()

    asyncio.run(scenario())


def test_event_loops_do_not_share_and_no_secret_is_shown_in_clear() -> None:
    registry = AsyncClientRegistry()

    async def open_one() -> Any:
        async with registry.client(settings("the-secret-key", host=LOCAL)) as client:
            shown = [repr(client.settings), repr(client.transport), repr(client.keys), repr(registry)]
            assert all("the-secret-key" not in text for text in shown)
            return client.transport

    assert asyncio.run(open_one()) is not asyncio.run(open_one())


def test_a_bad_connection_option_leaves_no_pool_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    install_connection(monkeypatch, LOCAL, "secret", "predictionone_bad", timeout=0)

    async def scenario() -> None:
        with pytest.raises(PredictionOneConfigError, match="timeout"):
            await PredictionOneHook("predictionone_bad").get_async_conn()
        assert shared_async_clients.open_pools() == 0

    asyncio.run(scenario())


def test_concurrent_calls_fetch_a_missing_key_once(emulator: Any, secret_key: str) -> None:
    registry = AsyncClientRegistry(max_connections=2)

    async def scenario() -> list[Any]:
        clients = [registry.client(settings(secret_key, host=emulator.url)) for _ in range(30)]
        try:
            return await asyncio.gather(*(client.list_models(0, 5) for client in clients))
        finally:
            for client in clients:
                await client.aclose()

    pages = asyncio.run(scenario())
    assert len(pages) == 30
    assert emulator.request_count("GET", "/api-key") == 1
    assert emulator.request_count("GET", "/models") == 30


def test_hook_hands_out_shared_clients_by_default(
    monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str
) -> None:
    install_connection(monkeypatch, emulator.url, secret_key)

    async def scenario() -> None:
        hook = PredictionOneHook()
        async with await hook.get_async_conn() as one, await hook.get_async_conn() as two:
            assert one.transport is two.transport and one.keys is two.keys
            await one.list_models(0, 1)
            await two.list_models(0, 1)
        async with await hook.get_async_conn(shared=False) as alone:
            assert isinstance(alone, AsyncPredictionOneClient) and alone.transport is not one.transport
            assert alone.keys is not one.keys
        assert one.transport.closed and alone.transport.closed

    asyncio.run(scenario())
    assert emulator.request_count("GET", "/api-key") == 1
