"""Cluster test only (not an example): many deferred waits at once on the one triggerer.

``make test-cluster`` creates the retraining jobs on the emulator (each waits for its data, queued),
triggers this DAG with their ids, and uploads the data once every wait is deferred. Each mapped
task checks its job once in a worker, then defers to ``PredictionOneJobTrigger`` on the triggerer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_predictionone.sensors import PredictionOneRetrainSensor

with DAG(
    dag_id="predictionone_cluster_waits",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=1000,
    tags=["predictionone", "cluster-test"],
    params={
        "retrain_job_ids": Param([], type="array", description="one deferred wait per retraining job"),
        "model_id": Param(0, type="integer", description="the model the jobs retrain"),
        "poke_interval": Param(5, type="number"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def jobs(params: dict[str, Any] | None = None) -> list[str]:
        return [str(job_id) for job_id in (params or {})["retrain_job_ids"]]

    PredictionOneRetrainSensor.partial(
        task_id="wait_for_retraining",
        model_id="{{ params.model_id }}",
        deferrable=True,
        poke_interval=5,
        timeout=900,
    ).expand(retrain_job_id=jobs())
