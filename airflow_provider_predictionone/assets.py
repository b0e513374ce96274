"""Airflow Assets (Datasets on Airflow 2) for data-aware scheduling: what a task reads and produces.

Two kinds of asset, named by URI (Airflow matches producers and consumers by URI, so both sides
must build it the same way — use these functions on both):

* **data**: :func:`data_asset` — the file's own location: ``file:///abs/path`` for a local path
  (percent-encoded: Airflow 2 accepts only ASCII asset URIs), the URL as given for object storage
  (``s3://bucket/key.csv``, ``gs://...``). A relative path is refused: the scheduler and every
  worker must agree on one location.
* **a model kept fresh**: :func:`model_asset` — ``predictionone://<connection id>/models/<name>``,
  one asset per *model line* (the name is yours, e.g. ``customer-premium``): Prediction One gives
  every retraining a new ``model_id``, so the asset stays and each event's ``extra`` records which
  model that run produced, with its metrics. Airflow accepts the ``predictionone`` scheme on every
  supported version (a scheme without a registered normalizer is kept as written).

The upload, train and retrain operators declare their input files as ``inlets`` when the paths
are known when the DAG is parsed (:func:`literal_data_assets`), and fill the ``extra`` of the asset
events of the ``outlets`` a user gives them (:func:`record_outlet_events`, :func:`event_extra`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import Asset

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.hooks.connection import DEFAULT_CONN_ID

SCHEME = "predictionone"
EXTRA_FIELDS = ("model_id", "base_model_id", "retrain_job_id", "model_name", "external_process_id")
"""The ids an operator's summary may hold that go into its asset events' ``extra`` (with ``metrics``)."""

_URL_SAFE = "/%:@!$&'()*+,;=-._~"  # characters that stay as they are in a URL path


def data_asset_uri(location: Any) -> str:
    """The asset URI of a file: ``file:///abs/path`` for a local path or ``file://`` URL, the URL as
    given (non-ASCII characters percent-encoded) for any other scheme.

    :raises PredictionOneConfigError: the location is empty or a relative path.
    """
    text = "" if location is None else str(location).strip()
    if arguments.is_empty(text):
        raise PredictionOneConfigError(
            f"location={location!r} is empty: pass the absolute path or URL of the data file "
            "(e.g. '/data/customers.csv' or 's3://bucket/customers.csv')."
        )
    parts = urlsplit(text)
    if len(parts.scheme) > 1 and parts.scheme.lower() != "file":  # one letter: a Windows drive
        return urlunsplit(parts._replace(path=quote(parts.path, safe=_URL_SAFE)))
    path = unquote(parts.path) if parts.scheme.lower() == "file" else text
    if not os.path.isabs(path):
        raise PredictionOneConfigError(
            f"location={text!r} is a relative path: an asset must name one location that the scheduler and "
            f"every worker agree on. Pass an absolute path (e.g. {os.path.abspath(path)!r}) or a URL."
        )
    return "file://" + quote(PurePosixPath(os.path.normpath(path)).as_posix(), safe=_URL_SAFE)


def data_asset(location: Any) -> Any:
    """The Airflow Asset (``Dataset`` on Airflow 2) of a data file: see :func:`data_asset_uri`."""
    return Asset(data_asset_uri(location))


def model_asset(name: str, predictionone_conn_id: str = DEFAULT_CONN_ID) -> Any:
    """The Airflow Asset of a model line kept fresh: ``predictionone://<conn id>/models/<name>``.

    :param name: your name for the model line (e.g. ``customer-premium``), not a ``model_id``: the
        model id changes with every retraining and is recorded in each event's ``extra``.
    :param predictionone_conn_id: the connection the model lives behind (names the service).
    """
    if arguments.is_empty(name) or arguments.is_templated(name):
        raise PredictionOneConfigError(
            f"name={name!r}: pass a fixed name for the model line, e.g. model_asset('customer-premium') "
            "(an asset is named when the DAG is parsed, so it cannot be a template)."
        )
    conn = quote(str(predictionone_conn_id).strip(), safe="")
    return Asset(f"{SCHEME}://{conn}/models/{quote(str(name).strip(), safe='')}")


def literal_data_assets(*locations: Any) -> list[Any]:
    """The assets of the files among ``locations`` that are known when the DAG is parsed: absolute
    paths and URLs; templates, XComs, relative paths and empty values are left out (Airflow needs
    inlets at parse time; pass ``inlets=[data_asset(...)]`` yourself for a templated path)."""
    assets = []
    for location in locations:
        if not isinstance(location, (str, os.PathLike)) or arguments.is_templated(location):
            continue  # None, an XComArg, a template: known at run time only
        if arguments.is_empty(location):
            continue
        try:
            assets.append(data_asset(location))
        except PredictionOneConfigError:  # a relative path: its location is the worker's, not known here
            continue
    return assets


def numeric_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The metrics that are finite numbers (JSON-safe), as floats; text values are left out."""
    result = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            result[str(name)] = float(value)
    return result


def event_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The ``extra`` of an operator's asset events: the ids in ``summary`` (:data:`EXTRA_FIELDS`) and,
    when it has them, its ``metrics`` (numbers only)."""
    extra: dict[str, Any] = {name: summary[name] for name in EXTRA_FIELDS if name in summary}
    if "metrics" in summary:
        extra["metrics"] = numeric_metrics(summary["metrics"])
    return extra


def record_outlet_events(context: Mapping[str, Any], outlets: Iterable[Any], extra: Mapping[str, Any]) -> list[str]:
    """Put ``extra`` into the asset event of every Asset among a task's ``outlets`` (Airflow records
    one event per outlet when the task succeeds). Other outlets (aliases, references) are left alone.

    :return: the URIs of the assets whose event got the extra.
    """
    assets = [outlet for outlet in outlets or () if isinstance(outlet, Asset)]
    if not assets:
        return []
    events = context["outlet_events"]
    for asset in assets:
        events[asset].extra.update(extra)
    return [asset.uri for asset in assets]
