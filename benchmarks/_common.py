"""Helpers shared by the benchmark scripts (tables, sizes, child processes, the emulator, the
machine-readable result line).

The scripts are run as ``python benchmarks/<name>.py``; this folder is then on ``sys.path``. Each
ends its output with one JSON line written by :func:`report`::

    {"benchmark": NAME, "figures": {...}, "targets": {NAME: {"value": X, "limit": Y, "met": true|false}}}

``benchmarks/summary.py`` reads those lines back.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET_KEY = "bench-secret"
MIB = 1024 * 1024

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"64M"`` / ``"1G"`` / ``"512K"`` / ``"1000"`` -> bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 64M, 256M, 1G)")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[unit])


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" or size == int(size) else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """A Markdown table (readable in a terminal and pasteable into docs/benchmarks.md)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass(frozen=True)
class Target:
    """A target as a figure against a limit, measured in the same run.

    ``kind`` ``"max"``: the value must not exceed the limit (``strict``: must stay below it);
    ``"min"``: the value must reach the limit (``strict``: exceed it). A value that could not be
    measured (``None`` or NaN) does not meet its target.
    """

    value: float | None
    limit: float | None
    kind: Literal["max", "min"]
    strict: bool = False

    @classmethod
    def at_most(cls, value: float | None, limit: float | None) -> Target:
        return cls(value, limit, "max")

    @classmethod
    def below(cls, value: float | None, limit: float | None) -> Target:
        return cls(value, limit, "max", strict=True)

    @classmethod
    def at_least(cls, value: float | None, limit: float | None) -> Target:
        return cls(value, limit, "min")

    @property
    def met(self) -> bool:
        value, limit = _number(self.value), _number(self.limit)
        if value is None or limit is None:
            return False
        if self.kind == "max":
            return value < limit if self.strict else value <= limit
        return value > limit if self.strict else value >= limit

    @property
    def rule(self) -> str:
        """The comparison as text, e.g. ``"<= 30"``."""
        sign = {("max", False): "<=", ("max", True): "<", ("min", False): ">=", ("min", True): ">"}
        return f"{sign[(self.kind, self.strict)]} {_plain(self.limit)}"


def _number(value: Any) -> float | int | None:
    """A finite number (rounded to 5 significant digits), or ``None``."""
    if isinstance(value, bool) or value is None:
        return None if value is None else int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return float(f"{number:.5g}")


def _plain(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:g}"


def report(name: str, figures: Mapping[str, Any], targets: Mapping[str, Target]) -> dict[str, Any]:
    """Print the benchmark's machine-readable result: one JSON line, the last line of its output.

    ``figures``: the headline numbers (plain numbers, the unit in the key: ``rows_per_second_c32``);
    ``targets``: each target's value, limit and whether it is met. A figure or value that could not
    be measured is written as ``null``. Returns what was printed.
    """
    result = {
        "benchmark": name,
        "figures": {key: _number(value) for key, value in figures.items()},
        "targets": {
            key: {"value": _number(target.value), "limit": _number(target.limit), "met": target.met}
            for key, target in targets.items()
        },
    }
    sys.stdout.flush()
    print(json.dumps(result, allow_nan=False), flush=True)
    return result


def machine_line() -> str:
    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"python {sys.version.split()[0]}, {cpus} CPUs, load average {load:.2f} at start"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: this repository importable, quiet Airflow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.update(extra)
    return env


@contextlib.contextmanager
def temp_dir(prefix: str, parent: str | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def read_proc_status(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS`` / ``VmHWM`` (peak RSS) / ``Threads`` of a process, in KiB (threads: a count)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def sink_process(*args: str) -> Iterator[dict[str, Any]]:
    """``benchmarks/_sink.py`` (with ``args``, e.g. ``--inference``) in its own process, stopped at
    the end; yields what it printed once listening: ``{"url": ..., "pid": ...}``."""
    proc = subprocess.Popen(
        [PYTHON, str(Path(__file__).resolve().parent / "_sink.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait()


class EmulatorProcess:
    """The emulator's command line in a child process (so its CPU is not counted in ours)."""

    def __init__(self, data_dir: Path, *extra_args: str, train_seconds: float = 5.0) -> None:
        self.data_dir = data_dir
        args = [
            PYTHON,
            "-m",
            "airflow_provider_predictionone.emulator",
            "--port",
            "0",
            "--secret-key",
            SECRET_KEY,
            "--data-dir",
            str(data_dir),
            "--train-seconds",
            str(train_seconds),
            *extra_args,
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env(), cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = match.group(1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def api_client(secret_key: str, host: str, **settings: Any) -> Any:
    """A :class:`~airflow_provider_predictionone.api.client.PredictionOneClient` (no Airflow imported)."""
    from airflow_provider_predictionone.api.client import PredictionOneClient
    from airflow_provider_predictionone.api.settings import ClientSettings

    return PredictionOneClient(ClientSettings(secret_key=secret_key, host=host, **settings))


def upload_training_data(client: Any, training_file: Any, column_info: Any) -> str:
    """The upload half of the train flow with the API client alone (no Airflow in the process): what
    ``PredictionOneHook.upload_training_data(..., check_data=False)`` sends — the training file's
    header checked against the column info, upload URLs, the training file's PUT, the column
    info's PUT. Returns the ``external_process_id``."""
    from airflow_provider_predictionone.api.datafiles import column_info_source, read_csv_header
    from airflow_provider_predictionone.api.sources import UploadSource

    training = UploadSource.of(training_file, param="training_file")
    info, _columns = column_info_source(column_info, read_csv_header(training, param="training_file"))
    urls = client.train_upload_urls()
    client.upload(urls.learn_data_set_upload_url, training, label="training file")
    client.upload(urls.column_info_upload_url, info, label="column-info file")
    return str(urls.external_process_id)


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
