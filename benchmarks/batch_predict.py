"""Batch predict (issue 6, item 4): rows per second at several concurrencies, memory at 100,000 rows,
and whether the emulator or the client is the limit.

The emulator runs in its own process; a model is trained and deployed on it through the API, which
gives a running prediction API (its Inference URL and key). A scoring CSV is generated. Then, in a
child process that imports only the API client and ``api/batch.py`` (no Airflow),
``predict_csv(client, url, api_key, input, output, concurrency=N)`` — the ``BatchPredictor`` that
``PredictionOneBatchPredictOperator.execute`` runs — scores it:

* against the emulator, at each ``--concurrency`` (default 1,8,32,64), ``--repeat`` times;
* side by side (taking turns), against a minimal "sink" server in its own process that answers every
  request with a fixed valid Inference response without parsing it: the client's own ceiling;
* at the ``--compare-fix`` concurrencies (8,64), also as the batch was before the fix that reads
  the environment once per URL (now in ``api/transport.py``: ``requests`` reading the proxy
  settings from the environment on every request);
* ``--clients`` (2) client processes at once, ``--clients-concurrency`` (32) each, against the
  emulator and against the sink: more load than one client process can produce.

Each run reads its own CPU time (all threads), the server's (``/proc/<pid>/stat``) and the whole
machine's (``/proc/stat``: what other processes took) over the same interval, and its peak RSS
(``VmHWM``). Then ``--memory-rows`` (100,000) rows are scored once against the emulator and compared
with a ``--memory-small-rows`` run at the same concurrency, to show that the client's memory does not
grow with the number of rows. About 4 minutes with the defaults on 2 cores.

Usage: ``python benchmarks/batch_predict.py [--rows 1500] [--concurrency 1,8,32,64] [--repeat 3]
[--memory-rows 100000] [--memory-small-rows 1000] [--memory-concurrency 64] [--compare-fix 8,64]
[--clients 2] [--clients-concurrency 32]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PYTHON,
    ROOT,
    SECRET_KEY,
    EmulatorProcess,
    api_client,
    child_env,
    machine_line,
    median,
    table,
    temp_dir,
    upload_training_data,
)

HERE = Path(__file__).resolve().parent
TRAIN_COLUMNS = {"age": "float", "income": "float", "region": "string", "buy": "string"}
TRAIN_CONFIG = {"tc": "buy", "tt": "binary_classification", "tv": "yes"}
REGIONS = ("tokyo", "osaka", "nagoya", "fukuoka")
SATURATED = 85.0  # % of one core: a single GIL-bound process at or above this is the limit
MEMORY_GROWTH_SHARE = 0.10  # RSS may grow this much over the last 90 % of the rows (allocator warm-up)
MIB = 1024 * 1024
CPUS = os.cpu_count() or 1


def write_rows(path: Path, rows: int, *, with_target: bool, seed: int = 5) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([name for name in TRAIN_COLUMNS if with_target or name != "buy"])
        for _ in range(rows):
            age = rng.randint(20, 70)
            income = round(rng.gauss(500 + 8 * (age - 20), 150), 1)
            row: list[Any] = [age, income, rng.choice(REGIONS)]
            if with_target:
                row.append("yes" if income + rng.gauss(0, 120) > 750 else "no")
            writer.writerow(row)
    return path


def deploy(base_url: str, tmp: Path) -> tuple[str, str]:
    """Train a model on the emulator and deploy it; returns the running API's (url, api_key)."""
    from airflow_provider_predictionone.api.models import ALLOW_ALL

    train = write_rows(tmp / "train.csv", 300, with_target=True, seed=1)
    name = f"batch-bench-{uuid.uuid4().hex[:8]}"
    with api_client(SECRET_KEY, base_url) as client:
        job = client.create_model(upload_training_data(client, train, TRAIN_COLUMNS), name, TRAIN_CONFIG)
        deadline = time.monotonic() + 60
        while not (status := client.train_status(job)).state.is_terminal:
            if time.monotonic() > deadline:
                raise RuntimeError("the training did not finish within 60 s")
            time.sleep(0.2)
        model = client.find_model_by_name(name)
        if model is None:
            raise RuntimeError(f"training ended as {status.status!r} without a model")
        created = client.create_classifier(model.model_id, ALLOW_ALL)
        while True:
            found = client.get_classifier(created.classifier_id)
            if found is not None and found.is_ready and found.url and found.api_key:
                return found.url, found.api_key
            if time.monotonic() > deadline:
                raise RuntimeError("the prediction API did not start within 60 s")
            time.sleep(0.2)


