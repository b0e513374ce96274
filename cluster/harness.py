"""What the cluster test (``cluster/test_cluster.py``) drives the cluster with: Airflow's REST API
(:class:`Airflow`), the emulator's request log and control endpoint (:class:`Emulator`), the checks
and waits, and killing / restarting one component's processes.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

import cluster
from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.settings import ClientSettings

T = TypeVar("T")
FINISHED = {"success", "failed"}
API = "/v1/external"


class CheckFailed(AssertionError):
    """A check of the cluster test failed (the message says what was expected and what was seen)."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def log(message: str) -> None:
    print(f"[test-cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- Airflow's REST API -----------------------------------------------------------------------


class Airflow:
    """The public REST API (/api/v2) of the cluster's api-server, as the admin user."""

    def __init__(self) -> None:
        password = json.loads((cluster.HOME / "passwords.json").read_text())["admin"]
        answer = httpx.post(f"{cluster.API_URL}/auth/token", json={"username": "admin", "password": password})
        answer.raise_for_status()
        token = answer.json()["access_token"]
        self.http = httpx.Client(
            base_url=f"{cluster.API_URL}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        if answer.is_error:
            raise CheckFailed(f"{method} /api/v2{path} answered {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        return wait_until(
            f"{dag_id} run {run_id}",
            lambda: (state := self.run_state(dag_id, run_id)) in FINISHED and state,
            timeout,
            interval=1,
        )

    def task_instances(self, dag_id: str, run_id: str, **query: Any) -> dict[str, Any]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000, **query})

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        tries = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]
        return sorted(tries, key=lambda ti: ti["try_number"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.call("GET", path, params={"deserialize": True})["value"]

    def explain_failure(self, dag_id: str, run_id: str) -> str:
        states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)["task_instances"]}
        return f"{dag_id} run {run_id}: task states {states}; task logs in {cluster.LOGS / 'tasks'}"


# -- the emulator: its request log, fault control and API ---------------------------------------


class Emulator:
    """What the emulator saw (its ``--verbose`` request log), its control endpoints and its API."""

    line = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]+)[^"]*" (?P<status>\d{3})')

    def __init__(self) -> None:
        self.log_file = cluster.LOGS / "emulator.log"
        self.control = httpx.Client(base_url=f"{cluster.EMULATOR_URL}/_emulator", timeout=30)
        settings = ClientSettings(secret_key=cluster.EMULATOR_SECRET_KEY, host=cluster.EMULATOR_URL)
        self.client = PredictionOneClient(settings)

    def mark(self) -> int:
        return self.log_file.stat().st_size

    def requests(self, since: int) -> list[tuple[str, str, int]]:
        """``(method, path, status)`` of every request answered since the mark (in order)."""
        with open(self.log_file, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", "replace")
        return [(m["method"], m["path"], int(m["status"])) for m in self.line.finditer(text)]

    def count(self, since: int, method: str, path: str) -> int:
        """Requests answered since the mark for one path (``/uploads/`` counts every upload URL)."""

        def matches(seen: str) -> bool:
            return seen.startswith(path) if path.endswith("/") else seen == path

        return sum(1 for m, p, _ in self.requests(since) if m == method and matches(p))

    def add_fault(self, **fault: Any) -> int:
        answer = self.control.post("/faults", json=fault)
        answer.raise_for_status()
        return int(answer.json()["faults"][0]["id"])

    def fired(self, fault_id: int) -> int:
        return int(self.control.get(f"/faults/{fault_id}").json()["fault"]["fired"])

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def expire_keys(self) -> int:
        answer = self.control.post("/expire-keys", json={})
        answer.raise_for_status()
        return int(answer.json()["expired"])

    def models(self) -> dict[int, Any]:
        return {model.model_id: model for model in self.client.iter_models()}


def csv_rows(path: Path) -> int:
    """Data rows of a CSV file (without its header)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def default_model_name(dag_id: str, task_id: str, run_id: str) -> str:
    """The model name the hook gives a training by default (hooks/training.py ``default_model_name``)."""
    return re.sub(r"[^\w.\-:+]", "_", f"{dag_id}.{task_id}.{run_id}")


def trainings(models: dict[int, Any], dag_id: str, task_id: str, run_id: str) -> int:
    name = default_model_name(dag_id, task_id, run_id)
    return sum(1 for model in models.values() if model.name == name)


# -- processes --------------------------------------------------------------------------------


def worker_running(ti: dict[str, Any]) -> str:
    """The Celery worker whose process tree runs the task instance (its process title names the TI)."""
    title = f"airflow worker -- {ti['id']}"
    for name in cluster.WORKERS:
        root = cluster.running(name)
        for proc in cluster.tree(root) if root else []:
            try:
                if title in " ".join(proc.cmdline()):
                    return name
            except psutil.Error:
                continue
    raise CheckFailed(f"no worker process runs task instance {ti['task_id']} ({title!r})")


def kill_worker_running(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> tuple[str, float]:
    """SIGKILL the whole Celery worker (main process, pool, supervisor, task) that runs the task."""
    ti = airflow.task_instance(dag_id, run_id, task_id)
    check(ti["state"] == "running", f"{task_id} should be running when its worker is killed, it is {ti['state']}")
    name = worker_running(ti)
    pids = cluster.kill(name, signal.SIGKILL)
    killed_at = time.monotonic()
    log(f"SIGKILL {name}: {len(pids)} processes ({task_id} try {ti['try_number']} ran there)")
    return name, killed_at


def restart(name: str) -> None:
    root = cluster.running(name)
    if root is not None:
        psutil.wait_procs(cluster.tree(root), timeout=10)
    cluster.pid_file(name).unlink(missing_ok=True)
    cluster.start_component(name)
    log(f"restarted {name}")


# -- stages -----------------------------------------------------------------------------------
