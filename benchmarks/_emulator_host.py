"""Child process of ``waits.py``: an in-process emulator that starts N training jobs ending at
chosen times, then serves until told to stop.

Protocol (one JSON object per line on stdout, commands on stdin):

* prints ``{"url": ...}`` once listening;
* on the command ``create``, creates the jobs, then prints
  ``{"jobs": [...], "finish_at": {job: epoch}, "setup_seconds": s}``;
* command ``counts`` -> ``{"api_key": n, "status": n, "total": n}`` (requests the emulator got);
* command ``completions`` -> ``{"completed": {job: epoch}, "states": {job: status}}`` (the time
  each job turned ``finished``, read from its ``updated_datetime``);
* command ``quit`` -> stops.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from _common import api_client, upload_training_data

from airflow_provider_predictionone.emulator import Emulator

COLUMNS = {"age": "float", "income": "float", "region": "string", "buy": "string"}
CONFIG = {"tc": "buy", "tt": "binary_classification", "tv": "yes"}


def write_csv(path: Path, rows: int = 120) -> Path:
    rng = random.Random(3)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(COLUMNS))
        for _ in range(rows):
            age = rng.randint(20, 70)
            income = round(rng.gauss(500 + 8 * (age - 20), 150), 1)
            buy = "yes" if income + rng.gauss(0, 120) > 750 else "no"
            writer.writerow([age, income, rng.choice(["tokyo", "osaka", "nagoya"]), buy])
    return path


def emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="completions spread over this many seconds")
    parser.add_argument("--lead", type=float, default=10.0, help="first completion this long after the setup")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    emulator = Emulator(port=0, secret_keys=(args.secret_key,), data_dir=args.data_dir, train_seconds=3600)
    emulator.start()
    emit({"url": emulator.url})
    data = write_csv(Path(args.data_dir) / "small.csv")
    client = api_client(args.secret_key, emulator.url)
    client.reserve_connections(args.threads)
    rng = random.Random(11)
    offsets = [args.spread * i / max(args.jobs - 1, 1) for i in range(args.jobs)]
    rng.shuffle(offsets)

    for line in sys.stdin:  # wait until the clients are ready
        if line.strip() == "create":
            break
    started = time.time()

    def upload(_index: int) -> str:
        return upload_training_data(client, data, COLUMNS)

    # Upload everything first (not time critical), then start the trainings in a quick loop, each
    # with the duration that makes it end at its planned time. A few probe jobs time that loop.
    with ThreadPoolExecutor(args.threads) as pool:
        uploads = list(pool.map(upload, range(args.jobs + 5)))
    probe = time.perf_counter()
    for index, epid in enumerate(uploads[args.jobs :]):
        client.create_model(epid, f"probe-{index}", CONFIG)
    per_job = (time.perf_counter() - probe) / 5
    # the trainings' background threads slow the loop down as it goes: a generous margin
    first_finish = time.time() + args.jobs * per_job * 3 + args.lead
    finish_at: dict[str, float] = {}
    jobs: list[str] = []
    for index, epid in enumerate(uploads[: args.jobs]):
        target = first_finish + offsets[index]
        emulator.set_train_seconds(max(target - time.time(), 0.5))
        job = client.create_model(epid, f"wait-bench-{index}", CONFIG)
        jobs.append(job)
        finish_at[job] = target
    emit({"jobs": jobs, "finish_at": finish_at, "setup_seconds": time.time() - started, "ready_at": time.time()})

    for line in sys.stdin:
        command = line.strip()
        if command == "counts":
            counts = emulator.request_counts()
            emit(
                {
                    "api_key": sum(n for (m, r), n in counts.items() if r == "/api-key"),
                    "status": sum(n for (m, r), n in counts.items() if r == "/models/results"),
                    "total": sum(counts.values()),
                }
            )
        elif command == "completions":
            completed: dict[str, float] = {}
            states: dict[str, str] = {}
            for job in jobs:
                status = client.train_status(job)
                states[job] = status.status
                if status.updated_datetime:
                    completed[job] = datetime.fromisoformat(status.updated_datetime).timestamp()
            emit({"completed": completed, "states": states})
        elif command == "quit":
            break
    client.close()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
