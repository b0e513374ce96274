"""Secret masking never stops the triggerer's event loop.

In Airflow 3.3's triggerer, ``mask_secret`` sends a message to the supervisor through greenback: while
it waits for the answer, the loop's other coroutines run. ``compat.mask_secret`` used to hold a thread
lock across that call, so a second trigger that reported a secret at the same moment blocked the
whole loop and neither trigger ever finished. Each test runs its loop on a thread and fails (instead
of hanging the suite) when the loop is still stuck after ``STUCK_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from airflow_provider_predictionone import compat
from airflow_provider_predictionone.triggers import PredictionOneJobTrigger
from tests.triggers.job_fixtures import WAIT_SECONDS

STUCK_AFTER = WAIT_SECONDS
"""Seconds after which a loop that has not finished counts as stuck (the jobs take well under 1 s)."""


def run_loop_on_thread(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """``asyncio.run(main())`` on a daemon thread; fail if it has not finished after STUCK_AFTER."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(STUCK_AFTER)
    assert not thread.is_alive(), f"the event loop was still stuck after {STUCK_AFTER} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@pytest.fixture
def fresh_masking(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Forget which secrets were masked (so every report reaches Airflow); record the reports."""
    reported: list[tuple[str, str | None]] = []
    real = compat._airflow_mask_secret

    def record(secret: str, name: str | None = None) -> None:
        reported.append((secret, name))
        real(secret, name)

    monkeypatch.setattr(compat, "_masked", set())
    monkeypatch.setattr(compat, "_airflow_mask_secret", record)
    return reported


def test_a_report_on_the_event_loop_does_not_wait_for_a_thread_holding_the_lock(
    fresh_masking: list[tuple[str, str | None]],
) -> None:
    """A batch thread may be in the middle of a report; the loop's own report must not queue behind it."""
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with compat._mask_lock:
            held.set()
            release.wait()  # until the test ends: a report that waits for it is stuck

    holder = threading.Thread(target=hold_the_lock, daemon=True)
    holder.start()
    assert held.wait(STUCK_AFTER)
    try:

        async def report() -> None:
            compat.mask_secret("secret-from-a-coroutine")

        run_loop_on_thread(report)
    finally:
        release.set()
        holder.join(STUCK_AFTER)
    assert fresh_masking == [("secret-from-a-coroutine", None)]
    compat.mask_secret("secret-from-a-coroutine")  # reported once: a second report is a no-op
    assert len(fresh_masking) == 1


def test_threads_still_report_one_at_a_time(fresh_masking: list[tuple[str, str | None]]) -> None:
    """Off the loop the lock still serializes reports (Airflow 3.0's supervisor channel needs it)."""
    held = threading.Event()
    done: list[str] = []

    def hold_the_lock() -> None:
        with compat._mask_lock:
            held.set()
            time.sleep(0.2)
            done.append("holder")

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(STUCK_AFTER)
    compat.mask_secret("secret-from-a-thread")
    done.append("reporter")
    holder.join()
    assert done == ["holder", "reporter"]
    assert fresh_masking == [("secret-from-a-thread", None)]


def test_two_triggers_started_together_both_finish_when_masking_yields_to_the_loop(
    monkeypatch: pytest.MonkeyPatch,
    fresh_masking: list[tuple[str, str | None]],
    connection: None,
    start_training: Callable[..., str],
) -> None:
    """The triggerer's set-up, reproduced: a greenback portal per trigger and a supervisor channel
    whose ``send`` waits on the loop (as ``TriggerCommsDecoder.send`` does on the loop thread)."""
    greenback = pytest.importorskip("greenback", reason="the triggerer uses greenback on Airflow 3.3+")
    from airflow.sdk.execution_time import task_runner

    class LoopSideComms:
        def send(self, msg: Any) -> None:
            return greenback.await_(asyncio.sleep(0.2))

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", LoopSideComms(), raising=False)
    jobs = [start_training(), start_training()]

    async def one(job: str) -> str:
        await greenback.ensure_portal()
        trigger = PredictionOneJobTrigger(
            kind="train",
            job_id=job,
            predictionone_conn_id="predictionone_default",
            poll_interval=0.1,
            end_time=time.time() + WAIT_SECONDS,
        )
        async for event in trigger.run():
            return str(event.payload["status"])
        raise AssertionError("the trigger yielded no event")

    async def both() -> list[str]:
        return list(await asyncio.gather(*(one(job) for job in jobs)))

    assert run_loop_on_thread(both) == ["success", "success"]
    assert fresh_masking, "the triggers reported their secrets to Airflow's masker"
