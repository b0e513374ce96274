"""One description per endpoint of the spec: what to send and how to read the answer.

A :class:`Call` is plain data. The sync client and the async client both execute the same calls
through the same retry / key-refresh plan (see :mod:`airflow_provider_predictionone.api.client`),
so each endpoint is described exactly once.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.models import (
    ApiKey,
    Classifier,
    CreatedClassifier,
    DataSetInfo,
    DataSetPage,
    InferenceResult,
    IpRule,
    ModelPage,
    ResponseFormatError,
    RetrainStatus,
    RetrainUpload,
    TrainStatus,
    TrainUploadUrls,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request to one endpoint.

    :param name: the manual's name of the endpoint (used in messages).
    :param method: HTTP method.
    :param path: path below ``/v1/external``, or an absolute URL when ``absolute`` is true.
    :param parse: turns the decoded JSON body (``None`` when empty) into the typed result.
    :param credential: which API key to send; ``None`` sends the secret key (Get API Key only).
    :param model_id: the model a retrain key is bound to.
    :param api_key: an explicit key (the prediction-API key for Inference); not cached.
    :param idempotent: whether repeating the request after it may have reached the server is safe.
    :param detail: what the request is about, for messages (e.g. ``"retrain key of model_id=12"``).
    """

    name: str
    method: str
    path: str
    parse: Callable[[Any], T]
    credential: c.CredentialType | None = None
    model_id: int | None = None
    params: Mapping[str, Any] | None = None
    body: Any = None
    idempotent: bool = True
    absolute: bool = False
    inference: bool = False
    api_key: str | None = field(default=None, repr=False)
    detail: str | None = None

    @property
    def operation(self) -> str:
        where = "<prediction API url>" if self.absolute else self.path
        detail = f", {self.detail}" if self.detail else ""
        return f"{self.name} ({self.method} {where}{detail})"


def _ignore(_: Any) -> None:
    return None


def get_api_key(credential_type: c.CredentialType, model_id: int | None = None) -> Call[ApiKey]:
    params: dict[str, Any] = {"credential_type": credential_type.value}
    detail = f"{credential_type.value} key"
    if model_id is not None:
        params["model_id"] = model_id
        detail += f" of model_id={model_id}"
    return Call("Get API Key", "GET", c.PATH_API_KEY, ApiKey.from_json, params=params, detail=detail)


def train_upload_urls(extension: str = c.UPLOAD_EXTENSION) -> Call[TrainUploadUrls]:
    # Repeating this GET only issues unused upload URLs: safe to retry.
    return Call(
        "Train Data Upload",
        "GET",
        c.PATH_DATA_SET_UPLOAD_URL,
        TrainUploadUrls.from_json,
        credential=c.CredentialType.TRAIN,
        params={"extension": extension},
    )


def data_set_info(external_process_id: str) -> Call[DataSetInfo]:
    return Call(
        "Train Data Set Info",
        "GET",
        c.PATH_DATA_SET_COLUMN_INFO,
        DataSetInfo.from_json,
        credential=c.CredentialType.TRAIN,
        params={"external_process_id": external_process_id},
    )


def create_model(external_process_id: str, name: str, config: Mapping[str, Any]) -> Call[str]:
    def parse(data: Any) -> str:
        value = data.get("external_process_id") if isinstance(data, Mapping) else None
        # Spec 7.3: the returned id is authoritative; fall back to ours if the body omits it.
        return str(value) if value else external_process_id

    return Call(
        "Train",
        "POST",
        c.PATH_MODELS,
        parse,
        credential=c.CredentialType.TRAIN,
        body={"external_process_id": external_process_id, "name": name, "config": dict(config)},
        idempotent=False,
    )


def train_status(external_process_id: str) -> Call[TrainStatus]:
    return Call(
        "Train Status Check",
        "GET",
        c.PATH_MODEL_RESULTS,
        lambda data: TrainStatus.from_json(data, external_process_id),
        credential=c.CredentialType.TRAIN,
        params={"external_process_id": external_process_id},
    )


def list_models(offset: int = 0, limit: int = c.DEFAULT_PAGE_LIMIT) -> Call[ModelPage]:
    return Call(
        "Get Model",
        "GET",
        c.PATH_MODELS,
        ModelPage.from_json,
        credential=c.CredentialType.TRAIN,
        params={"offset": offset, "limit": limit},
    )


def delete_model(model_id: int) -> Call[None]:
    return Call(
        "Delete Model",
        "DELETE",
        c.PATH_MODEL.format(model_id=model_id),
        _ignore,
        credential=c.CredentialType.TRAIN,
    )


def list_data_sets(offset: int = 0, limit: int = c.DEFAULT_PAGE_LIMIT) -> Call[DataSetPage]:
    return Call(
        "Get Data Set",
        "GET",
        c.PATH_DATA_SETS,
        DataSetPage.from_json,
        credential=c.CredentialType.TRAIN,
        params={"offset": offset, "limit": limit},
    )


def delete_data_set(data_set_id: int) -> Call[None]:
    return Call(
        "Delete Data Set",
        "DELETE",
        c.PATH_DATA_SET.format(data_set_id=data_set_id),
        _ignore,
        credential=c.CredentialType.TRAIN,
    )


