"""The Prediction One hook: turns an Airflow connection into API clients.

Connection fields: **password** = the account's secret key; **host** = base URL (empty means the
public service); extras = timeouts, retries and TLS verification. Nothing is looked up or sent
when the hook is constructed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_predictionone.api.contract import DEFAULT_HOST
from airflow_provider_predictionone.api.errors import PredictionOneConfigError, PredictionOneError
from airflow_provider_predictionone.compat import BaseHook, aget_connection, mask_secret
from airflow_provider_predictionone.connection_form import EXTRA_FIELDS, MIN_TIMEOUT_SECONDS, UI_FIELD_BEHAVIOUR

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.client import AsyncPredictionOneClient, PredictionOneClient


def _number(extras: Mapping[str, Any], name: str, default: float, *, minimum: float) -> float:
    value = extras.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PredictionOneConfigError(
            f"Connection extra {name}={value!r} is not a number. Set it to a number of seconds, e.g. {default}."
        ) from None
    if number < minimum:
        raise PredictionOneConfigError(f"Connection extra {name}={value!r} must be at least {minimum}.")
    return number


def _flag(extras: Mapping[str, Any], name: str, default: bool) -> bool:
    value = extras.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise PredictionOneConfigError(f"Connection extra {name}={value!r} must be true or false.")


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook reads from a Prediction One connection, validated."""

    secret_key: str = field(repr=False)
    host: str
    connect_timeout: float
    read_timeout: float
    retries: int
    retry_delay: float
    verify: bool | str

    @classmethod
    def from_connection(cls, conn: Any) -> ConnectionSettings:
        """Read and check an Airflow ``Connection`` (errors name the field and the fix)."""
        conn_id = getattr(conn, "conn_id", "?")
        secret = (conn.password or "").strip()
        if not secret:
            raise PredictionOneConfigError(
                f"Connection {conn_id!r} has no secret key. Put the secret key from the Prediction One Settings "
                "screen into the connection's Secret key (password) field."
            )
        extras = _extras(conn)
        return cls(
            secret_key=secret,
            host=_host_url(conn.host, conn.port),
            connect_timeout=_number(extras, "connect_timeout", 10.0, minimum=MIN_TIMEOUT_SECONDS),
            read_timeout=_number(extras, "timeout", 60.0, minimum=MIN_TIMEOUT_SECONDS),
            retries=int(_number(extras, "retries", 5, minimum=0)),
            retry_delay=_number(extras, "retry_delay", 1.0, minimum=0),
            verify=(extras.get("ca_bundle") or True) if _flag(extras, "verify_ssl", True) else False,
        )

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of the API clients for this connection."""
        from airflow_provider_predictionone.api.retry import RetryPolicy

        return {
            "host": self.host,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retry": RetryPolicy(max_retries=self.retries, backoff_seconds=self.retry_delay),
            "verify": self.verify,
            "on_secret": mask_secret,
        }

    def probe_options(self) -> dict[str, Any]:
        """:meth:`client_options` for a quick check (the UI's Test button): at most one retry and
        short timeouts (:data:`PROBE_RETRIES`, :data:`PROBE_CONNECT_TIMEOUT`,
        :data:`PROBE_READ_TIMEOUT`, or the connection's own when shorter), so an unreachable host
        answers within seconds instead of after every configured retry."""
        from airflow_provider_predictionone.api.retry import RetryPolicy

        return self.client_options() | {
            "connect_timeout": min(self.connect_timeout, PROBE_CONNECT_TIMEOUT),
            "read_timeout": min(self.read_timeout, PROBE_READ_TIMEOUT),
            "retry": RetryPolicy(
                max_retries=min(self.retries, PROBE_RETRIES),
                backoff_seconds=min(self.retry_delay, PROBE_RETRY_DELAY),
            ),
        }


PROBE_RETRIES = 1
PROBE_RETRY_DELAY = 0.5
PROBE_CONNECT_TIMEOUT = 3.0
PROBE_READ_TIMEOUT = 10.0


def _extras(conn: Any) -> dict[str, Any]:
    raw = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    extras = dict(raw or {})
    # Older connection forms store custom fields as extra__<conn_type>__<name>.
    for key in list(extras):
        prefix = f"extra__{PredictionOneHook.conn_type}__"
        if key.startswith(prefix):
            extras.setdefault(key[len(prefix) :], extras[key])
    return extras


def _host_url(host: str | None, port: int | None) -> str:
    """The base URL for a connection's host and port.

    A host without a scheme means https, except on loopback (the local emulator), which is
    served over plain http.
    """
    from airflow_provider_predictionone.api.client import is_loopback_host

    text = (host or "").strip()
    if not text:
        return DEFAULT_HOST
    if "://" not in text:
        bare = urlsplit("//" + text).hostname
        text = ("http://" if is_loopback_host(bare) else "https://") + text
    parts = urlsplit(text)
    if port and parts.port is None:
        text = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return text


class PredictionOneHook(BaseHook):
    """Interact with Sony Prediction One.

    :param predictionone_conn_id: the Airflow connection holding the secret key (password) and,
        optionally, the base URL (host) and extras ``timeout``, ``connect_timeout``, ``retries``,
        ``retry_delay``, ``verify_ssl`` and ``ca_bundle``.
    """

    conn_name_attr = "predictionone_conn_id"
    default_conn_name = "predictionone_default"
    conn_type = "predictionone"
    hook_name = "Prediction One"

    def __init__(self, predictionone_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.predictionone_conn_id = predictionone_conn_id

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

    # -- clients -------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, read once on first use."""
        return ConnectionSettings.from_connection(self.get_connection(self.predictionone_conn_id))

    def get_conn(self) -> PredictionOneClient:
        """The synchronous API client (created once per hook)."""
        return self.client

    @cached_property
    def client(self) -> PredictionOneClient:
        from airflow_provider_predictionone.api.client import PredictionOneClient

        settings = self.settings
        return PredictionOneClient(settings.secret_key, **settings.client_options())

    async def get_async_conn(self, *, shared: bool = True) -> AsyncPredictionOneClient:
        """An async client for triggers; the connection is fetched without blocking the loop.

        The caller closes it (``async with await hook.get_async_conn() as client``). By default
        the client shares, with every other client of the same connection settings in the running
        event loop, one HTTP connection pool (a few connections kept alive between polls)
        and one API key cache, so a triggerer running a thousand waits holds a few connections and
        fetches each API key once; closing the client releases its share.

        :param shared: ``False`` gives a client with its own pool and key cache.
        """
        from airflow_provider_predictionone.api.client import AsyncPredictionOneClient, shared_async_clients

        conn = await aget_connection(self.predictionone_conn_id)
        settings = ConnectionSettings.from_connection(conn)
        if not shared:
            return AsyncPredictionOneClient(settings.secret_key, **settings.client_options())
        return shared_async_clients.client(settings.secret_key, **settings.client_options())

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a train API key with the secret key: proves the URL and the key work.

        Runs with :meth:`ConnectionSettings.probe_options` (at most one retry, short timeouts), not
        the connection's full retry policy: the UI's Test button waits for the answer.
        """
        from airflow_provider_predictionone.api.client import PredictionOneClient

        try:
            settings = self.settings
            with PredictionOneClient(settings.secret_key, **settings.probe_options()) as client:
                issued = client.get_api_key("train")
        except PredictionOneError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI shows this text; never let it raise
            return False, f"{type(exc).__name__}: {exc}"
        until = issued.end_date or "an undocumented time"
        return True, f"Connected to Prediction One at {client.base_url}; the train API key is valid until {until}."
