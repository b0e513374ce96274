"""Proof that a trigger reads its connection without a synchronous lookup on the event loop's thread.

Shared by the job and classifier trigger tests. The hook gets the connection with common-compat's
``get_async_connection`` and its extras with ``get_async_extra_dejson``: Airflow's own async lookup
where it masks secrets asynchronously (3.3.2+), else the synchronous lookup in a worker thread. A
synchronous ``get_connection`` or ``extra_dejson`` on the loop's thread would mask secrets with a
blocking call to the supervisor (``DeadlockImminentError`` in a busy triggerer).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

ON_THE_LOOP = "on the loop's thread"
OFF_THE_LOOP = "in another thread"
ASYNC = "async lookup"


def _on_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _connection_classes() -> list[type]:
    """Every ``Connection`` class a lookup may return on this Airflow version."""
    from airflow.models.connection import Connection as CoreConnection
    from airflow.providers.common.compat.sdk import Connection

    return list(dict.fromkeys([Connection, CoreConnection]))


def record_connection_lookups(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record every connection lookup and extras read, by where it ran.

    :returns: ``{ON_THE_LOOP: [...], OFF_THE_LOOP: [...], ASYNC: [...]}``: synchronous
        ``BaseHook.get_connection`` / ``Connection.extra_dejson`` calls made on a thread running an
        event loop, made elsewhere, and ``BaseHook.aget_connection`` calls (Airflow 3.1+).
    """
    from airflow.providers.common.compat.sdk import BaseHook

    seen: dict[str, list[str]] = {ON_THE_LOOP: [], OFF_THE_LOOP: [], ASYNC: []}

    def where() -> list[str]:
        return seen[ON_THE_LOOP if _on_loop_thread() else OFF_THE_LOOP]

    sync_lookup = vars(BaseHook)["get_connection"].__func__

    def get_connection(cls: Any, conn_id: str) -> Any:
        where().append(f"get_connection({conn_id})")
        return sync_lookup(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(get_connection))

    if "aget_connection" in vars(BaseHook):
        async_lookup = vars(BaseHook)["aget_connection"].__func__

        async def aget_connection(cls: Any, conn_id: str) -> Any:
            seen[ASYNC].append(f"aget_connection({conn_id})")
            return await async_lookup(cls, conn_id)

        monkeypatch.setattr(BaseHook, "aget_connection", classmethod(aget_connection))

    for cls in _connection_classes():
        read_extras = vars(cls)["extra_dejson"].fget

        def extra_dejson(self: Any, _read: Any = read_extras) -> Any:
            where().append(f"extra_dejson({self.conn_id})")
            return _read(self)

        monkeypatch.setattr(cls, "extra_dejson", property(extra_dejson))
    return seen
