"""Child process of ``batch_predict.py``: one batch prediction through the provider's code path.

Runs ``predict_csv(client, url, api_key, input, output, concurrency=N)`` — the
``BatchPredictor`` that ``PredictionOneBatchPredictOperator.execute`` runs — with a
``PredictionOneClient``, in a process that imports only the API client and the batch module (what
a batch needs; no Airflow). The server's CPU (``--server-pid``: the emulator or the sink) is read
from ``/proc`` at the same instants as the batch's own wall clock and CPU time.

The one-time imports of the async client (aiohttp, the client module: a task pays them once,
whatever the file's size) are done before the clock starts and reported as ``import_seconds``;
what is timed is the batch itself, as in a file of 10^5-10^6 rows.

``--sample-rss SECONDS`` records the RSS every so often during the batch;
``--start-at EPOCH`` waits until then after the imports (several clients starting together).

Prints one JSON line: rows, wall seconds, the batch's CPU seconds (all threads), the server's CPU
seconds over the same interval (and its readings with their epoch times), the whole machine's busy
CPU seconds (``/proc/stat``, every process), the RSS before the batch and the peak RSS (``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import api_client, cpu_seconds, read_proc_status


def machine_busy() -> float:
    """CPU seconds of the whole machine that were not idle (all cores), from ``/proc/stat``."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the Inference URL")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--server-pid", type=int, default=0, help="the server process whose CPU is read")
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch second to start the batch at")
    parser.add_argument("--sample-rss", type=float, default=0.0, help="seconds between RSS samples (0 = none)")
    args = parser.parse_args()

    import threading

    imported = time.perf_counter()
    import aiohttp  # noqa: F401  (see the module docs)

    import airflow_provider_predictionone.api.aclient  # noqa: F401
    from airflow_provider_predictionone.api.batch import predict_csv

    import_seconds = time.perf_counter() - imported

    with (
        tempfile.TemporaryDirectory(prefix="p1-batch-out-") as out,
        api_client(args.secret_key, args.url.split("/v1/", 1)[0]) as client,
    ):
        if args.start_at:
            time.sleep(max(args.start_at - time.time(), 0.0))
        before = read_proc_status()
        server_before = cpu_seconds(args.server_pid) if args.server_pid else 0.0
        busy = machine_busy()
        cpu = time.process_time()
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        if args.sample_rss:

            def sample() -> None:
                while not stop.wait(args.sample_rss):
                    samples.append((time.perf_counter() - started, read_proc_status().get("VmRSS", 0)))

            threading.Thread(target=sample, daemon=True).start()
        t0 = time.time()
        started = time.perf_counter()
        result = predict_csv(
            client,
            args.url,
            args.api_key,
            args.input,
            Path(out) / "predictions.csv",
            concurrency=args.concurrency,
            progress_interval=3600.0,
        )
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stop.set()
        server_after = cpu_seconds(args.server_pid) if args.server_pid else 0.0
        busy = machine_busy() - busy
        t1 = time.time()
        after = read_proc_status()
        with (Path(out) / "predictions.csv").open("rb") as handle:
            lines = sum(1 for _ in handle) - 1
    print(
        json.dumps(
            {
                "rows": result.rows_total,
                "import_seconds": import_seconds,
                "predicted": result.rows_predicted,
                "rejected": result.rows_rejected,
                "output_lines": lines,
                "wall": wall,
                "cpu": cpu,
                "server_cpu": server_after - server_before,
                "machine_cpu": busy,
                "t0": t0,
                "t1": t1,
                "server_cpu0": server_before,
                "server_cpu1": server_after,
                "rss_before_kib": before.get("VmRSS", 0),
                "rss_peak_kib": after.get("VmHWM", 0),
                "rss_samples": samples,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
