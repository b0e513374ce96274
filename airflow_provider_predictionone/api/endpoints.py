"""The Prediction One REST API: one method per endpoint, in one place, for the sync and async clients.

Each endpoint method of :class:`ClientBase` describes its request (a :class:`Request`) and how to
read the answer, and hands both to ``_call``. :class:`~.client.PredictionOneClient` runs ``_call`` in the
calling thread and returns the result; :class:`~.aclient.AsyncPredictionOneClient` runs it on an
event loop, so there every endpoint method returns an awaitable of the same result. How a call is
made is written once, here: which key to send (the secret key for Get API Key, a cached derived key
for the rest, fetched when missing and renewed once when refused), how the answer becomes a typed
result or the specific exception (:func:`~.errors.error_from_response`); :mod:`.retry` repeats
what may be repeated and :mod:`.transport` sends.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import (
    InvalidCredentialsError,
    PredictionOneConfigError,
    ResponseFormatError,
    StaleApiKeyError,
    UnexpectedResponseError,
    error_from_response,
)
from airflow_provider_predictionone.api.keys import ApiKeyCache
from airflow_provider_predictionone.api.models import (
    ApiKey,
    Classifier,
    CreatedClassifier,
    DataSetInfo,
    DataSetPage,
    InferenceResult,
    IpRule,
    ModelPage,
    RetrainStatus,
    RetrainUpload,
    TrainStatus,
    TrainUploadUrls,
)
from airflow_provider_predictionone.api.settings import ClientSettings
from airflow_provider_predictionone.api.transport import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """A request to one endpoint.

    :param endpoint: the manual's name of the endpoint (messages; picks error hints).
    :param method: HTTP method.
    :param path: path below ``/v1/external``.
    :param credential: which API key to send; ``None`` sends the secret key (Get API Key only).
    :param model_id: the model a retrain key is bound to.
    :param idempotent: whether repeating the request after it may have reached the server is safe.
    :param url: an absolute URL instead of ``path`` (Inference).
    :param api_key: an explicit key (the prediction-API key for Inference); not cached.
    :param detail: what the request is about, for messages (e.g. ``"retrain key of model_id=12"``).
    """

    endpoint: str
    method: str
    path: str = ""
    credential: c.CredentialType | None = None
    model_id: int | None = None
    params: Mapping[str, Any] | None = None
    body: Any = None
    idempotent: bool = True
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    detail: str | None = None

    @property
    def operation(self) -> str:
        """``Train Status Check (GET /models/results)``: the request in messages."""
        where = "<prediction API url>" if self.url else self.path
        detail = f", {self.detail}" if self.detail else ""
        return f"{self.endpoint} ({self.method} {where}{detail})"


def _nothing(_: Any) -> None:
    return None


def _api_key_request(credential: c.CredentialType, model_id: int | None) -> Request:
    params: dict[str, Any] = {"credential_type": credential.value}
    detail = f"{credential.value} key"
    if model_id is not None:
        params["model_id"] = model_id
        detail += f" of model_id={model_id}"
    return Request(c.ENDPOINT_GET_API_KEY, "GET", c.PATH_API_KEY, params=params, detail=detail)


def _field(data: Any, name: str, where: str) -> Any:
    if not isinstance(data, Mapping) or name not in data:
        raise ResponseFormatError(f"{where}: the response has no {name!r} field")
    return data[name]


class ClientBase:
    """What the sync and the async client share: keys, request building, answers, the endpoints.

    :param settings: how to reach the service (validated once, taken as is).
    :param key_cache: the derived API keys (shared by clients of the same settings, or its own).
    :param on_secret: called with the secret key and with every key derived from it, so the caller
        can register them with a log masker.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        key_cache: ApiKeyCache | None = None,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.keys = key_cache if key_cache is not None else ApiKeyCache(settings.key_refresh_lead)
        self._on_secret = on_secret or _nothing
        self._on_secret(settings.secret_key)
        self.key_requests = 0  # Get API Key calls made, for diagnostics and benchmarks

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def _call(self, request: Request, parse: Callable[[Any], T]) -> T:
        raise NotImplementedError

    # -- how a call is made (one place for both clients) -------------------------------------

    def _cached_key(self, request: Request) -> str | None:
        """The key to send if it is known without asking the service, else ``None``."""
        if request.api_key is not None:
            return request.api_key
        if request.credential is None:
            return self.settings.secret_key
        return self.keys.get(request.credential, request.model_id)

    def _key_request(self, request: Request) -> Request:
        """The Get API Key request for the key ``request`` needs (it is not cached)."""
        assert request.credential is not None
        if request.credential is c.CredentialType.RETRAIN and request.model_id is None:
            raise PredictionOneConfigError(
                "A retrain API key needs model_id: pass the id of the model behind the prediction API."
            )
        self.key_requests += 1
        return _api_key_request(request.credential, request.model_id)

    def _keep_key(self, request: Request, issued: ApiKey) -> str:
        assert request.credential is not None
        self._on_secret(issued.api_key)
        self.keys.put(request.credential, request.model_id, issued)
        return issued.api_key

    def _http(self, request: Request, key: str) -> HttpRequest:
        headers = {c.API_KEY_HEADER: key, "Accept": "application/json"}
        body = None
        if request.body is not None:
            body = json.dumps(request.body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = c.INFERENCE_CONTENT_TYPE if request.url else "application/json"
        return HttpRequest(request.method, request.url or self.base_url + request.path, headers, request.params, body)

    def _answer(self, request: Request, key: str, response: HttpResponse, parse: Callable[[Any], T]) -> T:
        """The result of a 2xx answer, or the specific exception for an error answer. A derived
        key that is refused, cached or just issued, is forgotten (:class:`StaleApiKeyError`: renewed
        once)."""
        if response.ok:
            try:
                data = json.loads(response.body.decode("utf-8-sig")) if response.body.strip() else None
                return parse(data)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                excerpt = response.body[:200].decode("utf-8", errors="replace")
                raise UnexpectedResponseError(
                    request.operation, response.status, message=str(exc), excerpt=excerpt, endpoint=request.endpoint
                ) from exc
        context = {"endpoint": request.endpoint, "credential": request.credential}
        error = error_from_response(
            request.operation,
            response.status,
            response.body,
            inference=request.url is not None,
            retry_after=response.headers.get("retry-after"),
            **context,
        )
        derived = request.credential is not None and request.api_key is None
        if derived and isinstance(error, InvalidCredentialsError):
            self.keys.invalidate(request.credential, request.model_id, key)  # type: ignore[arg-type]
            stale = {"code": error.code, "error": error.error, "message": error.message, **context}
            raise StaleApiKeyError(request.operation, response.status, **stale) from error
        raise error

    # -- Train (spec 4.1 – 4.9) ---------------------------------------------------------------

    def get_api_key(self, credential_type: c.CredentialType | str, model_id: int | None = None) -> ApiKey:
        """Get API Key (spec 4.1) with the secret key, every time: this key is not cached. The other
        calls fetch the key they need themselves and reuse it until shortly before its ``end_date``."""
        credential = c.CredentialType(credential_type)
        if credential is c.CredentialType.RETRAIN and model_id is None:
            raise PredictionOneConfigError("credential_type='retrain' needs model_id.")
        self.key_requests += 1

        def issued(data: Any) -> ApiKey:
            key = ApiKey.from_json(data)
            self._on_secret(key.api_key)
            return key

        return self._call(_api_key_request(credential, model_id), issued)

    def train_upload_urls(self, extension: str = c.UPLOAD_EXTENSION) -> TrainUploadUrls:
        """Train Data Upload (spec 4.2): three upload URLs and a new ``external_process_id``.
        Repeating it only issues unused URLs: safe to retry."""
        request = Request(
            "Train Data Upload",
            "GET",
            c.PATH_DATA_SET_UPLOAD_URL,
            c.CredentialType.TRAIN,
            params={"extension": extension},
        )
        return self._call(request, TrainUploadUrls.from_json)

    def data_set_info(self, external_process_id: str) -> DataSetInfo:
        """Train Data Set Info (spec 4.3): column statistics of the uploaded training data."""
        params = {"external_process_id": external_process_id}
        request = Request(
            "Train Data Set Info", "GET", c.PATH_DATA_SET_COLUMN_INFO, c.CredentialType.TRAIN, params=params
        )
        return self._call(request, DataSetInfo.from_json)

    def create_model(self, external_process_id: str, name: str, config: Mapping[str, Any]) -> str:
        """Train (spec 4.4): start training; returns the ``external_process_id`` to poll (spec 7.3:
        the returned id is authoritative; ours when the body omits it). Never repeated once it may
        have reached the service."""
        body = {"external_process_id": external_process_id, "name": name, "config": dict(config)}
        request = Request("Train", "POST", c.PATH_MODELS, c.CredentialType.TRAIN, body=body, idempotent=False)

        def parse(data: Any) -> str:
            value = data.get("external_process_id") if isinstance(data, Mapping) else None
            return str(value) if value else external_process_id

        return self._call(request, parse)

    def train_status(self, external_process_id: str) -> TrainStatus:
        """Train Status Check (spec 4.5)."""
        params = {"external_process_id": external_process_id}
        request = Request("Train Status Check", "GET", c.PATH_MODEL_RESULTS, c.CredentialType.TRAIN, params=params)
        return self._call(request, lambda data: TrainStatus.from_json(data, external_process_id))

    def list_models(self, offset: int = 0, limit: int = c.DEFAULT_PAGE_LIMIT) -> ModelPage:
        """Get Model (spec 4.6): one page."""
        params = {"offset": offset, "limit": limit}
        return self._call(
            Request("Get Model", "GET", c.PATH_MODELS, c.CredentialType.TRAIN, params=params), ModelPage.from_json
        )

    def delete_model(self, model_id: int) -> None:
        """Delete Model (spec 4.7). The model also disappears from the web app."""
        path = c.PATH_MODEL.format(model_id=model_id)
        return self._call(Request("Delete Model", "DELETE", path, c.CredentialType.TRAIN), _nothing)

    def list_data_sets(self, offset: int = 0, limit: int = c.DEFAULT_PAGE_LIMIT) -> DataSetPage:
        """Get Data Set (spec 4.8): one page."""
        params = {"offset": offset, "limit": limit}
        request = Request("Get Data Set", "GET", c.PATH_DATA_SETS, c.CredentialType.TRAIN, params=params)
        return self._call(request, DataSetPage.from_json)

    def delete_data_set(self, data_set_id: int) -> None:
        """Delete Data Set (spec 4.9). The data set also disappears from the web app."""
        path = c.PATH_DATA_SET.format(data_set_id=data_set_id)
        return self._call(Request("Delete Data Set", "DELETE", path, c.CredentialType.TRAIN), _nothing)

    # -- Predict (spec 4.10 – 4.14) -----------------------------------------------------------

    def create_classifier(self, model_id: int, rules: Iterable[IpRule]) -> CreatedClassifier:
        """Create Classifier (spec 4.10): deploy ``model_id`` as a prediction API. Never repeated
        once it may have reached the service."""
        body = {"model_id": model_id, "rules": [rule.to_json() for rule in rules]}
        request = Request(
            "Create Classifier",
            "POST",
            c.PATH_CLASSIFIERS,
            c.CredentialType.DEPLOY,
            body=body,
            idempotent=False,
            detail=f"model_id={model_id}",
        )

        def parse(data: Any) -> CreatedClassifier:
            created = CreatedClassifier.from_json(data)
            self._on_secret(created.api_key)
            return created

        return self._call(request, parse)

    def _classifiers(self, data: Any) -> list[Classifier]:
        found = [Classifier.from_json(item) for item in _field(data, "classifiers", "Get Classifier")]
        for item in found:
            if item.api_key:
                self._on_secret(item.api_key)
        return found

    def list_classifiers(self) -> list[Classifier]:
        """Get Classifier (spec 4.11): every prediction API of the account."""
        return self._call(
            Request("Get Classifier", "GET", c.PATH_CLASSIFIERS, c.CredentialType.DEPLOY), self._classifiers
        )

    def get_classifier(self, classifier_id: str) -> Classifier | None:
        """One prediction API, found in the list (spec 7.7); ``None`` if there is none."""
        request = Request("Get Classifier", "GET", c.PATH_CLASSIFIERS, c.CredentialType.DEPLOY)
        return self._call(
            request, lambda data: next((i for i in self._classifiers(data) if i.classifier_id == classifier_id), None)
        )

    def update_classifier(
        self,
        classifier_id: str,
        *,
        rules: Iterable[IpRule] | None,
        active: bool | None,
        is_editable: bool | None,
    ) -> Classifier:
        """Update Classifier (spec 4.12): sends the fields given (``None`` ones are left out). The
        manual's example sends all three, the lock flag as read (spec 7.8): the hook's
        ``update_prediction_api`` does so."""
        body: dict[str, Any] = {}
        if rules is not None:
            body["rules"] = [rule.to_json() for rule in rules]
        if active is not None:
            body["active"] = active
        if is_editable is not None:
            body["is_editable"] = is_editable
        path = c.PATH_CLASSIFIER.format(classifier_id=classifier_id)
        request = Request("Update Classifier", "PATCH", path, c.CredentialType.DEPLOY, body=body)

        def parse(data: Any) -> Classifier:
            item = data.get("classifier") if isinstance(data, Mapping) else None
            updated = Classifier.from_json(item if item is not None else data)
            if updated.api_key:
                self._on_secret(updated.api_key)
            return updated

        return self._call(request, parse)

    def delete_classifier(self, classifier_id: str) -> None:
        """Delete Classifier (spec 4.13)."""
        path = c.PATH_CLASSIFIER.format(classifier_id=classifier_id)
        return self._call(Request("Delete Classifier", "DELETE", path, c.CredentialType.DEPLOY), _nothing)

    def inference(
        self,
        url: str,
        api_key: str,
        csv_text: str,
        *,
        reasons: bool = False,
        include_input: bool = False,
        no_class: bool = False,
        no_row_number: bool | None = None,
        pivot_column: str | None = None,
    ) -> InferenceResult:
        """Inference (spec 4.14): ``csv_text`` holds the header and exactly one data row.

        ``ar``, ``ad`` and ``nc`` are always sent (spec 7.18); ``nr`` and ``pc`` only when given.
        Scoring a row changes nothing remotely, so repeating it is safe.
        """
        self._on_secret(api_key)
        encoded = base64.b64encode(csv_text.encode("utf-8")).decode("ascii")
        inputs: list[dict[str, Any]] = [
            {"name": c.INFERENCE_INPUT_CSV, "type": "csv", "data": encoded},
            {"name": c.INFERENCE_FLAG_REASONS, "type": "boolean", "data": reasons},
            {"name": c.INFERENCE_FLAG_INPUT_DATA, "type": "boolean", "data": include_input},
            {"name": c.INFERENCE_FLAG_NO_CLASS, "type": "boolean", "data": no_class},
        ]
        if no_row_number is not None:
            inputs.append({"name": c.INFERENCE_FLAG_NO_ROW_NUMBER, "type": "boolean", "data": no_row_number})
        if pivot_column:
            inputs.append({"name": c.INFERENCE_PIVOT_COLUMN, "type": "string", "data": pivot_column})

        def parse(data: Any) -> InferenceResult:
            outputs = {
                str(item.get("name")): base64.b64decode(item.get("data") or "").decode("utf-8-sig")
                for item in _field(data, "outputs", "Inference")
                if isinstance(item, Mapping)
            }
            version = data.get("version")
            return InferenceResult(version=None if version is None else str(version), outputs=outputs)

        return self._call(Request("Inference", "POST", body={"inputs": inputs}, url=url, api_key=api_key), parse)

    # -- Retrain (spec 4.15 – 4.17) -----------------------------------------------------------

    def retrain_upload_url(self, model_id: int, filename: str) -> RetrainUpload:
        """Retrain Data Upload (spec 4.15): a job id and the URL to PUT the new data to. Retraining
        starts only when the file is PUT; an unused job id is harmless, so it is safe to retry."""
        request = Request(
            "Retrain Data Upload",
            "GET",
            c.PATH_RETRAIN_UPLOAD_URL,
            c.CredentialType.RETRAIN,
            model_id,
            params={"filename": filename},
        )
        return self._call(request, RetrainUpload.from_json)

    def retrain_status(self, model_id: int, retrain_job_id: str) -> RetrainStatus:
        """Retrain Status Check (spec 4.16)."""
        path = c.PATH_RETRAIN_JOB.format(retrain_job_id=retrain_job_id)
        request = Request("Retrain Status Check", "GET", path, c.CredentialType.RETRAIN, model_id)
        return self._call(request, lambda data: RetrainStatus.from_json(data, retrain_job_id))

    def switch_model(self, model_id: int, retrain_job_id: str) -> str:
        """Retrain Model Switch (spec 4.17): point the prediction API at the retrained model."""
        path = c.PATH_RETRAIN_UPDATE_MODEL.format(retrain_job_id=retrain_job_id)

        def parse(data: Any) -> str:
            metadata = data.get("metadata") if isinstance(data, Mapping) else None
            return str((metadata or {}).get("retrain_job_id") or retrain_job_id)

        return self._call(Request("Retrain Model Switch", "PUT", path, c.CredentialType.RETRAIN, model_id), parse)
