"""``benchmarks/summary.py`` (issue 15) reads the JSON lines of a benchmark run's output and prints
one table of every target; it fails when a target is not met or an expected benchmark did not report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def summary(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "summary.py"), *args], input=text, capture_output=True, text=True, timeout=60
    )


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The summary table's rows by target: [value, limit, met]."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4:
            rows[cells[0]] = cells[1:]
    return rows


def result_line(name: str, **targets: tuple[float | None, float, bool]) -> str:
    found = {key: {"value": value, "limit": limit, "met": met} for key, (value, limit, met) in targets.items()}
    return json.dumps({"benchmark": name, "figures": {"x_ms": 1.5}, "targets": found})


def test_summary_lists_every_target_and_fails_on_one_not_met() -> None:
    met = result_line("waits", cpu_percent_whole_run=(2.1, 3, True))
    output = "# a table\n| a | b |\n{not json}\n" + met + "\n"
    done = summary(output, "--echo", "--expect", "waits")
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith(output)  # passed through as read
    assert table_rows(done.stdout)["waits: cpu_percent_whole_run"] == ["2.1", "3", "met"]

    not_met = result_line("batch_predict", rows_per_second_c32=(1100.0, 2300, False), memory_flat=(3.0, 10, True))
    done = summary(met + "\n" + not_met + "\n")
    assert done.returncode == 1
    rows = table_rows(done.stdout)
    assert rows["batch_predict: rows_per_second_c32"] == ["1100", "2300", "NOT met"]
    assert rows["batch_predict: memory_flat"] == ["3", "10", "met"]
    assert "2 met, 1 not met" in done.stdout


def test_summary_fails_when_a_benchmark_did_not_report() -> None:
    done = summary(
        result_line("parse_cost", extra_import_ms_operators=(12.0, 30, True)) + "\n", "--expect", "parse_cost,upload"
    )
    assert done.returncode == 1 and "upload: (no result line" in done.stdout
    assert summary("no result at all\n").returncode == 1