def client_args(url: str, api_key: str, source: Path, concurrency: int, server_pid: int, *extra: str) -> list[str]:
    return [
        PYTHON,
        str(HERE / "_batch_client.py"),
        "--url",
        url,
        "--api-key",
        api_key,
        "--secret-key",
        SECRET_KEY,
        "--input",
        str(source),
        "--concurrency",
        str(concurrency),
        "--server-pid",
        str(server_pid),
        *extra,
    ]


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the batch client failed ({proc.returncode}): {err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    if result["predicted"] != result["rows"] or result["output_lines"] != result["rows"]:
        raise RuntimeError(f"not every row was predicted: {result}")
    return result


def spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)


def run_batch(url: str, api_key: str, source: Path, concurrency: int, server_pid: int, *extra: str) -> dict[str, Any]:
    return finish(spawn(client_args(url, api_key, source, concurrency, server_pid, *extra)))


def run_parallel(
    url: str, api_key: str, source: Path, concurrency: int, server_pid: int, clients: int
) -> dict[str, Any]:
    """``clients`` batch processes started at the same instant; combined rows/s and CPU."""
    start_at = time.time() + 2.0  # after every child's imports
    procs = [
        spawn(client_args(url, api_key, source, concurrency, server_pid, "--start-at", str(start_at)))
        for _ in range(clients)
    ]
    results = [finish(proc) for proc in procs]
    first = min(results, key=lambda r: r["t0"])
    last = max(results, key=lambda r: r["t1"])
    wall = last["t1"] - first["t0"]
    return {
        "rows": sum(r["rows"] for r in results),
        "wall": wall,
        "cpu": sum(r["cpu"] for r in results),
        "server_cpu": last["server_cpu1"] - first["server_cpu0"],
        "rss_peak_kib": max(r["rss_peak_kib"] for r in results),
    }


def rate(run: dict[str, Any]) -> float:
    return run["rows"] / run["wall"]


def pct(seconds: float, wall: float) -> float:
    return 100.0 * seconds / wall


