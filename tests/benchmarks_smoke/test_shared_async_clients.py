"""The async clients triggers get share one connection pool and one key cache per event loop
(what ``benchmarks/waits.py`` measures at 1,000 waits)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_predictionone.api import calls
from airflow_provider_predictionone.api.client import AsyncClientRegistry, AsyncPredictionOneClient
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook


def test_clients_of_one_loop_share_a_pool_and_a_key_cache_until_the_last_closes() -> None:
    registry = AsyncClientRegistry(max_connections=3)

    async def scenario() -> None:
        first = registry.client("secret-one", host="http://127.0.0.1:9")
        second = registry.client("secret-one", host="http://127.0.0.1:9")
        other_secret = registry.client("secret-two", host="http://127.0.0.1:9")
        assert first._client is second._client is other_secret._client  # one pool per settings
        assert first.keys is second.keys and first.keys is not other_secret.keys  # keys per secret
        assert registry.open_pools() == 1
        await first.aclose()
        await first.aclose()  # idempotent: releases its share once
        assert not second._client.is_closed
        await second.aclose()
        assert not other_secret._client.is_closed
        await other_secret.aclose()
        assert first._client.is_closed and registry.open_pools() == 0
        third = registry.client("secret-one", host="http://127.0.0.1:9")
        assert third._client is not first._client and third.keys is first.keys  # new pool, same keys
        await third.aclose()

    asyncio.run(scenario())


def test_event_loops_do_not_share_and_no_secret_is_kept_in_clear() -> None:
    registry = AsyncClientRegistry()

    async def open_one() -> Any:
        async with registry.client("the-secret-key", host="http://127.0.0.1:9") as client:
            shares = registry._loops[asyncio.get_running_loop()]
            assert all("the-secret-key" not in repr(key) for key in [*shares.pools, *shares.keys])
            return client._client

    assert asyncio.run(open_one()) is not asyncio.run(open_one())


def test_a_bad_client_option_leaves_no_pool_behind() -> None:
    registry = AsyncClientRegistry()

    async def scenario() -> None:
        with pytest.raises(Exception, match="read_timeout"):
            registry.client("secret", host="http://127.0.0.1:9", read_timeout=0)
        assert registry.open_pools() == 0

    asyncio.run(scenario())


def test_concurrent_calls_fetch_a_missing_key_once(emulator: Any, secret_key: str) -> None:
    registry = AsyncClientRegistry(max_connections=2)

    async def scenario() -> list[Any]:
        clients = [registry.client(secret_key, host=emulator.url) for _ in range(30)]
        try:
            return await asyncio.gather(*(client.call(calls.list_models(0, 5)) for client in clients))
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
    conn = {"conn_type": "predictionone", "host": emulator.url, "password": secret_key}
    monkeypatch.setenv("AIRFLOW_CONN_PREDICTIONONE_DEFAULT", json.dumps(conn))

    async def scenario() -> None:
        hook = PredictionOneHook()
        async with await hook.get_async_conn() as one, await hook.get_async_conn() as two:
            assert one._client is two._client
            await one.call(calls.list_models(0, 1))
            await two.call(calls.list_models(0, 1))
        async with await hook.get_async_conn(shared=False) as alone:
            assert isinstance(alone, AsyncPredictionOneClient) and alone._client is not one._client
        assert one._client.is_closed

    asyncio.run(scenario())
    assert emulator.request_count("GET", "/api-key") == 1
