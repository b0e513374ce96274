"""The HTTP libraries side by side on the provider's two hot paths (issue 15): which async client costs
the least CPU per request.

Libraries: ``httpx`` (``AsyncClient``) and ``aiohttp`` (``ClientSession``), the async libraries that
fit a triggerer's and a batch's event loop, and ``requests`` (a ``Session`` driven by a thread pool,
as the batch was before issue 15) for reference. A library that cannot be imported is named in the
table and left out. The paths, both against ``benchmarks/_sink.py --inference`` in its own process
(keep-alive, one thread per connection, a fixed small JSON answer to any request):

* *poll* — what a deferred wait sends every interval: a GET with the API key header and a query
  string, the small JSON answer parsed; 4 connections and 4 requests in flight (the size of the
  triggers' shared pool, ``ASYNC_MAX_CONNECTIONS``);
* *inference* — what batch prediction sends for every row: a POST of the Inference body that
  ``api/endpoints.py`` builds (JSON with the base64 of one CSV header and one row, and the flags),
  the JSON answer parsed; 32 connections and 32 requests in flight.

Each library runs in its own child process (this script with ``--child LIBRARY``), started once and
kept for the whole run; the libraries take turns, each going first in turn. For every run the child
opens a fresh client (one connection pool) with as many connections as requests in flight, sends
one request per connection (untimed: connections opened), then ``--requests`` requests, and reads
over them its own CPU time (``time.process_time``, every thread) and the sink's (``/proc``). Every
answer is checked (status 200, JSON). ``--rounds`` rounds; the medians are reported, with the ratio
to httpx.

Target (the JSON line at the end), per path: ``chosen_library_fastest_<path>`` — aiohttp's client
CPU per request (ms) is below the lowest of the other libraries' on that path.

Usage: ``python benchmarks/http_libraries.py [--rounds 5] [--requests 3000] [--libraries httpx,aiohttp,requests]``
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PYTHON,
    ROOT,
    Target,
    child_env,
    cpu_seconds,
    machine_line,
    median,
    report,
    sink_process,
    table,
    verdict,
)

HERE = Path(__file__).resolve().parent
LIBRARIES = ("httpx", "aiohttp", "requests")
LABELS = {"httpx": "httpx.AsyncClient", "aiohttp": "aiohttp.ClientSession", "requests": "requests + threads"}
CHOSEN = "aiohttp"
BASELINE = "httpx"
# path -> requests in flight (= connections)
PATHS = {"poll": 4, "inference": 32}
JOB_ID = "0b6f1c1e-5d4c-4a53-9d55-3c1f1a2b3c4d"
API_KEY = "k" * 40  # a derived key's length
CSV_ROW = "age,income,region\n30,500.0,tokyo\n"


def hot_path(path: str, sink_url: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, URL with its query, headers, body) of one request of ``path``: built by the
    provider's own endpoint code (``api/endpoints.py``), not sent."""
    from urllib.parse import urlencode

    from airflow_provider_predictionone.api.endpoints import ClientBase
    from airflow_provider_predictionone.api.settings import ClientSettings

    class Built(ClientBase):
        def _call(self, request: Any, parse: Any) -> Any:  # the HTTP request, instead of sending it
            return self._http(request, self._cached_key(request) or API_KEY)

    client = Built(ClientSettings(secret_key="secret", host=sink_url.split("/v1/", 1)[0]))
    built = client.train_status(JOB_ID) if path == "poll" else client.inference(sink_url, API_KEY, CSV_ROW)
    url = built.url + ("?" + urlencode(built.params) if built.params else "")
    return built.method, url, dict(built.headers), built.body


def parse(status: int, body: bytes) -> None:
    """What the provider does with an answer: the status checked, the body decoded as JSON."""
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    json.loads(body.decode("utf-8-sig"))


# -- the child: one library ----------------------------------------------------------------------


async def drive(one: Callable[[], Awaitable[None]], count: int, in_flight: int) -> None:
    """``count`` calls of ``one``, ``in_flight`` at a time (workers, no task per request)."""
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(in_flight)))


async def run_httpx(request: tuple[str, str, dict[str, str], bytes | None], count: int, in_flight: int) -> Any:
    import httpx

    method, url, headers, body = request
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0)) as client:
        target = httpx.URL(url)  # parsed once, as the provider's httpx transport does

        async def one() -> None:
            response = await client.request(method, target, headers=headers, content=body)
            parse(response.status_code, response.content)

        await drive(one, in_flight, in_flight)
        return await timed(drive(one, count, in_flight))


