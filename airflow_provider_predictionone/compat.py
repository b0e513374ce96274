"""What differs between Airflow versions and ``airflow.providers.common.compat`` does not cover.

Everything else — ``BaseHook``, ``BaseSensorOperator``, ``Variable``, ``ObjectStoragePath``,
``AirflowNotFoundException``, ``AirflowSensorTimeout``, ``get_current_context``, the async
connection lookups — the provider imports from ``airflow.providers.common.compat`` directly.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import mask_secret as _airflow_mask_secret
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
elif AIRFLOW_V_3_1_PLUS or not AIRFLOW_V_3_0_PLUS:
    from airflow.providers.common.compat.sdk import BaseOperator
else:  # Airflow 3.0: its providers-standard (1.2) branches only over airflow.models operators
    from airflow.models import BaseOperator

AIRFLOW_V3 = AIRFLOW_V_3_0_PLUS

__all__ = [
    "AIRFLOW_V3",
    "BaseOperator",
    "attach_object_store",
    "default_deferrable",
    "get_current_context_or_none",
    "mask_secret",
]

_masked: set[tuple[str, str | None]] = set()
_mask_lock = threading.Lock()


def mask_secret(secret: str, name: str | None = None) -> None:
    """Airflow's ``mask_secret``, once per secret; threads take turns, the event loop never waits.

    A client used from several threads (a blocking client the batch predictor calls from its
    threads) may report a secret from each of them. Inside an
    Airflow 3 task every report is a message to the supervisor, and on Airflow 3.0 that channel is not
    thread-safe (concurrent messages break the task); masking again adds nothing. So threads report
    one at a time, under a lock.

    On an event loop (the triggerer) no lock is taken: there Airflow's ``mask_secret`` sends its
    message through greenback, which resumes the loop's other coroutines until the supervisor
    answers. A lock held across that call would stop the whole loop as soon as a second trigger
    reached it. One thread runs the loop, so its coroutines need no lock among themselves.
    """
    key = (secret, name)
    if key in _masked:
        return
    if _on_event_loop():
        _airflow_mask_secret(secret, name)
        _masked.add(key)
        return
    with _mask_lock:
        if key not in _masked:
            _airflow_mask_secret(secret, name)
            _masked.add(key)


def _on_event_loop() -> bool:
    """Whether the caller runs on a thread whose asyncio event loop is running (without importing
    asyncio: if nothing imported it, no loop runs)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (read when an operator is constructed)."""
    from airflow.providers.common.compat.sdk import conf

    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def attach_object_store(scheme: str, fs: Any) -> Any:
    """Register a filesystem for a URL scheme with Airflow's object storage (``attach``)."""
    try:  # Airflow 3
        from airflow.sdk.io import attach
    except ImportError:  # Airflow 2.x
        from airflow.io.store import attach
    return attach(scheme, fs=fs)


def get_current_context_or_none() -> Any:
    """The running task's context, or ``None`` outside a task (a plain script, a test)."""
    from airflow.providers.common.compat.sdk import get_current_context

    try:
        return get_current_context()
    except Exception:  # Airflow 2 raises AirflowException, Airflow 3 RuntimeError, outside a task
        return None
