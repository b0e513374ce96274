"""Every import that differs between Airflow versions, in one place.

Airflow 3 exposes the authoring API from ``airflow.sdk``; Airflow 2 keeps the same classes under
``airflow.models``, ``airflow.hooks`` and ``airflow.sensors``. The rest of the provider imports
these names from here only.

Parse time matters (a DAG file imports the operators on every parse), so only what an operator
class needs at definition time is imported eagerly. The trigger base classes
(``airflow.triggers.base`` builds pydantic models: 15–30 ms), the sensor base class, the
configuration and the sensor exception are resolved on first access (PEP 562 module
``__getattr__``); ``from airflow_provider_predictionone.compat import BaseTrigger`` keeps working.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

try:  # Airflow 3
    from airflow.sdk import Context, Variable

    AIRFLOW_V3 = True
except ImportError:  # Airflow 2.x
    from airflow.models import Variable as _Variable2
    from airflow.utils.context import Context  # type: ignore[no-redef,attr-defined]

    class Variable:  # type: ignore[no-redef]
        """Airflow 2's ``Variable`` behind the task SDK's signature (``default=``, not ``default_var=``)."""

        _NOTSET: Any = object()

        @staticmethod
        def get(key: str, default: Any = _NOTSET, deserialize_json: bool = False) -> Any:
            if default is Variable._NOTSET:
                return _Variable2.get(key, deserialize_json=deserialize_json)
            return _Variable2.get(key, default_var=default, deserialize_json=deserialize_json)

        @staticmethod
        def set(key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
            _Variable2.set(key, value, description=description, serialize_json=serialize_json)

        @staticmethod
        def delete(key: str) -> None:
            _Variable2.delete(key)

    AIRFLOW_V3 = False

try:  # Airflow 3.1+: the task SDK's base classes
    from airflow.sdk import BaseHook

    _BASE_OPERATOR = ("airflow.sdk", "BaseOperator")
except ImportError:  # Airflow 2.x and 3.0, as Airflow's own providers do there
    # On 3.0 these subclass the task SDK's (the hook reads connections through it inside a task), and
    # the branching of older apache-airflow-providers-standard (1.2) follows only airflow.models operators.
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

    _BASE_OPERATOR = ("airflow.models", "BaseOperator")

try:  # Airflow 3.1+ (and the last 3.0 patches)
    from airflow.sdk.log import mask_secret as _airflow_mask_secret
except ImportError:
    try:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _airflow_mask_secret
    except ImportError:  # Airflow 2.x
        from airflow.utils.log.secrets_masker import mask_secret as _airflow_mask_secret

_masked: set[tuple[str, str | None]] = set()
_mask_lock = threading.Lock()


def mask_secret(secret: str, name: str | None = None) -> None:
    """Airflow's ``mask_secret``, once per secret; threads take turns, the event loop never waits.

    The batch predictor reports the prediction API key from each of its worker threads. Inside an
    Airflow 3 task every report is a message to the supervisor, and on Airflow 3.0 that channel is not
    thread-safe (concurrent messages break the task); masking again adds nothing. So threads report
    one at a time, under a lock.

    On an event loop (the triggerer) no lock is taken: there Airflow's ``mask_secret`` sends its
    message through greenback, which resumes the loop's other coroutines until the supervisor
    answers. A lock held across that call would stop the whole loop as soon as a second trigger
    reached it, and the first could never finish. One thread runs the loop, so its coroutines need no
    lock among themselves; at worst two of them both report a new secret, which is harmless.
    """
    key = (secret, name)
    if key in _masked:
        return
    if _on_event_loop():
        _airflow_mask_secret(secret, name)
        _masked.add(key)
        return
    with _mask_lock:
        if key in _masked:
            return
        _airflow_mask_secret(secret, name)
        _masked.add(key)


def _on_event_loop() -> bool:
    """Whether the caller runs on a thread whose asyncio event loop is running (without importing
    asyncio at parse time: if nothing imported it, no loop runs)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


if TYPE_CHECKING:
    from airflow.configuration import conf
    from airflow.sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator, ObjectStoragePath
    from airflow.sdk.exceptions import AirflowSensorTimeout
    from airflow.sdk.io import attach as attach_object_store
    from airflow.triggers.base import BaseTrigger, TriggerEvent

_LAZY: dict[str, tuple[tuple[str, str], ...]] = {
    # name: (module, attribute) candidates, newest Airflow first
    # on first use by an operator module: Airflow 2's and 3.0's pull in the triggers and an HTTP client
    "BaseOperator": (_BASE_OPERATOR,),
    "BaseSensorOperator": (("airflow.sdk", "BaseSensorOperator"), ("airflow.sensors.base", "BaseSensorOperator")),
    "BaseOperatorLink": (("airflow.sdk", "BaseOperatorLink"), ("airflow.models", "BaseOperatorLink")),
    # the task SDK's exception since Airflow 3.1; airflow.exceptions on Airflow 2.x and 3.0
    "AirflowSensorTimeout": (
        ("airflow.sdk.exceptions", "AirflowSensorTimeout"),
        ("airflow.exceptions", "AirflowSensorTimeout"),
    ),
    "BaseTrigger": (("airflow.triggers.base", "BaseTrigger"),),
    "TriggerEvent": (("airflow.triggers.base", "TriggerEvent"),),
    "conf": (("airflow.configuration", "conf"),),
    # fsspec-backed paths (file://, s3://, memory:// ...): the task SDK's since Airflow 3.0
    "ObjectStoragePath": (("airflow.sdk", "ObjectStoragePath"), ("airflow.io.path", "ObjectStoragePath")),
    # registers a filesystem instance for a scheme (used for fsspec schemes no provider brings, e.g. memory://)
    "attach_object_store": (("airflow.sdk.io", "attach"), ("airflow.io.store", "attach")),
}


def lazy_getattr(namespace: dict[str, Any], table: Mapping[str, Sequence[tuple[str, str]]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that imports the names of ``table`` on first use.

    Used here and by the operator and sensor modules, so that importing them from a DAG file does
    not import what only ``execute()`` needs. A resolved name is stored in ``namespace``: later
    lookups are plain attribute reads.

    :param namespace: the module's ``globals()``.
    :param table: ``{name: ((module, attribute), ...)}``, the candidates tried in order (for this
        module: newest Airflow first).
    """
    module = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        candidates = table.get(name)
        if candidates is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        failure: Exception | None = None
        for module_name, attribute in candidates:
            try:
                # __import__ (not importlib.import_module) so that ``python -X importtime`` sees it
                value = getattr(__import__(module_name, fromlist=[attribute]), attribute)
            except (ImportError, AttributeError) as exc:
                failure = exc
                continue
            namespace[name] = value
            return value
        raise ImportError(f"Cannot import {name} from this Airflow version: {failure}") from failure

    return __getattr__


__getattr__ = lazy_getattr(globals(), _LAZY)


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (read when an operator is constructed)."""
    from airflow.configuration import conf

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
    "ObjectStoragePath",
    "TriggerEvent",
    "Variable",
    "aget_connection",
    "attach_object_store",
    "conf",
    "default_deferrable",
    "lazy_getattr",
    "mask_secret",
]
