"""Child process of ``waits.py``: wait for N training jobs in one of three ways, and measure it.

* ``shared``: N :class:`PredictionOneJobTrigger` in ONE event loop, as a triggerer runs them
  (``asyncio.gather`` over each trigger's first event); the hook hands every trigger a client of
  one shared connection pool and key cache.
* ``unshared``: the same triggers, but each builds its own client, connection pool and key cache
  (``get_async_conn(shared=False)``), as version 0.1.0 did (then with httpx; the transport is
  aiohttp now): what sharing saves.
* ``poke``: N threads, each one "worker slot" running a poke-mode
  :class:`PredictionOneTrainingSensor`: its own hook and sync client, ``poke()`` then
  ``time.sleep(poke_interval)`` until the job is done (what ``BaseSensorOperator.execute`` does).

The process imports everything, prints ``ready``, waits for ``go`` on stdin (so that every mode
starts at the same moment), runs, and writes a JSON result file: wall and CPU time (sampled every
second), peak RSS, and when each job's end was noticed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import read_proc_status


class Sampler(threading.Thread):
    """(wall, process CPU) every ``period`` seconds."""

    def __init__(self, period: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.samples.append((time.time(), time.process_time()))
            self.stop_event.wait(self.period)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
        self.samples.append((time.time(), time.process_time()))


def run_triggers(jobs: list[str], poll: float, deadline: float, unshared: bool) -> dict[str, Any]:
    from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger

    if unshared:
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        original = PredictionOneHook.get_async_conn

        async def unshared(self: Any, *, shared: bool = True) -> Any:
            return await original(self, shared=False)

        PredictionOneHook.get_async_conn = unshared  # type: ignore[method-assign]

    noticed: dict[str, float] = {}
    outcome: dict[str, str] = {}

    async def wait(job: str) -> None:
        trigger = PredictionOneJobTrigger(
            kind="train",
            job_id=job,
            predictionone_conn_id="predictionone_default",
            poll_interval=poll,
            end_time=deadline,
        )
        events = trigger.run()
        event = await anext(events)
        noticed[job] = time.time()
        payload = event.payload
        status = payload["status"]
        outcome[job] = status if status == "success" else f"{status}: {payload['message']}"
        await events.aclose()

    lags: list[float] = []

    async def watchdog() -> None:
        """What Airflow's triggerer does (``block_watchdog``): sleep 0.1 s and note how late it woke."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lags.append(time.monotonic() - before - 0.1)

    async def everything() -> None:
        watching = asyncio.ensure_future(watchdog())
        await asyncio.gather(*(wait(job) for job in jobs))
        watching.cancel()

    asyncio.run(everything())
    return {"noticed": noticed, "outcome": outcome, "loop_lag_max": max(lags, default=0.0),
            "loop_lag_over_0_2": sum(1 for lag in lags if lag > 0.2)}  # fmt: skip


def run_poke(jobs: list[str], poll: float, deadline: float) -> dict[str, Any]:
    from airflow_provider_predictionone.sensors.predictionone import PredictionOneTrainingSensor

    noticed: dict[str, float] = {}
    outcome: dict[str, str] = {}

    def slot(index: int, job: str) -> None:
        sensor = PredictionOneTrainingSensor(
            task_id=f"wait_{index}", external_process_id=job, poke_interval=poll, mode="poke", deferrable=False
        )
        try:
            while not sensor.poke({}):  # type: ignore[arg-type]
                if time.time() + poll > deadline:
                    outcome[job] = "timeout"
                    return
                time.sleep(poll)
            noticed[job] = time.time()
            outcome[job] = "success"
        except Exception as exc:
            outcome[job] = f"error: {type(exc).__name__}: {str(exc)[:200]}"

    threads = [threading.Thread(target=slot, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"noticed": noticed, "outcome": outcome}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("shared", "unshared", "poke"), required=True)
    parser.add_argument("--poll", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--log", default=os.devnull)
    parser.add_argument("--pool-size", type=int, default=0, help="override the shared pool's size (experiments)")
    parser.add_argument("--profile", default="", help="write cProfile stats of the waits to this file")
    args = parser.parse_args()

    # Import what the waits need before the clock starts (a triggerer / worker has it loaded).
    import importlib

    for name in (
        "airflow_provider_predictionone.sensors.predictionone",
        "airflow_provider_predictionone.api.client",
        "airflow_provider_predictionone.api.aclient",
    ):
        importlib.import_module(name)
    if args.mode != "poke":  # the async HTTP stack
        importlib.import_module("aiohttp")
    if args.pool_size:
        from airflow_provider_predictionone.api.aclient import shared_async_clients

        shared_async_clients.max_connections = args.pool_size

    idle = read_proc_status()
    print("ready", flush=True)
    jobs: list[str] = json.loads(sys.stdin.readline())["jobs"]
    # From here on the process's output (the triggers' and sensors' logs) goes to a file, as on a
    # triggerer or worker; nobody reads the pipe any more.
    with open(args.log, "ab") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
    sampler = Sampler()
    sampler.start()
    started, cpu_started = time.time(), time.process_time()
    usage_started = resource.getrusage(resource.RUSAGE_SELF)
    deadline = started + args.timeout
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if args.mode == "poke":
        result = run_poke(jobs, args.poll, deadline)
    else:
        result = run_triggers(jobs, args.poll, deadline, unshared=args.mode == "unshared")
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    sampler.stop()
    status = read_proc_status()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(
        {
            "mode": args.mode,
            "started": started,
            "wall": time.time() - started,
            "cpu": time.process_time() - cpu_started,
            "user": usage.ru_utime - usage_started.ru_utime,
            "system": usage.ru_stime - usage_started.ru_stime,
            "samples": sampler.samples,
            "rss_idle_kib": idle.get("VmRSS", 0),
            "rss_peak_kib": status.get("VmHWM", 0),
            "rss_end_kib": status.get("VmRSS", 0),
        }
    )
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
