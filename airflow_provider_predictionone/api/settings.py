"""How to reach Prediction One: one frozen, validated settings object that every client takes as is.

The secret key is checked and stripped and the base URL resolved (scheme, port, ``/v1/external``)
exactly once, here; the clients, transports and connection pools never normalise again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from ipaddress import ip_address
from urllib.parse import urlsplit

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.retry import RetryPolicy

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_KEY_REFRESH_LEAD = timedelta(minutes=5)
MIN_TIMEOUT_SECONDS = 0.1
"""The smallest read or connect timeout accepted (the connection form offers the same minimum)."""

PROBE_RETRIES = 1
PROBE_RETRY_DELAY = 0.5
PROBE_CONNECT_TIMEOUT = 3.0
PROBE_READ_TIMEOUT = 10.0

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(hostname: str | None) -> bool:
    """Whether ``hostname`` names this machine (the only place plain HTTP is allowed)."""
    if not hostname:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    """The management base URL (``<scheme>://<host>[:port]/v1/external``) for a host.

    Empty means the public service. A host without a scheme means ``https://``, except on loopback
    (the local emulator), where it means ``http://``. ``http://`` is refused unless the host is
    loopback: the secret key must never cross a network in clear text.
    """
    text = (host or "").strip() or c.DEFAULT_HOST
    if "://" not in text:
        bare = urlsplit("//" + text).hostname
        text = ("http://" if is_loopback_host(bare) else "https://") + text
    parts = urlsplit(text)
    try:
        has_port = parts.port is not None
    except ValueError:
        has_port = True  # an unparseable port: refused below
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PredictionOneConfigError(
            f"Connection host {host!r} is not a valid URL. Use e.g. {c.DEFAULT_HOST!r} or leave it empty."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise PredictionOneConfigError(
            f"Connection host {host!r} uses plain http:// to a remote host, which would send the secret "
            "key unencrypted. Use https://, or http:// only for the local emulator on 127.0.0.1/localhost."
        )
    netloc = parts.netloc if has_port or not port else f"{parts.netloc}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith(c.BASE_PATH):
        path = path[: -len(c.BASE_PATH)]
    return f"{parts.scheme}://{netloc}{path}{c.BASE_PATH}"


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs to reach Prediction One, checked on construction.

    :param secret_key: the account's secret key (used only for Get API Key); surrounding spaces
        are dropped. Never in ``repr``.
    :param host: base URL of the service; empty means the public Prediction One service.
    :param port: a port to add when ``host`` has none (an Airflow connection's port field).
    :param connect_timeout: seconds to wait for a connection.
    :param read_timeout: seconds to wait for an answer.
    :param retry: the :class:`RetryPolicy` of every request.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param key_refresh_lead: re-issue an API key this long before its ``end_date``.
    """

    secret_key: str = field(repr=False)
    host: str | None = None
    port: int | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify: bool | str = True
    key_refresh_lead: timedelta = DEFAULT_KEY_REFRESH_LEAD
    base_url: str = field(init=False)
    """``<scheme>://<host>[:port]/v1/external``, from ``host`` and ``port``."""

    def __post_init__(self) -> None:
        secret = str(self.secret_key or "").strip()
        if not secret:
            raise PredictionOneConfigError(
                "The Prediction One secret key is empty. Put the secret key from the Prediction One "
                "Settings screen into the connection's Secret key (password) field."
            )
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < MIN_TIMEOUT_SECONDS:
                raise PredictionOneConfigError(
                    f"{name}={value!r} must be a number of seconds, at least {MIN_TIMEOUT_SECONDS}."
                )
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "secret_key", secret)
        object.__setattr__(self, "base_url", normalize_base_url(self.host, self.port))

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts in seconds."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def service_url(self) -> str:
        """The service's address without ``/v1/external`` (for messages and lineage)."""
        return self.base_url[: -len(c.BASE_PATH)]

    def probe(self) -> ClientSettings:
        """These settings for a quick check (the UI's Test button): at most :data:`PROBE_RETRIES`
        retry and short timeouts (or these settings' own when shorter), so an unreachable host
        answers within seconds instead of after every configured retry."""
        return dataclasses.replace(
            self,
            connect_timeout=min(self.connect_timeout, PROBE_CONNECT_TIMEOUT),
            read_timeout=min(self.read_timeout, PROBE_READ_TIMEOUT),
            retry=RetryPolicy(
                max_retries=min(self.retry.max_retries, PROBE_RETRIES),
                backoff_seconds=min(self.retry.backoff_seconds, PROBE_RETRY_DELAY),
            ),
        )
