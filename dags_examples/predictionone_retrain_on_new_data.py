"""Retrain when new training data arrives, and at least weekly: data-aware scheduling.

served_model -> retrain_model (deferrable) -> switch_model -> report

The schedule is Airflow's asset-or-time schedule: a run starts when the training-data asset gets
an event (``predictionone_training_data_producer``, or any task with that file as an outlet) *or*
every week, whichever comes first. The training data is ``PREDICTIONONE_TRAINING_DATA`` (default
``$AIRFLOW_HOME/predictionone/customers_retrain.csv``), the same location the producer writes.

The prediction API to keep fresh is ``params.classifier_id``; its default is
``PREDICTIONONE_CLASSIFIER_ID`` or, when that is not set, the Airflow Variable
``predictionone_classifier_id`` (read at run time: an asset-triggered run has no trigger form, so
set the Variable after deploying, no restart needed). A run that is not manual with none of these
set skips, saying why; a manual run without one fails.

``retrain_model`` records an event for the model asset ``predictionone://predictionone_default/
models/customer-premium`` whose ``extra`` holds the new ``model_id``, ``base_model_id``,
``retrain_job_id`` and the metrics: the Assets view shows the model's figures run after run.
``switch_model`` is the promotion gate (``metric="auc"``): the prediction API moves to the retrained
model only if it is at least as good on the evaluation file's rows; the report says which model
serves and why.
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

try:  # Airflow 3.2+
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable
except ImportError:
    from airflow.timetables.trigger import CronTriggerTimetable

    try:  # Airflow 3.0, 3.1
        from airflow.timetables.assets import AssetOrTimeSchedule
    except ImportError:  # Airflow 2.x: Datasets
        from airflow.timetables.datasets import DatasetOrTimeSchedule

        def AssetOrTimeSchedule(*, timetable: Any, assets: Any) -> Any:  # the Airflow 3 name and keywords
            return DatasetOrTimeSchedule(timetable=timetable, datasets=assets)


from airflow_provider_predictionone.assets import data_asset, model_asset
from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
)

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
TRAINING_DATA = os.environ.get("PREDICTIONONE_TRAINING_DATA") or os.path.join(
    AIRFLOW_HOME, "predictionone", "customers_retrain.csv"
)
TRAINING_DATA_ASSET = data_asset(TRAINING_DATA)  # the producer's outlet: same location, same URI
MODEL_ASSET = model_asset("customer-premium")  # predictionone://predictionone_default/models/customer-premium
CLASSIFIER_VARIABLE = "predictionone_classifier_id"
# Seconds between status checks: 30 as in the manual; the demo sets 1 for the local emulator.
CHECK_INTERVAL = float(os.environ.get("PREDICTIONONE_CHECK_INTERVAL", "30"))
# A retry re-attaches to the retraining an earlier try started (never a second one).
RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)

with DAG(
    dag_id="predictionone_retrain_on_new_data",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("@weekly", timezone="UTC"), assets=[TRAINING_DATA_ASSET]
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example"],
    params={
        "classifier_id": Param(
            os.environ.get("PREDICTIONONE_CLASSIFIER_ID", ""),
            type="string",
            description=f"The prediction API to keep fresh (empty: the Airflow Variable {CLASSIFIER_VARIABLE})",
        ),
        "model_id": Param(
            0, type="integer", minimum=0, description="0 = the model the prediction API serves now (recommended)"
        ),
        "training_file": Param(str(TRAINING_DATA), type="string"),
        "evaluation_file": Param(str(DATA_DIR / "customers_eval.csv"), type="string"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def served_model(params: dict[str, Any] | None = None, dag_run: Any = None) -> int:
        """The model to retrain: ``params.model_id`` if given, else the one the prediction API serves now.

        A run that is not manual (weekly, asset-triggered) with no prediction API configured skips:
        nothing to retrain yet. A manual run without one fails, saying what to set.
        """
        from airflow.providers.common.compat.sdk import AirflowSkipException, Variable

        from airflow_provider_predictionone.api.errors import PredictionOneConfigError
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        params = params or {}
        if params.get("model_id"):
            print(f"Retraining the given model_id {params['model_id']}.")
            return int(params["model_id"])
        classifier_id = str(params.get("classifier_id") or Variable.get(CLASSIFIER_VARIABLE, "") or "").strip()
        run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type)) if dag_run else "manual"
        if not classifier_id:
            where = (
                f"set PREDICTIONONE_CLASSIFIER_ID or the Airflow Variable {CLASSIFIER_VARIABLE} to the "
                "classifier_id that predictionone_deploy_predict reports"
            )
            if run_type != "manual":
                raise AirflowSkipException(f"No prediction API to keep fresh yet: this {run_type} run skips; {where}.")
            raise PredictionOneConfigError(f"params.classifier_id is empty: give it in the trigger form, or {where}.")
        classifier = PredictionOneHook().require_prediction_api(classifier_id)  # Get Classifier (deploy key)
        print(f"Prediction API {classifier_id} serves model_id {classifier.model_id}: retraining it ({run_type} run).")
        return int(classifier.model_id)

    model_id = served_model()

    retrain = PredictionOneRetrainModelOperator(
        task_id="retrain_model",
        model_id=model_id,
        training_file="{{ params.training_file }}",
        evaluation_file="{{ params.evaluation_file }}",
        inlets=[TRAINING_DATA_ASSET],  # the paths are templates: name the asset explicitly
        outlets=[MODEL_ASSET],  # its event's extra: model_id, base_model_id, retrain_job_id, metrics
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        retries=RETRIES,
        retry_delay=RETRY_DELAY,
    )

    switch = PredictionOneSwitchModelOperator(
        task_id="switch_model",
        model_id=model_id,
        retrain_job_id="{{ ti.xcom_pull(task_ids='retrain_model', key='retrain_job_id') }}",
        metric="auc",  # the promotion gate: switch only to a model at least as good on the same rows
        evaluation_file="{{ params.evaluation_file }}",
    )

    @task
    def report(retrained: dict[str, Any], switched: dict[str, Any], dag_run: Any = None) -> dict[str, Any]:
        """Print which model the prediction API serves now and why (both figures), and what started this run."""
        run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type)) if dag_run else "manual"
        gate = ("switched", "model_id", "base_model_id", "retrained_model_id", "served_value", "retrained_value")
        result = {"run_type": run_type, **{key: switched[key] for key in (*gate, "reason")}}
        result["metrics"] = retrained["metrics"]
        print(f"{run_type} run: the prediction API serves model {switched['model_id']} now. {switched['reason']}")
        print("PREDICTIONONE_RESULT " + json.dumps(result, ensure_ascii=False))  # one machine-readable line
        return result

    retrain >> switch
    report(retrain.output, switch.output)
