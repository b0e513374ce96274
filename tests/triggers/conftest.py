"""Fixtures of the trigger tests: real jobs on the emulator (see ``job_fixtures``)."""

from __future__ import annotations

from tests.triggers.job_fixtures import (
    connection,
    customers_csv,
    deployed_model,
    p1_client,
    p1_hook,
    start_retrain,
    start_training,
)

__all__ = ["connection", "customers_csv", "deployed_model", "p1_client", "p1_hook", "start_retrain", "start_training"]
