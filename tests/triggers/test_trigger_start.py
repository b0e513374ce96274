"""A trigger's first run does its one-time work off the event loop's thread.

On a triggerer every trigger shares one event loop, and Airflow warns ("Triggerer's async thread was
blocked") when a callback holds it: the first Prediction One trigger of a process used to import the
async client (its response classes, its transport), build the TLS context (loading CA certificates)
and let anyio import what it loads lazily — a few hundred milliseconds on the loop. The hook now does
that in a worker thread. A fresh interpreter proves it: an audit hook records every module imported
on the loop's thread while the trigger runs, and loading certificates there is recorded too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, json, ssl, sys, threading, time
import airflow  # what a triggerer has loaded before any trigger runs: Airflow, its connection lookup
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger

async def airflow_own_lookup():
    conn = await get_async_connection("predictionone_default")
    await get_async_extra_dejson(conn)

asyncio.run(airflow_own_lookup())
LOOP_THREAD = threading.get_ident()
on_loop = []

def loop_thread():
    if threading.get_ident() != LOOP_THREAD:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

def audit(event, args):
    if event == "import" and loop_thread():
        on_loop.append(args[0])

load_verify_locations = ssl.SSLContext.load_verify_locations

def recording_load(self, *args, **kwargs):
    if loop_thread():
        on_loop.append("ssl.SSLContext.load_verify_locations")
    return load_verify_locations(self, *args, **kwargs)

ssl.SSLContext.load_verify_locations = recording_load
sys.addaudithook(audit)
trigger = PredictionOneJobTrigger(
    kind="train", job_id=sys.argv[1], predictionone_conn_id="predictionone_default", poll_interval=0.1,
    end_time=time.time() + 60,
)

async def first_event():
    return (await anext(trigger.run())).payload

event = asyncio.run(first_event())
# An import that fails (a package that is not installed, tried by httpcore on every call) loads nothing.
loaded = sorted({name for name in on_loop if name in sys.modules or name.startswith("ssl.")})
print("RESULT " + json.dumps({"event": event, "on_loop": loaded}))
"""


def run_child(emulator: Any, secret_key: str, job_id: str, **extra: Any) -> dict[str, Any]:
    conn = {"conn_type": "predictionone", "host": emulator.url, "password": secret_key, "extra": extra}
    env = dict(os.environ, PYTHONPATH=str(ROOT), AIRFLOW_CONN_PREDICTIONONE_DEFAULT=json.dumps(conn))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, job_id], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.split(" ", 1)[1])


def test_first_trigger_of_a_process_imports_nothing_on_the_event_loop(
    emulator: Any, secret_key: str, start_training: Any
) -> None:
    result = run_child(emulator, secret_key, start_training())
    assert result["event"]["status"] == "success", result["event"]
    assert result["on_loop"] == [], result["on_loop"]


def test_a_ca_bundle_is_loaded_off_the_event_loop_too(
    emulator: Any, secret_key: str, start_training: Any, tmp_path: Path
) -> None:
    import certifi

    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    result = run_child(emulator, secret_key, start_training(), ca_bundle=str(bundle))
    assert result["event"]["status"] == "success", result["event"]
    assert result["on_loop"] == [], result["on_loop"]
