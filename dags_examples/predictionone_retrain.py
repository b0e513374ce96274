"""Weekly: retrain the deployed model with the latest data, then switch its prediction API.

retrain_model (deferrable) -> switch_model -> report

``params.model_id`` is the model behind the prediction API (the retrain key is tied to it).
After a switch the prediction API serves the retrained model; pass that new id next time
(the ``report`` task prints it).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
)

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
# Seconds between status checks: 30 as in the manual; the demo sets 1 for the local emulator.
CHECK_INTERVAL = float(os.environ.get("PREDICTIONONE_CHECK_INTERVAL", "30"))

with DAG(
    dag_id="predictionone_retrain",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example"],
    params={
        "model_id": Param(1, type="integer", minimum=1, description="Model behind the prediction API"),
        "training_file": Param(str(DATA_DIR / "customers_retrain.csv"), type="string"),
        "evaluation_file": Param(str(DATA_DIR / "customers_eval.csv"), type="string"),
    },
    doc_md=__doc__,
) as dag:
    retrain = PredictionOneRetrainModelOperator(
        task_id="retrain_model",
        model_id="{{ params.model_id }}",
        training_file="{{ params.training_file }}",
        evaluation_file="{{ params.evaluation_file }}",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
    )

    switch = PredictionOneSwitchModelOperator(
        task_id="switch_model",
        model_id="{{ params.model_id }}",
        retrain_job_id="{{ ti.xcom_pull(task_ids='retrain_model', key='retrain_job_id') }}",
    )

    @task
    def report(retrained: dict[str, Any], switched: dict[str, Any]) -> dict[str, Any]:
        """Print what the prediction API serves now."""
        result = {"model_id": switched["model_id"], "base_model_id": switched["base_model_id"]}
        result["metrics"] = retrained["metrics"]
        print(f"Prediction API switched from model {switched['base_model_id']} to {switched['model_id']}")
        print("PREDICTIONONE_RESULT " + json.dumps(result, ensure_ascii=False))  # read by scripts/demo.py
        return result

    retrain >> switch
    report(retrain.output, switch.output)