def levels_of(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1500, help="rows per timed run (default 1500)")
    parser.add_argument("--concurrency", default="1,8,32,64", help="concurrencies to measure (default 1,8,32,64)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per concurrency and server (median reported)")
    parser.add_argument("--memory-rows", type=int, default=100_000, help="rows of the memory run (default 100000)")
    parser.add_argument("--memory-small-rows", type=int, default=1000, help="rows of the small memory run")
    parser.add_argument("--memory-concurrency", type=int, default=64, help="concurrency of the memory runs")
    parser.add_argument(
        "--compare-fix",
        default="8,64",
        help="concurrencies at which the batch before the fix (environment read per request) also runs; '' = none",
    )
    parser.add_argument(
        "--clients", type=int, default=2, help="client processes of the parallel round (0 = no parallel round)"
    )
    parser.add_argument("--clients-concurrency", type=int, default=32, help="concurrency of each parallel client")
    parser.add_argument("--no-sink", action="store_true", help="skip the comparison with the sink")
    args = parser.parse_args()
    levels = levels_of(args.concurrency)
    compare = [level for level in levels_of(args.compare_fix) if level in levels]
    servers = ["emulator"] if args.no_sink else ["emulator", "sink"]
    print(
        f"# Batch predict ({machine_line()}; {args.rows} rows per run, concurrency {args.concurrency}, "
        f"{args.repeat} runs each; memory: {args.memory_rows} vs {args.memory_small_rows} rows)\n",
        flush=True,
    )
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    memory: dict[str, dict[str, Any]] = {}
    with temp_dir("p1-bench-batch-") as tmp:
        (tmp / "emulator").mkdir()
        sink = subprocess.Popen(
            [PYTHON, str(HERE / "_sink.py"), "--inference"],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=ROOT,
        )
        try:
            assert sink.stdout is not None
            sink_info = json.loads(sink.stdout.readline())
            with EmulatorProcess(tmp / "emulator", "--build-seconds", "0.2", train_seconds=0.5) as emulator:
                url, api_key = deploy(emulator.url, tmp)
                where = {"emulator": (url, api_key, emulator.pid), "sink": (sink_info["url"], "key", sink_info["pid"])}
                source = write_rows(tmp / "score.csv", args.rows, with_target=False)
                run_batch(url, api_key, write_rows(tmp / "warm.csv", 200, with_target=False), 8, emulator.pid)
                for index in range(args.repeat):
                    for level in levels:
                        targets = servers + (["before"] if level in compare else [])
                        shift = index % len(targets)
                        for target in targets[shift:] + targets[:shift]:  # each goes first in turn
                            if target == "before":
                                result = run_batch(
                                    *where["emulator"][:2], source, level, emulator.pid, "--per-request-environment"
                                )
                            else:
                                result = run_batch(*where[target][:2], source, level, where[target][2])
                            runs.setdefault((target, level), []).append(result)
                            print(
                                f"  run {index + 1}, concurrency {level:>3}, {target:<8}: {rate(result):6.0f} rows/s, "
                                f"client CPU {pct(result['cpu'], result['wall']):3.0f} %, "
                                f"server CPU {pct(result['server_cpu'], result['wall']):3.0f} %",
                                flush=True,
                            )
                if args.clients > 1:
                    for index in range(args.repeat):
                        for target in servers if index % 2 == 0 else servers[::-1]:
                            target_url, key, pid = where[target]
                            result = run_parallel(target_url, key, source, args.clients_concurrency, pid, args.clients)
                            runs.setdefault((f"parallel-{target}", args.clients_concurrency), []).append(result)
                            print(
                                f"  run {index + 1}, {args.clients} clients x {args.clients_concurrency}, {target:<8}: "
                                f"{rate(result):6.0f} rows/s, "
                                f"clients' CPU {pct(result['cpu'], result['wall']):3.0f} %, "
                                f"server CPU {pct(result['server_cpu'], result['wall']):3.0f} %",
                                flush=True,
                            )
                for label, count in (("small", args.memory_small_rows), ("large", args.memory_rows)):
                    path = write_rows(tmp / f"memory-{count}.csv", count, with_target=False, seed=9)
                    memory[label] = run_batch(
                        url, api_key, path, args.memory_concurrency, emulator.pid, "--sample-rss", "0.5"
                    )
                    memory[label]["size"] = path.stat().st_size
                    print(
                        f"  memory run, {count} rows: {rate(memory[label]):.0f} rows/s, "
                        f"peak RSS {memory[label]['rss_peak_kib'] / 1024:.1f} MiB",
                        flush=True,
                    )
                    path.unlink()
        finally:
            sink.terminate()
            sink.wait()
    print()
    print_tables(args, levels, compare, runs, memory)
    return 0


def rss_at(run: dict[str, Any], share: float) -> float:
    """RSS (KiB) at ``share`` of the run's wall time, from its samples (the RSS before it if none)."""
    samples = [rss for when, rss in run.get("rss_samples", []) if when >= share * run["wall"]]
    return samples[0] if samples else run["rss_before_kib"]


def every(values: list[dict[str, Any]], key: Any, fmt: str = "{:.0f}") -> str:
    return ", ".join(fmt.format(key(r)) for r in values)


