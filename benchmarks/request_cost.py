"""What one status check costs the event loop (explains item 3's CPU figure).

The same Train Status Check request, against one emulator (a separate process), sent by three
clients over 4 kept-alive connections, each in two patterns:

* *paced*: one request every 1/33 s — what 1,000 waits polling every 30 s average out to, when
  their polls do not coincide;
* *burst*: ``--burst`` requests at once (4 in flight) — what happens when the waits poll together.

Clients: a bare asyncio HTTP/1.1 exchange (``asyncio.open_connection``, no parsing beyond the
``Content-Length``: the floor of Python + the kernel), a plain ``httpx.AsyncClient``, and the
provider's ``AsyncPredictionOneClient`` (its transport's HTTP library, plus keys, retries and parsing). The CPU is
this process's ``time.process_time`` per request.

Figures only (no target) in the JSON line at the end.

Usage: ``python benchmarks/request_cost.py [--seconds 10] [--burst 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, SECRET_KEY, api_client, child_env, machine_line, report, table, temp_dir

HERE = Path(__file__).resolve().parent
CONNECTIONS = 4
RATE = 1000 / 30.0
# the clients' names in the JSON line
KEYS = {
    "bare asyncio (floor)": "bare_asyncio",
    "httpx.AsyncClient": "httpx",
    "AsyncPredictionOneClient (provider)": "provider",
}


async def measure(one: Callable[[], Awaitable[Any]], seconds: float, burst: int) -> tuple[float, float]:
    """(paced ms CPU per request, burst ms CPU per request)."""
    await asyncio.gather(*(one() for _ in range(20)))  # connections open, keys fetched
    count = int(seconds * RATE)
    tasks = []
    cpu = time.process_time()
    for _ in range(count):
        tasks.append(asyncio.ensure_future(one()))
        await asyncio.sleep(1 / RATE)
    await asyncio.gather(*tasks)
    paced = 1000 * (time.process_time() - cpu) / count
    cpu = time.process_time()
    await asyncio.gather(*(one() for _ in range(burst)))
    return paced, 1000 * (time.process_time() - cpu) / burst


async def bare(url: str, path: str, key: str) -> Callable[[], Awaitable[Any]]:
    host, port = url.split("//", 1)[1].split(":")
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection(host, int(port)))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nx-api-key: {key}\r\nAccept: application/json\r\n\r\n"
    payload = request.encode()

    async def one() -> Any:
        reader, writer = await pool.get()
        try:
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            return json.loads(await reader.readexactly(length))
        finally:
            pool.put_nowait((reader, writer))

    return one


async def run(url: str, job: str, seconds: float, burst: int) -> list[tuple[str, float, float]]:
    import httpx

    from airflow_provider_predictionone.api.aclient import AsyncClientRegistry
    from airflow_provider_predictionone.api.settings import ClientSettings

    with api_client(SECRET_KEY, url) as setup:
        key = setup.get_api_key("train").api_key
    path = f"/v1/external/models/results?external_process_id={job}"
    rows = []

    one = await bare(url, path, key)
    paced, batch = await measure(one, seconds, burst)
    rows.append(("bare asyncio (floor)", paced, batch))

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS))
    slots = asyncio.Semaphore(CONNECTIONS)

    async def with_httpx() -> Any:
        async with slots:
            response = await client.get(url + path, headers={"x-api-key": key, "Accept": "application/json"})
            return response.json()

    paced, batch = await measure(with_httpx, seconds, burst)
    rows.append(("httpx.AsyncClient", paced, batch))
    await client.aclose()

    provider = AsyncClientRegistry(max_connections=CONNECTIONS).client(ClientSettings(secret_key=SECRET_KEY, host=url))
    paced, batch = await measure(lambda: provider.train_status(job), seconds, burst)
    rows.append(("AsyncPredictionOneClient (provider)", paced, batch))
    await provider.aclose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each paced measurement")
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    print(f"# CPU per status check ({machine_line()}; {CONNECTIONS} connections)\n", flush=True)
    with temp_dir("p1-bench-cost-") as tmp:
        command = [PYTHON, str(HERE / "_emulator_host.py"), "--secret-key", SECRET_KEY, "--data-dir", str(tmp)]
        host = subprocess.Popen(
            [*command, "--jobs", "1", "--lead", "3600"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        try:
            assert host.stdin is not None and host.stdout is not None
            url = json.loads(host.stdout.readline())["url"]
            host.stdin.write("create\n")
            host.stdin.flush()
            job = json.loads(host.stdout.readline())["jobs"][0]
            rows = asyncio.run(run(url, job, args.seconds, args.burst))
        finally:
            if host.stdin is not None:
                host.stdin.write("quit\n")
                host.stdin.flush()
            host.wait(15)
    print(
        table(
            ["client", f"paced, {RATE:.0f}/s (CPU per request)", f"burst of {args.burst} (CPU per request)"],
            [[label, f"{paced:.2f} ms", f"{batch:.2f} ms"] for label, paced, batch in rows],
            "CPU of one Train Status Check, client side",
        )
    )
    paced = rows[-1][1]
    print(
        f"\nAt {RATE:.1f} checks a second (1,000 waits, 30 s interval) the provider's client needs "
        f"{paced * RATE / 10:.1f} % of a core when the checks do not coincide."
    )
    figures: dict[str, float] = {}
    for label, paced_ms, burst_ms in rows:
        figures[f"{KEYS[label]}_cpu_ms_per_request_paced"] = paced_ms
        figures[f"{KEYS[label]}_cpu_ms_per_request_burst"] = burst_ms
    figures["provider_core_percent_at_1000_waits"] = paced * RATE / 10
    print()
    report("request_cost", figures, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
