"""The cluster test (``make test-cluster``), run against the cluster that ``cluster/cluster.py start`` started.

1. The example DAGs through Airflow's REST API: predictionone_train, predictionone_taskflow and
   predictionone_deploy_predict at once (results to the shared ``file://`` folder), then
   predictionone_retrain on the deployed prediction API.
   Data-aware scheduling: predictionone_training_data_producer through the REST API, then the run of
   predictionone_retrain_on_new_data that the scheduler starts on its asset event (asset_triggered).
2. Faults, each ending with the task succeeding and exactly one remote job, counted on the emulator:
   SIGKILL of the Celery worker running ``train_model`` right after Train was answered; SIGKILL of the
   worker whose retraining upload is in flight; SIGKILL and restart of the triggerer while
   ``train_model`` is deferred.
3. 200 deferred waits at once on the one triggerer (cluster/dags/predictionone_cluster_waits.py): the
   triggerer's CPU share, its TCP connections to the emulator and the Get API Key calls (all keys are
   expired mid-wait: the triggers share one key cache, so one new key is expected).
4. No "async thread was blocked" warning in the triggerer's log.

Each stage prints ``RESULT <what>: <outcome>``; the exit status is 1 when any check failed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from harness import (
    API,
    FINISHED,
    Airflow,
    CheckFailed,
    Emulator,
    check,
    csv_rows,
    kill_worker_running,
    log,
    restart,
    trainings,
    wait_until,
)

import cluster

DATA = cluster.ROOT / "dags_examples" / "data"
EXAMPLES = ("predictionone_train", "predictionone_taskflow", "predictionone_deploy_predict", "predictionone_retrain")
ASSET_DAGS = ("predictionone_training_data_producer", "predictionone_retrain_on_new_data")  # producer, consumer
CLASSIFIER_VARIABLE = "predictionone_classifier_id"  # what the consumer's asset-triggered runs read
WAITS_DAG = "predictionone_cluster_waits"
WAITS = 200
HOLD_SECONDS = 20.0  # how long the 200 waits stay deferred while the triggerer is measured
UPLOAD_SECONDS = 10.0  # the 200 jobs get their data (and so end) over this time
BLOCKED_WARNING = "async thread was blocked"
MARGINAL_BLOCK = 0.25  # seconds: one warning up to this is reported, not failed (see triggerer_log)


class ClusterTest:
    def __init__(self) -> None:
        self.airflow = Airflow()
        self.emulator = Emulator()
        self.results: list[tuple[str, bool, str]] = []
        self.model_id: int | None = None
        self.classifier_id: str | None = None

    def result(self, what: str, ok: bool, detail: str) -> None:
        self.results.append((what, ok, detail))
        print(f"RESULT {what}: {'ok' if ok else 'FAILED'} - {detail}", flush=True)

    def stage(self, what: str, body: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = body()
        except (CheckFailed, httpx.HTTPError, psutil.Error, OSError) as exc:
            self.result(what, False, f"{exc} ({time.monotonic() - started:.0f} s)")
            return False
        self.result(what, True, f"{detail} ({time.monotonic() - started:.0f} s)")
        return True

    # 0. set-up checks --------------------------------------------------------------------

    def setup(self) -> str:
        wanted = {*EXAMPLES, *ASSET_DAGS, WAITS_DAG}

        def parsed() -> set[str] | None:
            dags = {dag["dag_id"] for dag in self.airflow.call("GET", "/dags", params={"limit": 100})["dags"]}
            return dags if wanted <= dags else None

        wait_until("the DAGs to be parsed", parsed, 120, interval=1)
        errors = self.airflow.call("GET", "/importErrors")["import_errors"]
        check(not errors, f"import errors: {errors}")
        tested = subprocess.run(
            [str(cluster.BIN / "airflow"), "connections", "test", "predictionone_default"],
            env=cluster.airflow_env(), capture_output=True, text=True,
        )  # fmt: skip
        output = (tested.stdout + tested.stderr).strip().splitlines()
        check(tested.returncode == 0 and any("success" in line.lower() for line in output),
              f"`airflow connections test predictionone_default` failed: {output[-3:]}")  # fmt: skip
        for dag_id in wanted:
            self.airflow.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        status = next(line for line in output if "success" in line.lower())
        return f"{len(wanted)} DAGs parsed, no import errors, unpaused; connections test: {status.strip()}"

    # 1. the example DAGs ---------------------------------------------------------------------

    def example_dags(self) -> str:
        results = cluster.SHARED / "results"
        conf = {
            "predictionone_deploy_predict": {
                "result_path": (results / "deploy_predict" / "training-result.zip").as_uri(),
                "output_file": (results / "deploy_predict" / "predictions.csv").as_uri(),
            }
        }
        runs = {dag_id: self.airflow.trigger(dag_id, conf.get(dag_id)) for dag_id in EXAMPLES[:3]}
        log(f"triggered {', '.join(runs)}")
        started = time.monotonic()
        lines = []
        for dag_id, run_id in runs.items():
            state = self.airflow.wait_run(dag_id, run_id)
            check(state == "success", self.airflow.explain_failure(dag_id, run_id))
        models = self.emulator.models()

        train = self.airflow.xcom("predictionone_train", runs["predictionone_train"], "report_metrics")
        count = trainings(models, "predictionone_train", "train_model", runs["predictionone_train"])
        check(count == 1, f"predictionone_train: {count} trainings on the emulator, expected 1")
        check(bool(train["metrics"]), f"predictionone_train reported no metrics: {train}")
        self.model_id = int(train["model_id"])
        lines.append(f"predictionone_train success, remote jobs: {count} training (model {self.model_id})")

        flow = self.airflow.xcom("predictionone_taskflow", runs["predictionone_taskflow"], "report")
        count = trainings(models, "predictionone_taskflow", "train", runs["predictionone_taskflow"])
        check(count == 1, f"predictionone_taskflow: {count} trainings on the emulator, expected 1")
        lines.append(f"predictionone_taskflow success, remote jobs: {count} training (model {flow['model_id']})")

        run_id = runs["predictionone_deploy_predict"]
        summary = self.airflow.xcom("predictionone_deploy_predict", run_id, "report")
        deployed = self.airflow.xcom("predictionone_deploy_predict", run_id, "deploy_model")
        count = trainings(models, "predictionone_deploy_predict", "train_model", run_id)
        apis = [c for c in self.emulator.client.list_classifiers() if c.model_id == deployed["model_id"]]
        rows = csv_rows(DATA / "customers_score.csv")
        output = Path(urlsplit(summary["output_file"]).path)
        result_zip = results / "deploy_predict" / "training-result.zip"
        check(count == 1 and len(apis) == 1, f"deploy_predict: {count} trainings, {len(apis)} prediction APIs")
        check(summary["rows_predicted"] == rows and summary["rows_rejected"] == 0, f"deploy_predict: {summary}")
        check(output.is_file() and csv_rows(output) == rows, f"predictions missing or incomplete at {output}")
        check(zipfile.is_zipfile(result_zip), f"no training result zip at {result_zip}")
        self.classifier_id = str(deployed["classifier_id"])
        lines.append(
            f"predictionone_deploy_predict success, remote jobs: {count} training + {len(apis)} prediction API; "
            f"{summary['rows_predicted']}/{rows} rows to {output.relative_to(cluster.ROOT)}, result zip in the "
            "shared folder"
        )

        before = self.emulator.models()
        run_id = self.airflow.trigger("predictionone_retrain", {"classifier_id": self.classifier_id})
        state = self.airflow.wait_run("predictionone_retrain", run_id)
        check(state == "success", self.airflow.explain_failure("predictionone_retrain", run_id))
        report = self.airflow.xcom("predictionone_retrain", run_id, "report")
        new = set(self.emulator.models()) - set(before)
        served = self.emulator.client.get_classifier(self.classifier_id)
        check(len(new) == 1, f"predictionone_retrain: {len(new)} retrainings on the emulator, expected 1")
        # The promotion gate decides: the retrained model if it is at least as good, else the base model.
        expected = min(new) if report["switched"] else report["base_model_id"]
        check(served is not None and served.model_id == report["model_id"] == expected, f"switch: {served}")
        lines.append(
            f"predictionone_retrain success, remote jobs: 1 retraining (API now serves {report['model_id']}: "
            f"{report['reason']})"
        )
        for line in lines:
            print(f"RESULT dag {line}", flush=True)
        return f"4 example DAGs succeeded in {time.monotonic() - started:.0f} s"

    def asset_triggered_retrain(self) -> str:
        """Trigger the producer; the scheduler starts the consumer on its asset event, which retrains."""
        producer, consumer = ASSET_DAGS
        check(self.classifier_id is not None, "needs the prediction API of the deploy stage")
        variable = {"key": CLASSIFIER_VARIABLE, "value": self.classifier_id}
        self.airflow.call("POST", "/variables", json=variable)  # an asset-triggered run has no conf
        before = self.emulator.models()
        run_id = self.airflow.trigger(producer)
        check(self.airflow.wait_run(producer, run_id) == "success", self.airflow.explain_failure(producer, run_id))
        produced = time.monotonic()

        def asset_run() -> dict[str, Any] | None:
            runs = self.airflow.call("GET", f"/dags/{consumer}/dagRuns", params={"limit": 100})["dag_runs"]
            done = [r for r in runs if r["run_type"] == "asset_triggered" and r["state"] in FINISHED]
            return done[0] if done else None

        run = wait_until(f"an asset-triggered run of {consumer}", asset_run, 240, interval=1)
        latency = time.monotonic() - produced
        consumer_run = str(run["dag_run_id"])
        check(run["state"] == "success", self.airflow.explain_failure(consumer, consumer_run))
        tis = self.airflow.task_instances(consumer, consumer_run)["task_instances"]
        states = {ti["task_id"]: ti["state"] for ti in tis}
        check(states.get("retrain_model") == "success", f"{consumer} run {consumer_run} did not retrain: {states}")
        new = set(self.emulator.models()) - set(before)
        served = self.emulator.client.get_classifier(self.classifier_id)
        check(len(new) == 1, f"{len(new)} retrainings ran on the emulator, expected 1")
        report = self.airflow.xcom(consumer, consumer_run, "report")
        expected = min(new) if report["switched"] else report["base_model_id"]  # the promotion gate decides
        check(served is not None and served.model_id == report["model_id"] == expected, f"switch: {served}")
        events = self.airflow.call("GET", "/assets/events", params={"source_dag_id": consumer, "limit": 100})
        extras = [e["extra"] for e in events["asset_events"]
                  if e["source_run_id"] == consumer_run and e["source_task_id"] == "retrain_model"]  # fmt: skip
        check(len(extras) == 1 and extras[0].get("model_id") == min(new) and bool(extras[0].get("metrics")),
              f"the model asset's event of run {consumer_run}: {extras}")  # fmt: skip
        self.model_id = served.model_id
        return (
            f"{producer} success; {consumer} run {consumer_run} (asset_triggered) success {latency:.0f} s after the "
            f"producer ended; remote jobs: 1 retraining (API now serves {served.model_id}: {report['reason']}); asset "
            f"event extra: model_id {extras[0]['model_id']}, metrics {sorted(extras[0]['metrics'])}"
        )

    # 2. faults -----------------------------------------------------------------------------

    def worker_killed_after_train(self) -> str:
        """SIGKILL the worker of train_model once Train was answered; the next try re-attaches."""
        dag_id, task_id = "predictionone_train", "train_model"
        mark = self.emulator.mark()
        # The first status check after Train is held for 10 s: its arrival shows Train was answered,
        # and it keeps the task in the worker (instead of deferring) until the kill.
        fault = self.emulator.add_fault(route="/models/results", method="GET", kind="latency", latency=10)
        run_id = self.airflow.trigger(dag_id)
        wait_until("Train to be answered", lambda: self.emulator.fired(fault) > 0, 120, interval=0.1)
        check(self.emulator.count(mark, "POST", f"{API}/models") == 1, "Train was not answered before the check")
        worker, killed_at = kill_worker_running(self.airflow, dag_id, run_id, task_id)
        restart(worker)
        state = self.airflow.wait_run(dag_id, run_id)
        recovered = time.monotonic() - killed_at
        check(state == "success", self.airflow.explain_failure(dag_id, run_id))
        return self._one_training(dag_id, task_id, run_id, mark, recovered)

    def _one_training(self, dag_id: str, task_id: str, run_id: str, mark: int, recovered: float) -> str:
        tries = [f"{t['try_number']}:{t['state']}" for t in self.airflow.tries(dag_id, run_id, task_id)]
        count = trainings(self.emulator.models(), dag_id, task_id, run_id)
        train_requests = self.emulator.count(mark, "POST", f"{API}/models")
        check(count == 1 and train_requests == 1, f"{count} trainings and {train_requests} Train requests, expected 1")
        return (
            f"run success, {task_id} tries {', '.join(tries)}, succeeded {recovered:.0f} s after the fault; remote "
            f"jobs: {count} training, {train_requests} Train request"
        )

    def worker_killed_during_retrain_upload(self) -> str:
        """SIGKILL the worker whose retraining upload is in flight; the next try adopts or starts one job."""
        dag_id, task_id = "predictionone_retrain", "retrain_model"
        check(self.classifier_id is not None, "needs the prediction API of the deploy stage")
        before = self.emulator.models()
        mark = self.emulator.mark()
        # The upload's answer is held 3 s: the worker dies with its upload sent and unanswered.
        fault = self.emulator.add_fault(route="upload", method="PUT", kind="latency", latency=3)
        run_id = self.airflow.trigger(dag_id, {"classifier_id": self.classifier_id})
        wait_until("the retraining upload", lambda: self.emulator.fired(fault) > 0, 120, interval=0.1)
        worker, killed_at = kill_worker_running(self.airflow, dag_id, run_id, task_id)
        leftovers = sorted(str(p.relative_to(cluster.STATE)) for p in (cluster.STATE / worker / "tmp").rglob("*"))
        restart(worker)
        state = self.airflow.wait_run(dag_id, run_id)
        recovered = time.monotonic() - killed_at
        check(state == "success", self.airflow.explain_failure(dag_id, run_id))
        tries = [f"{t['try_number']}:{t['state']}" for t in self.airflow.tries(dag_id, run_id, task_id)]
        new = set(self.emulator.models()) - set(before)
        jobs = self.emulator.count(mark, "GET", f"{API}/retrain_jobs/upload_url")
        uploads = self.emulator.count(mark, "PUT", "/uploads/")
        served = self.emulator.client.get_classifier(self.classifier_id)
        check(len(new) == 1, f"{len(new)} retrainings ran on the emulator, expected 1")
        check(served is not None and served.model_id in new, f"the prediction API serves {served}, not the new model")
        self.model_id = served.model_id
        left = ""
        if leftovers:
            # The next Prediction One task that needs a working folder on that worker removes them
            # (api/scratch.py); the retry may have run on the other worker.
            gone = not any(p.name.startswith("predictionone-") for p in (cluster.STATE / worker / "tmp").iterdir())
            after = "removed by the time the run succeeded" if gone else "still there (the retry ran elsewhere)"
            left = f"; left in {worker}'s TMPDIR by the killed try: {leftovers}, {after}"
        return (
            f"run success, {task_id} tries {', '.join(tries)}, succeeded {recovered:.0f} s after the kill; remote "
            f"jobs: {len(new)} retraining ran ({jobs} retrain job(s) created, {uploads} upload(s)){left}"
        )

    def triggerer_killed_while_deferred(self) -> str:
        """SIGKILL the triggerer while train_model is deferred, start a new one; the wait resumes."""
        dag_id, task_id = "predictionone_train", "train_model"
        mark = self.emulator.mark()
        run_id = self.airflow.trigger(dag_id)

        def deferred() -> bool:
            state = self.airflow.task_instance(dag_id, run_id, task_id)["state"]
            check(state not in {"success", "failed", "up_for_retry"}, f"{task_id} was {state} before it deferred")
            return state == "deferred"

        wait_until(f"{task_id} to defer", deferred, 120, interval=0.2)
        pids = cluster.kill("triggerer", signal.SIGKILL)
        killed_at = time.monotonic()
        log(f"SIGKILL triggerer: {len(pids)} processes while {task_id} is deferred")
        restart("triggerer")
        state = self.airflow.wait_run(dag_id, run_id)
        check(state == "success", self.airflow.explain_failure(dag_id, run_id))
        return self._one_training(dag_id, task_id, run_id, mark, time.monotonic() - killed_at)

    # 3. 200 deferred waits -----------------------------------------------------------------

    def many_waits(self) -> str:
        check(self.model_id is not None, "needs a trained model")
        client = self.emulator.client
        uploads = [client.retrain_upload_url(self.model_id, "customers_retrain.csv") for _ in range(WAITS)]
        lines = (DATA / "customers_retrain.csv").read_bytes().splitlines(keepends=True)
        data = b"".join(lines[:301])  # header + 300 rows: 200 retrainings stay cheap for the emulator
        before = self.emulator.models()
        stage_mark = self.emulator.mark()
        conf = {"retrain_job_ids": [u.retrain_job_id for u in uploads], "model_id": self.model_id}
        started = time.monotonic()
        run_id = self.airflow.trigger(WAITS_DAG, conf)

        def deferred() -> int | None:
            found = self.airflow.task_instances(WAITS_DAG, run_id, state="deferred", limit=1)["total_entries"]
            failed = self.airflow.task_instances(WAITS_DAG, run_id, state="failed", limit=1)["total_entries"]
            check(failed == 0, f"{failed} waits failed before deferring")
            return found if found == WAITS else None

        wait_until(f"{WAITS} deferred waits", deferred, 300, interval=1)
        ramp = time.monotonic() - started
        log(f"{WAITS} waits deferred {ramp:.0f} s after the trigger; holding them {HOLD_SECONDS:.0f} s")

        triggerer = cluster.running("triggerer")
        check(triggerer is not None, "the triggerer is not running")
        procs = cluster.tree(triggerer)
        cpu_before = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        mark = self.emulator.mark()
        expired = self.emulator.expire_keys()
        peak, ports = 0, set()
        hold_start = time.monotonic()
        while time.monotonic() - hold_start < HOLD_SECONDS:
            conns = [c for p in procs for c in p.net_connections(kind="tcp") if c.raddr and
                     c.raddr.port == cluster.PORTS["emulator"] and c.status == psutil.CONN_ESTABLISHED]  # fmt: skip
            peak, ports = max(peak, len(conns)), ports | {c.laddr.port for c in conns}
            time.sleep(0.5)
        held = time.monotonic() - hold_start
        cpu = sum(sum(p.cpu_times()[:2]) - cpu_before[p.pid] for p in procs if p.is_running())
        key_calls = self.emulator.count(mark, "GET", f"{API}/api-key")
        polls = self.emulator.count(mark, "GET", f"{API}/retrain_jobs/")

        # The data arrives and every job starts, 5 s later each wait ends. The uploads are spread over
        # UPLOAD_SECONDS, so that the jobs end over that time as independent jobs do (not all in one second).
        upload_start = time.monotonic()

        def upload(index: int) -> None:
            time.sleep(max(0.0, upload_start + index * UPLOAD_SECONDS / WAITS - time.monotonic()))
            httpx.put(uploads[index].upload_url, content=data, timeout=60).raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(upload, range(WAITS)))
        state = self.airflow.wait_run(WAITS_DAG, run_id, timeout=300)
        check(state == "success", self.airflow.explain_failure(WAITS_DAG, run_id))
        succeeded = self.airflow.task_instances(WAITS_DAG, run_id, state="success", task_id="wait_for_retraining")
        new = set(self.emulator.models()) - set(before)
        check(succeeded["total_entries"] == WAITS, f"{succeeded['total_entries']} of {WAITS} waits succeeded")
        check(len(new) == WAITS, f"{len(new)} retrainings ran, expected {WAITS}")
        check(key_calls <= 2, f"{key_calls} Get API Key calls by the triggerer after the keys expired, expected 1")
        share = 100 * cpu / held
        all_key_calls = self.emulator.count(stage_mark, "GET", f"{API}/api-key")
        print(f"RESULT {WAITS} waits: triggerer CPU share {share:.1f}% of one core ({cpu:.1f} s CPU in {held:.0f} s)")
        return (
            f"{WAITS}/{WAITS} deferred at once ({ramp:.0f} s to defer all) and succeeded; while held "
            f"{held:.0f} s: triggerer CPU {share:.1f}% of one core, {polls} status polls, TCP connections to the "
            f"emulator {peak} at most ({len(ports)} seen), Get API Key calls {key_calls} after expiring "
            f"{expired} keys ({all_key_calls} since the trigger: each worker task fetches one for its first check)"
        )

    # 4. the triggerer's log ----------------------------------------------------------------

    def triggerer_log(self) -> str:
        text = (cluster.LOGS / "triggerer.log").read_text(errors="replace")
        blocked = [line for line in text.splitlines() if BLOCKED_WARNING in line]
        seconds = [float(m.group(1)) for m in (re.search(r"blocked for ([0-9.]+) seconds", b) for b in blocked) if m]
        # One warning at the threshold (0.2 s, up to MARGINAL_BLOCK) is tolerated and reported: on 2 cores
        # that also run the api-server, scheduler, PostgreSQL and 16 resuming task processes, the loop
        # is sometimes late by that much without any step of a trigger being long (docs/deployment.md).
        marginal = len(blocked) == 1 and len(seconds) == 1 and seconds[0] <= MARGINAL_BLOCK
        check(
            not blocked or marginal,
            f"{len(blocked)} warning(s) in the triggerer's log:\n  " + "\n  ".join(blocked[:10]),
        )
        lines = len(text.splitlines())
        if marginal:
            return f"1 warning at the threshold: {seconds[0]:.2f} s (tolerated up to {MARGINAL_BLOCK} s); {lines} lines"
        return f"no {BLOCKED_WARNING!r} warning in {lines} lines"

    def run(self) -> int:
        started = time.monotonic()
        stages: list[tuple[str, Callable[[], str]]] = [
            ("setup", self.setup),
            ("example DAGs", self.example_dags),
            ("asset-triggered retraining", self.asset_triggered_retrain),
            ("fault: worker SIGKILL right after Train", self.worker_killed_after_train),
            ("fault: worker SIGKILL during the retraining upload", self.worker_killed_during_retrain_upload),
            ("fault: triggerer SIGKILL and restart while deferred", self.triggerer_killed_while_deferred),
            (f"{WAITS} concurrent deferred waits", self.many_waits),
            ("triggerer log", self.triggerer_log),
        ]
        for what, body in stages:
            log(f"stage: {what}")
            self.emulator.clear_faults()
            if not self.stage(what, body) and what in {"setup", "example DAGs"}:
                break  # the later stages need what these set up
        failed = [what for what, ok, _ in self.results if not ok]
        print(f"\ncluster test finished in {time.monotonic() - started:.0f} s")
        print(f"test-cluster: {len(self.results) - len(failed)} passed, {len(failed)} failed", flush=True)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(ClusterTest().run())
