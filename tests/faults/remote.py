"""Helpers of the fault suite: what exists on the emulator, task contexts, operator builders.

The counters read the emulator's state directly (under its lock) instead of calling the API:
they answer "how many trainings / retrainings / prediction APIs were *created*", which is what a
duplicate would change, and they add no requests to ``emulator.request_count``.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.emulator import DEFAULT_SECRET_KEY, Emulator
from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)
from airflow_provider_predictionone.operators.deploy import PredictionOneDeployModelOperator
from airflow_provider_predictionone.operators.predict import PredictionOneBatchPredictOperator
from tests import task_context
from tests.triggers.job_fixtures import COLUMNS, TARGET

CHECK_INTERVAL = 0.05


# -- remote state --------------------------------------------------------------------------------


def _user(emulator: Emulator, secret_key: str = DEFAULT_SECRET_KEY) -> Any:
    return emulator.app.users[secret_key]


def trainings(emulator: Emulator) -> int:
    """Trainings started (``POST /models`` that created a model and a job)."""
    with emulator.app.lock:
        return sum(1 for process in _user(emulator).processes.values() if process.job is not None)


def retrainings(emulator: Emulator) -> int:
    """Retraining jobs started (jobs whose upload arrived; a job without data never runs)."""
    with emulator.app.lock:
        return sum(1 for job in _user(emulator).retrain_jobs.values() if job.uploaded)


def models(emulator: Emulator) -> int:
    """Model records (one per training and one per retraining)."""
    with emulator.app.lock:
        return len(_user(emulator).models)


def prediction_apis(emulator: Emulator) -> int:
    """Prediction APIs (classifiers) created."""
    with emulator.app.lock:
        return len(_user(emulator).classifiers)


class Arrivals:
    """When each request reached the emulator (``time.monotonic()``), per ``(method, route)``.

    Recorded at the emulator's single dispatch point, before faults are applied, so a request the
    emulator answers with an injected error counts too. Install with :func:`record_arrivals`.
    """

    def __init__(self) -> None:
        self._times: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def add(self, method: str, route: str, when: float) -> None:
        with self._lock:
            self._times.setdefault((method, route), []).append(when)

    def times(self, method: str, route: str) -> list[float]:
        """Arrival times of the requests to ``route`` with ``method``, oldest first."""
        with self._lock:
            return list(self._times.get((method.upper(), route), []))


def record_arrivals(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Arrivals:
    """Record from now on when each request reaches ``emulator`` (undone with ``monkeypatch``)."""
    arrivals = Arrivals()
    handle = emulator.app.handle

    def timed(request: Any) -> Any:
        arrived = time.monotonic()
        try:
            return handle(request)
        finally:
            if request.route:  # control endpoints are not routed (nor counted)
                arrivals.add(request.method, request.route, arrived)

    monkeypatch.setattr(emulator.app, "handle", timed)
    return arrivals


# -- task contexts -------------------------------------------------------------------------------


class FileStateStore:
    """A ``task_state_store`` kept in a JSON file, so that it survives a killed worker process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, key: str) -> Any:
        return self._read().get(key)

    def set(self, key: str, value: Any) -> None:
        data = self._read()
        data[key] = value
        partial = self.path.with_name(self.path.name + ".part")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, self.path)  # a kill never leaves half a file

    def delete(self, key: str) -> None:
        data = self._read()
        data.pop(key, None)
        self.path.write_text(json.dumps(data), encoding="utf-8")


def fake_context(store: Any = None, task_id: str = "task") -> dict[str, Any]:
    """A task context for ``execute()`` in DAG ``faults``; pass the same ``store`` to every try of one task instance."""
    return task_context.fake_context(store, task_id, dag_id="faults")


# -- operators -----------------------------------------------------------------------------------


def upload_op(training_file: Path, **kwargs: Any) -> PredictionOneUploadDataOperator:
    return PredictionOneUploadDataOperator(
        task_id="upload", training_file=str(training_file), column_info=dict(COLUMNS), **kwargs
    )


def train_op(external_process_id: str, **kwargs: Any) -> PredictionOneTrainModelOperator:
    options: dict[str, Any] = {
        "task_id": "train",
        "external_process_id": external_process_id,
        "target_column": TARGET,
        "prediction_type": "binary_classification",
        "positive_value": "はい",
        "check_interval": CHECK_INTERVAL,
        "deferrable": False,
    }
    return PredictionOneTrainModelOperator(**(options | kwargs))


def retrain_op(model_id: int, training_file: Path, **kwargs: Any) -> PredictionOneRetrainModelOperator:
    options: dict[str, Any] = {
        "task_id": "retrain",
        "model_id": model_id,
        "training_file": str(training_file),
        "check_interval": CHECK_INTERVAL,
        "deferrable": False,
    }
    return PredictionOneRetrainModelOperator(**(options | kwargs))


def deploy_op(model_id: int, **kwargs: Any) -> PredictionOneDeployModelOperator:
    options: dict[str, Any] = {
        "task_id": "deploy",
        "model_id": model_id,
        "check_interval": CHECK_INTERVAL,
        "deferrable": False,
    }
    return PredictionOneDeployModelOperator(**(options | kwargs))


def predict_op(classifier_id: str, input_file: Path, output_file: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "task_id": "predict",
        "classifier_id": classifier_id,
        "input_file": str(input_file),
        "output_file": str(output_file),
        "concurrency": 4,
    }
    return PredictionOneBatchPredictOperator(**(options | kwargs))


# -- outputs -------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def assert_every_row_once(output: Path, rows: int) -> None:
    """The output holds exactly ``rows`` predictions, one per input row, in input order."""
    table = read_rows(output)
    assert table[0][0] == "input_row"
    assert [int(row[0]) for row in table[1:]] == list(range(1, rows + 1))
    rejects = read_rows(Path(str(output) + ".rejects.csv"))
    assert len(rejects) == 1, rejects  # the header only
