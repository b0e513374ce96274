from __future__ import annotations

from tests.triggers.job_fixtures import (  # noqa: F401  (fixtures)
    customers_csv,
    deployed_model,
    p1_client,
    p1_hook,
    start_retrain,
    start_training,
)
