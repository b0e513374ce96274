"""The async client, for triggers, and the registry that shares its pools and keys in an event loop.

:class:`AsyncPredictionOneClient` has every endpoint method of :class:`~.endpoints.ClientBase`, each
returning an awaitable of the same result (``await client.train_status(...)``): the requests are
the sync client's, sent with :class:`~.transport.AsyncTransport` and repeated by :func:`.retry.arun`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_predictionone.api.endpoints import ClientBase, Request
from airflow_provider_predictionone.api.keys import ApiKeyCache
from airflow_provider_predictionone.api.models import ApiKey
from airflow_provider_predictionone.api.retry import arun
from airflow_provider_predictionone.api.settings import ClientSettings
from airflow_provider_predictionone.api.transport import (
    ASYNC_MAX_CONNECTIONS,
    AsyncTransport,
    warm_up_async,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncPredictionOneClient(ClientBase):
    """The async client: every endpoint method returns an awaitable of its result.

    :param settings: how to reach the service.
    :param transport: the transport to send with, shared with other clients (its owner closes
        it); without it the client opens its own connection pool and closes it in :meth:`aclose`.
    :param key_cache: the derived API keys, shared with the clients of the same settings.
    :param key_locks: ``{(credential, model_id): asyncio.Lock}`` shared by the clients that share
        ``key_cache``, so that concurrent calls needing the same missing key fetch it once.
    :param on_secret: called with the secret key and every derived key (a log masker).
    :param on_close: awaited once by :meth:`aclose` (the registry releases a shared pool with it).
    :param connections: the size of the client's own connection pool (without ``transport``): a
        batch prediction keeps one connection per concurrent row.

    Use it as an async context manager so that it is closed. Clients from
    :class:`AsyncClientRegistry` (what ``PredictionOneHook.get_async_conn`` returns) share one
    connection pool and one key cache per connection settings in an event loop.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: AsyncTransport | None = None,
        key_cache: ApiKeyCache | None = None,
        key_locks: dict[tuple[str, int | None], asyncio.Lock] | None = None,
        on_secret: Callable[[str], None] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        connections: int = ASYNC_MAX_CONNECTIONS,
    ) -> None:
        super().__init__(settings, key_cache=key_cache, on_secret=on_secret)
        self._owns_transport = transport is None
        self.transport = transport or AsyncTransport.for_settings(settings, connections)
        self._key_locks = key_locks if key_locks is not None else {}
        self._on_close = on_close
        self._closed = False

    async def __aenter__(self) -> AsyncPredictionOneClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: its own pool, or its share of a shared one (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_transport:
            await self.transport.aclose()
        if self._on_close is not None:
            await self._on_close()

    def _call(self, request: Request, parse: Callable[[Any], T]) -> Any:
        """A coroutine that runs one request to completion: keys, retries, error mapping."""
        return arun(
            self.settings.retry,
            lambda: self._attempt(request, parse),
            what=request.operation,
            idempotent=request.idempotent,
            logger=log,
        )

    async def _attempt(self, request: Request, parse: Callable[[Any], T]) -> T:
        key = self._cached_key(request)
        if key is None:
            key = await self._fetch_key(request)
        return self._answer(request, key, await self.transport.send(self._http(request, key)), parse)

    async def _fetch_key(self, request: Request) -> str:
        """The missing key, fetched once however many calls wait for it (a burst of deferrals)."""
        assert request.credential is not None
        lock = self._key_locks.setdefault((request.credential.value, request.model_id), asyncio.Lock())
        async with lock:
            known = self._cached_key(request)
            if known is not None:
                return known
            return self._keep_key(request, await self._call(self._key_request(request), ApiKey.from_json))


def prepare(verify: bool | str) -> None:
    """Do, in the calling thread, everything a process does on its first async request besides
    importing this module: importing the retry executor and :func:`~.transport.warm_up_async`. The
    hook runs it in a worker thread so that a triggerer's event loop never stalls on it."""
    import tenacity  # noqa: F401  (retry.arun imports it on first use)

    warm_up_async(verify)


@dataclass
class _SharedPool:
    transport: AsyncTransport
    users: int = 0


@dataclass
class _SharedKeys:
    cache: ApiKeyCache
    locks: dict[tuple[str, int | None], asyncio.Lock] = field(default_factory=dict)


@dataclass
class _LoopShares:
    pools: dict[tuple[Any, ...], _SharedPool] = field(default_factory=dict)
    keys: dict[ClientSettings, _SharedKeys] = field(default_factory=dict)


class AsyncClientRegistry:
    """Async clients that share, within one event loop, one HTTP connection pool and one API key
    cache per connection settings.

    A triggerer runs every trigger in one event loop; without sharing, each waiting task would
    hold its own pool (one TCP connection per wait) and fetch its own API key. The pool is keyed
    by (timeouts, TLS verification), the key cache by the whole settings. A pool is closed when the
    last client using it is closed; key caches live as long as the event loop (keys expire by
    themselves). Nothing is shared between event loops: connection pools are bound to their loop.

    :param max_connections: size of each shared pool (requests beyond it wait for a connection).
    """

    def __init__(self, max_connections: int = ASYNC_MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShares] = weakref.WeakKeyDictionary()

    def client(
        self, settings: ClientSettings, *, on_secret: Callable[[str], None] | None = None
    ) -> AsyncPredictionOneClient:
        """A client for the running event loop; close it (``async with``) to release its share."""
        shares = self._loops.setdefault(asyncio.get_running_loop(), _LoopShares())
        pool_key = (settings.connect_timeout, settings.read_timeout, settings.verify)
        pool = shares.pools.get(pool_key)
        if pool is None or pool.transport.closed:
            pool = shares.pools[pool_key] = _SharedPool(AsyncTransport.for_settings(settings, self.max_connections))
        keys = shares.keys.setdefault(settings, _SharedKeys(ApiKeyCache(settings.key_refresh_lead)))
        pool.users += 1
        return AsyncPredictionOneClient(
            settings,
            transport=pool.transport,
            key_cache=keys.cache,
            key_locks=keys.locks,
            on_secret=on_secret,
            on_close=lambda: self._release(shares, pool_key, pool),
        )

    async def _release(self, shares: _LoopShares, pool_key: tuple[Any, ...], pool: _SharedPool) -> None:
        pool.users -= 1
        if pool.users > 0:
            return
        if shares.pools.get(pool_key) is pool:
            del shares.pools[pool_key]
        await pool.transport.aclose()

    def open_pools(self) -> int:
        """Shared pools currently open in the running event loop (diagnostics and tests)."""
        shares = self._loops.get(asyncio.get_running_loop())
        return 0 if shares is None else len(shares.pools)


shared_async_clients = AsyncClientRegistry()
"""The registry :meth:`PredictionOneHook.get_async_conn` takes its clients from."""
