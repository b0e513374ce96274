"""Housekeeping operators: delete one model or one data set by its explicit id.

Only an explicit, positive id is accepted (no lists, wildcards or "delete all"); the hook refuses an
id the service does not list before any DELETE (:mod:`..hooks.housekeeping`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.operators.base import PredictionOneBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class _DeleteByIdOperator(PredictionOneBaseOperator):
    """Delete one object by the id held in the template field :attr:`id_param`."""

    id_param: str
    ui_color = "#fc9272"

    def __init__(self, *, object_id: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        setattr(self, self.id_param, object_id)
        if not arguments.is_templated(object_id):
            arguments.as_id(self.id_param, object_id)  # literal values fail at DAG parse time

    def execute(self, context: Context) -> dict[str, Any]:
        object_id = arguments.as_id(self.id_param, getattr(self, self.id_param))
        self.delete(object_id)
        return {self.id_param: object_id, "deleted": True}

    def delete(self, object_id: int) -> None:
        raise NotImplementedError


class PredictionOneDeleteModelOperator(_DeleteByIdOperator):
    """Delete one model by id (Delete Model, spec 4.7).

    The model also disappears from the Prediction One web app; a warning says so in the task log. An
    id that Get Model does not list is refused
    (:class:`~airflow_provider_predictionone.api.errors.UnknownIdError`) before anything is deleted.

    :param model_id: the model to delete (a positive whole number). Templated.
    :return: ``{"model_id": ..., "deleted": True}``.
    """

    template_fields: Sequence[str] = ("model_id", "predictionone_conn_id")
    id_param = "model_id"

    def __init__(self, *, model_id: int | str, **kwargs: Any) -> None:
        super().__init__(object_id=model_id, **kwargs)

    def delete(self, object_id: int) -> None:
        self.hook.delete_model(object_id)


class PredictionOneDeleteDataSetOperator(_DeleteByIdOperator):
    """Delete one training data set by id (Delete Data Set, spec 4.9).

    The data set also disappears from the Prediction One web app; a warning says so in the task log.
    An id that Get Data Set does not list is refused
    (:class:`~airflow_provider_predictionone.api.errors.UnknownIdError`) before anything is deleted.

    :param data_set_id: the data set to delete (a positive whole number, see Get Data Set). Templated.
    :return: ``{"data_set_id": ..., "deleted": True}``.
    """

    template_fields: Sequence[str] = ("data_set_id", "predictionone_conn_id")
    id_param = "data_set_id"

    def __init__(self, *, data_set_id: int | str, **kwargs: Any) -> None:
        super().__init__(object_id=data_set_id, **kwargs)

    def delete(self, object_id: int) -> None:
        self.hook.delete_data_set(object_id)
