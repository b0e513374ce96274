"""Get API Key (spec 4.1) and the authentication of management calls by their API key."""

from __future__ import annotations

import secrets
import time

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import CredentialType
from airflow_provider_predictionone.emulator.state import ApiKey, Store, User
from airflow_provider_predictionone.emulator.web import Request, Response, bad_request, iso, json_response, parse_int


def authenticate(
    store: Store, request: Request, credential_type: CredentialType, *, user_deleted_error: bool = True
) -> tuple[User, ApiKey]:
    """The user and key record of the request's API key, which must be a valid ``credential_type``
    key; else the documented bad request (``user_deleted_error=False``: a deleted user's key is
    ``Not_found_credential.``, as Retrain Status Check and Update Model answer)."""
    key = request.api_key or ""
    with store.lock:
        record = store.keys.get(key)
        if record is None:
            if key in store.users:  # a secret key is not an API key
                raise bad_request(contract.MSG_NOT_FOUND_CREDENTIAL)
            raise bad_request(contract.MSG_INVALID_API_KEY)
        if record.user.deleted:
            message = contract.MSG_USER_DELETED if user_deleted_error else contract.MSG_NOT_FOUND_CREDENTIAL
            raise bad_request(message)
        if record.expires_at <= time.time():
            raise bad_request(contract.MSG_INACTIVE_CREDENTIAL)
        if record.credential_type != credential_type.value:
            raise bad_request(contract.MSG_NOT_FOUND_CREDENTIAL)
        return record.user, record


class Keys:
    """``GET /api-key``: the secret key buys a train, deploy or retrain API key."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_api_key(self, request: Request) -> Response:
        """``GET /api-key`` (spec 4.1)."""
        store = self.store
        with store.lock:
            user = store.users.get(request.api_key or "")
            if user is None:
                raise bad_request(contract.MSG_INVALID_API_KEY)
            if user.deleted:
                raise bad_request(contract.MSG_USER_DELETED)
            credential = request.arg("credential_type")
            if not credential:
                raise bad_request("credential_type is required (train, deploy or retrain).")
            try:
                credential_type = CredentialType(credential)
            except ValueError:
                raise bad_request("credential_type must be one of train, deploy, retrain.") from None
            model_id = None
            if credential_type is CredentialType.RETRAIN:
                raw = (request.arg("model_id") or "").strip()
                if not raw:
                    raise bad_request(contract.MSG_MODEL_ID_REQUIRED)
                model_id = parse_int(raw)
                if model_id is None or model_id not in user.models:
                    raise bad_request(contract.MSG_MODEL_DELETED)
            key = secrets.token_urlsafe(32)
            expires = time.time() + store.settings.key_lifetime
            store.keys[key] = ApiKey(key, user, credential_type.value, model_id, expires)
        return json_response({"api_key": key, "end_date": iso(expires)})
