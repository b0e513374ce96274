"""The ``predictionone-emulator`` command line and the import footprint of the package."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_provider_predictionone.emulator.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"^Prediction One emulator listening on (http://127\.0\.0\.1:\d+)$")


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    environment = {k: v for k, v in os.environ.items() if k != "PREDICTIONONE_EMULATOR_SECRET_KEYS"}
    environment.update(PYTHONPATH=str(ROOT), **(env or {}))
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_predictionone.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment,
    )
    assert process.stdout is not None
    line = process.stdout.readline().rstrip("\n")
    match = READY.match(line)
    assert match, (line, process.stderr.read() if process.poll() is not None else "")
    return process, match.group(1)


def _stop(process: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=10)
    return process.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_starts_answers_and_stops_cleanly(sig: int) -> None:
    process, url = _start("--train-seconds", "0.2", "--build-seconds", "0.1")
    try:
        response = requests.get(
            url + "/v1/external/api-key",
            params={"credential_type": "train"},
            headers={"x-api-key": "emulator-secret-key"},
            timeout=5,
        )
        assert response.status_code == 200 and response.json()["api_key"]
    finally:
        code, out, err = _stop(process, sig)
    assert code == 0
    assert out == ""  # exactly one line on stdout: the ready line
    assert "default secret key 'emulator-secret-key'" in err


def test_cli_secret_keys_from_option_and_environment(tmp_path: Path) -> None:
    process, url = _start("--secret-key", "s1", "--secret-key", "s2", "--data-dir", str(tmp_path / "data"))
    try:
        for secret, status in (("s1", 200), ("s2", 200), ("emulator-secret-key", 400)):
            response = requests.get(
                url + "/v1/external/api-key",
                params={"credential_type": "deploy"},
                headers={"x-api-key": secret},
                timeout=5,
            )
            assert response.status_code == status
    finally:
        code, _out, err = _stop(process, signal.SIGTERM)
    assert code == 0 and "2 secret key(s)" in err
    assert (tmp_path / "data").is_dir()  # a given data dir is kept

    process, url = _start(env={"PREDICTIONONE_EMULATOR_SECRET_KEYS": "env-a, env-b"})
    try:
        response = requests.get(
            url + "/v1/external/api-key", params={"credential_type": "train"}, headers={"x-api-key": "env-b"}, timeout=5
        )
        assert response.status_code == 200
    finally:
        code, _out, _err = _stop(process, signal.SIGTERM)
    assert code == 0


def test_cli_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.train_seconds, args.build_seconds, args.key_lifetime, args.data_dir) == (
        "127.0.0.1",
        8765,
        5.0,
        2.0,
        3600.0,
        None,
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--train-seconds", "-1"])


def test_importing_the_emulator_is_light() -> None:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import airflow_provider_predictionone.emulator\n"
        "elapsed = time.perf_counter() - t\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'requests', 'httpx', 'pendulum'))\n"
        "print(elapsed, heavy)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr  # no Airflow / requests / httpx / pendulum imported
    # How fast it starts is measured by benchmarks, not asserted here.
