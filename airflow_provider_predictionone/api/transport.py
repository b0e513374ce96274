"""The two HTTP libraries, each behind one small adapter.

:class:`SyncTransport` sends with ``requests`` (workers' calls, uploads and downloads),
:class:`AsyncTransport` with ``aiohttp`` (triggers and batch prediction, on an event loop). Both
take an :class:`HttpRequest` and give an :class:`HttpResponse` for every HTTP answer, error
statuses included; a request that got no answer raises
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

Four kept-alive connections serve about 80 checks a second at a 50 ms round trip, more than twice
what a thousand waits polling every 30 s need; requests beyond it wait their turn. A batch
prediction opens its own transport with as many connections as its concurrency."""
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
        origin = _origin(url)
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
    """What aiohttp takes as ``ssl``: ``False`` (no verification), or a ready ``ssl.SSLContext``
    (the system's default certificates, or the CA bundle at the given path). Loading certificates
    reads and parses files (tens of milliseconds), so a context is built once per process and setting."""
    if verify is False:
        return False
    import ssl

    return ssl.create_default_context(cafile=None if verify is True else str(verify))


_warm = threading.Lock()
_warmed: set[Any] = set()


def warm_up_async(verify: bool | str) -> None:
    """Do, in the calling thread, the one-time work the async stack would otherwise do on an event
    loop's thread when the first request of a process goes out: build the TLS context, and let
    aiohttp import what it loads on first use (its connector, HTTP writer and parser, cookie jar)
    by sending one request, on a throwaway loop, to a throwaway server on loopback that answers
    ``204``. A triggerer runs this in a worker thread (``PredictionOneHook.get_async_conn``), so
    its loop never stalls on it. Idempotent and thread-safe."""
    with _warm:
        if verify in _warmed:
            return
        tls_context(verify)
        codecs.lookup("utf-8-sig")  # answers are decoded with it (its codec module is imported on first use)

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        async def touch() -> None:
            server = await asyncio.start_server(answer, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            transport = AsyncTransport(verify, (10.0, 10.0), 1)
            try:
                await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", {"x-warm-up": "1"}, {"a": 1}))
            finally:
                await transport.aclose()
                server.close()
                await server.wait_closed()

        asyncio.run(touch())
        _warmed.add(verify)


class AsyncTransport:
    """``aiohttp`` behind the adapter, on an event loop: one ``ClientSession`` whose connector keeps
    up to ``connections`` connections (requests beyond them wait for one, at no cost). The session
    is opened by the first request, in the event loop that sends it, and belongs to that loop.

    aiohttp was chosen by measurement (``benchmarks/http_libraries.py``, ``docs/benchmarks.md``):
    a status check or an Inference request costs it a fraction of httpx's client CPU.

    The environment's proxy settings (``HTTP(S)_PROXY``, ``NO_PROXY``) are honoured; they are read
    once per origin, not on every request.

    :param verify: TLS verification: ``True``, ``False`` or a CA bundle's path.
    :param timeout: ``(connect, read)`` seconds.
    :param connections: connections at most.
    """

    def __init__(
        self,
        verify: bool | str = True,
        timeout: tuple[float, float] = (10.0, 60.0),
        connections: int = ASYNC_MAX_CONNECTIONS,
    ) -> None:
        self.verify = verify
        self.timeout = timeout
        self.connections = connections
        self._aiohttp: Any = None
        self._session: Any = None
        self._closed = False
        self._urls: dict[Any, Any] = {}
        self._proxies: dict[str, str | None] = {}

    @classmethod
    def for_settings(cls, settings: ClientSettings, connections: int = ASYNC_MAX_CONNECTIONS) -> AsyncTransport:
        """A transport with the connection's TLS verification and timeouts."""
        return cls(settings.verify, settings.timeout, connections)

    @property
    def closed(self) -> bool:
        return self._closed

    def _open(self) -> Any:
        import aiohttp

        self._aiohttp = aiohttp
        connect, read = self.timeout
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.connections,
                limit_per_host=self.connections,
                keepalive_timeout=ASYNC_KEEPALIVE_SECONDS,
                ssl=tls_context(self.verify),
            ),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read),
            auto_decompress=True,
        )
        return self._session

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole answer."""
        if self._closed:
            raise PredictionOneTransportError("the async transport is closed", sent=False)
        session = self._session or self._open()
        aiohttp = self._aiohttp
        url = self._url(request)
        try:
            async with session.request(
                request.method,
                url,
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                proxy=self._proxy(request.url),
            ) as response:
                body = await response.read()
                headers = {k.lower(): v for k, v in response.headers.items()}
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise PredictionOneTransportError(describe(exc), sent=False) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise PredictionOneTransportError(describe(exc), sent=True) from exc
        return HttpResponse(response.status, headers, body)

    async def aclose(self) -> None:
        """Close the connections (idempotent); the transport sends nothing afterwards."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _url(self, request: HttpRequest) -> Any:
        """The request's ``yarl.URL``, built once per (URL, query) and reused: a trigger sends the
        same status request every poll. The URL is taken as given (``encoded=True``: not re-quoted)."""
        params = request.params or {}
        try:
            key: Any = (request.url, tuple(sorted(params.items())))
            hash(key)
        except TypeError:  # unhashable parameter values: no caching
            key = None
        url = self._urls.get(key) if key is not None else None
        if url is None:
            import yarl

            url = yarl.URL(request.url, encoded=True)
            if params:  # str and int values (api/endpoints.py)
                url = url.update_query(dict(params))
            if key is not None:
                if len(self._urls) >= 64:
                    self._urls.clear()
                self._urls[key] = url
        return url

    def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for ``url``'s origin (``None``: direct), read once per origin."""
        origin = _origin(url)
        if origin not in self._proxies:
            import urllib.request
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            environment = urllib.request.getproxies_environment()
            proxy = environment.get(parts.scheme)
            if proxy and urllib.request.proxy_bypass_environment(parts.hostname or "", environment):
                proxy = None
            self._proxies[origin] = proxy or None
        return self._proxies[origin]


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what the environment's proxy settings are read for."""
    return "/".join(url.split("/", 3)[:3])
