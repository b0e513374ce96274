"""Weekly: retrain the model a prediction API serves with the latest data, then switch the API to it
if the retrained model is at least as good (the promotion gate).

served_model -> retrain_model (deferrable) -> switch_model (gate: AUC on the evaluation file) -> report

``params.classifier_id`` is the prediction API to keep fresh (the deploy DAG's report prints it;
``PREDICTIONONE_CLASSIFIER_ID`` sets the default). Retraining must start from the model that
prediction API serves *now* (spec 7.16; the retrain key is tied to it), and after each switch that
is the model the previous run produced, so ``served_model`` reads it from Get Classifier at run
time and passes it on through XCom: every weekly run retrains the current model.

``params.model_id`` (0 = ask the prediction API) overrides that for a one-off run: retrain exactly
this model, which must be the one a prediction API serves.

``switch_model`` judges both models on the same rows of ``params.evaluation_file`` (the retraining's
evaluation file): the retrained model's answers come from its result archive, the served model's
from scoring those rows through the prediction API (one Inference request per row, at most 1000).
A worse retrained model is not switched to: the task succeeds with ``switched: false``, and the
report says which model serves now and why, with both AUC figures.
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
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
)

DATA_DIR = Path(__file__).resolve().parent / "data"  # the bundled sample data set (data/README.md)
# Seconds between status checks: 30 as in the manual; the demo sets 1 for the local emulator.
CHECK_INTERVAL = float(os.environ.get("PREDICTIONONE_CHECK_INTERVAL", "30"))
# A retry re-attaches to the retraining an earlier try started (never a second one).
RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)

with DAG(
    dag_id="predictionone_retrain",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["predictionone", "example"],
    params={
        "classifier_id": Param(
            os.environ.get("PREDICTIONONE_CLASSIFIER_ID", ""),
            type="string",
            description="The prediction API to keep fresh: its model is retrained and it is switched to the result",
        ),
        "model_id": Param(
            0, type="integer", minimum=0, description="0 = the model the prediction API serves now (recommended)"
        ),
        "training_file": Param(str(DATA_DIR / "customers_retrain.csv"), type="string"),
        "evaluation_file": Param(str(DATA_DIR / "customers_eval.csv"), type="string"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def served_model(params: dict[str, Any] | None = None, dag_run: Any = None) -> int:
        """The model to retrain: ``params.model_id`` if given, else the one the prediction API serves now.

        A *scheduled* run with no prediction API configured skips (the DAG was unpaused before it was
        set up: nothing to retrain yet); a manual run without one fails, saying what to set.
        """
        from airflow.providers.common.compat.sdk import AirflowSkipException

        from airflow_provider_predictionone.api.errors import PredictionOneConfigError
        from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

        params = params or {}
        if params.get("model_id"):
            print(f"Retraining the given model_id {params['model_id']}.")
            return int(params["model_id"])
        classifier_id = str(params.get("classifier_id") or "").strip()
        run_type = getattr(dag_run, "run_type", None)
        if not classifier_id and str(getattr(run_type, "value", run_type)) == "scheduled":
            raise AirflowSkipException(
                "No prediction API to keep fresh yet: PREDICTIONONE_CLASSIFIER_ID is not set, so this scheduled "
                "run has nothing to retrain and is skipped. Set it (or params.classifier_id) to the classifier_id "
                "that predictionone_deploy_predict reports."
            )
        if not classifier_id:
            raise PredictionOneConfigError(
                "params.classifier_id is empty: set it to the prediction API to keep fresh (the classifier_id "
                "that predictionone_deploy_predict reports) in the trigger form or the run's conf, or set "
                "PREDICTIONONE_CLASSIFIER_ID for the scheduled runs."
            )
        classifier = PredictionOneHook().require_prediction_api(classifier_id)  # Get Classifier (deploy key)
        print(f"Prediction API {classifier_id} serves model_id {classifier.model_id}: retraining it.")
        return int(classifier.model_id)

    model_id = served_model()

    retrain = PredictionOneRetrainModelOperator(
        task_id="retrain_model",
        model_id=model_id,
        training_file="{{ params.training_file }}",
        evaluation_file="{{ params.evaluation_file }}",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        retries=RETRIES,
        retry_delay=RETRY_DELAY,
    )

    # The promotion gate: switch only when the retrained model's AUC on the evaluation rows is at least
    # the served model's on the same rows (scored through the prediction API: one request per row).
    switch = PredictionOneSwitchModelOperator(
        task_id="switch_model",
        model_id=model_id,
        retrain_job_id="{{ ti.xcom_pull(task_ids='retrain_model', key='retrain_job_id') }}",
        metric="auc",
        min_improvement=0.0,
        on_worse="keep",
        evaluation_file="{{ params.evaluation_file }}",
        classifier_id="{{ params.classifier_id }}",  # empty: the prediction API serving model_id
        max_rows=1000,
    )

    @task
    def report(retrained: dict[str, Any], switched: dict[str, Any]) -> dict[str, Any]:
        """Print which model the prediction API serves now, and why (both figures)."""
        keys = ("switched", "model_id", "base_model_id", "retrained_model_id", "metric", "served_value")
        result = {key: switched[key] for key in (*keys, "retrained_value", "evaluation_rows", "reason")}
        result["metrics"] = retrained["metrics"]
        print(f"The prediction API serves model {switched['model_id']} now. {switched['reason']}")
        print("PREDICTIONONE_RESULT " + json.dumps(result, ensure_ascii=False))  # read by scripts/demo.py
        return result

    retrain >> switch
    report(retrain.output, switch.output)
