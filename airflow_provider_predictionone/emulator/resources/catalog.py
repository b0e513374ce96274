"""The catalog of a user's models and data sets: Get Model (spec 4.6), Delete Model (4.7), Get
Data Set (4.8) and Delete Data Set (4.9)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import CredentialType
from airflow_provider_predictionone.emulator.paths import DOWNLOAD_PATH
from airflow_provider_predictionone.emulator.resources.keys import authenticate
from airflow_provider_predictionone.emulator.state import DataSet, Model, Store
from airflow_provider_predictionone.emulator.web import Request, Response, bad_request, iso, json_response, parse_int

T = TypeVar("T")


def _paging(request: Request) -> tuple[int, int]:
    try:
        offset = int(request.arg("offset") or 0)
        limit = int(request.arg("limit") or contract.DEFAULT_PAGE_LIMIT)
    except ValueError:
        raise bad_request("offset and limit must be non-negative integers.") from None
    if offset < 0 or limit < 0:
        raise bad_request("offset and limit must be non-negative integers.")
    return offset, limit


def _page(
    request: Request, name: str, items: Iterable[T], key: Callable[[T], int], item_json: Callable[[T], Any]
) -> dict[str, Any]:
    """One page of ``items`` ordered by ``key``, as ``{name: [...], "metadata": {offset, limit, total}}``."""
    offset, limit = _paging(request)
    ordered = sorted(items, key=key)
    page = [item_json(item) for item in ordered[offset : offset + limit]]
    return {name: page, "metadata": {"offset": offset, "limit": limit, "total": len(ordered)}}


def _model_json(model: Model) -> dict[str, Any]:
    in_use = any(c.model_id == model.model_id for c in model.user.classifiers.values())
    return {
        "model_id": model.model_id,
        "owner_user_id": model.user.user_id,
        "target_type": model.config.task,
        "name": model.name,
        "version": model.version,
        "config": model.raw_config,
        "is_api_option": in_use,
        "updated_date": iso(model.updated),
        "created_date": iso(model.created),
    }


def _data_set_json(request: Request, data_set: DataSet) -> dict[str, Any]:
    return {
        "data_set_id": data_set.data_set_id,
        "owner_user_id": data_set.user.user_id,
        "name": data_set.name,
        "extension": data_set.extension,
        "column_count": data_set.column_count,
        "data_count": data_set.data_count,
        "data_size": data_set.data_size,
        "download_url": request.url_for(DOWNLOAD_PATH, token=data_set.token),
        "updated_date": iso(data_set.updated),
        "created_date": iso(data_set.created),
    }


class Catalog:
    """Lists and deletes the models and data sets of the caller (train API key)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list_models(self, request: Request) -> Response:
        """``GET /models`` (spec 4.6), ordered by ``model_id``."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        with self.store.lock:
            body = _page(request, "models", user.models.values(), lambda m: m.model_id, _model_json)
        return json_response(body)

    def delete_model(self, request: Request) -> Response:
        """``DELETE /models/{model_id}`` (spec 4.7): 200 with no response body."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        model_id = parse_int(request.params["model_id"])
        with self.store.lock:
            if model_id is None or model_id not in user.models:
                raise bad_request(contract.MSG_MODEL_DELETED)
            del user.models[model_id]
        return Response(200)

    def list_data_sets(self, request: Request) -> Response:
        """``GET /data-sets`` (spec 4.8), ordered by ``data_set_id``."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        with self.store.lock:
            body = _page(
                request,
                "data_sets",
                user.data_sets.values(),
                lambda d: d.data_set_id,
                lambda d: _data_set_json(request, d),
            )
        return json_response(body)

    def delete_data_set(self, request: Request) -> Response:
        """``DELETE /data-sets/{data_set_id}`` (spec 4.9): 200 with no response body."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        raw = request.params["data_set_id"]
        data_set_id = parse_int(raw)
        with self.store.lock:
            data_set = user.data_sets.pop(data_set_id, None) if data_set_id is not None else None
            if data_set is None:
                raise bad_request(f"Data set {raw} was not found (it may have been deleted).")
            self.store.downloads.pop(data_set.token, None)
        return Response(200)
