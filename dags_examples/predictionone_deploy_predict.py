"""Deploy a model as a prediction API and score the bundled customer file with it.

choose_model -> (train a new model: upload_training_data -> train_model) | use_given_model
  -> deploy_model (deferrable) -> batch_predict -> report

``params.model_id`` = 0 trains a new model on the bundled data first; a positive id deploys
that model instead. The predictions are written to ``params.output_file`` with one row per
input row (``input_row`` first), rejected rows to ``<output_file>.rejects.csv``.

Every file may live in an object store: give URLs in the params (``s3://bucket/customers_score.csv``,
``gs://...``, ``file:///...``), or set ``PREDICTIONONE_DATA_URL`` (e.g. ``s3://bucket/predictionone``)
to a folder holding the bundled files and ``PREDICTIONONE_OUTPUT_URL`` to where the predictions go.
``params.result_path`` (empty = not kept) keeps the training result zip, e.g. in an object store
that every worker can read.
"""

from __future__ import annotations

import json
import os
import tempfile
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
    PredictionOneBatchPredictOperator,
    PredictionOneDeployModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
# Seconds between status checks: 30 as in the manual; the demo sets 1 for the local emulator.
CHECK_INTERVAL = float(os.environ.get("PREDICTIONONE_CHECK_INTERVAL", "30"))
OUTPUT_FILE = Path(tempfile.gettempdir()) / "predictionone" / "customers_predictions.csv"
# A folder (local path or object-store URL such as s3://bucket/predictionone) with the bundled files.
DATA_LOCATION = os.environ.get("PREDICTIONONE_DATA_URL", str(DATA_DIR)).rstrip("/")
OUTPUT_LOCATION = os.environ.get("PREDICTIONONE_OUTPUT_URL", str(OUTPUT_FILE))
# Train and Create Classifier are not repeated by the client once they may have reached the service;
# a retry of the task finds out what the lost request created and re-attaches (never a duplicate).
RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)

with DAG(
    dag_id="predictionone_deploy_predict",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example"],
    params={
        "model_id": Param(0, type="integer", minimum=0, description="0 = train a new model first"),
        "training_file": Param(f"{DATA_LOCATION}/customers_train.csv", type="string"),
        "column_info": Param(f"{DATA_LOCATION}/column_info.csv", type="string"),
        "scoring_file": Param(f"{DATA_LOCATION}/customers_score.csv", type="string"),
        "output_file": Param(OUTPUT_LOCATION, type="string"),
        "result_path": Param("", type="string", description="where to keep the training result zip (optional)"),
    },
    doc_md=__doc__,
) as dag:

    @task.branch
    def choose_model(params: dict[str, Any] | None = None) -> str:
        """Train first unless a model id was given."""
        return "use_given_model" if (params or {}).get("model_id") else "upload_training_data"

    upload = PredictionOneUploadDataOperator(
        task_id="upload_training_data",
        training_file="{{ params.training_file }}",
        column_info="{{ params.column_info }}",
        target_column="プレミアム購入",
        retries=RETRIES,  # an upload is safe to repeat (a worker dying mid-upload loses nothing)
        retry_delay=RETRY_DELAY,
    )
    train = PredictionOneTrainModelOperator(
        task_id="train_model",
        external_process_id=upload.output,
        target_column="プレミアム購入",
        prediction_type="binary_classification",
        positive_value="はい",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        result_path="{{ params.result_path }}",
        retries=RETRIES,
        retry_delay=RETRY_DELAY,
    )

    @task
    def use_given_model(params: dict[str, Any] | None = None) -> int:
        return int((params or {})["model_id"])

    @task(trigger_rule="none_failed_min_one_success")
    def model_to_deploy(trained: dict[str, Any] | None, given: int | None) -> int:
        """The trained model's id, or the given one (whichever branch ran)."""
        return int(given if given else trained["model_id"])  # type: ignore[index]

    choice = choose_model()
    given = use_given_model()
    choice >> [upload, given]
    upload >> train
    model_id = model_to_deploy(train.output, given)

    deploy = PredictionOneDeployModelOperator(
        task_id="deploy_model",
        model_id=model_id,
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        retries=RETRIES,
        retry_delay=RETRY_DELAY,
    )

    predict = PredictionOneBatchPredictOperator(
        task_id="batch_predict",
        classifier_id="{{ ti.xcom_pull(task_ids='deploy_model', key='classifier_id') }}",
        input_file="{{ params.scoring_file }}",
        output_file="{{ params.output_file }}",
        concurrency=8,
    )

    @task(multiple_outputs=False)  # one XCom; a dict return type would also push one per key
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        """Print the batch summary (the demo script reads the marked line)."""
        print(f"Scored {summary['rows_predicted']} of {summary['rows_total']} rows -> {summary['output_file']}")
        print("PREDICTIONONE_RESULT " + json.dumps(summary, ensure_ascii=False))
        return summary

    deploy >> predict
    report(predict.output)
