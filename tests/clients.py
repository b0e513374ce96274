"""Clients and hooks for tests: the API clients built from keyword settings, a hook on the emulator.

``sync_client(secret_key, host=emulator.url, retry=...)`` splits its keywords into the
:class:`~airflow_provider_predictionone.api.settings.ClientSettings` fields and the client's own
(``key_cache``, ``on_secret`` ...), so a test states only what it cares about.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient
from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.settings import ClientSettings

_SETTINGS = {f.name for f in dataclasses.fields(ClientSettings) if f.init}


def settings(secret_key: str, **options: Any) -> ClientSettings:
    """``ClientSettings(secret_key, **options)``."""
    return ClientSettings(secret_key=secret_key, **options)


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    known = {k: v for k, v in options.items() if k in _SETTINGS}
    return known, {k: v for k, v in options.items() if k not in _SETTINGS}


def sync_client(secret_key: str, **options: Any) -> PredictionOneClient:
    """A :class:`PredictionOneClient`; ``options`` are settings fields or client keywords."""
    fields, rest = _split(options)
    return PredictionOneClient(settings(secret_key, **fields), **rest)


def async_client(secret_key: str, **options: Any) -> AsyncPredictionOneClient:
    """An :class:`AsyncPredictionOneClient`; ``options`` are settings fields or client keywords."""
    fields, rest = _split(options)
    return AsyncPredictionOneClient(settings(secret_key, **fields), **rest)


def install_connection(
    monkeypatch: pytest.MonkeyPatch, host: str, secret_key: str, conn_id: str = "predictionone_default", **extra: Any
) -> None:
    """Install a Prediction One connection as an ``AIRFLOW_CONN_*`` environment variable."""
    conn: dict[str, Any] = {"conn_type": "predictionone", "host": host, "password": secret_key}
    if extra:
        conn["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def emulator_hook(
    monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str, conn_id: str = "predictionone_setup"
):
    """A :class:`PredictionOneHook` on its own connection to ``emulator`` (for setting things up)."""
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

    install_connection(monkeypatch, emulator.url, secret_key, conn_id)
    return PredictionOneHook(conn_id)
