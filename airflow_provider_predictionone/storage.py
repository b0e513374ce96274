"""Where the operators' files live: local paths or object storage (Airflow's ``ObjectStoragePath``).

The API layer (:mod:`.api.sources`, :mod:`.api.batch`) takes any storage path duck-typed (an
object with ``open(mode)`` and a size) and never imports Airflow. This module is the Airflow
side: it turns what an operator was given into what the API layer takes.

* ``None`` or an empty value stays ``None`` (the operator decides whether it is required).
* An ``ObjectStoragePath`` (or any other storage path) is passed through as is.
* A string with a scheme (``s3://bucket/key.csv``, ``gs://...``, ``file:///data/x.csv``,
  ``memory://...``) — which is what templated fields render to — becomes
  ``ObjectStoragePath(url, conn_id=storage_conn_id)``.
* Anything else is a local path on the worker (returned as a string).

A scheme needs a filesystem: Airflow's own (``file``) or one a provider registers (``s3`` from the
Amazon provider, ``gs`` from the Google provider, ...), which reads its credentials from the
connection. For a scheme no provider brings (e.g. ``memory://``) and no ``storage_conn_id``,
fsspec's own implementation is attached with its default settings.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.sources import is_storage_path

log = logging.getLogger(__name__)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_PROVIDER_HINTS = {
    "s3": "apache-airflow-providers-amazon (and s3fs)",
    "s3a": "apache-airflow-providers-amazon (and s3fs)",
    "gs": "apache-airflow-providers-google (and gcsfs)",
    "gcs": "apache-airflow-providers-google (and gcsfs)",
    "abfs": "apache-airflow-providers-microsoft-azure (and adlfs)",
    "abfss": "apache-airflow-providers-microsoft-azure (and adlfs)",
    "az": "apache-airflow-providers-microsoft-azure (and adlfs)",
}
_attach_lock = threading.Lock()


def url_scheme(value: str) -> str | None:
    """The scheme of ``value`` when it is a URL (``s3``, ``file``, ...), else ``None``."""
    match = _SCHEME.match(value.strip())
    return match.group(1).lower() if match else None


def resolve_path(value: Any, *, param: str, conn_id: str | None = None) -> Any:
    """What the API layer takes for an operator's path argument ``param`` (see the module doc)."""
    if value is None:
        return None
    if is_storage_path(value):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    text = str(value).strip()
    if not text:
        return None
    scheme = url_scheme(text)
    if scheme is None:
        return text
    return object_storage_path(text, param=param, conn_id=conn_id)


def object_storage_path(url: str, *, param: str, conn_id: str | None = None) -> Any:
    """``ObjectStoragePath(url, conn_id=conn_id)``, checked to have a filesystem for its scheme."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath as path_class

    scheme = url_scheme(url) or ""
    for attempt in range(2):
        try:
            path = path_class(url, conn_id=conn_id) if conn_id else path_class(url)
            _ = path.fs  # fails when no filesystem is registered for the scheme
            return path
        except Exception as exc:
            if attempt == 0 and not conn_id and _attach_fsspec(scheme):
                continue
            hint = _PROVIDER_HINTS.get(scheme)
            install = f" Install {hint}." if hint else ""
            raise PredictionOneConfigError(
                f"{param}={url!r}: no filesystem for {scheme}:// ({type(exc).__name__}: {exc}).{install} "
                "Check the URL and storage_conn_id."
            ) from exc
    raise AssertionError("unreachable")


def _attach_fsspec(scheme: str) -> bool:
    """Register fsspec's own filesystem for ``scheme`` with Airflow (no provider brings one)."""
    try:
        import fsspec

        fsspec.get_filesystem_class(scheme)
    except (ImportError, ValueError):
        return False
    from airflow_provider_predictionone import compat

    with _attach_lock:
        try:
            filesystem = fsspec.filesystem(scheme)
            store = compat.attach_object_store(scheme, fs=filesystem)
            # A failed lookup may have cached the store without a filesystem: give it one.
            store.fs = filesystem
        except Exception:  # e.g. the implementation needs options: nothing to attach
            return False
    log.info("No Airflow filesystem for %s://; using fsspec's implementation with its default settings.", scheme)
    return True


def display(value: Any) -> str | None:
    """A path for logs and XCom: a local path or a URL."""
    return None if value is None else str(value)
