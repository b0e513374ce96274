"""How a batch sends its rows: on one event loop of the batch's own, with an adapter per kind of client.

:class:`~.batch.BatchPredictor` reads, orders and writes rows the same way for every client; what
differs is how one row's request goes out (:func:`row_sender`):

* a client of this package (a :class:`~.client.PredictionOneClient`, what the hook passes, or an
  :class:`~.aclient.AsyncPredictionOneClient`) is served by an async client of its own with the same
  settings (retries, timeouts, TLS) and ``concurrency`` kept-alive connections, opened and closed
  with the batch's loop (the given client is not used: an async client's connections belong to the
  loop that opened them);
* another object whose ``inference`` is a coroutine function is awaited on the batch's loop;
* any other object with a blocking ``inference`` method (a test double, a wrapper) is called in
  ``concurrency`` threads, after ``reserve_connections(concurrency)`` if it has that method.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from airflow_provider_predictionone.api.models import InferenceResult
from airflow_provider_predictionone.api.settings import ClientSettings

T = TypeVar("T")

Send = Callable[[str], Awaitable[InferenceResult]]
"""Sends one request's CSV text (header + one row) and gives the answer."""


class InferenceClient(Protocol):
    """What the batch needs of a client: an ``inference`` method, blocking or async
    (:class:`~.client.PredictionOneClient`, :class:`~.aclient.AsyncPredictionOneClient`)."""

    def inference(self, url: str, api_key: str, csv_text: str, **flags: Any) -> Any: ...


@contextlib.asynccontextmanager
async def row_sender(
    client: InferenceClient, url: str, api_key: str, flags: Mapping[str, Any], concurrency: int
) -> AsyncIterator[Send]:
    """How a row's request is sent with ``client`` (see the module docs), on the running loop."""
    settings = getattr(client, "settings", None)
    if isinstance(settings, ClientSettings):
        from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient

        # No log masker here: the rows are sent with the prediction API's key, which the client
        # that looked it up has registered already, and nothing is reported from this loop.
        async with AsyncPredictionOneClient(settings, connections=concurrency) as native:
            yield lambda csv_text: native.inference(url, api_key, csv_text, **flags)
    elif inspect.iscoroutinefunction(client.inference):
        yield lambda csv_text: client.inference(url, api_key, csv_text, **flags)
    else:
        reserve = getattr(client, "reserve_connections", None)
        if reserve is not None:  # a connection kept per thread
            reserve(concurrency)
        threads = ThreadPoolExecutor(concurrency, thread_name_prefix="predictionone-batch")
        loop = asyncio.get_running_loop()
        try:
            yield lambda csv_text: loop.run_in_executor(
                threads, functools.partial(client.inference, url, api_key, csv_text, **flags)
            )
        finally:
            threads.shutdown(wait=True, cancel_futures=True)


def run_on_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on a new event loop: in this thread, or in a helper thread when this thread
    already runs one (a batch started from async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1, thread_name_prefix="predictionone-batch-loop") as thread:
        return thread.submit(asyncio.run, work).result()
