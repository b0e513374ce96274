"""OpenLineage for the Prediction One operators: which files and models a task read and wrote.

Airflow's OpenLineage provider calls ``get_openlineage_facets_on_complete(task_instance)`` on an
operator after it succeeded, and only when that provider is installed; the OpenLineage classes
are therefore imported inside that method, never at DAG parse time.

Naming (OpenLineage dataset conventions):

* local files: namespace ``file``, name = the absolute path; URLs (object storage): namespace
  ``<scheme>://<bucket or host>``, name = the path inside it;
* Prediction One objects: namespace ``predictionone://<service host>``, names
  ``datasets/<external_process_id>`` (uploaded training data) and ``models/<model_id>``.

What each operator reports is derived from its rendered arguments and the ids it pushed to XCom,
so it is the same whether the task finished in ``execute`` or after a deferral.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

LineageRef = tuple[str, str]
"""(namespace, name) of one dataset."""


def file_ref(path: Any) -> LineageRef | None:
    """The dataset of a local path or a URL; ``None`` for an empty value."""
    if path is None or str(path).strip() == "":
        return None
    text = str(path)
    parts = urlsplit(text)
    if parts.scheme and parts.scheme != "file" and len(parts.scheme) > 1:
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/"
    local = parts.path if parts.scheme == "file" else text
    return "file", os.path.abspath(local)


def service_namespace(base_url: str) -> str:
    """``predictionone://<host[:port]>`` for the service (or emulator) behind a connection."""
    return f"predictionone://{urlsplit(base_url).netloc or base_url}"


class PredictionOneLineageMixin:
    """Adds ``get_openlineage_facets_on_complete`` to an operator.

    Subclasses implement :meth:`lineage_refs` returning ``(inputs, outputs)`` as lists of
    ``(namespace, name)`` pairs, using :func:`file_ref` and :meth:`service_ref`.
    """

    def service_ref(self, kind: str, identifier: Any) -> LineageRef | None:
        """A Prediction One object (``kind`` = ``datasets`` or ``models``) of this connection."""
        if identifier is None or str(identifier).strip() == "":
            return None
        base_url = self.hook.settings.service_url  # type: ignore[attr-defined]
        return service_namespace(base_url), f"{kind}/{identifier}"

    def lineage_refs(self, task_instance: Any) -> tuple[list[LineageRef | None], list[LineageRef | None]]:
        raise NotImplementedError

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The inputs and outputs of this task as OpenLineage datasets (called by Airflow)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        inputs, outputs = self.lineage_refs(task_instance)
        return OperatorLineage(inputs=_datasets(Dataset, inputs), outputs=_datasets(Dataset, outputs))


def _datasets(factory: Any, refs: Iterable[LineageRef | None]) -> list[Any]:
    seen: set[LineageRef] = set()
    result = []
    for ref in refs:
        if ref is not None and ref not in seen:
            seen.add(ref)
            result.append(factory(namespace=ref[0], name=ref[1]))
    return result


def pushed(task_instance: Any, task_id: str, key: str) -> Any:
    """A value the task pushed to XCom (``None`` when absent)."""
    try:
        return task_instance.xcom_pull(task_ids=task_id, key=key)
    except Exception:  # lineage must never fail a finished task
        return None
