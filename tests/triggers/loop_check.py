"""Proof that a trigger leaves its event loop free while its HTTP requests are in flight.

Shared by the job and classifier trigger tests. The emulator holds the first request it receives
until a coroutine running on the trigger's own event loop releases it. A trigger that made its
request with a blocking client would hold the loop, the releasing coroutine could not run, and
the request would be released by the emulator's timeout instead; the outcome does not depend on
how fast or loaded the machine is.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

HOLD_SECONDS = 20.0


def run_with_first_request_held(
    emulator: Any, trigger: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], bool]:
    """Run ``trigger`` to its first event while the emulator holds its first request.

    :returns: the event's payload, and whether the loop released the held request (``True``)
        or the emulator gave up waiting for it (``False``: the loop was blocked).
    """
    arrived = threading.Event()
    released = threading.Event()
    released_by_loop: list[bool] = []
    original = emulator.app.intercept

    def intercept(request: Any) -> Any:
        if not arrived.is_set():
            arrived.set()
            released_by_loop.append(released.wait(HOLD_SECONDS))
        return original(request)

    monkeypatch.setattr(emulator.app, "intercept", intercept)

    async def scenario() -> dict[str, Any]:
        trigger_task = asyncio.ensure_future(anext(trigger.run()))
        while not arrived.is_set() and not trigger_task.done():
            await asyncio.sleep(0.01)
        released.set()
        return (await trigger_task).payload

    payload = asyncio.run(scenario())
    return payload, released_by_loop == [True]