def print_tables(
    args: argparse.Namespace,
    levels: list[int],
    compare: list[int],
    runs: dict[tuple[str, int], list[dict[str, Any]]],
    memory: dict[str, dict[str, Any]],
) -> None:
    def med(target: str, level: int, key: Any) -> float:
        return median([key(r) for r in runs[(target, level)]])

    def client_pct(r: dict[str, Any]) -> float:
        return pct(r["cpu"], r["wall"])

    def server_pct(r: dict[str, Any]) -> float:
        return pct(r["server_cpu"], r["wall"])

    def client_ms(r: dict[str, Any]) -> float:
        return 1000 * r["cpu"] / r["rows"]

    def server_ms(r: dict[str, Any]) -> float:
        return 1000 * r["server_cpu"] / r["rows"]

    def others_pct(r: dict[str, Any]) -> float:
        return max(pct(r["machine_cpu"] - r["cpu"] - r["server_cpu"], r["wall"]), 0.0)

    rows = [
        [
            level,
            args.rows,
            f"{med('emulator', level, lambda r: r['wall']):.2f} s",
            f"{med('emulator', level, rate):.0f} ({every(runs[('emulator', level)], rate)})",
            f"{med('emulator', level, client_pct):.0f} %",
            f"{med('emulator', level, server_pct):.0f} %",
            f"{med('emulator', level, others_pct):.0f} %",
            f"{max(r['rss_peak_kib'] for r in runs[('emulator', level)]) / 1024:.0f} MiB",
        ]
        for level in levels
    ]
    print(
        table(
            [
                "concurrency",
                "rows",
                "wall",
                "rows/s (every run)",
                "client CPU",
                "emulator CPU",
                "other processes' CPU",
                "client peak RSS",
            ],
            rows,
            "Batch predict against the emulator (median; CPU in % of one core)",
        )
    )
    if ("sink", levels[0]) in runs:
        rows = []
        for level in levels:
            emu_rate, sink_rate = med("emulator", level, rate), med("sink", level, rate)
            client_busy, server_busy = med("emulator", level, client_pct), med("emulator", level, server_pct)
            others = med("emulator", level, others_pct)
            if client_busy >= SATURATED:
                limit = "client (a core busy)"
            elif server_busy >= SATURATED:
                limit = "emulator (a core busy)"
            elif client_busy + server_busy + others >= 0.9 * 100 * CPUS:
                limit = f"the machine's {CPUS} cores (other processes: {others:.0f} %)"
            elif level == 1:
                limit = "neither saturated: one round trip at a time"
            else:
                limit = "neither saturated"
            rows.append(
                [
                    level,
                    f"{emu_rate:.0f}",
                    f"{sink_rate:.0f} ({every(runs[('sink', level)], rate)})",
                    f"{100 * emu_rate / sink_rate:.0f} %",
                    f"{client_busy:.0f} % / {med('sink', level, client_pct):.0f} %",
                    f"{server_busy:.0f} % / {med('sink', level, server_pct):.0f} %",
                    f"{med('emulator', level, client_ms):.2f} / {med('sink', level, client_ms):.2f} ms",
                    f"{med('emulator', level, server_ms):.2f} / {med('sink', level, server_ms):.2f} ms",
                    limit,
                ]
            )
        print()
        print(
            table(
                [
                    "concurrency",
                    "→ emulator rows/s",
                    "→ sink rows/s (every run)",
                    "emulator / sink",
                    "client CPU (→ emulator / → sink)",
                    "server CPU (emulator / sink)",
                    "client CPU per row (→ emulator / → sink)",
                    "server CPU per row (emulator / sink)",
                    "limit against the emulator",
                ],
                rows,
                "Where the limit is: the same client against a sink that answers without work (median)",
            )
        )
        emulator_ms = median([server_ms(r) for level in levels for r in runs[("emulator", level)]])
        print(
            f"\nThe emulator's ceiling, from its CPU per row ({emulator_ms:.2f} ms): ~{1000 / emulator_ms:.0f} rows/s "
            f"on one core (a GIL-bound ThreadingHTTPServer). The client's ceiling (best median against the sink): "
            f"{max(med('sink', level, rate) for level in levels):.0f} rows/s."
        )
    if compare:
        rows = [
            [
                level,
                f"{med('before', level, rate):.0f} ({every(runs[('before', level)], rate)})",
                f"{med('emulator', level, rate):.0f} ({every(runs[('emulator', level)], rate)})",
                f"{100 * med('emulator', level, rate) / med('before', level, rate):.0f} %",
                f"{med('before', level, client_ms):.2f} ms",
                f"{med('emulator', level, client_ms):.2f} ms",
            ]
            for level in compare
        ]
        print()
        print(
            table(
                [
                    "concurrency",
                    "environment read per request (before)",
                    "read once per batch (this version)",
                    "this / before",
                    "client CPU per row, before",
                    "client CPU per row, this version",
                ],
                rows,
                "The fix, side by side against the emulator (rows/s, median; every run in brackets)",
            )
        )
    parallel = [key for key in runs if key[0].startswith("parallel-")]
    if parallel:
        rows = []
        for key in parallel:
            values = runs[key]
            rows.append(
                [
                    f"{args.clients} × {key[1]}",
                    key[0].removeprefix("parallel-"),
                    f"{median([rate(r) for r in values]):.0f} ({every(values, rate)})",
                    f"{median([client_pct(r) for r in values]):.0f} %",
                    f"{median([server_pct(r) for r in values]):.0f} %",
                    f"{median([server_ms(r) for r in values]):.2f} ms",
                ]
            )
        print()
        print(
            table(
                [
                    "clients × concurrency",
                    "server",
                    "rows/s, all clients (every run)",
                    "clients' CPU (sum)",
                    "server CPU",
                    "server CPU per row",
                ],
                rows,
                "More load on the server: several client processes at once (median)",
            )
        )
    if memory:
        small, large = memory["small"], memory["large"]
        early = rss_at(large, 0.1)
        late_growth = (large["rss_peak_kib"] - early) * 1024  # bytes, over the last 90 % of the rows
        per_row = late_growth / (0.9 * large["rows"])
        rows = [
            [
                f"{run['rows']:,}",
                f"{run['size'] / 1e6:.1f} MB",
                args.memory_concurrency,
                f"{run['wall']:.1f} s",
                f"{rate(run):.0f}",
                f"{run['rss_before_kib'] / 1024:.1f} MiB",
                f"{rss_at(run, 0.1) / 1024:.1f} MiB",
                f"{run['rss_peak_kib'] / 1024:.1f} MiB",
            ]
            for run in (small, large)
        ]
        print()
        print(
            table(
                [
                    "rows",
                    "input",
                    "concurrency",
                    "wall",
                    "rows/s",
                    "RSS before the batch",
                    "RSS after 10 % of the run",
                    "peak RSS (VmHWM)",
                ],
                rows,
                "Memory of the batch process (against the emulator)",
            )
        )
        ok = late_growth <= MEMORY_GROWTH_SHARE * early * 1024
        print(
            f"\nPeak RSS, {large['rows']:,} rows vs {small['rows']:,} rows: "
            f"{(large['rss_peak_kib'] - small['rss_peak_kib']) / 1024:+.1f} MiB. Over the last 90 % of the "
            f"{large['rows']:,} rows: {late_growth / MIB:+.1f} MiB ({per_row:.0f} bytes per row; a row of the input is "
            f"{large['size'] / large['rows']:.0f} bytes). Memory bounded, not growing with the rows (less than "
            f"{100 * MEMORY_GROWTH_SHARE:.0f} % over the last 90 %): {'met' if ok else 'NOT met'}."
        )


if __name__ == "__main__":
    sys.exit(main())
