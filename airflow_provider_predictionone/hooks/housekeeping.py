"""Housekeeping as hook methods: delete one model or one data set by its explicit id.

The object must be listed by the service first: an unknown id is refused before any DELETE is
sent, naming the id. A DELETE whose answer was lost is repeated by the client; when the first
attempt did delete the object, the repeat is told it does not exist, and that counts as deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from airflow_provider_predictionone.api.errors import PredictionOneAPIError, UnknownIdError
from airflow_provider_predictionone.hooks.base import HookMixin


@dataclass(frozen=True)
class _Deletable:
    """What can be deleted by id: the id's name, the object's name, the request that lists them."""

    param: str
    noun: str
    list_call: str


MODEL = _Deletable("model_id", "model", "Get Model")
DATA_SET = _Deletable("data_set_id", "data set", "Get Data Set")


class HousekeepingMixin(HookMixin):
    """Delete models and data sets (they also disappear from the Prediction One web app)."""

    def delete_model(self, model_id: int) -> None:
        """Delete Model (spec 4.7) after checking that Get Model lists ``model_id``.

        :raises UnknownIdError: the account has no such model (nothing was deleted).
        """
        client = self.get_conn()
        self._delete(MODEL, model_id, lambda: (m.model_id for m in client.iter_models()), client.delete_model)

    def delete_data_set(self, data_set_id: int) -> None:
        """Delete Data Set (spec 4.9) after checking that Get Data Set lists ``data_set_id``.

        :raises UnknownIdError: the account has no such data set (nothing was deleted).
        """
        client = self.get_conn()
        self._delete(
            DATA_SET, data_set_id, lambda: (d.data_set_id for d in client.iter_data_sets()), client.delete_data_set
        )

    def _delete(
        self, kind: _Deletable, object_id: int, listed: Callable[[], Iterable[int]], delete: Callable[[int], None]
    ) -> None:
        if object_id not in listed():
            raise UnknownIdError(
                f"{kind.param}={object_id}: this Prediction One account has no {kind.noun} with this id "
                f"({kind.list_call} does not list it; it may have been deleted already). Nothing was deleted. Check "
                f"the {kind.param} in the Prediction One web app, or the XCom it came from."
            )
        self.log.warning("Deleting Prediction One %s %s: it also disappears from the web app.", kind.noun, object_id)
        try:
            delete(object_id)
        except PredictionOneAPIError:
            # It existed a moment ago: if it is gone now, a repeated DELETE (after a lost answer) or
            # someone else deleted it, which is the outcome asked for.
            if object_id in listed():
                raise
            self.log.warning(
                "%s %s was already deleted meanwhile (a repeated request, or someone else).",
                kind.noun.capitalize(),
                object_id,
            )
        self.log.info("Deleted %s %s.", kind.noun, object_id)
