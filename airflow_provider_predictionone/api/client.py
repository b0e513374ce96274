"""Clients of the Prediction One REST API: one request path shared by sync and async code.

How a call is made — which key to send, fetching and caching API keys, retrying, refreshing a key
the service no longer accepts, turning error answers into exceptions — is written once, as a
*plan*: a generator that yields "send this request" or "sleep this long" and receives the outcome.
:class:`PredictionOneClient` runs plans with ``requests``; :class:`AsyncPredictionOneClient` runs
the same plans with ``httpx`` on an event loop without blocking it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar, Union
from urllib.parse import urlsplit

import requests

from airflow_provider_predictionone.api import calls, files
from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.calls import Call
from airflow_provider_predictionone.api.errors import (
    InvalidCredentialsError,
    PredictionOneConfigError,
    PredictionOneTransportError,
    UnexpectedResponseError,
    error_from_response,
)
from airflow_provider_predictionone.api.models import (
    ApiKey,
    Classifier,
    CreatedClassifier,
    DataSet,
    DataSetInfo,
    DataSetPage,
    InferenceResult,
    IpRule,
    Model,
    ModelPage,
    RetrainStatus,
    RetrainUpload,
    TrainingResult,
    TrainStatus,
    TrainUploadUrls,
)
from airflow_provider_predictionone.api.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_KEY_REFRESH_LEAD = timedelta(minutes=5)
UNKNOWN_EXPIRY_LIFETIME = timedelta(minutes=10)
"""How long a key whose ``end_date`` cannot be parsed is reused before asking again (spec 7.11)."""

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(hostname: str | None) -> bool:
    """Whether ``hostname`` names this machine (the only place plain HTTP is allowed)."""
    if not hostname:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None) -> str:
    """The management base URL (``<scheme>://<host>[:port]/v1/external``) for a connection host.

    Empty means the public service. ``http://`` is refused unless the host is loopback (the local
    emulator): the secret key must never cross a network in clear text.
    """
    text = (host or "").strip() or c.DEFAULT_HOST
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PredictionOneConfigError(
            f"Connection host {host!r} is not a valid URL. Use e.g. {c.DEFAULT_HOST!r} or leave it empty."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise PredictionOneConfigError(
            f"Connection host {host!r} uses plain http:// to a remote host, which would send the secret "
            "key unencrypted. Use https://, or http:// only for the local emulator on 127.0.0.1/localhost."
        )
    path = parts.path.rstrip("/")
    if path.endswith(c.BASE_PATH):
        path = path[: -len(c.BASE_PATH)]
    return f"{parts.scheme}://{parts.netloc}{path}{c.BASE_PATH}"


# --------------------------------------------------------------------------------------------
# API keys
# --------------------------------------------------------------------------------------------


@dataclass
class _CachedKey:
    key: str = field(repr=False)
    refresh_after: datetime


class ApiKeyCache:
    """Derived API keys per (credential type, model id), reused until ``end_date`` minus a lead.

    :param lead: refresh this long before the key's ``end_date``.
    :param clock: returns "now" (tests pass a fake clock).
    """

    def __init__(
        self,
        lead: timedelta = DEFAULT_KEY_REFRESH_LEAD,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._lead = lead
        self._clock = clock
        self._keys: dict[tuple[str, int | None], _CachedKey] = {}
        self._lock = threading.Lock()

    def get(self, credential: c.CredentialType, model_id: int | None) -> str | None:
        with self._lock:
            entry = self._keys.get((credential.value, model_id))
            if entry is None or self._clock() >= entry.refresh_after:
                return None
            return entry.key

    def put(self, credential: c.CredentialType, model_id: int | None, api_key: ApiKey) -> None:
        now = self._clock()
        if api_key.expires_at is not None:
            refresh_after = api_key.expires_at - self._lead
            # A key shorter-lived than the lead is still used once rather than never.
            refresh_after = max(refresh_after, now + (api_key.expires_at - now) / 2)
        else:
            refresh_after = now + UNKNOWN_EXPIRY_LIFETIME
        with self._lock:
            self._keys[(credential.value, model_id)] = _CachedKey(api_key.api_key, refresh_after)

    def invalidate(self, credential: c.CredentialType, model_id: int | None, key: str) -> None:
        """Forget ``key`` (if it is still the cached one): the service stopped accepting it."""
        with self._lock:
            entry = self._keys.get((credential.value, model_id))
            if entry is not None and entry.key == key:
                del self._keys[(credential.value, model_id)]


# --------------------------------------------------------------------------------------------
# The plan: one request path for sync and async
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    params: Mapping[str, Any] | None
    body: bytes | None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class TransportFailure:
    """No HTTP answer. ``sent`` is false when the request certainly never reached the server."""

    sent: bool
    detail: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


Outcome = Union[HttpResponse, TransportFailure, None]  # noqa: UP007 (runtime alias on 3.10)
Plan = Generator[HttpRequest | Sleep, Outcome, T]


class _ClientCore:
    """State and logic shared by both clients: keys, retry policy, the call plan."""

    def __init__(
        self,
        secret_key: str,
        *,
        host: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        key_refresh_lead: timedelta = DEFAULT_KEY_REFRESH_LEAD,
        on_secret: Callable[[str], None] | None = None,
        key_cache: ApiKeyCache | None = None,
    ) -> None:
        if not secret_key or not str(secret_key).strip():
            raise PredictionOneConfigError(
                "The Prediction One secret key is empty. Put the secret key from the Prediction One "
                "Settings screen into the connection's Secret key (password) field."
            )
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not value or value <= 0:
                raise PredictionOneConfigError(f"{name} must be a positive number of seconds, got {value!r}.")
        self._secret_key = str(secret_key).strip()
        self.base_url = normalize_base_url(host)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.retry = retry or RetryPolicy()
        self.verify = verify
        self.keys = key_cache or ApiKeyCache(key_refresh_lead)
        self._on_secret = on_secret or (lambda _secret: None)
        self._on_secret(self._secret_key)
        self.key_requests = 0  # Get API Key calls made, for diagnostics and benchmarks

    # -- plans --------------------------------------------------------------------------------

    def plan(self, call: Call[T]) -> Plan[T]:
        """Send ``call`` with the right key; re-issue a derived key once if it is not accepted."""
        refreshed = False
        while True:
            key = yield from self._key_plan(call)
            try:
                return (yield from self._send_plan(call, key))
            except InvalidCredentialsError:
                if call.credential is None or call.api_key is not None or refreshed:
                    raise
                log.info("Prediction One no longer accepts the %s API key; fetching a new one.", call.credential.value)
                self.keys.invalidate(call.credential, call.model_id, key)
                refreshed = True

    def _key_plan(self, call: Call[Any]) -> Plan[str]:
        if call.api_key is not None:
            return call.api_key
        if call.credential is None:
            return self._secret_key
        if call.credential is c.CredentialType.RETRAIN and call.model_id is None:
            raise PredictionOneConfigError(
                "A retrain API key needs model_id: pass the id of the model behind the prediction API."
            )
        cached = self.keys.get(call.credential, call.model_id)
        if cached is not None:
            return cached
        self.key_requests += 1
        issued = yield from self._send_plan(calls.get_api_key(call.credential, call.model_id), self._secret_key)
        self._on_secret(issued.api_key)
        self.keys.put(call.credential, call.model_id, issued)
        return issued.api_key

    def _send_plan(self, call: Call[T], key: str) -> Plan[T]:
        request = self._build(call, key)
        retry_number = 0
        while True:
            outcome = yield request
            if isinstance(outcome, HttpResponse) and 200 <= outcome.status < 300:
                return self._parse(call, outcome)
            if isinstance(outcome, HttpResponse):
                error = error_from_response(call.operation, outcome.status, outcome.body, inference=call.inference)
                retryable = self.retry.should_retry_status(error, idempotent=call.idempotent)
                if not retryable or retry_number >= self.retry.max_retries:
                    raise error
                delay = self.retry.delay(retry_number + 1, outcome.headers.get("retry-after"))
                reason = f"HTTP {outcome.status}"
            else:
                assert isinstance(outcome, TransportFailure)
                retryable = call.idempotent or not outcome.sent
                if not retryable or retry_number >= self.retry.max_retries:
                    raise PredictionOneTransportError(
                        f"Prediction One {call.operation} failed: {outcome.detail}. "
                        + (
                            f"Gave up after {retry_number + 1} attempts; check the connection host and "
                            "network, or raise the timeout / retries in the connection extras."
                            if retryable
                            else "The request may have reached the service, so it was not repeated "
                            "(it creates something); check the Prediction One web app before retrying."
                        )
                    )
                delay = self.retry.delay(retry_number + 1)
                reason = outcome.detail
            retry_number += 1
            log.warning(
                "Prediction One %s: %s; retry %d/%d in %.1fs.",
                call.operation,
                reason,
                retry_number,
                self.retry.max_retries,
                delay,
            )
            yield Sleep(delay)

    def _build(self, call: Call[Any], key: str) -> HttpRequest:
        url = call.path if call.absolute else self.base_url + call.path
        headers = {c.API_KEY_HEADER: key, "Accept": "application/json"}
        body = None
        if call.body is not None:
            body = json.dumps(call.body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = c.INFERENCE_CONTENT_TYPE if call.inference else "application/json"
        return HttpRequest(call.method, url, headers, call.params, body)

    @staticmethod
    def _parse(call: Call[T], response: HttpResponse) -> T:
        try:
            data = json.loads(response.body.decode("utf-8-sig")) if response.body.strip() else None
            return call.parse(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            excerpt = response.body[:200].decode("utf-8", errors="replace")
            raise UnexpectedResponseError(call.operation, response.status, message=str(exc), excerpt=excerpt) from exc


_NOT_SENT_ERRORS = frozenset({"NewConnectionError", "NameResolutionError", "ConnectTimeoutError", "ConnectTimeout"})


def _sent_before_failure(exc: BaseException) -> bool:
    """Whether a ``requests`` failure may have happened after the request reached the server.

    Only a failure to connect proves it did not; everything else (a read timeout, a connection
    dropped mid-answer) may have come after the server acted.
    """
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if any(cls.__name__ in _NOT_SENT_ERRORS for cls in type(node).__mro__):
            return False
        linked = (getattr(node, "reason", None), node.__cause__, node.__context__, *node.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return True


class PredictionOneClient(_ClientCore):
    """Synchronous client for every endpoint of the Prediction One API.

    :param secret_key: the account's secret key (used only for Get API Key).
    :param host: base URL of the service; empty means the public Prediction One service.
    :param connect_timeout: seconds to wait for a connection.
    :param read_timeout: seconds to wait for an answer.
    :param retry: the :class:`RetryPolicy`.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param key_refresh_lead: re-issue an API key this long before its ``end_date``.
    :param on_secret: called with the secret key and with every API key derived from it, so the
        caller can register them with a log masker.
    :param session: a ``requests.Session`` to use (one is created otherwise).
    """

    def __init__(self, secret_key: str, *, session: requests.Session | None = None, **kwargs: Any) -> None:
        super().__init__(secret_key, **kwargs)
        self.session = session or requests.Session()

    def __enter__(self) -> PredictionOneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def call(self, call: Call[T]) -> T:
        """Run one :class:`Call` to completion (keys, retries, error mapping included)."""
        plan = self.plan(call)
        outcome: Outcome = None
        try:
            while True:
                action = plan.send(outcome)
                if isinstance(action, Sleep):
                    time.sleep(action.seconds)
                    outcome = None
                else:
                    outcome = self._send(action)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _send(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        try:
            response = self.session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                params=request.params,
                data=request.body,
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.exceptions.RequestException as exc:
            return TransportFailure(sent=_sent_before_failure(exc), detail=_describe(exc))
        return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    # -- Train (spec 4.1 – 4.9) ---------------------------------------------------------------

    def get_api_key(self, credential_type: c.CredentialType | str, model_id: int | None = None) -> ApiKey:
        """Get API Key (spec 4.1) with the secret key, every time: this key is not cached. The other
        calls fetch the key they need themselves and reuse it until shortly before its ``end_date``
        (see :class:`ApiKeyCache`)."""
        credential = c.CredentialType(credential_type)
        if credential is c.CredentialType.RETRAIN and model_id is None:
            raise PredictionOneConfigError("credential_type='retrain' needs model_id.")
        self.key_requests += 1
        issued = self.call(calls.get_api_key(credential, model_id))
        self._on_secret(issued.api_key)
        return issued

    def train_upload_urls(self, extension: str = c.UPLOAD_EXTENSION) -> TrainUploadUrls:
        """Train Data Upload (spec 4.2): three upload URLs and a new ``external_process_id``."""
        return self.call(calls.train_upload_urls(extension))

    def data_set_info(self, external_process_id: str) -> DataSetInfo:
        """Train Data Set Info (spec 4.3): column statistics of the uploaded training data."""
        return self.call(calls.data_set_info(external_process_id))

    def create_model(self, external_process_id: str, name: str, config: Mapping[str, Any]) -> str:
        """Train (spec 4.4): start training; returns the ``external_process_id`` to poll (7.3)."""
        return self.call(calls.create_model(external_process_id, name, config))

    def train_status(self, external_process_id: str) -> TrainStatus:
        """Train Status Check (spec 4.5)."""
        return self.call(calls.train_status(external_process_id))

    def list_models(self, offset: int = 0, limit: int = c.DEFAULT_PAGE_LIMIT) -> ModelPage:
        """Get Model (spec 4.6): one page."""
        return self.call(calls.list_models(offset, limit))

    def iter_models(self, page_size: int = 100) -> Iterator[Model]:
        """Every model, paging through ``metadata.total``."""
        return _paginate(lambda offset: self.list_models(offset, page_size), lambda page: page.models)

    def find_model_by_name(self, name: str) -> Model | None:
        """The model called ``name``, newest ``created_date`` first if several match (spec 7.4)."""
        matches = [m for m in self.iter_models() if m.name == name]
        if not matches:
            return None
        return max(matches, key=lambda m: (m.created_date or "", m.model_id))

    def delete_model(self, model_id: int) -> None:
        """Delete Model (spec 4.7). The model also disappears from the web app."""
        self.call(calls.delete_model(model_id))

    def list_data_sets(self, offset: int = 0, limit: int = c.DEFAULT_PAGE_LIMIT) -> DataSetPage:
        """Get Data Set (spec 4.8): one page."""
        return self.call(calls.list_data_sets(offset, limit))

    def iter_data_sets(self, page_size: int = 100) -> Iterator[DataSet]:
        """Every data set, paging through ``metadata.total``."""
        return _paginate(lambda offset: self.list_data_sets(offset, page_size), lambda page: page.data_sets)

    def delete_data_set(self, data_set_id: int) -> None:
        """Delete Data Set (spec 4.9). The data set also disappears from the web app."""
        self.call(calls.delete_data_set(data_set_id))

    # -- Files -------------------------------------------------------------------------------

    def upload(self, url: str, source: files.UploadSource, *, label: str, **options: Any) -> None:
        """PUT ``source`` to a pre-issued upload URL: streamed, retried from the start on failure."""
        files.upload(
            self.session,
            url,
            source,
            label=label,
            timeout=self.timeout,
            verify=self.verify,
            retry=self.retry,
            **options,
        )

    def download(self, url: str, *, label: str, destination: str | os.PathLike[str] | None = None) -> bytes | Path:
        """GET a result URL: the bytes, or streamed to ``destination`` (returns the path)."""
        return files.download(
            self.session,
            url,
            label=label,
            timeout=self.timeout,
            verify=self.verify,
            destination=destination,
            retry=self.retry,
        )

    def upload_training_data(
        self,
        training_file: files.PathOrFile,
        column_info: Mapping[str, Any] | files.PathOrFile,
        evaluation_file: files.PathOrFile | None = None,
        **options: Any,
    ) -> TrainUploadUrls:
        """The upload half of the train flow (spec 1.1 steps 2–3), checked before any request.

        The training file's header is read and the column info must type every column of it;
        the evaluation file must have the same columns. Only then are upload URLs requested and
        the files streamed. Returns the upload response (its ``external_process_id`` is what
        training needs).
        """
        training = files.UploadSource.of(training_file, param="training_file")
        header = files.read_csv_header(training, param="training_file")
        info, _columns = files.column_info_source(column_info, header)
        evaluation = None
        if evaluation_file is not None:
            evaluation = files.UploadSource.of(evaluation_file, param="evaluation_file")
            eval_header = files.read_csv_header(evaluation, param="evaluation_file")
            if eval_header != header:
                raise PredictionOneConfigError(
                    "evaluation_file must have the same columns as training_file, in the same order; "
                    f"training has {header}, evaluation has {eval_header}."
                )
        urls = self.train_upload_urls()
        log.info("Uploading training data for external_process_id %s.", urls.external_process_id)
        self.upload(urls.learn_data_set_upload_url, training, label="training file", **options)
        self.upload(urls.column_info_upload_url, info, label="column-info file", **options)
        if evaluation is not None:
            self.upload(urls.eval_data_set_upload_url, evaluation, label="evaluation file", **options)
        return urls

    def download_result(self, url: str, destination: str | os.PathLike[str] | None = None) -> TrainingResult:
        """Download a training / retraining result archive and read its metrics (spec 7.20).

        With ``destination`` the archive is also kept there.
        """
        if destination is None:
            payload = self.download(url, label="result archive")
            assert isinstance(payload, bytes)
            return TrainingResult.from_zip_bytes(payload)
        path = self.download(url, label="result archive", destination=destination)
        assert isinstance(path, Path)
        return TrainingResult.from_zip_bytes(path.read_bytes())

    def upload_retrain_data(
        self,
        model_id: int,
        training_file: files.PathOrFile,
        evaluation_file: files.PathOrFile | None = None,
        *,
        on_job_id: Callable[[str], None] | None = None,
        **options: Any,
    ) -> RetrainUpload:
        """Retrain flow steps 2–3 (spec 1.3): a CSV, or a zip of training + evaluation files.

        Files are checked first; retraining starts on the service when the upload completes.
        ``on_job_id`` is called with the new ``retrain_job_id`` before the upload starts (so a
        caller can record it durably).
        """
        notify = on_job_id or (lambda _job_id: None)
        training = files.UploadSource.of(training_file, param="training_file")
        header = files.read_csv_header(training, param="training_file")
        if evaluation_file is None:
            upload = self.retrain_upload_url(model_id, training.name)
            notify(upload.retrain_job_id)
            self.upload(upload.upload_url, training, label="retraining file", **options)
            return upload
        evaluation = files.UploadSource.of(evaluation_file, param="evaluation_file")
        if files.read_csv_header(evaluation, param="evaluation_file") != header:
            raise PredictionOneConfigError("evaluation_file must have the same columns as training_file.")
        with tempfile.TemporaryDirectory(prefix="predictionone-") as folder:
            archive = files.build_retrain_zip(training, evaluation, Path(folder) / f"{Path(training.name).stem}.zip")
            upload = self.retrain_upload_url(model_id, archive.name)
            notify(upload.retrain_job_id)
            self.upload(upload.upload_url, archive, label="retraining archive", **options)
        return upload

    # -- Predict (spec 4.10 – 4.14) -----------------------------------------------------------

    def create_classifier(self, model_id: int, rules: tuple[IpRule, ...] | list[IpRule]) -> CreatedClassifier:
        """Create Classifier (spec 4.10): deploy ``model_id`` as a prediction API."""
        created = self.call(calls.create_classifier(model_id, rules))
        self._on_secret(created.api_key)
        return created

    def list_classifiers(self) -> list[Classifier]:
        """Get Classifier (spec 4.11): every prediction API of the account."""
        found = self.call(calls.list_classifiers())
        for item in found:
            if item.api_key:
                self._on_secret(item.api_key)
        return found

    def get_classifier(self, classifier_id: str) -> Classifier | None:
        """One prediction API, found in the list (spec 7.7); ``None`` if there is none."""
        return next((item for item in self.list_classifiers() if item.classifier_id == classifier_id), None)

    def update_classifier(
        self,
        classifier_id: str,
        *,
        rules: list[IpRule] | None = None,
        active: bool | None = None,
        is_editable: bool | None = None,
        current: Classifier | None = None,
    ) -> Classifier:
        """Update Classifier (spec 4.12): change the fields given, send the others back unchanged.

        Like the manual's example, the request always carries ``rules``, ``active`` and
        ``is_editable`` (spec 7.8: the lock flag is sent back as read). Fields left ``None`` take
        their values from ``current``, the prediction API as just read; without it, and with a
        field left ``None``, it is read first (one Get Classifier).

        :param classifier_id: the prediction API to update.
        :param rules: replacement IP rules; ``None`` keeps the current ones.
        :param active: ``True`` starts it, ``False`` stops it; ``None`` keeps the current value.
        :param is_editable: the lock flag; ``None`` keeps the current value.
        :param current: the prediction API as the caller just read it.
        """
        if current is None and None in (rules, active, is_editable):
            current = self.get_classifier(classifier_id)
        updated = self.call(
            calls.update_classifier(classifier_id, rules=rules, active=active, is_editable=is_editable, current=current)
        )
        if updated.api_key:
            self._on_secret(updated.api_key)
        return updated

    def delete_classifier(self, classifier_id: str) -> None:
        """Delete Classifier (spec 4.13)."""
        self.call(calls.delete_classifier(classifier_id))

    def inference(self, url: str, api_key: str, csv_text: str, **flags: Any) -> InferenceResult:
        """Inference (spec 4.14): one CSV header + one data row; see :func:`calls.inference`."""
        self._on_secret(api_key)
        return self.call(calls.inference(url, api_key, csv_text, **flags))

    # -- Retrain (spec 4.15 – 4.17) -----------------------------------------------------------

    def retrain_upload_url(self, model_id: int, filename: str) -> RetrainUpload:
        """Retrain Data Upload (spec 4.15): a job id and the URL to PUT the new data to."""
        return self.call(calls.retrain_upload_url(model_id, filename))

    def retrain_status(self, model_id: int, retrain_job_id: str) -> RetrainStatus:
        """Retrain Status Check (spec 4.16)."""
        return self.call(calls.retrain_status(model_id, retrain_job_id))

    def switch_model(self, model_id: int, retrain_job_id: str) -> str:
        """Retrain Model Switch (spec 4.17): point the prediction API at the retrained model."""
        return self.call(calls.switch_model(model_id, retrain_job_id))


def _paginate(fetch: Callable[[int], Any], items: Callable[[Any], list[T]]) -> Iterator[T]:
    offset = 0
    while True:
        page = fetch(offset)
        batch = items(page)
        yield from batch
        offset += len(batch)
        if not batch or offset >= page.metadata.total:
            return


def _describe(exc: BaseException) -> str:
    kind = type(exc).__name__
    text = str(exc)
    # urllib3 messages repeat the pool object; keep the useful tail.
    if "Caused by" in text:
        text = text.split("Caused by", 1)[1].strip(" ()")
    return f"{kind}: {text[:200]}" if text else kind


ASYNC_MAX_CONNECTIONS = 4
"""Connections at most in one shared async pool (every trigger of a connection settings uses it).

