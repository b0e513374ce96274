"""What the emulator serves besides the management API, and the route names of every request.

A request is counted (``Emulator.request_count``) and matched by faults under its route name:
the contract path template for management endpoints, else ``upload``, ``download``,
``inference`` or ``unmatched`` (no route serves the path).
"""

from __future__ import annotations

from airflow_provider_predictionone.api import contract

INFERENCE_PATH = "/v1/groups/{group_id}/classifiers/{classifier_id}/inference"
"""Path of a prediction API (spec 4.14 example shape), served by the emulator on its own host."""
UPLOAD_PATH = "/uploads/{token}"
"""Pre-issued upload URLs (PUT, no API key)."""
DOWNLOAD_PATH = "/downloads/{token}"
"""Result archives and data set files (GET, no API key)."""
CONTROL_PREFIX = "/_emulator"
"""Path prefix of the control endpoints (outside ``/v1``, so it cannot collide with the API)."""

ROUTE_UPLOAD = "upload"
ROUTE_DOWNLOAD = "download"
ROUTE_INFERENCE = "inference"
ROUTE_UNMATCHED = "unmatched"

NON_MANAGEMENT_ROUTES = (ROUTE_UPLOAD, ROUTE_DOWNLOAD, ROUTE_INFERENCE, ROUTE_UNMATCHED)
MANAGEMENT_ROUTES = (
    contract.PATH_API_KEY,
    contract.PATH_DATA_SET_UPLOAD_URL,
    contract.PATH_DATA_SET_COLUMN_INFO,
    contract.PATH_DATA_SETS,
    contract.PATH_DATA_SET,
    contract.PATH_MODELS,
    contract.PATH_MODEL,
    contract.PATH_MODEL_RESULTS,
    contract.PATH_CLASSIFIERS,
    contract.PATH_CLASSIFIER,
    contract.PATH_RETRAIN_UPLOAD_URL,
    contract.PATH_RETRAIN_JOB,
    contract.PATH_RETRAIN_UPDATE_MODEL,
)
KNOWN_ROUTES = frozenset(MANAGEMENT_ROUTES + NON_MANAGEMENT_ROUTES)
"""Every route name (what :meth:`Emulator.request_count` counts by and a fault may name, besides ``*``)."""
