"""Remembering which remote job a task started, across the task's tries.

Why: a training or retraining costs money and time, and Prediction One has no idempotency key.
If a worker dies while waiting, or the task fails after the job started (a timeout, a lost
connection), the next try must re-attach to the job instead of starting a duplicate. XCom cannot
carry this: Airflow clears a task's XComs when a new try starts.

How: the hook's workflow methods write an entry *before* the request that starts the job (so that a lost answer
can be recognised) and the job id as soon as it is known, before waiting, to the task's durable
state — ``context["task_state_store"]`` on Airflow versions that have it (3.3+), otherwise an
Airflow Variable named after the task instance. The next try reads it back and asks the service
for the job's state: a running or finished job is re-attached; a failed retraining or prediction
API is started afresh, a failed training is not (its upload was used). The entry is removed when
the task succeeds, so deliberately clearing a successful task runs a new job. See
``docs/reliability.md``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


class JobLedger:
    """The durable ``{name: job record}`` of one task instance.

    Outside a task (``context`` is ``None``: a script, a notebook) nothing is recorded and
    :meth:`get` finds nothing: there is no next try to re-attach.

    :param context: the task's execution context, or ``None``.
    :param name: what is recorded, e.g. ``"train"``; one task may record several names.
    """

    def __init__(self, context: Mapping[str, Any] | None, name: str) -> None:
        self._name = name
        self.context = context
        self._store = None if context is None else context.get("task_state_store")
        ti = None if context is None else context.get("ti") or context.get("task_instance")
        self.enabled = ti is not None
        if ti is None:
            self._variable_key = ""
            return
        map_index = getattr(ti, "map_index", -1)
        map_index = -1 if map_index is None else map_index
        self._variable_key = f"predictionone_job.{ti.dag_id}.{ti.task_id}.{ti.run_id}.{map_index}.{name}"

    def _store_usable(self) -> bool:
        return self._store is not None and hasattr(self._store, "get") and hasattr(self._store, "set")

    def get(self) -> dict[str, Any] | None:
        """The record of the job an earlier try started, or ``None``."""
        if not self.enabled:
            return None
        try:
            if self._store_usable():
                value = self._store.get(self._name)
            else:
                from airflow.providers.common.compat.sdk import Variable

                value = Variable.get(self._variable_key, None)  # positional: `default` on 3.x, `default_var` on 2.x
            if value is None:
                return None
            record = json.loads(value) if isinstance(value, str) else value
            return dict(record) if isinstance(record, Mapping) else None
        except Exception:  # a ledger that cannot be read must not stop the task
            log.warning("Could not read the job ledger entry %r; a retry cannot re-attach.", self._name, exc_info=True)
            return None

    def set(self, record: Mapping[str, Any]) -> None:
        """Record the job (before waiting for it)."""
        payload = dict(record)
        if not self.enabled:
            return
        try:
            if self._store_usable():
                self._store.set(self._name, payload)
            else:
                from airflow.providers.common.compat.sdk import Variable

                Variable.set(self._variable_key, json.dumps(payload))
        except Exception:
            log.warning(
                "Could not record job %s in the ledger; a retry of this task would start a new job.",
                payload,
                exc_info=True,
            )

    def clear(self) -> None:
        """Forget the job (the task succeeded)."""
        if not self.enabled:
            return
        try:
            if self._store_usable():
                if hasattr(self._store, "delete"):
                    self._store.delete(self._name)
            else:
                from airflow.providers.common.compat.sdk import Variable

                Variable.delete(self._variable_key)
        except Exception:
            log.debug("Could not clear the job ledger entry %r.", self._name, exc_info=True)
