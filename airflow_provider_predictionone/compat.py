"""Every import that differs between Airflow versions, in one place.

Airflow 3 exposes the authoring API from ``airflow.sdk``; Airflow 2 keeps the same classes under
``airflow.models``, ``airflow.hooks`` and ``airflow.sensors``. The rest of the provider imports
these names from here only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

try:  # Airflow 3
    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator, Context, Variable
    from airflow.sdk.log import mask_secret

    AIRFLOW_V3 = True
except ImportError:  # Airflow 2.x
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    from airflow.models import BaseOperator, BaseOperatorLink, Variable  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef]
    from airflow.utils.context import Context  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

    AIRFLOW_V3 = False

from airflow.configuration import conf

try:  # the task SDK's exception since Airflow 3.1
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow 2.x, 3.0
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef,attr-defined]
from airflow.triggers.base import BaseTrigger, TriggerEvent


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (read when an operator is constructed)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection without blocking the event loop (triggers)."""
    getter: Callable[[str], Awaitable[Any]] | None = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


__all__ = [
    "AIRFLOW_V3",
    "AirflowSensorTimeout",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "TriggerEvent",
    "Variable",
    "aget_connection",
    "conf",
    "default_deferrable",
    "mask_secret",
]