Small on purpose: httpcore 1.x rescans every pooled connection (and probes each idle one's socket)
on every request, so the CPU a request costs grows with the pool's size — measured in
``docs/benchmarks.md``: about 0.9 ms per status check with 4 connections, 1.6 ms with 8, 2–3 ms
with 10 and above 18 ms with 100 when a thousand checks arrive together. Four kept-alive
connections serve about 80 checks a second at a 50 ms round trip, more than twice what a
thousand waits polling every 30 s need (33 a second); requests beyond it wait their turn."""
ASYNC_KEEPALIVE_SECONDS = 50.0
"""How long an idle pooled connection is kept: longer than the default 30 s poll interval (so a
poll reuses the connection of the previous one; httpx's default is 5 s), shorter than the 60 s idle
timeout common in load balancers (so the server rarely closes it first)."""


def new_async_http_client(
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    verify: bool | str = True,
    *,
    max_connections: int = ASYNC_MAX_CONNECTIONS,
) -> Any:
    """An ``httpx.AsyncClient`` (one connection pool) sized for many concurrent waits.

    Requests beyond ``max_connections`` wait for a free connection (within the read timeout).
    """
    import httpx  # deferred: only triggers need it

    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        verify=verify,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=ASYNC_KEEPALIVE_SECONDS,
        ),
    )


class AsyncPredictionOneClient(_ClientCore):
    """The async side, for triggers: the same plans run with ``httpx.AsyncClient``.

    Only what a trigger needs is exposed as methods (status checks); :meth:`call` runs any
    :class:`Call`. Accepts the same arguments as :class:`PredictionOneClient`, and:

    :param http_client: an ``httpx.AsyncClient`` to send with, shared with other clients; this
        client then never closes it (its owner does). Without it the client creates its own pool.
    :param key_locks: ``{(credential, model_id): asyncio.Lock}`` shared by the clients that share
        ``key_cache``, so that concurrent calls needing the same missing key fetch it once.
    :param http_slots: a semaphore shared by the clients that share ``http_client``, sized to its
        pool: requests beyond the pool's size wait here, where waiting costs nothing, instead of
        in the pool's queue, which httpcore rescans on every request (cost grows with the queue).
    :param on_close: awaited once by :meth:`aclose` (the registry releases a shared pool with it).

    Use it as an async context manager so that it is closed. Clients from
    :class:`AsyncClientRegistry` (what ``PredictionOneHook.get_async_conn`` returns) share one
    connection pool and one key cache per connection settings in an event loop.
    """

    def __init__(
        self,
        secret_key: str,
        *,
        http_client: Any = None,
        key_locks: dict[tuple[str, int | None], asyncio.Lock] | None = None,
        http_slots: asyncio.Semaphore | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(secret_key, **kwargs)
        import httpx  # deferred: only triggers need it

        self._httpx = httpx
        self._owns_http = http_client is None
        self._client = (
            http_client
            if http_client is not None
            else new_async_http_client(self.connect_timeout, self.read_timeout, self.verify)
        )
        self._key_locks: dict[tuple[str, int | None], asyncio.Lock] = key_locks if key_locks is not None else {}
        self._slots = http_slots if http_slots is not None else asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)
        self._on_close = on_close
        self._closed = False
        self._urls: dict[Any, Any] = {}

    async def __aenter__(self) -> AsyncPredictionOneClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: its own pool, or its share of a shared one (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._client.aclose()
        if self._on_close is not None:
            await self._on_close()

    async def call(self, call: Call[T]) -> T:
        """Run one :class:`Call` to completion (keys, retries, error mapping included)."""
        credential = call.credential
        if credential is not None and call.api_key is None and self.keys.get(credential, call.model_id) is None:
            # Many waits start together (a triggerer restart, a burst of deferrals): fetch a missing
            # key once for all of them, not once each.
            lock = self._key_locks.setdefault((credential.value, call.model_id), asyncio.Lock())
            async with lock:
                if self.keys.get(credential, call.model_id) is None:
                    await self._run(self._key_plan(call))
        return await self._run(self.plan(call))

    async def _run(self, plan: Plan[T]) -> T:
        outcome: Outcome = None
        try:
            while True:
                action = plan.send(outcome)
                if isinstance(action, Sleep):
                    await asyncio.sleep(action.seconds)
                    outcome = None
                else:
                    outcome = await self._send(action)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _send(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        httpx = self._httpx
        try:
            url = self._url(request)
            async with self._slots:
                response = await self._client.request(
                    request.method, url, headers=dict(request.headers), content=request.body
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return TransportFailure(sent=False, detail=_describe(exc))
        except httpx.HTTPError as exc:
            return TransportFailure(sent=True, detail=_describe(exc))
        return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    def _url(self, request: HttpRequest) -> Any:
        """The request's ``httpx.URL``, parsed once per (URL, query) and reused.

        A trigger sends the same status request every poll; httpx parses a URL string character by
        character in Python on every request (a third of a status check's CPU), a ready
        ``httpx.URL`` not at all.
        """
        params = request.params or {}
        try:
            key: Any = (request.url, tuple(sorted(params.items())))
            hash(key)
        except TypeError:  # unhashable parameter values: no caching
            key = None
        url = self._urls.get(key) if key is not None else None
        if url is None:
            url = self._httpx.URL(request.url)
            if params:
                url = url.copy_merge_params(dict(params))
            if key is not None:
                if len(self._urls) >= 64:
                    self._urls.clear()
                self._urls[key] = url
        return url

    async def train_status(self, external_process_id: str) -> TrainStatus:
        """Train Status Check (spec 4.5)."""
        return await self.call(calls.train_status(external_process_id))

    async def retrain_status(self, model_id: int, retrain_job_id: str) -> RetrainStatus:
        """Retrain Status Check (spec 4.16)."""
        return await self.call(calls.retrain_status(model_id, retrain_job_id))

    async def get_classifier(self, classifier_id: str) -> Classifier | None:
        """One prediction API from Get Classifier (spec 7.7), or ``None``."""
        found = await self.call(calls.list_classifiers())
        for item in found:
            if item.api_key:
                self._on_secret(item.api_key)  # every listed key, as the sync client does
        return next((item for item in found if item.classifier_id == classifier_id), None)


# --------------------------------------------------------------------------------------------
# Sharing one connection pool and one key cache between the async clients of an event loop
# --------------------------------------------------------------------------------------------


@dataclass
class _SharedPool:
    http: Any  # httpx.AsyncClient
    slots: asyncio.Semaphore
    users: int = 0


@dataclass
class _SharedKeys:
    cache: ApiKeyCache
    locks: dict[tuple[str, int | None], asyncio.Lock] = field(default_factory=dict)


@dataclass
class _LoopShares:
    pools: dict[tuple[Any, ...], _SharedPool] = field(default_factory=dict)
    keys: dict[tuple[Any, ...], _SharedKeys] = field(default_factory=dict)


class AsyncClientRegistry:
    """Async clients that share, within one event loop, one HTTP connection pool and one API key
    cache per connection settings.

    A triggerer runs every trigger in one event loop; without sharing, each waiting task would
    hold its own pool (one TCP connection per wait) and fetch its own API key. Here the pool is
    keyed by (timeouts, TLS verification) and the key cache by (base URL, secret key, refresh
    lead) — the secret only as a keyed hash, never in clear. A pool is closed when the last
    client using it is closed; key caches live as long as the event loop (keys expire by
    themselves). Nothing is shared between event loops: httpx pools are bound to their loop.

    :param max_connections: size of each shared pool (requests beyond it wait for a connection).
    """

    def __init__(self, max_connections: int = ASYNC_MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShares] = weakref.WeakKeyDictionary()
        self._salt = os.urandom(16)

    def _digest(self, secret_key: str) -> str:
        return hashlib.blake2b(str(secret_key).strip().encode(), key=self._salt, digest_size=16).hexdigest()

    def client(self, secret_key: str, **options: Any) -> AsyncPredictionOneClient:
        """A client for the running event loop; close it (``async with``) to release its share.

        :param secret_key: the account's secret key.
        :param options: the keyword arguments of :class:`AsyncPredictionOneClient` (``host``,
            timeouts, ``retry``, ``verify``, ``key_refresh_lead``, ``on_secret``).
        """
        loop = asyncio.get_running_loop()
        shares = self._loops.get(loop)
        if shares is None:
            shares = self._loops[loop] = _LoopShares()
        connect = float(options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        read = float(options.get("read_timeout", DEFAULT_READ_TIMEOUT))
        verify = options.get("verify", True)
        lead = options.pop("key_refresh_lead", DEFAULT_KEY_REFRESH_LEAD)
        keys_key = (normalize_base_url(options.get("host")), self._digest(secret_key), lead)  # checks the host
        pool_key = (connect, read, verify)
        pool = shares.pools.get(pool_key)
        if pool is None or pool.http.is_closed:
            pool = shares.pools[pool_key] = _SharedPool(
                new_async_http_client(connect, read, verify, max_connections=self.max_connections),
                asyncio.Semaphore(self.max_connections),
            )
        keys = shares.keys.get(keys_key)
        if keys is None:
            keys = shares.keys[keys_key] = _SharedKeys(ApiKeyCache(lead))
        try:
            client = AsyncPredictionOneClient(
                secret_key,
                http_client=pool.http,
                key_cache=keys.cache,
                key_locks=keys.locks,
                http_slots=pool.slots,
                on_close=lambda: self._release(shares, pool_key, pool),
                key_refresh_lead=lead,
                **options,
            )
        except BaseException:
            if pool.users == 0 and shares.pools.get(pool_key) is pool:
                del shares.pools[pool_key]  # never used: it holds no connection
            raise
        pool.users += 1
        return client

    async def _release(self, shares: _LoopShares, pool_key: tuple[Any, ...], pool: _SharedPool) -> None:
        pool.users -= 1
        if pool.users > 0:
            return
        if shares.pools.get(pool_key) is pool:
            del shares.pools[pool_key]
        await pool.http.aclose()

    def open_pools(self) -> int:
        """Shared pools currently open in the running event loop (diagnostics and tests)."""
        shares = self._loops.get(asyncio.get_running_loop())
        return 0 if shares is None else len(shares.pools)


shared_async_clients = AsyncClientRegistry()
"""The registry :meth:`PredictionOneHook.get_async_conn` takes its clients from."""
