"""Streaming uploads (issue 6, item 1): the provider's upload code path against ``curl``.

For each size (``--sizes``, default 64M,256M,1G) a CSV is generated in a temporary folder and
uploaded at least ``--repeat`` times (more for small sizes, which are noisier) by each uploader,
taking turns at going first, to fresh upload URLs of one emulator (a separate process):

* ``curl -T`` (``--upload-file``) to a Train Data Upload URL;
* the requests of ``PredictionOneHook.upload_training_data`` — the upload operator's code path —
  sent with the API client alone, in a child process that imports only the API layer; the
  training file's PUT is timed;
* the same with the MD5 of the sent bytes switched off (a diagnostic: what the integrity check
  costs);
* once per size, ``PredictionOneUploadDataOperator.execute`` in a child that imported Airflow
  (an Airflow task's process), for its memory.

Before every timed upload the previous upload's copy in the emulator's data folder is deleted and
the page cache flushed (``os.sync()``), so every run starts from the same state. Peak RSS is the
uploading process's ``VmHWM`` (``wait4`` for curl). The ceilings: the same uploads to a
discarding HTTP sink, the disk's write speed, MD5 on one core, and the emulator's CPU while it
receives. The CPU budget: the CPU time per MiB of the uploader and of the emulator for each kind
of upload, and the speed that both together allow on this machine's cores at best.

Targets (the JSON line at the end), per size: the provider's median speed >= 90 % of curl's, and
the provider's peak RSS (API client process) < 100 MiB.

Usage: ``python benchmarks/upload.py [--sizes 64M,256M,1G] [--repeat 5] [--dir /tmp]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    PYTHON,
    ROOT,
    SECRET_KEY,
    EmulatorProcess,
    Target,
    api_client,
    child_env,
    cpu_seconds,
    human_size,
    machine_line,
    median,
    parse_size,
    report,
    sink_process,
    table,
    temp_dir,
    verdict,
)

HERE = Path(__file__).resolve().parent
RSS_TARGET_MIB = 100
RATIO_TARGET = 0.90
HEADER = b"age,income,region,buy\n"


def make_csv(path: Path, size: int) -> None:
    """A CSV of exactly ``size`` bytes: the header, then rows (the last one padded)."""
    rows = [
        f"{20 + i % 50},{400 + (i * 37) % 900}.{i % 10},{('tokyo', 'osaka', 'nagoya')[i % 3]},"
        f"{'yes' if i % 3 else 'no'}\n"
        for i in range(4096)
    ]
    block = "".join(rows).encode()
    with path.open("wb") as handle:
        handle.write(HEADER)
        left = size - len(HEADER)
        while left >= len(block):
            handle.write(block)
            left -= len(block)
        if left > 0:
            tail = block[:left]
            cut = tail.rfind(b"\n") + 1
            handle.write(tail[:cut] + b"x" * (left - cut - 1) + b"\n" if left - cut > 1 else tail)


def disk_write_speed(folder: Path, size: int) -> tuple[float, float]:
    """MB/s writing ``size`` bytes in 1 MiB blocks: into the page cache, and with ``fsync``."""
    block = os.urandom(MIB)
    speeds = []
    for sync in (False, True):
        target = folder / f"disk-probe-{int(sync)}"
        os.sync()
        started = time.perf_counter()
        with target.open("wb") as handle:
            for _ in range(size // MIB):
                handle.write(block)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        speeds.append(size / (time.perf_counter() - started) / 1e6)
        target.unlink()
    return speeds[0], speeds[1]


def fresh_memory_write_speed(folder: Path, size: int, pause: float = 5.0) -> tuple[float, float]:
    """MB/s writing ``size`` bytes into the page cache right after a file of that size was deleted,
    and ``pause`` seconds after: a virtual machine may hand freed memory back to its host within
    seconds (free page reporting), and faulting it in again costs the writer CPU."""
    block = os.urandom(MIB)
    target = folder / "memory-probe"
    speeds = []
    for wait in (0.0, pause):
        with target.open("wb") as handle:
            for _ in range(size // MIB):
                handle.write(block)
        os.sync()
        target.unlink()
        time.sleep(wait)
        started = time.perf_counter()
        with target.open("wb") as handle:
            for _ in range(size // MIB):
                handle.write(block)
        speeds.append(size / (time.perf_counter() - started) / 1e6)
        target.unlink()
    return speeds[0], speeds[1]


def md5_speed(seconds: float = 1.0) -> float:
    """MB/s of ``hashlib.md5`` on one core (1 MiB updates): what hashing every byte costs."""
    block, digest, done = os.urandom(MIB), hashlib.md5(usedforsecurity=False), 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        digest.update(block)
        done += MIB
    return done / (time.perf_counter() - started) / 1e6


def run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[str, float, int, float]:
    """Run a child; returns (stdout, wall seconds, peak RSS KiB, CPU seconds; both from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({proc.returncode}): {err[-2000:]}")
    return out, wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


class Bench:
    def __init__(self, emulator: EmulatorProcess, tmp: Path) -> None:
        self.emulator = emulator
        self.tmp = tmp
        self.client = api_client(SECRET_KEY, emulator.url)
        self.env = child_env(
            AIRFLOW_HOME=str(tmp / "airflow-home"),
            AIRFLOW_CONN_PREDICTIONONE_DEFAULT=json.dumps(
                {"conn_type": "predictionone", "host": emulator.url, "password": SECRET_KEY}
            ),
        )

    def settle(self) -> None:
        """Delete uploaded copies and flush dirty pages: every run starts from the same state."""
        for path in self.emulator.data_dir.rglob("*"):
            if path.is_file() and path.stat().st_size > MIB:
                path.unlink(missing_ok=True)
        os.sync()

    def curl(self, path: Path, url: str | None = None) -> dict[str, float]:
        self.settle()
        target = url or self.client.train_upload_urls().learn_data_set_upload_url
        cpu_before = cpu_seconds(self.emulator.pid)
        out, wall, rss, cpu = run_measured(
            ["curl", "-sS", "-f", "-T", str(path), target, "-o", "/dev/null", "-w", "%{time_total}"]
        )
        emulator_cpu = cpu_seconds(self.emulator.pid) - cpu_before
        seconds = float(out.strip().replace(",", "."))
        return {"seconds": seconds, "rss_kib": rss, "emulator_cpu": emulator_cpu, "wall": wall, "cpu": cpu}

    def python(
        self, path: Path, mode: str = "operator-path", url: str | None = None, no_md5: bool = False
    ) -> dict[str, float]:
        self.settle()
        args = [PYTHON, str(HERE / "_uploader.py"), "--mode", mode, "--file", str(path)]
        if no_md5:
            args.append("--no-md5")
        args += ["--host", self.emulator.url, "--secret-key", SECRET_KEY]
        if url:
            args += ["--url", url]
        cpu_before = cpu_seconds(self.emulator.pid)
        out, _wall, rss, _cpu = run_measured(args, self.env)
        emulator_cpu = cpu_seconds(self.emulator.pid) - cpu_before
        result = json.loads(out.strip().splitlines()[-1])
        return {
            "seconds": result["put_seconds"],
            "total": result["total_seconds"],
            "cpu": result["cpu_seconds"],
            "put_cpu": result["put_cpu_seconds"],
            "rss_kib": result["rss_peak_kib"],
            "rss_wait4_kib": rss,
            "rss_before_kib": result["rss_before_kib"],
            "emulator_cpu": emulator_cpu,
        }


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def size_key(size: int) -> str:
    """``64MiB``, ``1GiB``: a size in the JSON line's names."""
    return human_size(size).replace(" ", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64M,256M,1G", help="file sizes, e.g. 64M,256M,1G")
    parser.add_argument(
        "--repeat", type=int, default=5, help="uploads per uploader and size, at least (median reported)"
    )
    parser.add_argument("--dir", default=None, help="where the temporary files go (default: the temp folder)")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("curl is not installed: the comparison needs it.")
        return 1
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    print(
        f"# Streaming upload ({machine_line()}; sizes {', '.join(human_size(s) for s in sizes)}; "
        f"at least {args.repeat} uploads per uploader and size, medians)\n",
        flush=True,
    )
    with temp_dir("p1-bench-upload-", args.dir) as tmp:
        print(f"Working folder {tmp} (removed at the end).", flush=True)
        (tmp / "emulator").mkdir()
        with sink_process() as sink_info:
            sink_url = sink_info["url"] + "/upload/sink"
            with EmulatorProcess(tmp / "emulator") as emulator:
                bench = Bench(emulator, tmp)
                rows: dict[int, dict[str, Any]] = {}
                for size in sizes:
                    path = tmp / f"data-{size}.csv"
                    make_csv(path, size)
                    runs: dict[str, list[dict[str, float]]] = {"curl": [], "python": [], "nomd5": []}
                    order = ["curl", "python", "nomd5"]
                    # short uploads are noisier: more of them (the same total volume as ~4 GiB at most)
                    repeat = max(args.repeat, min(2 * args.repeat, (4096 * MIB) // size))
                    for index in range(repeat):
                        for who in order[index % 3 :] + order[: index % 3]:  # each goes first in turn
                            if who == "curl":
                                runs[who].append(bench.curl(path))
                            else:
                                runs[who].append(bench.python(path, no_md5=who == "nomd5"))
                    task = bench.python(path, "airflow-task")
                    sink_curl = bench.curl(path, sink_url)
                    sink_python = bench.python(path, "put", sink_url)
                    rows[size] = {
                        "curl": runs["curl"],
                        "python": runs["python"],
                        "nomd5": runs["nomd5"],
                        "task": task,
                        "sink_curl": sink_curl,
                        "sink_python": sink_python,
                    }
                    curl_speed = median([mbps(size, r["seconds"]) for r in runs["curl"]])
                    python_speed = median([mbps(size, r["seconds"]) for r in runs["python"]])
                    print(
                        f"  {human_size(size)}: curl {curl_speed:.0f} MB/s, provider {python_speed:.0f} MB/s",
                        flush=True,
                    )
                    path.unlink()
                disk_cache, disk_sync = disk_write_speed(tmp, min(max(sizes), 1024 * MIB))
                memory_recycled, memory_returned = fresh_memory_write_speed(tmp, min(max(sizes), 1024 * MIB))
                md5_mbps = md5_speed()
    print()
    throughput_rows, memory_rows, ceiling_rows, cpu_rows = [], [], [], []
    figures: dict[str, float] = {}
    targets: dict[str, Target] = {}
    cores = os.cpu_count() or 1
    for size, data in rows.items():
        curl_speeds = [mbps(size, r["seconds"]) for r in data["curl"]]
        python_speeds = [mbps(size, r["seconds"]) for r in data["python"]]
        nomd5_speeds = [mbps(size, r["seconds"]) for r in data["nomd5"]]
        ratio = median(python_speeds) / median(curl_speeds)
        tag = size_key(size)
        figures[f"curl_mb_per_second_{tag}"] = median(curl_speeds)
        figures[f"provider_mb_per_second_{tag}"] = median(python_speeds)
        figures[f"provider_md5_off_to_curl_ratio_{tag}"] = median(nomd5_speeds) / median(curl_speeds)
        targets[f"provider_to_curl_ratio_{tag}"] = Target.at_least(ratio, RATIO_TARGET)
        throughput_rows.append(
            [
                human_size(size),
                f"{median(curl_speeds):.0f} MB/s ({', '.join(f'{s:.0f}' for s in curl_speeds)})",
                f"{median(python_speeds):.0f} MB/s ({', '.join(f'{s:.0f}' for s in python_speeds)})",
                f"{100 * ratio:.0f} %",
                f"{100 * median(nomd5_speeds) / median(curl_speeds):.0f} %",
                f">= {100 * RATIO_TARGET:.0f} %",
                verdict(ratio >= RATIO_TARGET),
            ]
        )
        peak = max(r["rss_kib"] for r in data["python"]) / 1024
        before = median([r["rss_before_kib"] for r in data["python"]]) / 1024
        task = data["task"]
        targets[f"peak_rss_mib_{tag}"] = Target.below(peak, RSS_TARGET_MIB)
        figures[f"airflow_task_peak_rss_mib_{tag}"] = task["rss_kib"] / 1024
        memory_rows.append(
            [
                human_size(size),
                f"{peak:.0f} MiB (before: {before:.0f} MiB)",
                f"{task['rss_kib'] / 1024:.0f} MiB (before: {task['rss_before_kib'] / 1024:.0f} MiB, "
                f"+{(task['rss_kib'] - task['rss_before_kib']) / 1024:.0f})",
                f"{max(r['rss_kib'] for r in data['curl']) / 1024:.0f} MiB",
                f"< {RSS_TARGET_MIB} MiB",
                verdict(peak < RSS_TARGET_MIB),
            ]
        )
        emulator_busy = median([r["emulator_cpu"] / r["seconds"] for r in data["curl"] + data["python"]])
        python_cpu = median([r["cpu"] / r["total"] for r in data["python"]])
        ceiling_rows.append(
            [
                human_size(size),
                f"{mbps(size, data['sink_curl']['seconds']):.0f} MB/s",
                f"{mbps(size, data['sink_python']['seconds']):.0f} MB/s",
                f"{median(curl_speeds):.0f} MB/s",
                f"{100 * emulator_busy:.0f} %",
                f"{100 * python_cpu:.0f} %",
            ]
        )
        mib = size / MIB
        for label, key in (("curl -T", "curl"), ("provider", "python"), ("provider, MD5 off", "nomd5")):
            uploader_ms = median([1000 * r.get("put_cpu", r["cpu"]) / mib for r in data[key]])
            emulator_ms = median([1000 * r["emulator_cpu"] / mib for r in data[key]])
            if key == "python":
                figures[f"provider_cpu_ms_per_mib_{tag}"] = uploader_ms
                figures[f"emulator_cpu_ms_per_mib_{tag}"] = emulator_ms
            # both processes' CPU spread perfectly over every core: the fastest this machine allows;
            # and the emulator hashes every byte in order, so never faster than MD5 on one core
            bound = cores * 1000 / (uploader_ms + emulator_ms) * MIB / 1e6
            cpu_rows.append(
                [
                    human_size(size),
                    label,
                    f"{median([mbps(size, r['seconds']) for r in data[key]]):.0f} MB/s",
                    f"{uploader_ms:.2f}",
                    f"{emulator_ms:.2f}",
                    f"{uploader_ms + emulator_ms:.2f}",
                    f"{bound:.0f} MB/s",
                    f"{min(bound, md5_mbps):.0f} MB/s",
                ]
            )
    print(
        table(
            [
                "size",
                "curl -T → emulator",
                "provider → emulator",
                "provider / curl",
                "same, MD5 off (diagnostic)",
                "target",
                "",
            ],
            throughput_rows,
            "Throughput of the training file's PUT (median; every run in brackets)",
        )
    )
    print()
    print(
        table(
            ["size", "provider (API client process)", "provider (Airflow task process)", "curl", "target", ""],
            memory_rows,
            "Peak RSS of the uploading process",
        )
    )
    print()
    print(
        table(
            [
                "size",
                "curl → sink",
                "provider → sink",
                "curl → emulator",
                "emulator CPU while receiving",
                "provider CPU while sending",
            ],
            ceiling_rows,
            "Ceilings: a discarding sink vs the emulator (CPU in % of one core)",
        )
    )
    print(
        f"\nDisk of the working folder, 1 MiB writes of {human_size(min(max(sizes), 1024 * MIB))}: "
        f"{disk_cache:.0f} MB/s into the page cache, {disk_sync:.0f} MB/s with fsync. "
        f"MD5 on one core: {md5_mbps:.0f} MB/s.\nInto the page cache right after deleting a file of that size: "
        f"{memory_recycled:.0f} MB/s; 5 s after deleting it: {memory_returned:.0f} MB/s (memory handed back to "
        "a VM's host must be faulted in again)."
    )
    print()
    print(
        table(
            [
                "size",
                "uploader",
                "measured",
                "uploader CPU ms/MiB",
                "emulator CPU ms/MiB",
                "both, ms/MiB",
                f"CPU allows on {cores} cores",
                "at best (and MD5 on one core)",
            ],
            cpu_rows,
            "CPU budget: CPU time per MiB of the uploader and of the emulator (medians)",
        )
    )
    print()
    report("upload", figures, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
