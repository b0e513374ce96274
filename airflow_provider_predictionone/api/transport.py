"""The two HTTP libraries, each behind one small adapter.

:class:`SyncTransport` sends with ``requests`` (workers), :class:`AsyncTransport` with ``httpx``
(triggers, on an event loop). Both take an :class:`HttpRequest` and give an :class:`HttpResponse`
for every HTTP answer, error statuses included; a request that got no answer raises
:class:`~.errors.PredictionOneTransportError` whose ``sent`` says whether it may have reached the
server. No code above this module knows which library is underneath.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_predictionone.api.errors import PredictionOneTransportError
from airflow_provider_predictionone.api.settings import ClientSettings

CHUNK_SIZE = 1024 * 1024
ASYNC_MAX_CONNECTIONS = 4
"""Connections at most in one shared async pool (every trigger of one connection's settings uses it).

Small on purpose: httpcore 1.x rescans every pooled connection (and probes each idle one's socket)
on every request, so the CPU a request costs grows with the pool's size (``docs/benchmarks.md``).
Four kept-alive connections serve about 80 checks a second at a 50 ms round trip, more than twice
what a thousand waits polling every 30 s need; requests beyond it wait their turn."""
ASYNC_KEEPALIVE_SECONDS = 50.0
"""How long an idle pooled connection is kept: longer than the default 30 s poll interval, shorter
than the 60 s idle timeout common in load balancers."""


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request. ``body`` is bytes, or a file-like reader with ``len()`` (uploads)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    params: Mapping[str, Any] | None = None
    body: bytes | IO[bytes] | Any = None


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP answer; header names in lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def describe(exc: BaseException) -> str:
    """A library exception as a short text (urllib3 messages repeat the pool object: keep the tail)."""
    text = str(exc)
    if "Caused by" in text:
        text = text.split("Caused by", 1)[1].strip(" ()")
    kind = type(exc).__name__
    return f"{kind}: {text[:200]}" if text else kind


class SyncTransport:
    """``requests`` behind the adapter: one session (a connection pool per host) per client.

    The environment settings that ``requests`` would read on every request (``*_PROXY`` /
    ``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``) are read once per origin here: a
    batch sends thousands of requests to one URL, and reading the whole process environment twice
    per request was a quarter of a row's client CPU (``docs/benchmarks.md``).
    """

    def __init__(self, settings: ClientSettings) -> None:
        import requests

        self._requests = requests
        self._settings = settings
        self.session = requests.Session()
        self.session.trust_env = False  # the environment is read once per origin instead
        self._environment: dict[str, tuple[dict[str, str], bool | str]] = {}
        self._pool_size = requests.adapters.DEFAULT_POOLSIZE
        self._not_sent = _connect_failures()

    def reserve(self, connections: int) -> None:
        """Keep up to ``connections`` connections per host (concurrent batch requests)."""
        if connections <= self._pool_size:
            return
        adapters = self._requests.adapters
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, adapters.HTTPAdapter(pool_maxsize=connections))
        self._pool_size = connections

    def _environment_for(self, url: str) -> tuple[dict[str, str], bool | str]:
        parts = url.split("/", 3)
        origin = "/".join(parts[:3])
        known = self._environment.get(origin)
        if known is None:
            proxies = self._requests.utils.get_environ_proxies(url)
            verify = self._settings.verify
            if verify is True:
                verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            known = self._environment[origin] = (dict(proxies), verify)
        return known

    def send(self, request: HttpRequest, *, sink: Callable[[Iterator[bytes]], None] | None = None) -> HttpResponse:
        """Send ``request``. With ``sink``, a 2xx body is streamed into it (chunks) instead of read."""
        proxies, verify = self._environment_for(request.url)
        try:
            with self.session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                params=request.params,
                data=request.body,
                timeout=self._settings.timeout,
                verify=verify,
                proxies=proxies,
                stream=sink is not None,
            ) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                if sink is not None and 200 <= response.status_code < 300:
                    sink(response.iter_content(CHUNK_SIZE))
                    return HttpResponse(response.status_code, headers)
                return HttpResponse(response.status_code, headers, response.content)
        except self._requests.exceptions.RequestException as exc:
            raise PredictionOneTransportError(describe(exc), sent=not self._never_sent(exc)) from exc

    def _never_sent(self, exc: BaseException) -> bool:
        """Whether the failure proves the request never reached the server: only a failure to
        connect does; a read timeout or a connection dropped mid-answer may come after it acted."""
        pending: list[BaseException] = [exc]
        seen: set[int] = set()
        while pending:
            node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, self._not_sent):
                return True
            linked = (getattr(node, "reason", None), node.__cause__, node.__context__, *node.args)
            pending.extend(item for item in linked if isinstance(item, BaseException))
        return False

    def close(self) -> None:
        self.session.close()


def _connect_failures() -> tuple[type[BaseException], ...]:
    """The ``requests`` / urllib3 exceptions that mean "could not connect" (name resolution
    included: urllib3's ``NameResolutionError`` is a ``NewConnectionError``)."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    return (requests.exceptions.ConnectTimeout, NewConnectionError, ConnectTimeoutError)


@functools.lru_cache(maxsize=8)
def tls_context(verify: bool | str) -> Any:
    """What httpx takes as ``verify``: ``False``, or a ready ``ssl.SSLContext`` (httpx's default
    certificates, or the CA bundle at the given path). Loading certificates reads and parses files
    (tens of milliseconds), so a context is built once per process and setting."""
    if verify is False:
        return False
    import httpx

    if verify is True:
        return httpx.create_ssl_context()
    import ssl

    return ssl.create_default_context(cafile=str(verify))


_warm = threading.Lock()
_warmed: set[Any] = set()


def warm_up_async(verify: bool | str) -> None:
    """Do, in the calling thread, the one-time work the async stack would otherwise do on an event
    loop's thread when the first request of a process goes out: build the TLS context, and let anyio
    import what it loads lazily on first use (its synchronisation primitives, its asyncio backend and
    its socket streams: through their public API on a throwaway loop, with one TCP connection to a
    listening socket on loopback that is closed at once). A triggerer runs this in a worker thread
    (``PredictionOneHook.get_async_conn``), so its loop never stalls on it. Idempotent and thread-safe."""
    with _warm:
        if verify in _warmed:
            return
        tls_context(verify)
        codecs.lookup("utf-8-sig")  # answers are decoded with it (its codec module is imported on first use)
        import socket

        import anyio

        async def touch(port: int) -> None:
            anyio.Lock()
            anyio.Event()
            anyio.Semaphore(1)
            stream = await anyio.connect_tcp("127.0.0.1", port)  # the kernel queues it: no server needed
            await stream.aclose()
            async with new_async_pool_for(verify):  # httpx imports its connection machinery here
                pass

        with socket.create_server(("127.0.0.1", 0)) as listener:
            asyncio.run(touch(listener.getsockname()[1]))
        _warmed.add(verify)


def new_async_pool(settings: ClientSettings, max_connections: int = ASYNC_MAX_CONNECTIONS) -> Any:
    """An ``httpx.AsyncClient`` (one connection pool) sized for many concurrent waits."""
    return new_async_pool_for(settings.verify, settings.timeout, max_connections)


def new_async_pool_for(
    verify: bool | str,
    timeout: tuple[float, float] = (10.0, 60.0),
    max_connections: int = ASYNC_MAX_CONNECTIONS,
) -> Any:
    """:func:`new_async_pool` from its parts: TLS verification, ``(connect, read)`` timeouts, size."""
    import httpx  # deferred: only triggers need it

    connect, read = timeout
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read, connect=connect),
        verify=tls_context(verify),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=ASYNC_KEEPALIVE_SECONDS,
        ),
    )


