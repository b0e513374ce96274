"""The Prediction One hook: the connection, the API clients, and the whole workflow as methods.

Operators, sensors and TaskFlow code all call one object::

    hook = PredictionOneHook("predictionone_default")
    upload_id = hook.upload_training_data("train.csv", {"age": "float", "churn": "string"})
    result = hook.train_model(upload_id, {"target_column": "churn", "prediction_type": "binary_classification",
                                          "positive_value": "yes"})

The workflow methods come from one module per part of it: training (:mod:`.training`), retraining
(:mod:`.retraining`), the promotion gate (:mod:`.promotion`), jobs and waiting (:mod:`.jobs`),
prediction APIs (:mod:`.prediction_api`), batch prediction (:mod:`.predict`) and housekeeping
(:mod:`.housekeeping`). Nothing is looked up or sent when the hook is constructed.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

from airflow_provider_predictionone.api.errors import PredictionOneError
from airflow_provider_predictionone.compat import mask_secret
from airflow_provider_predictionone.connection_form import EXTRA_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_predictionone.hooks.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    checked_extra,
    client_settings,
    connection_missing,
)
from airflow_provider_predictionone.hooks.housekeeping import HousekeepingMixin
from airflow_provider_predictionone.hooks.prediction_api import PredictionApiMixin
from airflow_provider_predictionone.hooks.promotion import PromotionMixin

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient
    from airflow_provider_predictionone.api.client import PredictionOneClient
    from airflow_provider_predictionone.api.retry import RetryPolicy
    from airflow_provider_predictionone.api.settings import ClientSettings


def _async_client_module(verify: bool | str) -> Any:
    """The async client's module, with everything a process does on its first async request done
    here: importing the client (its response classes, its transport) and
    :func:`~.api.aclient.prepare` (the TLS context, aiohttp's first-use imports, tenacity). Called in a
    worker thread: on a triggerer's event loop that first-use work blocked every other trigger for a
    few hundred milliseconds. Cheap after the first call."""
    from airflow_provider_predictionone.api import aclient

    aclient.prepare(verify)
    return aclient


class PredictionOneHook(PromotionMixin, PredictionApiMixin, HousekeepingMixin, BaseHook):
    """Interact with Sony Prediction One.

    :param predictionone_conn_id: the Airflow connection holding the secret key (password) and,
        optionally, the base URL (host) and extras ``timeout``, ``connect_timeout``, ``retries``,
        ``retry_delay``, ``verify_ssl`` and ``ca_bundle``.
    :param retry: a :class:`~airflow_provider_predictionone.api.retry.RetryPolicy` for every request,
        instead of the one the connection's ``retries`` / ``retry_delay`` extras describe.
    """

    conn_name_attr = "predictionone_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Prediction One"

    def __init__(self, predictionone_conn_id: str = default_conn_name, *, retry: RetryPolicy | None = None) -> None:
        super().__init__()
        self.predictionone_conn_id = predictionone_conn_id
        self.retry = retry

    # -- connection form (Airflow < 3.2 reads these; newer versions read get_provider_info) ----

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Field labels and hidden fields of the connection form."""
        return UI_FIELD_BEHAVIOUR

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (wtforms, for Airflow versions before 3.2)."""
        try:
            from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import BooleanField, StringField
        except ImportError:  # the UI packages are not installed (e.g. a worker)
            return {}
        widgets: dict[str, Any] = {}
        for name, spec in EXTRA_FIELDS.items():
            if "boolean" in spec["schema"]["type"]:
                widgets[name] = BooleanField(lazy_gettext(spec["label"]), default=spec["schema"].get("default"))
            else:
                widgets[name] = StringField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget())
        return widgets

    # -- settings and clients --------------------------------------------------------------------

    @cached_property
    def settings(self) -> ClientSettings:
        """The connection, read and checked once on first use."""
        conn_id = self.predictionone_conn_id
        try:
            conn = self.get_connection(conn_id)
        except AirflowNotFoundException as exc:
            raise connection_missing(conn_id) from exc
        checked_extra(conn, conn_id)
        return client_settings(conn, conn.extra_dejson, retry=self.retry)

    def get_conn(self) -> PredictionOneClient:
        """The synchronous API client (one per hook: its connection pool and API keys are reused)."""
        return self.client

    @cached_property
    def client(self) -> PredictionOneClient:
        from airflow_provider_predictionone.api.client import PredictionOneClient

        return PredictionOneClient(self.settings, on_secret=mask_secret)

    async def get_async_conn(self, *, shared: bool = True) -> AsyncPredictionOneClient:
        """An async client for triggers; the connection is fetched without blocking the event loop.

        The connection and its extras are read the way ``apache-airflow-providers-common-compat``
        documents for code on an event loop (no synchronous secret masking there). The caller closes
        the client (``async with await hook.get_async_conn() as client``). By default it shares, with
        every other client of the same settings in the running event loop, one HTTP connection pool
        and one API key cache (see :class:`~.api.aclient.AsyncClientRegistry`); closing it releases
        its share.

        :param shared: ``False`` gives a client with its own pool and key cache.
        """
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn_id = self.predictionone_conn_id
        try:
            conn = await get_async_connection(conn_id)
        except AirflowNotFoundException as exc:
            raise connection_missing(conn_id) from exc
        checked_extra(conn, conn_id)
        settings = client_settings(conn, await get_async_extra_dejson(conn), retry=self.retry)
        aclient = await asyncio.to_thread(_async_client_module, settings.verify)
        if not shared:
            return aclient.AsyncPredictionOneClient(settings, on_secret=mask_secret)
        return aclient.shared_async_clients.client(settings, on_secret=mask_secret)

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a train API key with the secret key: proves the URL and the key work.

        Runs with :meth:`~.api.settings.ClientSettings.probe` (at most one retry, short timeouts),
        not the connection's full retry policy: the UI's Test button waits for the answer.
        """
        from airflow_provider_predictionone.api.client import PredictionOneClient

        try:
            with PredictionOneClient(self.settings.probe(), on_secret=mask_secret) as client:
                issued = client.get_api_key("train")
        except PredictionOneError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI shows this text; never let it raise
            return False, f"{type(exc).__name__}: {exc}"
        until = issued.end_date or "an undocumented time"
        return True, f"Connected to Prediction One at {client.base_url}; the train API key is valid until {until}."
