"""Apache Airflow provider for Sony Prediction One."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-predictionone"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

    The connection form is declared as data (``conn-fields`` / ``ui-field-behaviour``, read by
    Airflow 3.2+) from the same definitions the hook returns to older versions.
    """
    from airflow_provider_predictionone.connection_form import EXTRA_FIELDS, UI_FIELD_BEHAVIOUR

    return {
        "package-name": PACKAGE_NAME,
        "name": "Prediction One",
        "description": "Sony Prediction One (cloud AutoML): train, retrain, deploy and predict from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Prediction One",
                "external-doc-url": "https://predictionone.sony.biz/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Prediction One",
                "python-modules": ["airflow_provider_predictionone.hooks.predictionone"],
            }
        ],
        "operators": [
            {
                "integration-name": "Prediction One",
                "python-modules": [
                    "airflow_provider_predictionone.operators.predictionone",
                    "airflow_provider_predictionone.operators.deploy",
                    "airflow_provider_predictionone.operators.predict",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Prediction One",
                "python-modules": ["airflow_provider_predictionone.sensors.predictionone"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Prediction One",
                "python-modules": [
                    "airflow_provider_predictionone.triggers.predictionone",
                    "airflow_provider_predictionone.triggers.classifier",
                ],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_predictionone.hooks.predictionone.PredictionOneHook",
                "connection-type": "predictionone",
                "hook-name": "Prediction One",
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
                    "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                    "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
                },
                "conn-fields": EXTRA_FIELDS,
            }
        ],
    }