class AsyncTransport:
    """``httpx`` behind the adapter, on an event loop.

    :param pool: the ``httpx.AsyncClient`` to send with (see :func:`new_async_pool`); shared by
        the transports of one connection's settings in one event loop.
    :param slots: a semaphore sized to the pool: requests beyond its size wait here, where waiting
        costs nothing, instead of in the pool's queue, which httpcore rescans on every request.
    """

    def __init__(self, pool: Any, slots: asyncio.Semaphore) -> None:
        import httpx

        self._httpx = httpx
        self.pool = pool
        self._slots = slots
        self._urls: dict[Any, Any] = {}

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole answer."""
        httpx = self._httpx
        try:
            url = self._url(request)
            async with self._slots:
                response = await self.pool.request(
                    request.method, url, headers=dict(request.headers), content=request.body
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise PredictionOneTransportError(describe(exc), sent=False) from exc
        except httpx.HTTPError as exc:
            raise PredictionOneTransportError(describe(exc), sent=True) from exc
        return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    def _url(self, request: HttpRequest) -> Any:
        """The request's ``httpx.URL``, parsed once per (URL, query) and reused: a trigger sends the
        same status request every poll, and httpx parses a URL string in Python on every request
        (a third of a status check's CPU), a ready ``httpx.URL`` not at all."""
        params = request.params or {}
        try:
            key: Any = (request.url, tuple(sorted(params.items())))
            hash(key)
        except TypeError:  # unhashable parameter values: no caching
            key = None
        url = self._urls.get(key) if key is not None else None
        if url is None:
            url = self._httpx.URL(request.url)
            if params:
                url = url.copy_merge_params(dict(params))
            if key is not None:
                if len(self._urls) >= 64:
                    self._urls.clear()
                self._urls[key] = url
        return url
