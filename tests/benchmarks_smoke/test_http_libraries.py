"""``benchmarks/http_libraries.py`` (issue 15) run tiny: it ends with its JSON line (the shape every
benchmark script ends with), and a library it cannot import is named and left out, not a failure.

No timing here: whether aiohttp comes out the cheapest depends on the machine; the shape does not.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
PATHS = ("poll", "inference")


def run_http_libraries(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "http_libraries.py"), "--rounds", "1", "--requests", "20", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )


def last_json_line(stdout: str) -> dict[str, Any]:
    data = json.loads(stdout.strip().splitlines()[-1])
    assert set(data) == {"benchmark", "figures", "targets"}
    for value in data["figures"].values():
        assert value is None or isinstance(value, (int, float)), data["figures"]
    for target in data["targets"].values():
        assert set(target) == {"value", "limit", "met"} and isinstance(target["met"], bool), target
        assert all(target[k] is None or isinstance(target[k], (int, float)) for k in ("value", "limit")), target
    return data


def test_http_libraries_ends_with_its_json_line() -> None:
    data = last_json_line(run_http_libraries().stdout)
    assert data["benchmark"] == "http_libraries"
    assert set(data["targets"]) == {f"chosen_library_fastest_{path}" for path in PATHS}
    importable = [name for name in ("httpx", "aiohttp", "requests") if importlib.util.find_spec(name) is not None]
    for name in importable:
        for path in PATHS:
            assert data["figures"][f"{name}_{path}_client_cpu_ms_per_request"] > 0
            assert data["figures"][f"{name}_{path}_requests_per_second"] > 0
    if "aiohttp" in importable and len(importable) > 1:  # measured, whichever way it came out
        for path in PATHS:
            target = data["targets"][f"chosen_library_fastest_{path}"]
            assert target["value"] is not None and target["limit"] is not None
            assert target["met"] == (target["value"] < target["limit"])


def test_a_library_that_cannot_be_imported_is_named_and_left_out(tmp_path: Path) -> None:
    shadow = tmp_path / "aiohttp"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    done = run_http_libraries("--libraries", "aiohttp,requests", env=env)
    assert "not importable" in done.stdout and "hidden by the test" in done.stdout
    data = last_json_line(done.stdout)
    assert not any(key.startswith("aiohttp_") for key in data["figures"])
    assert data["figures"]["requests_poll_client_cpu_ms_per_request"] > 0
    for path in PATHS:  # the chosen library was not measured: its target is not met
        assert data["targets"][f"chosen_library_fastest_{path}"]["value"] is None
        assert data["targets"][f"chosen_library_fastest_{path}"]["met"] is False
