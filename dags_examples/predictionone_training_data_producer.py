"""Refresh the training data, and tell Airflow: the asset event that starts a retraining.

refresh_training_data

A stand-in for your export job: it copies the bundled ``data/customers_retrain.csv`` to the
training-data location and declares that file as its outlet (an Airflow Asset; a Dataset on
Airflow 2). When the task succeeds Airflow records an asset event, with the file's row count in
its ``extra``, and ``predictionone_retrain_on_new_data`` — scheduled on that asset — runs.

The location is ``PREDICTIONONE_TRAINING_DATA`` (an absolute path on storage every worker reads,
or a URL such as ``s3://bucket/customers_retrain.csv``), by default
``$AIRFLOW_HOME/predictionone/customers_retrain.csv``. The consumer reads the same variable: both
DAGs must name the same asset URI.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_predictionone.assets import data_asset

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
TRAINING_DATA = os.environ.get("PREDICTIONONE_TRAINING_DATA") or os.path.join(
    AIRFLOW_HOME, "predictionone", "customers_retrain.csv"
)
TRAINING_DATA_ASSET = data_asset(TRAINING_DATA)  # file:///... (or the URL as given)

with DAG(
    dag_id="predictionone_training_data_producer",
    schedule=None,  # run it by hand, or after your export; every success starts one retraining
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example"],
    doc_md=__doc__,
) as dag:

    @task(outlets=[TRAINING_DATA_ASSET], retries=2, retry_delay=timedelta(minutes=1))
    def refresh_training_data(outlet_events: Any = None) -> dict[str, Any]:
        """Write the new training file in one piece (a reader never sees half a file), then put its
        row count into the asset event."""
        from airflow_provider_predictionone.storage import resolve_path

        data = (DATA_DIR / "customers_retrain.csv").read_bytes()
        target = resolve_path(TRAINING_DATA, param="PREDICTIONONE_TRAINING_DATA")
        if isinstance(target, str):  # a local path: write beside it, then rename over it
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            partial = f"{target}.{uuid.uuid4().hex}.partial"
            Path(partial).write_bytes(data)
            os.replace(partial, target)
        else:  # object storage: one PUT
            target.write_bytes(data)
        rows = data.count(b"\n") - 1  # the header line is not a row
        outlet_events[TRAINING_DATA_ASSET].extra = {"rows": rows}
        print(f"Wrote {rows} rows to {TRAINING_DATA} (asset {TRAINING_DATA_ASSET.uri}).")
        return {"training_file": str(TRAINING_DATA), "asset": TRAINING_DATA_ASSET.uri, "rows": rows}

    refresh_training_data()
