"""The Prediction One connection form, declared as data.

Kept free of Airflow imports: ``get_provider_info()`` reads it while Airflow itself is still
importing, and the hook returns the same definitions to Airflow versions before 3.2.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_predictionone.api.contract import DEFAULT_HOST
from airflow_provider_predictionone.api.settings import MIN_TIMEOUT_SECONDS

EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Read timeout (seconds)",
        "description": "Seconds to wait for each answer of the service.",
        "schema": {"type": ["number", "null"], "default": 60, "minimum": MIN_TIMEOUT_SECONDS},
    },
    "connect_timeout": {
        "label": "Connect timeout (seconds)",
        "description": "Seconds to wait for a connection.",
        "schema": {"type": ["number", "null"], "default": 10, "minimum": MIN_TIMEOUT_SECONDS},
    },
    "retries": {
        "label": "Retries",
        "description": "Retries of a failed request (connection errors, timeouts, HTTP 429 and 5xx).",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    "retry_delay": {
        "label": "First retry delay (seconds)",
        "description": "Delay before the first retry; doubles on each further retry.",
        "schema": {"type": ["number", "null"], "default": 1, "minimum": 0},
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "description": "Turn off only for a test server with a self-signed certificate.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle path",
        "description": "Path of a CA bundle to verify the service's certificate with (optional).",
        "schema": {"type": ["string", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "login", "port", "extra"],
    "relabeling": {"host": "Base URL", "password": "Secret key"},
    "placeholders": {
        "host": f"{DEFAULT_HOST} (leave empty for the Prediction One service)",
        "password": "Secret key from the Prediction One Settings screen",
    },
}