async def run_aiohttp(request: tuple[str, str, dict[str, str], bytes | None], count: int, in_flight: int) -> Any:
    import aiohttp
    import yarl

    method, url, headers, body = request
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30.0)) as session:
        target = yarl.URL(url)  # parsed once

        async def one() -> None:
            async with session.request(method, target, headers=headers, data=body) as response:
                parse(response.status, await response.read())

        await drive(one, in_flight, in_flight)
        return await timed(drive(one, count, in_flight))


def run_requests(request: tuple[str, str, dict[str, str], bytes | None], count: int, in_flight: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    method, url, headers, body = request
    with requests.Session() as session, ThreadPoolExecutor(in_flight) as pool:
        session.trust_env = False  # the provider's transport reads the environment once, not per request
        session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=in_flight))

        def one() -> None:
            response = session.request(method, url, headers=headers, data=body)
            parse(response.status_code, response.content)

        def work(calls: Any) -> None:
            for _ in calls:  # one shared iterator: the threads take requests from it
                one()

        list(pool.map(lambda _: one(), range(in_flight)))
        calls = iter(range(count))
        started = _clock()
        for future in [pool.submit(work, calls) for _ in range(in_flight)]:
            future.result()
        return _since(started)


SERVER_PID = 0


def _clock() -> tuple[float, float, float]:
    return time.perf_counter(), time.process_time(), cpu_seconds(SERVER_PID) if SERVER_PID else 0.0


def _since(started: tuple[float, float, float]) -> dict[str, float]:
    wall, cpu, server = _clock()
    return {"wall": wall - started[0], "cpu": cpu - started[1], "server_cpu": server - started[2]}


async def timed(work: Awaitable[None]) -> dict[str, float]:
    started = _clock()
    await work
    return _since(started)


def child(library: str, sink_url: str) -> int:
    """Import the library, say so, then answer ``PATH COUNT`` lines with one JSON line each."""
    try:
        module = __import__(library)
        if library == "aiohttp":
            __import__("yarl")
    except ImportError as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 0
    runners = {"httpx": run_httpx, "aiohttp": run_aiohttp, "requests": run_requests}
    print(json.dumps({"version": getattr(module, "__version__", "?")}), flush=True)
    for line in sys.stdin:
        path, count = line.split()
        in_flight = PATHS[path]
        request = hot_path(path, sink_url)
        run = runners[library]
        try:
            if inspect.iscoroutinefunction(run):
                result = asyncio.run(run(request, int(count), in_flight))
            else:
                result = run(request, int(count), in_flight)
            result["requests"] = int(count)
        except Exception as exc:  # reported, not raised: the other libraries still run
            result = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print(json.dumps(result), flush=True)
    return 0


# -- the parent ----------------------------------------------------------------------------------


