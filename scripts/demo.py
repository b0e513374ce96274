"""The main job: train a model through Airflow against the local Prediction One emulator.

Starts the emulator on a free loopback port, prepares an embedded SQLite Airflow home inside the
project folder (``.airflow-home/``), runs the example DAG ``predictionone_train`` with
``airflow dags test``, prints the trained model's id and metrics, and stops the emulator.
Run it with ``make demo``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET_KEY = "demo-secret-key"


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_predictionone.emulator",
            "--port",
            "0",
            "--train-seconds",
            "3",
            "--build-seconds",
            "1",
            "--secret-key",
            SECRET_KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    prefix = "Prediction One emulator listening on "
    if not line.startswith(prefix):
        process.kill()
        raise SystemExit(f"The emulator did not start: {line!r}")
    print(line, flush=True)
    return process, line[len(prefix) :]


def airflow_env(url: str) -> dict[str, str]:
    home = ROOT / ".airflow-home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_PREDICTIONONE_DEFAULT": json.dumps(
                {"conn_type": "predictionone", "host": url, "password": SECRET_KEY}
            ),
            "PREDICTIONONE_CHECK_INTERVAL": "1",
        }
    )
    return env


def main() -> int:
    emulator, url = start_emulator()
    try:
        env = airflow_env(url)
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        print("Running `airflow dags test predictionone_train` on an embedded SQLite Airflow home ...", flush=True)
        run = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", "predictionone_train"],
            env=env,
            capture_output=True,
            text=True,
        )
        log_file = ROOT / ".airflow-home" / "demo-dags-test.log"
        log_file.write_text(run.stdout + run.stderr, encoding="utf-8")

        metrics = [line for line in (run.stdout + run.stderr).splitlines() if "PREDICTIONONE_RESULT " in line]
        if run.returncode != 0 or not metrics:
            print((run.stdout + run.stderr)[-6000:])
            print(f"The DAG run failed (exit {run.returncode}); full log: {log_file}")
            return 1
        result = json.loads(metrics[-1].split("PREDICTIONONE_RESULT ", 1)[1])
        print(f"\nTrained model_id: {result['model_id']}")
        for name, value in sorted(result["metrics"].items()):
            print(f"  {name:>10}: {value}")

        print(f"\nFull Airflow log: {log_file}")
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
