"""The synchronous Prediction One client (``requests`` underneath), for workers.

Its endpoint methods are :class:`~.endpoints.ClientBase`'s; it runs each request in the calling
thread with :func:`.retry.run` and :class:`~.transport.SyncTransport`, and adds what only a worker
does: paging through lists, and moving files (:mod:`.transfer`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_predictionone.api import retry
from airflow_provider_predictionone.api.endpoints import ClientBase, Request
from airflow_provider_predictionone.api.models import ApiKey, DataSet, Model
from airflow_provider_predictionone.api.settings import ClientSettings
from airflow_provider_predictionone.api.transport import SyncTransport

log = logging.getLogger(__name__)

T = TypeVar("T")


class PredictionOneClient(ClientBase):
    """Synchronous client for every endpoint of the Prediction One API (``requests`` underneath).

    :param settings: how to reach the service (:class:`~.settings.ClientSettings`).
    :param key_cache: the derived API keys (default: the client's own).
    :param on_secret: called with the secret key and every derived key (a log masker).
    """

    def __init__(self, settings: ClientSettings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.transport = SyncTransport(settings)

    def __enter__(self) -> PredictionOneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def reserve_connections(self, connections: int) -> None:
        """Keep up to ``connections`` connections per host open (a batch's concurrent requests)."""
        self.transport.reserve(connections)

    def _call(self, request: Request, parse: Callable[[Any], T]) -> T:
        """Run one request to completion: keys, retries, error mapping."""
        return retry.run(
            self.settings.retry,
            lambda: self._attempt(request, parse),
            what=request.operation,
            idempotent=request.idempotent,
            logger=log,
        )

    def _attempt(self, request: Request, parse: Callable[[Any], T]) -> T:
        key = self._cached_key(request)
        if key is None:
            key = self._keep_key(request, self._call(self._key_request(request), ApiKey.from_json))
        return self._answer(request, key, self.transport.send(self._http(request, key)), parse)

    # -- paging and files (sync only) ---------------------------------------------------------

    def iter_models(self, page_size: int = 100) -> Iterator[Model]:
        """Every model, paging through ``metadata.total`` (spec 4.6)."""
        return _paginate(lambda offset: self.list_models(offset, page_size), lambda page: page.models)

    def find_model_by_name(self, name: str) -> Model | None:
        """The model called ``name``, newest ``created_date`` first if several match (spec 7.4)."""
        matches = [m for m in self.iter_models() if m.name == name]
        return max(matches, key=lambda m: (m.created_date or "", m.model_id)) if matches else None

    def iter_data_sets(self, page_size: int = 100) -> Iterator[DataSet]:
        """Every data set, paging through ``metadata.total`` (spec 4.8)."""
        return _paginate(lambda offset: self.list_data_sets(offset, page_size), lambda page: page.data_sets)

    def upload(self, url: str, source: Any, *, label: str, **options: Any) -> Any:
        """PUT an :class:`~.sources.UploadSource` to a pre-issued upload URL: streamed, checked, retried
        from the start (see :func:`.transfer.upload`); returns its ``UploadReceipt``."""
        from airflow_provider_predictionone.api import transfer

        return transfer.upload(self.transport, self.settings.retry, url, source, label=label, **options)

    def download(self, url: str, *, label: str, destination: str | os.PathLike[str] | Any = None) -> bytes | Path | Any:
        """GET a result URL: the bytes, or streamed to ``destination`` (see :func:`.transfer.download`)."""
        from airflow_provider_predictionone.api import transfer

        return transfer.download(self.transport, self.settings.retry, url, label=label, destination=destination)


def _paginate(fetch: Callable[[int], Any], items: Callable[[Any], list[T]]) -> Iterator[T]:
    offset = 0
    while True:
        page = fetch(offset)
        batch = items(page)
        yield from batch
        offset += len(batch)
        if not batch or offset >= page.metadata.total:
            return
