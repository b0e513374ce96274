"""A task context for calling an operator's ``execute()`` directly, without a scheduler.

Shared by the operator, fault, bad-input, storage, lineage and secrets tests.
"""

from __future__ import annotations

from typing import Any


class FakeTaskInstance:
    """The few task-instance methods the operators use."""

    def __init__(self, task_id: str = "task", dag_id: str = "unit") -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, "manual__1", -1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get(key)


class TaskStateStore(dict):
    """An in-memory ``task_state_store``: what survives between the tries of one task instance."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def fake_context(store: Any = None, task_id: str = "task", dag_id: str = "unit") -> dict[str, Any]:
    """A context for ``execute()``; pass the same ``store`` to every try of one task instance."""
    ti = FakeTaskInstance(task_id, dag_id)
    return {"ti": ti, "task_state_store": store if store is not None else TaskStateStore()}
