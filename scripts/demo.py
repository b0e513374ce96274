"""The main job: train, deploy, score and retrain through Airflow against the local emulator.

1. Starts the Prediction One emulator on a free loopback port.
2. Prepares an embedded SQLite Airflow home inside the project folder (``.airflow-home/``).
3. Runs the example DAG ``predictionone_train`` with ``airflow dags test`` and prints the
   trained model's id and metrics.
4. Runs ``predictionone_deploy_predict`` for that model: deploys it as a prediction API and
   scores the bundled customer file (one prediction per input row).
5. Runs ``predictionone_retrain`` for that prediction API (the DAG reads the model it serves) and
   prints what the prediction API serves now.
6. Stops the emulator.

Run it with ``make demo``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOME = ROOT / ".airflow-home"
SECRET_KEY = "demo-secret-key"
RESULT_MARK = "PREDICTIONONE_RESULT "


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "airflow_provider_predictionone.emulator", "--port", "0"]
    command += ["--train-seconds", "3", "--build-seconds", "1", "--secret-key", SECRET_KEY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    prefix = "Prediction One emulator listening on "
    if not line.startswith(prefix):
        process.kill()
        raise SystemExit(f"The emulator did not start: {line!r}")
    print(line, flush=True)
    return process, line[len(prefix) :]


def airflow_env(url: str) -> dict[str, str]:
    HOME.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
            "AIRFLOW_CONN_PREDICTIONONE_DEFAULT": json.dumps(
                {"conn_type": "predictionone", "host": url, "password": SECRET_KEY}
            ),
            "PREDICTIONONE_CHECK_INTERVAL": "1",
        }
    )
    return env


def dags_test(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``airflow dags test`` and return the JSON its report task printed."""
    command = [str(BIN / "airflow"), "dags", "test", dag_id]
    if conf:
        command += ["-c", json.dumps(conf)]
    print(f"\n$ airflow dags test {dag_id}" + (f" -c '{json.dumps(conf)}'" if conf else ""), flush=True)
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    output = run.stdout + run.stderr
    log_file = HOME / f"demo-{dag_id}.log"
    log_file.write_text(output, encoding="utf-8")
    results = [line.split(RESULT_MARK, 1)[1] for line in output.splitlines() if RESULT_MARK in line]
    if run.returncode != 0 or not results:
        print(output[-6000:])
        raise SystemExit(f"`airflow dags test {dag_id}` failed (exit {run.returncode}); full log: {log_file}")
    print(f"  succeeded (full log: {log_file.relative_to(ROOT)})")
    return json.loads(results[-1])


def main() -> int:
    emulator, url = start_emulator()
    try:
        env = airflow_env(url)
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        trained = dags_test(env, "predictionone_train")
        print(f"\nTrained model_id: {trained['model_id']} ({trained['model_name']})")
        for name, value in sorted(trained["metrics"].items()):
            print(f"  {name:>10}: {value}")
        scored = dags_test(env, "predictionone_deploy_predict", {"model_id": trained["model_id"]})
        print(f"\nDeployed model {scored['model_id']} as prediction API {scored['classifier_id']}")
        print(
            f"  scored {scored['rows_predicted']} of {scored['rows_total']} rows ({scored['rows_rejected']} rejected)"
        )
        print(f"  -> {scored['output_file']}")
        retrained = dags_test(env, "predictionone_retrain", {"classifier_id": scored["classifier_id"]})
        print(f"\nRetrained: the prediction API now serves model_id {retrained['model_id']}")
        print(f"  {retrained['reason']}")  # the promotion gate's decision, with both figures
        for name, value in sorted(retrained["metrics"].items()):
            print(f"  {name:>10}: {value}")
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
