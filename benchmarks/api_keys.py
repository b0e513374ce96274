"""Get API Key calls per task in a full run of the example DAGs (issue 6, item 5).

Each example DAG (``dags_examples/predictionone_train.py``, ``predictionone_retrain.py``) runs once
with ``dag.test()`` against an in-process emulator, in a throw-away Airflow home (SQLite). The
emulator counts the Get API Key requests it receives; every request is also attributed, on the
client side, to the task and the phase it came from:

* ``execute`` — the task's worker process (before deferring, or the whole task when it does not
  defer);
* ``trigger`` — the trigger's wait, which in production runs in the triggerer process;
* ``resume`` — ``execute_complete`` after the trigger fired, a new worker process in production.

``dag.test()`` runs all three phases in this one process; in a deployment they are three
processes, so the table counts per (task, phase). Target: at most one call per credential type
per task and process. The JSON line at the end has that target (the most calls of any task, phase and
credential type, against 1) and a second one, every DAG run successful: the calls of a failed run
are not the calls of a run.

Usage: ``python benchmarks/api_keys.py [--dags train,retrain]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, SECRET_KEY, Target, api_client, machine_line, report, table, upload_training_data, verdict

EXAMPLES = ROOT / "dags_examples"
DATA = EXAMPLES / "data"


def _setup_airflow(home: Path) -> None:
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLES)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ["PREDICTIONONE_CHECK_INTERVAL"] = "0.5"


def _load_dag(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"predictionone_{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _serialize(dag: Any) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


class Tracer:
    """Attributes every Get API Key request to (task, phase, credential)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.current_task = "?"

    def phase(self) -> tuple[str, str]:
        frame = sys._getframe(2)
        phase = "execute"
        while frame is not None:
            name = frame.f_code.co_name
            owner = frame.f_locals.get("self")
            if name == "run" and owner is not None and type(owner).__name__.endswith("Trigger"):
                phase = "trigger"
                break
            if name == "execute_complete":
                phase = "resume"
                break
            frame = frame.f_back
        task = self.current_task
        if phase != "trigger":
            try:
                from airflow.sdk import get_current_context

                task = get_current_context()["ti"].task_id
                self.current_task = task
            except Exception:  # outside a task: keep the last task seen
                pass
        return task, phase

    def install(self) -> None:
        # Every Get API Key a client sends for a call's key is built by ClientBase._key_request
        # (sync and async clients alike); the Get API Key endpoint method itself is not used by tasks.
        from airflow_provider_predictionone.api.endpoints import ClientBase

        original = ClientBase._key_request

        def traced(client: Any, request: Any) -> Any:
            task, phase = self.phase()
            credential = request.credential
            self.calls[(task, phase, getattr(credential, "value", str(credential)))] += 1
            return original(client, request)

        ClientBase._key_request = traced  # type: ignore[method-assign]


def _deployed_model(emulator: Any) -> int:
    """A model trained on the bundled data behind a running prediction API (the retrain DAG needs one)."""
    import time

    from airflow_provider_predictionone.api.models import ALLOW_ALL

    with api_client(SECRET_KEY, emulator.url) as client:
        upload_id = upload_training_data(client, DATA / "customers_train.csv", DATA / "column_info.csv")
        config = {"tc": "プレミアム購入", "tt": "binary_classification", "tv": "はい"}
        job = client.create_model(upload_id, "bench-base", config)
        deadline = time.time() + 120
        while not client.train_status(job).state.is_terminal:
            if time.time() > deadline:
                raise RuntimeError("the base model did not train")
            time.sleep(0.2)
        model = client.find_model_by_name("bench-base")
        assert model is not None
        created = client.create_classifier(model.model_id, ALLOW_ALL)
        while not (found := client.get_classifier(created.classifier_id)) or not found.is_ready:
            if time.time() > deadline:
                raise RuntimeError("the prediction API did not start")
            time.sleep(0.2)
        return model.model_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dags", default="train,retrain", help="example DAGs to run (predictionone_<name>.py)")
    args = parser.parse_args()
    names = [n for n in args.dags.split(",") if n]
    print(f"# Get API Key calls per task ({machine_line()}; example DAGs: {', '.join(names)})\n", flush=True)
    home = Path(tempfile.mkdtemp(prefix="p1-bench-keys-"))
    try:
        _setup_airflow(home)
        from airflow.utils import db

        from airflow_provider_predictionone.emulator import Emulator

        db.initdb()
        tracer = Tracer()
        tracer.install()
        rows: list[list[Any]] = []
        totals: list[list[Any]] = []
        worst = 0
        succeeded = 0
        figures: dict[str, float] = {}
        with Emulator(secret_keys=(SECRET_KEY,), train_seconds=2.0, build_seconds=0.5) as emulator:
            os.environ["AIRFLOW_CONN_PREDICTIONONE_DEFAULT"] = json.dumps(
                {"conn_type": "predictionone", "host": emulator.url, "password": SECRET_KEY}
            )
            for name in names:
                conf = {"model_id": _deployed_model(emulator)} if name == "retrain" else None
                tracer.calls.clear()
                emulator.reset_request_counts()
                dag = _load_dag(name)
                _serialize(dag)
                dag_run = dag.test(run_conf=conf)
                served = emulator.request_count("GET", "/api-key")
                state = str(dag_run.state)
                by_task: dict[str, Counter[str]] = {}
                for (task, phase, credential), count in sorted(tracer.calls.items()):
                    rows.append([dag.dag_id, task, phase, credential, count, verdict(count <= 1)])
                    worst = max(worst, count)
                    by_task.setdefault(task, Counter())[credential] += count
                traced = sum(tracer.calls.values())
                per_task = "; ".join(
                    f"{task}: " + ", ".join(f"{c} {n}" for c, n in sorted(creds.items()))
                    for task, creds in by_task.items()
                )
                totals.append([dag.dag_id, state, served, traced, per_task])
                succeeded += state.rsplit(".", 1)[-1].lower() == "success"
                figures[f"get_api_key_calls_{name}"] = served
                figures[f"get_api_key_calls_attributed_{name}"] = traced
        print(
            table(
                ["DAG", "task", "phase (process in production)", "credential", "Get API Key", "<= 1"],
                rows,
                "Get API Key calls by task, phase and credential type",
            )
        )
        print()
        print(
            table(
                ["DAG", "run state", "Get API Key (emulator)", "attributed", "per task (all phases)"],
                totals,
                "Totals per DAG run",
            )
        )
        print(f"\nAt most one call per credential type per task and phase: {verdict(worst <= 1)}.")
        print()
        report(
            "api_keys",
            figures,
            {
                "get_api_key_calls_per_task_phase_credential": Target.at_most(worst if rows else None, 1),
                "dag_runs_successful": Target.at_least(succeeded, len(names)),
            },
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
