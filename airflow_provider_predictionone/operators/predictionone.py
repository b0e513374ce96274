"""The upload, train, retrain and switch operators, importable from here as in earlier releases.

They live in :mod:`.training` and :mod:`.retraining`; import them from
``airflow_provider_predictionone.operators``.
"""

from __future__ import annotations

from airflow_provider_predictionone.operators.retraining import (
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
)
from airflow_provider_predictionone.operators.training import (
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)

__all__ = [
    "PredictionOneRetrainModelOperator",
    "PredictionOneSwitchModelOperator",
    "PredictionOneTrainModelOperator",
    "PredictionOneUploadDataOperator",
]
