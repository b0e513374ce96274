"""Train a Prediction One model on the bundled customer data and report its metrics.

upload_training_data -> check_data -> train_model (deferrable) -> report_metrics

Inputs come from ``params`` (override them with ``airflow dags test ... -c '{...}'`` or the
trigger form). The connection ``predictionone_default`` holds the secret key.
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

from airflow_provider_predictionone.operators import (
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
# Seconds between status checks: 30 as in the manual; the demo sets 1 for the local emulator.
CHECK_INTERVAL = float(os.environ.get("PREDICTIONONE_CHECK_INTERVAL", "30"))
TARGET_COLUMN = "プレミアム購入"
POSITIVE_VALUE = "はい"
# A lost answer to Train is not repeated by the client; a retry of the task finds out whether the
# training started and re-attaches to it (never a second training).
RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)

with DAG(
    dag_id="predictionone_train",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example"],
    params={
        "training_file": Param(str(DATA_DIR / "customers_train.csv"), type="string"),
        "evaluation_file": Param(str(DATA_DIR / "customers_eval.csv"), type="string"),
        "column_info": Param(str(DATA_DIR / "column_info.csv"), type="string"),
        "target_column": Param(TARGET_COLUMN, type="string"),
        "positive_value": Param(POSITIVE_VALUE, type="string"),
    },
    doc_md=__doc__,
) as dag:
    upload = PredictionOneUploadDataOperator(
        task_id="upload_training_data",
        training_file="{{ params.training_file }}",
        evaluation_file="{{ params.evaluation_file }}",
        column_info="{{ params.column_info }}",
        check_data=False,  # the next task checks the data explicitly
        retries=RETRIES,  # an upload is safe to repeat (a worker dying mid-upload loses nothing)
        retry_delay=RETRY_DELAY,
    )

    @task
    def check_data(external_process_id: str, params: dict[str, Any] | None = None) -> str:
        """Read Train Data Set Info and fail early when the target cannot be learned."""
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        PredictionOneHook().check_uploaded_data(external_process_id, (params or {})["target_column"])
        return external_process_id

    checked = check_data(upload.output)

    train = PredictionOneTrainModelOperator(
        task_id="train_model",
        external_process_id=checked,
        target_column="{{ params.target_column }}",
        prediction_type="binary_classification",
        positive_value="{{ params.positive_value }}",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        retries=RETRIES,
        retry_delay=RETRY_DELAY,
    )

    @task
    def report_metrics(summary: dict[str, Any]) -> dict[str, Any]:
        """Print the trained model's id and metrics."""
        result = {"model_id": summary["model_id"], "model_name": summary["model_name"], "metrics": summary["metrics"]}
        # One machine-readable line (the demo script reads it) and a readable table.
        print("PREDICTIONONE_RESULT " + json.dumps(result, ensure_ascii=False))
        for name, value in sorted(summary["metrics"].items()):
            print(f"  {name:>12}: {value}")
        return result

    report_metrics(train.output)
