"""Airflow for the tests: an embedded SQLite home in a temporary folder, set up once.

Loaded as a pytest plugin from ``tests/conftest.py`` so that the environment is in place before
anything imports Airflow.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="predictionone-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags_examples")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata database once per test session."""
    from airflow.utils import db

    db.initdb()
    return _HOME


@pytest.fixture
def predictionone_conn(monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str) -> str:
    """The default Prediction One connection pointing at the test emulator (fast retries)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_PREDICTIONONE_DEFAULT",
        json.dumps(
            {
                "conn_type": "predictionone",
                "host": emulator.url,
                "password": secret_key,
                "extra": {"retries": 2, "retry_delay": 0.01},
            }
        ),
    )
    return "predictionone_default"


def xcom_results(dag_run: Any) -> dict[str, Any]:
    """``{task_id: return value}`` of a finished DAG run, read from the metadata database."""
    from airflow.utils.session import create_session

    try:  # Airflow 3: the table's model (``XCom`` is the task SDK's accessor)
        from airflow.models.xcom import XComModel

        def value_of(row: Any) -> Any:
            return XComModel.deserialize_value(row)

    except ImportError:  # Airflow 2.x: the model deserializes ``value`` when a row is loaded
        from airflow.models.xcom import XCom as XComModel  # type: ignore[assignment]

        def value_of(row: Any) -> Any:
            return row.value

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.key == "return_value"
            )
            .all()
        )
        return {row.task_id: value_of(row) for row in rows}


def task_states(dag_run: Any) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {ti.task_id: str(ti.state) for ti in tis}


def _serialize(dag: Any) -> None:
    """Write a DAG defined in a test (not in the DAGs folder) to the database, as dag.test() needs."""
    try:  # Airflow 3: DAGs belong to a bundle
        from airflow.dag_processing.bundles.manager import DagBundlesManager
    except ImportError:  # Airflow 2.x: no bundles; the DAG row is all dag.test() needs
        dag.sync_to_db()
        return
    try:  # Airflow 3.2+ (the DagBag moved to dag_processing)
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:
        try:  # Airflow 3.1: a function beside the DagBag
            from airflow.models.dagbag import DagBag, sync_bag_to_db
        except ImportError:  # Airflow 3.0: a method of the DagBag
            from airflow.models.dagbag import DagBag

            def sync_bag_to_db(bag: Any, bundle_name: str, bundle_version: str | None) -> None:
                for bagged in bag.dags.values():  # set by DagBag only for the files it parses itself
                    if getattr(bagged, "relative_fileloc", None) is None:
                        bagged.relative_fileloc = bagged.fileloc
                bag.sync_to_db(bundle_name, bundle_version)

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture
def run_dag(airflow_db: Path, predictionone_conn: str) -> Iterator[Any]:
    """Run a DAG with ``dag.test()`` against the emulator; returns (dag_run, results, states)."""

    def run(dag: Any, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any], dict[str, str]]:
        _serialize(dag)
        if not hasattr(dag, "test"):  # Airflow 3.0.0-3.0.x: only the scheduler's DAG class has test()
            from airflow.models.dag import DAG as SchedulerDAG

            dag = SchedulerDAG.from_sdk_dag(dag)
        dag_run = dag.test(run_conf=conf)
        return dag_run, xcom_results(dag_run), task_states(dag_run)

    yield run