def create_classifier(model_id: int, rules: Iterable[IpRule]) -> Call[CreatedClassifier]:
    return Call(
        "Create Classifier",
        "POST",
        c.PATH_CLASSIFIERS,
        CreatedClassifier.from_json,
        credential=c.CredentialType.DEPLOY,
        body={"model_id": model_id, "rules": [r.to_json() for r in rules]},
        idempotent=False,
        detail=f"model_id={model_id}",
    )


def list_classifiers() -> Call[list[Classifier]]:
    def parse(data: Any) -> list[Classifier]:
        items = data.get("classifiers") if isinstance(data, Mapping) else None
        if items is None:
            raise ResponseFormatError("Get Classifier: the response has no 'classifiers' field")
        return [Classifier.from_json(item) for item in items]

    return Call("Get Classifier", "GET", c.PATH_CLASSIFIERS, parse, credential=c.CredentialType.DEPLOY)


def update_classifier(
    classifier_id: str,
    *,
    rules: Iterable[IpRule] | None = None,
    active: bool | None = None,
    is_editable: bool | None = None,
    current: Classifier | None = None,
) -> Call[Classifier]:
    """Update Classifier (spec 4.12).

    The manual's example always sends ``rules``, ``active`` and ``is_editable``, and spec 7.8 asks
    to send ``is_editable`` back as read: with ``current`` (the prediction API as just read), every
    field not given is sent back with its current value, so the update changes only what was asked.
    """
    if current is not None:
        if rules is None and current.rules:
            rules = current.rules
        if active is None and current.active is not None:
            active = current.active
        if is_editable is None and current.is_editable is not None:
            is_editable = current.is_editable
    body: dict[str, Any] = {}
    if rules is not None:
        body["rules"] = [r.to_json() for r in rules]
    if active is not None:
        body["active"] = active
    if is_editable is not None:
        body["is_editable"] = is_editable

    def parse(data: Any) -> Classifier:
        item = data.get("classifier") if isinstance(data, Mapping) else None
        return Classifier.from_json(item if item is not None else data)

    return Call(
        "Update Classifier",
        "PATCH",
        c.PATH_CLASSIFIER.format(classifier_id=classifier_id),
        parse,
        credential=c.CredentialType.DEPLOY,
        body=body,
    )


def delete_classifier(classifier_id: str) -> Call[None]:
    return Call(
        "Delete Classifier",
        "DELETE",
        c.PATH_CLASSIFIER.format(classifier_id=classifier_id),
        _ignore,
        credential=c.CredentialType.DEPLOY,
    )


def inference(
    url: str,
    api_key: str,
    csv_text: str,
    *,
    reasons: bool = False,
    include_input: bool = False,
    no_class: bool = False,
    no_row_number: bool | None = None,
    pivot_column: str | None = None,
) -> Call[InferenceResult]:
    """One Inference request: ``csv_text`` holds the header and exactly one data row (spec 4.14).

    ``ar``, ``ad`` and ``nc`` are always sent (spec 7.18); ``nr`` and ``pc`` only when given.
    """
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
        if not isinstance(data, Mapping) or "outputs" not in data:
            raise ResponseFormatError("Inference: the response has no 'outputs' field")
        outputs = {
            str(item.get("name")): base64.b64decode(item.get("data") or "").decode("utf-8-sig")
            for item in data["outputs"]
            if isinstance(item, Mapping)
        }
        version = data.get("version")
        return InferenceResult(version=None if version is None else str(version), outputs=outputs)

    # Scoring a row does not change anything remotely, so repeating it is safe.
    return Call(
        "Inference", "POST", url, parse, body={"inputs": inputs}, absolute=True, inference=True, api_key=api_key
    )


def retrain_upload_url(model_id: int, filename: str) -> Call[RetrainUpload]:
    # Retraining starts only when the file is PUT; an unused job id is harmless, so retry is safe.
    return Call(
        "Retrain Data Upload",
        "GET",
        c.PATH_RETRAIN_UPLOAD_URL,
        RetrainUpload.from_json,
        credential=c.CredentialType.RETRAIN,
        model_id=model_id,
        params={"filename": filename},
    )


def retrain_status(model_id: int, retrain_job_id: str) -> Call[RetrainStatus]:
    return Call(
        "Retrain Status Check",
        "GET",
        c.PATH_RETRAIN_JOB.format(retrain_job_id=retrain_job_id),
        lambda data: RetrainStatus.from_json(data, retrain_job_id),
        credential=c.CredentialType.RETRAIN,
        model_id=model_id,
    )


def switch_model(model_id: int, retrain_job_id: str) -> Call[str]:
    def parse(data: Any) -> str:
        metadata = data.get("metadata") if isinstance(data, Mapping) else None
        return str((metadata or {}).get("retrain_job_id") or retrain_job_id)

    return Call(
        "Retrain Model Switch",
        "PUT",
        c.PATH_RETRAIN_UPDATE_MODEL.format(retrain_job_id=retrain_job_id),
        parse,
        credential=c.CredentialType.RETRAIN,
        model_id=model_id,
    )
