"""The cache of derived API keys (spec 4.1, 7.11): one key per (credential type, model id), reused
until shortly before its ``end_date``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.models import ApiKey
from airflow_provider_predictionone.api.settings import DEFAULT_KEY_REFRESH_LEAD

UNKNOWN_EXPIRY_LIFETIME = timedelta(minutes=10)
"""How long a key whose ``end_date`` cannot be parsed is reused before asking again (spec 7.11)."""


@dataclass
class _CachedKey:
    key: str = field(repr=False)
    refresh_after: datetime


class ApiKeyCache:
    """Derived API keys per (credential type, model id), reused until ``end_date`` minus a lead.

    A key is refreshed ``lead`` before its ``end_date``, but is used for at least half its life, so
    a key shorter-lived than the lead is still used once rather than never.

    :param lead: refresh this long before the key's ``end_date``.
    :param clock: returns "now" (tests pass a fake clock).
    """

    def __init__(
        self,
        lead: timedelta = DEFAULT_KEY_REFRESH_LEAD,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._lead = lead
        self._clock = clock
        self._keys: dict[tuple[str, int | None], _CachedKey] = {}
        self._lock = threading.Lock()

    def get(self, credential: c.CredentialType, model_id: int | None) -> str | None:
        """The cached key, or ``None`` when there is none or it is due for a refresh."""
        with self._lock:
            entry = self._keys.get((credential.value, model_id))
            if entry is None or self._clock() >= entry.refresh_after:
                return None
            return entry.key

    def put(self, credential: c.CredentialType, model_id: int | None, api_key: ApiKey) -> None:
        """Remember a key Get API Key issued."""
        now = self._clock()
        if api_key.expires_at is not None:
            refresh_after = max(api_key.expires_at - self._lead, now + (api_key.expires_at - now) / 2)
        else:
            refresh_after = now + UNKNOWN_EXPIRY_LIFETIME
        with self._lock:
            self._keys[(credential.value, model_id)] = _CachedKey(api_key.api_key, refresh_after)

    def invalidate(self, credential: c.CredentialType, model_id: int | None, key: str) -> None:
        """Forget ``key`` (if it is still the cached one): the service stopped accepting it."""
        with self._lock:
            entry = self._keys.get((credential.value, model_id))
            if entry is not None and entry.key == key:
                del self._keys[(credential.value, model_id)]
