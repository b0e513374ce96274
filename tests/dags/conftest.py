from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.models import ALLOW_ALL
from tests.triggers.job_fixtures import p1_client, p1_hook, wait_for_training, wait_until  # noqa: F401

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"


@pytest.fixture
def sample_deployed_model(p1_client: PredictionOneClient, p1_hook) -> int:  # noqa: F811
    """A model trained on the bundled sample data, behind a running prediction API."""
    upload_id = p1_hook.upload_training_data(DATA / "customers_train.csv", DATA / "column_info.csv", check_data=False)
    job = p1_client.create_model(
        upload_id, "sample-model", {"tc": "プレミアム購入", "tt": "binary_classification", "tv": "はい"}
    )
    wait_for_training(p1_client, job)
    model = p1_client.find_model_by_name("sample-model")
    assert model is not None
    created = p1_client.create_classifier(model.model_id, ALLOW_ALL)
    wait_until(lambda: (found := p1_client.get_classifier(created.classifier_id)) and found.is_ready)
    return model.model_id


@pytest.fixture
def sample_prediction_api(p1_client: PredictionOneClient, sample_deployed_model: int) -> str:  # noqa: F811
    """The ``classifier_id`` of the prediction API serving ``sample_deployed_model``."""
    (classifier,) = [c for c in p1_client.list_classifiers() if c.model_id == sample_deployed_model]
    return classifier.classifier_id
