"""Every target of a benchmark run in one table, from the scripts' JSON lines.

Each benchmark script ends its output with one JSON line (``_common.report``)::

    {"benchmark": NAME, "figures": {...}, "targets": {NAME: {"value": X, "limit": Y, "met": true|false}}}

This reads a run's output on stdin (``--echo``: passing every line through as it comes, so that the
scripts' tables stay visible while they run), picks those lines out, and prints one table
``target | value | limit | met``, then how long each benchmark took (the time from the previous result
line to its own: with the scripts piped in as they run, their durations). The exit status is 1 if a
target is not met, if a benchmark named in ``--expect`` printed no result line (it failed or did not
run), or if there was no result at all.

Usage: ``(python benchmarks/parse_cost.py; python benchmarks/waits.py) | python benchmarks/summary.py
--echo --expect parse_cost,waits``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, verdict


def parse_line(line: str) -> dict[str, Any] | None:
    """The result of one benchmark if ``line`` is a result line, else ``None``."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("benchmark"), str):
        return None
    if not isinstance(data.get("targets"), dict) or not isinstance(data.get("figures"), dict):
        return None
    return data


def collect(lines: Iterable[str], echo: bool = False) -> list[dict[str, Any]]:
    """The result lines; each with ``"seconds"``: the time since the previous one (or the start)."""
    results = []
    last = time.monotonic()
    for line in lines:
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
        found = parse_line(line)
        if found is not None:
            now = time.monotonic()
            found["seconds"], last = now - last, now
            results.append(found)
    return results


def durations(results: list[dict[str, Any]], total: float) -> str:
    each = ", ".join(f"{result['benchmark']} {result['seconds']:.0f} s" for result in results)
    return f"Took {total // 60:.0f} min {total % 60:.0f} s" + (f" ({each})" if each else "") + "."


def _shown(value: Any) -> str:
    return "not measured" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def summarize(results: list[dict[str, Any]], expected: list[str]) -> tuple[str, bool]:
    """The table, and whether everything is met (every expected benchmark reported, every target met)."""
    rows, ok = [], bool(results)
    for result in results:
        for name, target in result["targets"].items():
            met = bool(target.get("met"))
            ok = ok and met
            rows.append(
                [
                    f"{result['benchmark']}: {name}",
                    _shown(target.get("value")),
                    _shown(target.get("limit")),
                    verdict(met),
                ]
            )
        if not result["targets"]:
            rows.append([f"{result['benchmark']}: (no target)", "", "", ""])
    seen = {result["benchmark"] for result in results}
    for name in expected:
        if name not in seen:
            ok = False
            rows.append([f"{name}: (no result line: the script failed or did not run)", "", "", verdict(False)])
    met = sum(1 for row in rows if row[3] == "met")
    failed = sum(1 for row in rows if row[3] == "NOT met")
    title = f"Targets: {met} met, {failed} not met" + ("" if results else " (no result line at all)")
    return table(["target", "value", "limit", "met"], rows, title), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--echo", action="store_true", help="pass every input line through to stdout as read")
    parser.add_argument("--expect", default="", help="benchmarks that must have reported, comma-separated")
    args = parser.parse_args()
    started = time.monotonic()
    results = collect(sys.stdin, echo=args.echo)
    expected = [name for name in args.expect.split(",") if name.strip()]
    text, ok = summarize(results, expected)
    print()
    print(text)
    print(f"\n{durations(results, time.monotonic() - started)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