class Library:
    def __init__(self, name: str, sink_url: str, sink_pid: int) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [PYTHON, __file__, "--child", name, "--sink-url", sink_url, "--sink-pid", str(sink_pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=ROOT,
        )
        hello = self.read()
        self.version: str = hello.get("version", "")
        self.error: str = hello.get("error", "")

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            return {"error": f"the child ended (exit {self.proc.wait()})"}
        return json.loads(line)

    def run(self, path: str, count: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{path} {count}\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each library runs each path once per round")
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per run")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="libraries to compare")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sink-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sink-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        global SERVER_PID
        SERVER_PID = args.sink_pid
        return child(args.child, args.sink_url)
    names = [name for name in args.libraries.split(",") if name]
    unknown = set(names) - set(LIBRARIES)
    if unknown:
        parser.error(f"unknown libraries {sorted(unknown)} (known: {', '.join(LIBRARIES)})")
    in_flight = ", ".join(f"{path} {n}" for path, n in PATHS.items())
    print(
        f"# HTTP libraries on the hot paths ({machine_line()}; {args.rounds} rounds of {args.requests} requests "
        f"per library and path, medians; requests in flight: {in_flight})\n",
        flush=True,
    )
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    libraries: list[Library] = []
    with sink_process("--inference") as info:
        try:
            for name in names:
                library = Library(name, info["url"], info["pid"])
                if library.error:
                    errors[name] = f"not importable ({library.error})"
                    library.stop()
                else:
                    libraries.append(library)
            for index in range(args.rounds):
                for path in PATHS:
                    shift = index % max(len(libraries), 1)
                    for library in libraries[shift:] + libraries[:shift]:  # each goes first in turn
                        if library.name in errors:
                            continue
                        result = library.run(path, args.requests)
                        if "error" in result:
                            errors[library.name] = f"failed: {result['error']}"
                            continue
                        runs.setdefault((library.name, path), []).append(result)
                        print(
                            f"  round {index + 1}, {path:<9} {library.name:<8}: "
                            f"{result['requests'] / result['wall']:6.0f} requests/s, "
                            f"client CPU {1000 * result['cpu'] / result['requests']:.3f} ms/request",
                            flush=True,
                        )
        finally:
            for library in libraries:
                library.stop()
    versions = {library.name: library.version for library in libraries}
    figures, targets = summarize(names, runs, errors, versions)
    print()
    report("http_libraries", figures, targets)
    return 0


def summarize(
    names: list[str],
    runs: dict[tuple[str, str], list[dict[str, Any]]],
    errors: dict[str, str],
    versions: dict[str, str],
) -> tuple[dict[str, float], dict[str, Target]]:
    """Print the table; returns the JSON line's figures and targets."""

    def med(name: str, path: str, key: Callable[[dict[str, Any]], float]) -> float:
        return median([key(r) for r in runs.get((name, path), [])])

    def rate(r: dict[str, Any]) -> float:
        return r["requests"] / r["wall"]

    def client_ms(r: dict[str, Any]) -> float:
        return 1000 * r["cpu"] / r["requests"]

    def server_ms(r: dict[str, Any]) -> float:
        return 1000 * r["server_cpu"] / r["requests"]

    measured = [name for name in names if name not in errors]
    figures: dict[str, float] = {}
    rows = []
    for path, in_flight in PATHS.items():
        base_rate, base_ms = med(BASELINE, path, rate), med(BASELINE, path, client_ms)
        for name in names:
            label = f"{LABELS[name]} {versions.get(name, '')}".strip()
            if name in errors:
                rows.append([path, in_flight, label, errors[name], "", "", "", ""])
                continue
            speed, ms = med(name, path, rate), med(name, path, client_ms)
            figures[f"{name}_{path}_requests_per_second"] = speed
            figures[f"{name}_{path}_client_cpu_ms_per_request"] = ms
            if BASELINE in measured and name != BASELINE:
                figures[f"{name}_{path}_cpu_ratio_to_{BASELINE}"] = ms / base_ms
            rows.append(
                [
                    path,
                    in_flight,
                    label,
                    f"{speed:.0f} ({', '.join(f'{rate(r):.0f}' for r in runs[(name, path)])})",
                    f"{ms:.3f} ms ({', '.join(f'{client_ms(r):.3f}' for r in runs[(name, path)])})",
                    f"{med(name, path, server_ms):.3f} ms",
                    f"{speed / base_rate:.2f}" if BASELINE in measured else "n/a",
                    f"{ms / base_ms:.2f}" if BASELINE in measured else "n/a",
                ]
            )
    print()
    print(
        table(
            [
                "path",
                "in flight",
                "library",
                "requests/s (every round)",
                "client CPU per request (every round)",
                "sink CPU per request",
                f"requests/s / {BASELINE}",
                f"client CPU / {BASELINE}",
            ],
            rows,
            "HTTP libraries on the hot paths, against the sink (median)",
        )
    )
    targets: dict[str, Target] = {}
    lines = []
    for path in PATHS:
        value = med(CHOSEN, path, client_ms) if CHOSEN in measured else None
        others = [med(name, path, client_ms) for name in measured if name != CHOSEN]
        limit = min(others) if others else None
        targets[f"chosen_library_fastest_{path}"] = target = Target.below(value, limit)
        lines.append(
            f"{path}: {CHOSEN} {'n/a' if value is None else f'{value:.3f}'} ms per request vs the lowest of the "
            f"others {'n/a' if limit is None else f'{limit:.3f}'} ms: {verdict(target.met)}"
        )
    print(f"\nThe chosen library ({CHOSEN}) costs the least client CPU per request on both paths:")
    for line in lines:
        print(f"- {line}")
    return figures, targets


if __name__ == "__main__":
    sys.exit(main())
