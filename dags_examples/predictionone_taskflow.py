"""Train a Prediction One model with TaskFlow: plain ``@task`` functions that call the hook.

upload -> train -> report

The same workflow as ``predictionone_train`` without the provider's operators: each task calls one
method of ``PredictionOneHook``. The hook brings what the operators have: files and options checked
before any request, and a retry of ``train`` that re-attaches to the training an earlier try started
(the job is recorded in the task's durable state before the Train request) instead of training twice.
Waiting happens in the worker (a TaskFlow task cannot defer; use the operator to wait on the triggerer).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
# Seconds between status checks: 30 as in the manual; the demo and the tests set less for the emulator.
CHECK_INTERVAL = float(os.environ.get("PREDICTIONONE_CHECK_INTERVAL", "30"))
RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)

with DAG(
    dag_id="predictionone_taskflow",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example", "taskflow"],
    params={
        "training_file": Param(str(DATA_DIR / "customers_train.csv"), type="string"),
        "evaluation_file": Param(str(DATA_DIR / "customers_eval.csv"), type="string"),
        "column_info": Param(str(DATA_DIR / "column_info.csv"), type="string"),
        "target_column": Param("プレミアム購入", type="string"),
        "positive_value": Param("はい", type="string"),
    },
    doc_md=__doc__,
) as dag:

    @task(retries=RETRIES, retry_delay=RETRY_DELAY)
    def upload(params: dict[str, Any] | None = None) -> str:
        """Upload the training data; an upload is safe to repeat, so the task retries."""
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        params = params or {}
        return PredictionOneHook().upload_training_data(
            params["training_file"],
            params["column_info"],
            params["evaluation_file"],
            target_column=params["target_column"],
        )

    # multiple_outputs=False: the summary is one XCom (a dict return type would split it into one per key).
    @task(retries=RETRIES, retry_delay=RETRY_DELAY, multiple_outputs=False)
    def train(upload_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train and wait; returns the model id and metrics."""
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        params = params or {}
        config = {
            "target_column": params["target_column"],
            "prediction_type": "binary_classification",
            "positive_value": params["positive_value"],
        }
        return PredictionOneHook().train_model(upload_id, config, check_interval=CHECK_INTERVAL)

    @task(multiple_outputs=False)
    def report(result: dict[str, Any]) -> dict[str, Any]:
        """Print the trained model's id and metrics."""
        summary = {"model_id": result["model_id"], "model_name": result["model_name"], "metrics": result["metrics"]}
        print("PREDICTIONONE_RESULT " + json.dumps(summary, ensure_ascii=False))
        return summary

    report(train(upload()))
