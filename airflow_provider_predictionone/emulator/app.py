"""The emulated Prediction One service: in-memory state and every endpoint.

All state lives in :class:`EmulatorApp`, guarded by one re-entrant lock; long work (streaming
uploads, statistics, training) runs outside the lock. Files live under the data directory::

    users/<user_id>/processes/<external_process_id>/{learn,eval,column_info}.csv
    users/<user_id>/models/<model_id>/{learn.csv,eval.csv,column_info.csv,config.json,model.json,result.zip}
    users/<user_id>/retrain/<retrain_job_id>/{upload.bin,train.csv,eval.csv}

Every request goes through :meth:`EmulatorApp.handle`, the single dispatch point (see
:meth:`EmulatorApp.intercept` for fault injection, :mod:`.faults`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import os
import secrets
import shutil
import threading
import time
import traceback
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import ClassifierStatus, CredentialType
from airflow_provider_predictionone.emulator.baseline.models import (
    ROW_NUMBER_COLUMN,
    BaselineModel,
    format_number,
    save_model,
)
from airflow_provider_predictionone.emulator.baseline.training import train
from airflow_provider_predictionone.emulator.config import ConfigError, TrainConfig, parse_config
from airflow_provider_predictionone.emulator.datasets.analysis import StatsCache
from airflow_provider_predictionone.emulator.datasets.reading import DataError, read_column_info
from airflow_provider_predictionone.emulator.datasets.summary import DatasetStats
from airflow_provider_predictionone.emulator.faults.control import ControlEndpoint, is_control_path
from airflow_provider_predictionone.emulator.faults.injection import FaultInjector, alter_stored_file
from airflow_provider_predictionone.emulator.faults.kinds import CORRUPT_UPLOAD, FAIL_CLASSIFIER, FaultError, JobFailure
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.faults.validation import make_job_failure
from airflow_provider_predictionone.emulator.paths import (
    DOWNLOAD_PATH,
    INFERENCE_PATH,
    ROUTE_DOWNLOAD,
    ROUTE_INFERENCE,
    ROUTE_UNMATCHED,
    ROUTE_UPLOAD,
    UPLOAD_PATH,
)
from airflow_provider_predictionone.emulator.web import (
    ApiError,
    BodyError,
    HttpError,
    Request,
    Response,
    Route,
    Router,
    bad_request,
    error_response,
    json_response,
)

log = logging.getLogger(__name__)

DEFAULT_SECRET_KEY = "emulator-secret-key"
"""Secret key accepted when no other is configured."""

ERROR_DRAIN_LIMIT = 8 * 1024 * 1024

_TRAIN_STATUS = {
    "queued": contract.TRAIN_STATUS_QUEUED,
    "running": contract.TRAIN_STATUS_RUNNING,
    "finished": contract.TRAIN_STATUS_FINISHED,
    "failed": contract.TRAIN_STATUS_FAILED,
}
_RETRAIN_STATUS = {
    "queued": contract.RETRAIN_STATUS_QUEUED,
    "running": contract.RETRAIN_STATUS_RUNNING,
    "finished": contract.RETRAIN_STATUS_FINISHED,
    "failed": contract.RETRAIN_STATUS_FAILED,
}
_RETRAIN_MESSAGES = {
    "queued": "Retraining is queued.",
    "running": "Retraining is running.",
    "finished": "Retraining finished.",
}
RETRAIN_WAITING_FOR_UPLOAD = "Waiting for the upload of the retraining data."
"""The ``message`` of a retrain job whose data has not been uploaded yet (queued until then)."""
_STOPPED_STATUSES = frozenset({ClassifierStatus.TERMINATING.value, ClassifierStatus.TERMINATED.value})
_UPLOAD_KINDS = ("learn", "eval", "column_info")


def iso(timestamp: float) -> str:
    """ISO-8601 UTC with milliseconds and an explicit offset, e.g. ``2024-05-01T12:00:00.000+00:00``."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def _token() -> str:
    return secrets.token_urlsafe(24)


def source_ip_allowed(address: str, rules: list[dict[str, Any]]) -> bool:
    """Apply prediction-API IP rules to a caller address.

    Rules are tried by ascending ``priority`` (ties keep their list order); the first rule whose
    CIDR ``source`` contains the address decides (``allow``/``deny``); no match denies. An
    IPv4-mapped IPv6 address is treated as its IPv4 address; a ``/0`` range matches any address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for rule in sorted(rules, key=lambda r: r["priority"]):
        network = ipaddress.ip_network(rule["source"], strict=False)
        if network.prefixlen == 0 or (network.version == ip.version and ip in network):
            return rule["order"] == "allow"
    return False


def parse_rules(raw: Any) -> list[dict[str, Any]]:
    """Validate ``rules`` of Create/Update Classifier; raise a bad request with a clear message."""
    if not isinstance(raw, list):
        raise bad_request("rules must be a list of {source, order, priority} objects.")
    rules = []
    for i, rule in enumerate(raw):
        if not isinstance(rule, dict):
            raise bad_request(f"rules[{i}] must be an object with source, order and priority.")
        source, order, priority = rule.get("source"), rule.get("order"), rule.get("priority")
        if not isinstance(source, str):
            raise bad_request(f"rules[{i}].source must be an IP range in CIDR notation, e.g. 0.0.0.0/0.")
        try:
            ipaddress.ip_network(source.strip(), strict=False)
        except ValueError:
            raise bad_request(f"rules[{i}].source must be an IP range in CIDR notation, e.g. 0.0.0.0/0.") from None
        if order not in ("allow", "deny"):
            raise bad_request(f'rules[{i}].order must be "allow" or "deny".')
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise bad_request(f"rules[{i}].priority must be an integer.")
        rules.append({"source": source.strip(), "order": order, "priority": priority})
    return rules


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


@dataclass
class Job:
    """Progress of a training or retraining job (``state`` is queued/running/finished/failed)."""

    created: float
    updated: float
    state: str = "queued"
    message: str = ""
    result_token: str | None = None


@dataclass
class User:
    """One account (one secret key) with its own ids and objects."""

    secret_key: str
    user_id: str
    group_id: str
    directory: Path
    deleted: bool = False
    processes: dict[str, TrainProcess] = field(default_factory=dict)
    models: dict[int, Model] = field(default_factory=dict)
    data_sets: dict[int, DataSet] = field(default_factory=dict)
    classifiers: dict[str, Classifier] = field(default_factory=dict)
    retrain_jobs: dict[str, RetrainJob] = field(default_factory=dict)
    next_model_id: int = 1
    next_data_set_id: int = 1


@dataclass
class ApiKey:
    """An issued train/deploy/retrain API key."""

    key: str
    user: User
    credential_type: str
    model_id: int | None
    expires_at: float


@dataclass
class TrainProcess:
    """An ``external_process_id``: its upload slots and, once started, its training job."""

    process_id: str
    user: User
    extension: str
    directory: Path
    job: Job | None = None
    model_id: int | None = None

    def path(self, kind: str) -> Path:
        return self.directory / f"{kind}.{'csv' if kind == 'column_info' else self.extension}"


@dataclass
class Model:
    """A model record (listed by Get Model)."""

    model_id: int
    user: User
    name: str
    raw_config: dict[str, Any]
    config: TrainConfig
    version: str
    created: float
    updated: float
    directory: Path
    state: str = "training"
    trained: BaselineModel | None = None


@dataclass
class DataSet:
    """A data set record (listed by Get Data Set)."""

    data_set_id: int
    user: User
    name: str
    extension: str
    column_count: int
    data_count: int
    data_size: int
    token: str
    created: float
    updated: float


@dataclass
class Classifier:
    """A prediction API."""

    classifier_id: str
    user: User
    model_id: int
    trained: BaselineModel
    api_key: str
    rules: list[dict[str, Any]]
    created: float
    updated: float
    status: str = ClassifierStatus.BUILDING.value
    version: int = 1
    active: bool = True
    is_editable: bool = True
    built: bool = False
    pending: tuple[float, str, float] | None = None  # (monotonic due time, next status, wall time)


@dataclass
class RetrainJob:
    """A retraining job bound to the model whose retrain key created it."""

    job_id: str
    user: User
    source_model_id: int
    filename: str
    directory: Path
    job: Job
    uploaded: bool = False
    model_id: int | None = None


@dataclass
class UploadTarget:
    user: User
    kind: str  # learn / eval / column_info / retrain
    process: TrainProcess | None = None
    retrain_job: RetrainJob | None = None


@dataclass
class DownloadTarget:
    user: User
    path: Path
    content_type: str
    filename: str


@dataclass
class Settings:
    """Timings of the emulated service (seconds)."""

    train_seconds: float = 5.0
    build_seconds: float = 2.0
    key_lifetime: float = 3600.0


# --------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------


class EmulatorApp:
    """State and request handling of the emulator (HTTP-agnostic; see :mod:`.server`)."""

    def __init__(
        self,
        data_dir: Path,
        secret_keys: list[str],
        settings: Settings,
        fault_registry: FaultRegistry | None = None,
        control_enabled: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.faults = fault_registry if fault_registry is not None else FaultRegistry()
        self.control_enabled = control_enabled
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.users: dict[str, User] = {}
        self.keys: dict[str, ApiKey] = {}
        self.uploads: dict[str, UploadTarget] = {}
        self.downloads: dict[str, DownloadTarget] = {}
        self.classifiers: dict[str, Classifier] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._count_lock = threading.Lock()
        self._stats = StatsCache()
        for secret in secret_keys:
            self.add_user(secret)
        self.router = Router(self._routes())
        self.control = ControlEndpoint(
            self.faults,
            expire_keys=self.expire_api_keys,
            key_lifetime=lambda: self.settings.key_lifetime,
            fail_next_job=self.fail_next_job,
        )
        self._injector = FaultInjector(self.faults, self.stopping, self.expire_api_keys)

    # ---------------------------------------------------------------- routes and dispatch

    def _routes(self) -> list[Route]:
        b = contract.BASE_PATH

        def r(method: str, path: str, handler: Callable[[Request], Response]) -> Route:
            return Route(method, b + path, path, handler)

        return [
            r("GET", contract.PATH_API_KEY, self.get_api_key),
            r("GET", contract.PATH_DATA_SET_UPLOAD_URL, self.get_upload_urls),
            r("GET", contract.PATH_DATA_SET_COLUMN_INFO, self.get_column_info),
            r("GET", contract.PATH_DATA_SETS, self.list_data_sets),
            r("DELETE", contract.PATH_DATA_SET, self.delete_data_set),
            r("POST", contract.PATH_MODELS, self.create_model),
            r("GET", contract.PATH_MODELS, self.list_models),
            r("GET", contract.PATH_MODEL_RESULTS, self.get_train_status),
            r("DELETE", contract.PATH_MODEL, self.delete_model),
            r("POST", contract.PATH_CLASSIFIERS, self.create_classifier),
            r("GET", contract.PATH_CLASSIFIERS, self.list_classifiers),
            r("GET", contract.PATH_CLASSIFIER, self.get_classifier),
            r("PATCH", contract.PATH_CLASSIFIER, self.update_classifier),
            r("DELETE", contract.PATH_CLASSIFIER, self.delete_classifier),
            r("GET", contract.PATH_RETRAIN_UPLOAD_URL, self.get_retrain_upload_url),
            r("GET", contract.PATH_RETRAIN_JOB, self.get_retrain_job),
            r("PUT", contract.PATH_RETRAIN_UPDATE_MODEL, self.switch_model),
            Route("POST", INFERENCE_PATH, ROUTE_INFERENCE, self.inference),
            Route("PUT", UPLOAD_PATH, ROUTE_UPLOAD, self.upload),
            Route("GET", DOWNLOAD_PATH, ROUTE_DOWNLOAD, self.download),
        ]

    def handle(self, request: Request) -> Response:
        """The single dispatch point: control endpoints (when enabled; never counted or faulted),
        else resolve, count, intercept, run the handler, map errors."""
        if self.control_enabled and is_control_path(request.path):
            return self.control.handle(request)
        route, params, path_match = self.router.resolve(request.method, request.path)
        request.route = (route or path_match).name if (route or path_match) else ROUTE_UNMATCHED
        request.params = params
        with self._count_lock:
            self._counts[(request.method, request.route)] += 1
        try:
            intercepted = self.intercept(request)
        except ConnectionAbortedError:
            raise
        except Exception as exc:
            return self._error(request, exc)
        if intercepted is not None:
            return intercepted
        return self._serve(request, route, path_match)

    def _serve(self, request: Request, route: Route | None, path_match: Route | None) -> Response:
        """Run the route's handler (404/405 without one) and map exceptions to error responses."""
        try:
            if route is None:
                if path_match is not None:
                    allow = ", ".join(self.router.allowed_methods(request.path))
                    raise HttpError(405, "Method Not Allowed", {"Allow": allow})
                raise HttpError(404, "Not Found")
            return route.handler(request)
        except ConnectionAbortedError:
            raise
        except Exception as exc:
            return self._error(request, exc)

    def _error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return error_response(exc.spec)
        if isinstance(exc, HttpError):
            return json_response({"message": exc.message}, exc.status, exc.headers)
        log.error("emulator error on %s %s\n%s", request.method, request.path, traceback.format_exc())
        spec = contract.ErrorSpec(contract.CODE_INTERNAL, contract.ERROR_INTERNAL, f"Emulator error: {exc}")
        return error_response(spec)

    def intercept(self, request: Request) -> Response | None:
        """Fault-injection hook, called for every request after routing and counting.

        Returns a :class:`Response` to answer instead of the real handler (an injected error or
        HTML page, or the real answer marked for truncation), sleeps to add latency, or raises
        ``ConnectionAbortedError`` to make the server drop the connection; ``None`` lets the
        real handler answer (with ``request.handler_fault`` set for a fault it applies itself:
        ``corrupt-upload``, ``fail-classifier``). ``request.route`` holds the route name used by
        ``request_count``. The faults come from :meth:`FaultRegistry.match
        <.faults.registry.FaultRegistry.match>`, the only place where faults are matched, and
        act through :class:`~.faults.injection.FaultInjector`.
        """
        return self._injector.intercept(request, serve=lambda: self._serve(request, *self._resolve(request)))

    def _resolve(self, request: Request) -> tuple[Route | None, Route | None]:
        route, _params, path_match = self.router.resolve(request.method, request.path)
        return route, path_match

    def request_count(self, method: str | None, route: str) -> int:
        """How many requests with this method (``None`` = any) reached this route."""
        with self._count_lock:
            wanted = None if method is None else method.upper()
            return sum(n for (m, r), n in self._counts.items() if r == route and wanted in (None, m))

    def request_counts(self) -> dict[tuple[str, str], int]:
        with self._count_lock:
            return dict(self._counts)

    def reset_request_counts(self) -> None:
        with self._count_lock:
            self._counts.clear()

    # ---------------------------------------------------------------- users and keys

    def add_user(self, secret_key: str) -> User:
        """Register a secret key as a new, independent user (no-op if it exists)."""
        with self.lock:
            user = self.users.get(secret_key)
            if user is None:
                user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "predictionone-emulator:" + secret_key))
                user = User(
                    secret_key=secret_key,
                    user_id=user_id,
                    group_id=uuid.UUID(user_id).hex[:16],
                    directory=self.data_dir / "users" / user_id,
                )
                self.users[secret_key] = user
            return user

    def delete_user(self, secret_key: str) -> None:
        """Mark a user deleted: its keys then answer ``This user may be deleted.``."""
        with self.lock:
            if secret_key not in self.users:
                raise KeyError("unknown secret key")
            self.users[secret_key].deleted = True

    def expire_api_keys(self, key_lifetime: float | None = None) -> int:
        """Make every API key issued so far expire now; return how many were still valid.
        ``key_lifetime`` also sets the validity of keys issued from now on."""
        with self.lock:
            now = time.time() - 0.001
            valid = sum(1 for key in self.keys.values() if key.expires_at > now)
            for key in self.keys.values():
                key.expires_at = min(key.expires_at, now)
            if key_lifetime is not None:
                self.settings.key_lifetime = float(key_lifetime)
            return valid

    def fail_next_job(
        self, kind: str | None = None, message: str | None = None, job_id: str | None = None
    ) -> JobFailure:
        """Make a training/retraining job fail with ``message`` (see :meth:`Emulator.fail_next_job`).

        With ``job_id`` (an ``external_process_id`` or ``retrain_job_id``): a job already started
        fails now, one not started yet fails when it starts; ``ValueError`` if the id is unknown or
        the job has ended. Without: the next job started (of ``kind``, or any) fails.
        """
        failure = make_job_failure(kind, message, job_id)
        if failure.job_id is None:
            return self.faults.add_job_failure(failure)
        with self.lock:
            found: tuple[str, Job | None, Model | None] | None = None
            for user in self.users.values():
                process = user.processes.get(failure.job_id)
                if process is not None:
                    found = ("train", process.job, user.models.get(process.model_id or -1))
                    break
                retrain = user.retrain_jobs.get(failure.job_id)
                if retrain is not None:
                    started = retrain.job if retrain.uploaded else None
                    found = ("retrain", started, user.models.get(retrain.model_id or -1))
                    break
            if found is None:
                raise FaultError(f"unknown job id {failure.job_id!r} (an external_process_id or retrain_job_id)")
            job_kind, job, model = found
            if failure.kind not in (None, job_kind):
                raise FaultError(f"job {failure.job_id} is a {job_kind} job, not {failure.kind}")
            failure.kind = job_kind
            if job is None:
                return self.faults.add_job_failure(failure)
            if job.state in ("finished", "failed"):
                raise FaultError(f"job {failure.job_id} has already {job.state}")
            now = time.time()
            job.state, job.message, job.updated = "failed", failure.message, now
            if model is not None:
                model.state, model.updated = "failed", now
        self.faults.record_job_failure(job_kind, failure.job_id, failure.message)
        return failure

    def _authenticate(
        self, request: Request, credential_type: CredentialType, *, user_deleted_error: bool = True
    ) -> tuple[User, ApiKey]:
        key = request.api_key or ""
        with self.lock:
            record = self.keys.get(key)
            if record is None:
                if key in self.users:  # a secret key is not an API key
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

    def get_api_key(self, request: Request) -> Response:
        """``GET /api-key`` (spec 4.1): the secret key buys a train/deploy/retrain key."""
        with self.lock:
            user = self.users.get(request.api_key or "")
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
                model_id = self._model_id(raw)
                if model_id is None or model_id not in user.models:
                    raise bad_request(contract.MSG_MODEL_DELETED)
            key = secrets.token_urlsafe(32)
            expires = time.time() + self.settings.key_lifetime
            self.keys[key] = ApiKey(key, user, credential_type.value, model_id, expires)
        return json_response({"api_key": key, "end_date": iso(expires)})

    @staticmethod
    def _model_id(raw: str) -> int | None:
        try:
            return int(raw)
        except ValueError:
            return None

    # ---------------------------------------------------------------- uploads and downloads

    def _url(self, request: Request, template: str, **params: str) -> str:
        return request.base_url + template.format(**params)

    def get_upload_urls(self, request: Request) -> Response:
        """``GET /data-sets/upload-url`` (spec 4.2): three upload URLs and an ``external_process_id``."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        extension = (request.arg("extension") or "").strip().lower().lstrip(".")
        if not extension:
            raise bad_request("extension is required (e.g. extension=csv).")
        if extension not in ("csv", "tsv"):
            raise bad_request("extension must be csv (or tsv).")
        process_id = str(uuid.uuid4())
        process = TrainProcess(process_id, user, extension, user.directory / "processes" / process_id)
        process.directory.mkdir(parents=True, exist_ok=True)
        tokens = {kind: _token() for kind in _UPLOAD_KINDS}
        with self.lock:
            user.processes[process_id] = process
            for kind, token in tokens.items():
                self.uploads[token] = UploadTarget(user, kind, process=process)
        return json_response(
            {
                "learn_data_set_upload_url": self._url(request, UPLOAD_PATH, token=tokens["learn"]),
                "eval_data_set_upload_url": self._url(request, UPLOAD_PATH, token=tokens["eval"]),
                "column_info_upload_url": self._url(request, UPLOAD_PATH, token=tokens["column_info"]),
                "external_process_id": process_id,
            }
        )

    def upload(self, request: Request) -> Response:
        """``PUT <upload url>``: stream the body to disk (no API key, like a presigned URL); the
        ``ETag`` is the MD5 of what is stored (altered by a ``corrupt-upload`` fault)."""
        with self.lock:
            target = self.uploads.get(request.params["token"])
            if target is None or target.user.deleted:
                raise HttpError(404, "Not Found")
            job = target.retrain_job
            if job is not None and job.uploaded:
                raise HttpError(409, "The retraining data of this job has already been uploaded.")
            if job is not None:
                destination = job.directory / "upload.bin"
            else:
                assert target.process is not None
                destination = target.process.path(target.kind)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f"{destination.name}.{secrets.token_hex(4)}.part")
        digest = hashlib.md5(usedforsecurity=False)  # the ETag, as an S3 presigned PUT answers
        try:
            with partial.open("wb") as handle:
                request.body.copy_to(handle, digest)  # hashed on a helper thread while receiving
        except (BodyError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise HttpError(400, f"The upload failed: {exc}") from exc
        received = digest.hexdigest()
        stored = received
        if request.handler_fault == CORRUPT_UPLOAD:
            stored = alter_stored_file(partial)
            log.info("fault injected: upload stored altered (received MD5 %s, stored MD5 %s)", received, stored)
        if job is not None:
            with self.lock:
                if job.uploaded:
                    partial.unlink(missing_ok=True)
                    raise HttpError(409, "The retraining data of this job has already been uploaded.")
                job.uploaded = True
        os.replace(partial, destination)
        if job is not None:
            self._start_retrain(job)
        return Response(200, b"", headers={"ETag": f'"{stored}"'})

    def download(self, request: Request) -> Response:
        """``GET <result_url | download_url>``: stream a stored file (no API key)."""
        with self.lock:
            target = self.downloads.get(request.params["token"])
            if target is None or target.user.deleted or not target.path.exists():
                raise HttpError(404, "Not Found")
        return Response(
            200,
            file=target.path,
            content_type=target.content_type,
            headers={"Content-Disposition": _content_disposition(target.filename)},
        )

    def _register_download(self, user: User, path: Path, content_type: str, filename: str) -> str:
        token = _token()
        with self.lock:
            self.downloads[token] = DownloadTarget(user, path, content_type, filename)
        return token

    # ---------------------------------------------------------------- data set info

    def _process(self, user: User, request: Request) -> TrainProcess:
        process_id = (request.arg("external_process_id") or "").strip()
        if not process_id:
            raise bad_request("external_process_id is required.")
        with self.lock:
            process = user.processes.get(process_id)
        if process is None:
            raise bad_request(
                f"Unknown external_process_id {process_id!r}: get one from {contract.PATH_DATA_SET_UPLOAD_URL}."
            )
        return process

    def get_column_info(self, request: Request) -> Response:
        """``GET /data-sets/column-info`` (spec 4.3): statistics of the uploaded training file."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        process = self._process(user, request)
        learn = process.path("learn")
        if not learn.exists():
            raise bad_request("The training data set has not been uploaded for this external_process_id yet.")
        try:
            stats = self._stats.stats(learn)
        except DataError as exc:
            raise bad_request(f"The uploaded training data cannot be read: {exc}") from exc
        return json_response(stats.to_api())

    # ---------------------------------------------------------------- models and training

    def _json_object(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as exc:
            raise bad_request(f"The request body must be a JSON object ({exc}).") from exc
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body

    def create_model(self, request: Request) -> Response:
        """``POST /models`` (spec 4.4): create the model record and start training."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        body = self._json_object(request)
        process_id = body.get("external_process_id")
        if not isinstance(process_id, str) or not process_id:
            raise bad_request("external_process_id (string) is required.")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name (non-empty string) is required.")
        if "config" not in body:
            raise bad_request("config (object) is required.")
        try:
            config = parse_config(body["config"])
        except ConfigError as exc:
            raise bad_request(str(exc)) from exc
        with self.lock:
            process = user.processes.get(process_id)
            if process is None:
                raise bad_request(f"Unknown external_process_id {process_id!r}.")
            if process.job is not None:
                raise bad_request("Training has already been started for this external_process_id.")
            if not process.path("learn").exists():
                raise bad_request("The training data set has not been uploaded for this external_process_id.")
            if not process.path("column_info").exists():
                raise bad_request("The column-info file has not been uploaded for this external_process_id.")
            now = time.time()
            process.job = Job(created=now, updated=now)
            model_id = user.next_model_id
            user.next_model_id += 1
            model = Model(
                model_id, user, name, body["config"], config, "1", now, now, user.directory / "models" / str(model_id)
            )
            user.models[model_id] = model
            process.model_id = model_id
        model.directory.mkdir(parents=True, exist_ok=True)
        for kind in _UPLOAD_KINDS:
            if process.path(kind).exists():
                _snapshot(process.path(kind), model.directory / f"{kind}.csv")
        (model.directory / "config.json").write_text(
            json.dumps({"name": name, "config": body["config"], "normalized": config.to_json()}, ensure_ascii=False),
            encoding="utf-8",
        )
        learn = model.directory / "learn.csv"
        data_set = self._add_data_set(user, name, process.extension, learn)
        eval_path = model.directory / "eval.csv"
        self._start_job(
            process.job,
            lambda: self._train_model(model, learn, eval_path if eval_path.exists() else None, data_set),
            model,
            "train",
            process_id,
        )
        return json_response({"external_process_id": process_id})

    def _add_data_set(self, user: User, name: str, extension: str, path: Path) -> DataSet:
        """Record a data set for a training file; its counts come from already computed statistics,
        or are filled in by the job (:meth:`_data_set_stats`)."""
        stats = self._stats.cached(path)
        token = self._register_download(user, path, "text/csv; charset=utf-8", f"{name}.{extension}")
        with self.lock:
            data_set_id = user.next_data_set_id
            user.next_data_set_id += 1
            now = time.time()
            user.data_sets[data_set_id] = DataSet(
                data_set_id,
                user,
                name,
                extension,
                column_count=len(stats.header) if stats else 0,
                data_count=stats.row_count if stats else 0,
                data_size=path.stat().st_size,
                token=token,
                created=now,
                updated=now,
            )
            return user.data_sets[data_set_id]

    def _data_set_stats(self, data_set: DataSet, path: Path) -> DatasetStats:
        """Statistics of a job's training file; they also complete its data set record."""
        stats = self._stats.stats(path)
        with self.lock:
            data_set.column_count, data_set.data_count = len(stats.header), stats.row_count
        return stats

    def _train_model(
        self,
        model: Model,
        learn: Path,
        eval_path: Path | None,
        data_set: DataSet,
    ) -> Callable[[Job], None]:
        stats = self._data_set_stats(data_set, learn)
        column_types = read_column_info(model.directory / "column_info.csv")
        archive = model.directory / "result.zip"
        result = train(learn, stats, model.config, column_types, eval_path, archive)
        save_model(result.model, model.directory / "model.json")
        token = self._register_download(model.user, archive, "application/zip", "result.zip")

        def finish(job: Job) -> None:
            job.result_token = token
            model.trained = result.model
            model.state = "ready"
            model.updated = time.time()

        return finish

    def _start_job(
        self,
        job: Job,
        work: Callable[[], Callable[[Job], None]],
        model: Model | None,
        kind: str,
        job_id: str,
    ) -> None:
        """Run ``work`` in a background thread; the job stays queued, then running, for at least
        ``train_seconds`` in total. ``work`` returns a callback applied (under the lock) on success.
        A pending injected failure for the job (:meth:`fail_next_job`) makes it fail instead of
        running; a job failed while running (:meth:`fail_next_job` with its id) stays failed."""
        seconds = self.settings.train_seconds
        injected = self.faults.take_job_failure(kind, job_id)

        def fail(message: str) -> None:
            with self.lock:
                job.state, job.message, job.updated = "failed", message, time.time()
                if model is not None:
                    model.state, model.updated = "failed", time.time()

        def run() -> None:
            start = time.monotonic()
            if self.stopping.wait(min(1.0, seconds * 0.2)):
                return
            if injected is not None:
                fail(injected.message)
                return
            with self.lock:
                if job.state == "failed":
                    return
                job.state, job.updated = "running", time.time()
            try:
                finish = work()
            except DataError as exc:
                if job.state != "failed":
                    fail(str(exc))
                return
            except Exception as exc:
                if self.stopping.is_set():  # the data dir may be gone already
                    return
                log.error("emulator training error\n%s", traceback.format_exc())
                if job.state != "failed":
                    fail(f"Emulator error during training: {exc}")
                return
            remaining = start + seconds - time.monotonic()
            if remaining > 0 and self.stopping.wait(remaining):
                return
            with self.lock:
                if job.state == "failed":
                    return
                finish(job)
                job.state, job.updated = "finished", time.time()

        thread = threading.Thread(target=run, name="predictionone-emulator-job", daemon=True)
        thread.start()

    def get_train_status(self, request: Request) -> Response:
        """``GET /models/results`` (spec 4.5)."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        process = self._process(user, request)
        with self.lock:
            job = process.job
            if job is None:
                raise bad_request("No training has been started for this external_process_id (POST /models first).")
            body: dict[str, Any] = {
                "status": _TRAIN_STATUS[job.state],
                "created_datetime": iso(job.created),
                "updated_datetime": iso(job.updated),
            }
            if job.state == "finished" and job.result_token:
                body["result_url"] = self._url(request, DOWNLOAD_PATH, token=job.result_token)
            if job.state == "failed":
                body["message"] = job.message
        return json_response(body)

    @staticmethod
    def _paging(request: Request) -> tuple[int, int]:
        try:
            offset = int(request.arg("offset") or 0)
            limit = int(request.arg("limit") or contract.DEFAULT_PAGE_LIMIT)
        except ValueError:
            raise bad_request("offset and limit must be non-negative integers.") from None
        if offset < 0 or limit < 0:
            raise bad_request("offset and limit must be non-negative integers.")
        return offset, limit

    def _model_json(self, model: Model) -> dict[str, Any]:
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

    def list_models(self, request: Request) -> Response:
        """``GET /models`` (spec 4.6), ordered by ``model_id``."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        offset, limit = self._paging(request)
        with self.lock:
            models = sorted(user.models.values(), key=lambda m: m.model_id)
            page = [self._model_json(m) for m in models[offset : offset + limit]]
            total = len(models)
        return json_response({"models": page, "metadata": {"offset": offset, "limit": limit, "total": total}})

    def delete_model(self, request: Request) -> Response:
        """``DELETE /models/{model_id}`` (spec 4.7): 200 with no response body."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        model_id = self._model_id(request.params["model_id"])
        with self.lock:
            if model_id is None or model_id not in user.models:
                raise bad_request(contract.MSG_MODEL_DELETED)
            del user.models[model_id]
        return Response(200)

    def list_data_sets(self, request: Request) -> Response:
        """``GET /data-sets`` (spec 4.8), ordered by ``data_set_id``."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        offset, limit = self._paging(request)
        with self.lock:
            items = sorted(user.data_sets.values(), key=lambda d: d.data_set_id)
            page = [
                {
                    "data_set_id": d.data_set_id,
                    "owner_user_id": user.user_id,
                    "name": d.name,
                    "extension": d.extension,
                    "column_count": d.column_count,
                    "data_count": d.data_count,
                    "data_size": d.data_size,
                    "download_url": self._url(request, DOWNLOAD_PATH, token=d.token),
                    "updated_date": iso(d.updated),
                    "created_date": iso(d.created),
                }
                for d in items[offset : offset + limit]
            ]
            total = len(items)
        return json_response({"data_sets": page, "metadata": {"offset": offset, "limit": limit, "total": total}})

    def delete_data_set(self, request: Request) -> Response:
        """``DELETE /data-sets/{data_set_id}`` (spec 4.9): 200 with no response body."""
        user, _key = self._authenticate(request, CredentialType.TRAIN)
        raw = request.params["data_set_id"]
        data_set_id = self._model_id(raw)
        with self.lock:
            data_set = user.data_sets.pop(data_set_id, None) if data_set_id is not None else None
            if data_set is None:
                raise bad_request(f"Data set {raw} was not found (it may have been deleted).")
            self.downloads.pop(data_set.token, None)
        return Response(200)

    # ---------------------------------------------------------------- classifiers

    def _tick(self, classifier: Classifier) -> None:
        pending = classifier.pending
        if pending is not None and time.monotonic() >= pending[0]:
            classifier.status, classifier.updated, classifier.pending = pending[1], pending[2], None
            if classifier.status == ClassifierStatus.RUNNING.value:
                classifier.built = True

    def _transition(self, classifier: Classifier, interim: str, final: str) -> None:
        seconds = self.settings.build_seconds
        now = time.time()
        classifier.status, classifier.updated = interim, now
        classifier.pending = (time.monotonic() + seconds, final, now + seconds)
        self._tick(classifier)

    def _classifier_json(self, request: Request, c: Classifier) -> dict[str, Any]:
        self._tick(c)
        url = None
        if c.built:
            url = self._url(request, INFERENCE_PATH, group_id=c.user.group_id, classifier_id=c.classifier_id)
        return {
            "classifier_id": c.classifier_id,
            "model_id": c.model_id,
            "status": c.status,
            "api_key": c.api_key,
            "version": str(c.version),
            "url": url,
            "active": c.active,
            "is_editable": c.is_editable,
            "create_datetime": iso(c.created),
            "update_datetime": iso(c.updated),
            "rules": [dict(rule) for rule in c.rules],
        }

    def create_classifier(self, request: Request) -> Response:
        """``POST /classifiers`` (spec 4.10): start building a prediction API (``building`` ->
        ``running``, or ``failed`` under a ``fail-classifier`` fault)."""
        user, _key = self._authenticate(request, CredentialType.DEPLOY)
        body = self._json_object(request)
        raw_id = body.get("model_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
            raise bad_request("model_id (integer) is required.")
        if "rules" not in body:
            raise bad_request("rules (a list of {source, order, priority}) is required.")
        rules = parse_rules(body["rules"])
        model_id = raw_id if isinstance(raw_id, int) else self._model_id(raw_id)
        with self.lock:
            model = user.models.get(model_id) if model_id is not None else None
            if model is None or model.trained is None:
                raise bad_request(contract.MSG_MODEL_DELETED)
            now = time.time()
            classifier = Classifier(
                str(uuid.uuid4()), user, model.model_id, model.trained, secrets.token_urlsafe(32), rules, now, now
            )
            fails = request.handler_fault == FAIL_CLASSIFIER
            final = ClassifierStatus.FAILED.value if fails else ClassifierStatus.RUNNING.value
            self._transition(classifier, ClassifierStatus.BUILDING.value, final)
            user.classifiers[classifier.classifier_id] = classifier
            self.classifiers[classifier.classifier_id] = classifier
        return json_response(
            {
                "classifier_id": classifier.classifier_id,
                "api_key": classifier.api_key,
                "version": str(classifier.version),
            }
        )

    def _classifier(self, user: User, request: Request) -> Classifier:
        classifier = user.classifiers.get(request.params["classifier_id"])
        if classifier is None:
            raise bad_request(contract.MSG_CLASSIFIER_NOT_FOUND)
        return classifier

    def list_classifiers(self, request: Request) -> Response:
        """``GET /classifiers`` (spec 4.11)."""
        user, _key = self._authenticate(request, CredentialType.DEPLOY)
        with self.lock:
            items = [self._classifier_json(request, c) for c in user.classifiers.values()]
        return json_response({"classifiers": items})

    def get_classifier(self, request: Request) -> Response:
        """``GET /classifiers/{classifier_id}`` (spec 7.7, curl example): ``{"classifier": ...}``."""
        user, _key = self._authenticate(request, CredentialType.DEPLOY)
        with self.lock:
            return json_response({"classifier": self._classifier_json(request, self._classifier(user, request))})

    def update_classifier(self, request: Request) -> Response:
        """``PATCH /classifiers/{classifier_id}`` (spec 4.12): rules, active, is_editable."""
        user, _key = self._authenticate(request, CredentialType.DEPLOY)
        body = self._json_object(request)
        unknown = sorted(k for k in body if k not in ("rules", "active", "is_editable"))
        if unknown:
            raise bad_request(
                f"Unknown field(s) {', '.join(unknown)}: only rules, active and is_editable can be updated."
            )
        for flag in ("active", "is_editable"):
            if flag in body and not isinstance(body[flag], bool):
                raise bad_request(f"{flag} must be a boolean.")
        rules = parse_rules(body["rules"]) if "rules" in body else None
        running, building = ClassifierStatus.RUNNING.value, ClassifierStatus.BUILDING.value
        with self.lock:
            c = self._classifier(user, request)
            self._tick(c)
            rules_changed = rules is not None and rules != c.rules
            if rules is not None:
                c.rules = rules
            if "is_editable" in body:
                c.is_editable = body["is_editable"]
            active = body.get("active")
            c.updated = time.time()
            if active is False:
                c.active = False
                if c.status not in _STOPPED_STATUSES:
                    self._transition(c, ClassifierStatus.TERMINATING.value, ClassifierStatus.TERMINATED.value)
            elif active is True and (c.status in _STOPPED_STATUSES or c.status == ClassifierStatus.FAILED.value):
                c.active = True
                self._transition(c, building, running)
            else:
                if active is True:
                    c.active = True
                if rules_changed and c.status == running:
                    self._transition(c, ClassifierStatus.UPDATING.value, running)
            return json_response({"classifier": self._classifier_json(request, c)})

    def delete_classifier(self, request: Request) -> Response:
        """``DELETE /classifiers/{classifier_id}`` (spec 4.13): allowed in any status; 200 ``{}``.

        The page documents no response body, yet its example calls ``.json()`` on the answer: an
        empty JSON object satisfies both."""
        user, _key = self._authenticate(request, CredentialType.DEPLOY)
        with self.lock:
            c = self._classifier(user, request)
            del user.classifiers[c.classifier_id]
            self.classifiers.pop(c.classifier_id, None)
        return json_response({})

    # ---------------------------------------------------------------- inference

    def inference(self, request: Request) -> Response:
        """``POST <classifier url>`` (spec 4.14): predict one row."""
        with self.lock:
            c = self.classifiers.get(request.params["classifier_id"])
            if c is None or c.user.deleted:
                raise ApiError(contract.INFERENCE_CLASSIFIER_NOT_FOUND)
            if c.user.group_id != request.params["group_id"]:
                raise ApiError(contract.INFERENCE_INVALID_CLASSIFIER_ID)
            if not hmac.compare_digest((request.api_key or "").encode(), c.api_key.encode()):
                raise ApiError(contract.INFERENCE_INVALID_API_KEY)
            if not source_ip_allowed(request.client_ip, c.rules):
                raise ApiError(contract.INFERENCE_IP_NOT_ALLOWED)
            self._tick(c)
            if c.status != ClassifierStatus.RUNNING.value:
                shown = ClassifierStatus.STOPPED.value if c.status in _STOPPED_STATUSES else c.status
                raise ApiError(contract.inference_not_running(shown))
            model, version = c.trained, str(c.version)
        inputs = _parse_inference_inputs(request)
        return json_response({"version": version, "outputs": _predict_outputs(model, inputs)})

    # ---------------------------------------------------------------- retraining

    def _retrain_key_model(self, user: User, key: ApiKey) -> Model:
        with self.lock:
            model = user.models.get(key.model_id or -1)
        if model is None:
            raise bad_request(contract.MSG_MODEL_DELETED)
        return model

    def get_retrain_upload_url(self, request: Request) -> Response:
        """``GET /retrain_jobs/upload_url`` (spec 4.15): create a job waiting for its upload."""
        user, key = self._authenticate(request, CredentialType.RETRAIN)
        filename = (request.arg("filename") or "").strip()
        if not filename:
            raise bad_request("filename is required (the name of the CSV or zip file to upload).")
        model = self._retrain_key_model(user, key)
        if not (model.directory / "config.json").exists() or not (model.directory / "column_info.csv").exists():
            raise ApiError(contract.CONFIGURATION_FILE_NOT_FOUND)
        job_id = str(uuid.uuid4())
        token = _token()
        now = time.time()
        job = RetrainJob(
            job_id, user, model.model_id, filename, user.directory / "retrain" / job_id, Job(created=now, updated=now)
        )
        with self.lock:
            user.retrain_jobs[job_id] = job
            self.uploads[token] = UploadTarget(user, "retrain", retrain_job=job)
        return json_response({"retrain_job_id": job_id, "upload_url": self._url(request, UPLOAD_PATH, token=token)})

    def _start_retrain(self, job: RetrainJob) -> None:
        user = job.user
        with self.lock:
            source = user.models.get(job.source_model_id)
            if source is None:
                job.job.state, job.job.message, job.job.updated = "failed", contract.MSG_MODEL_DELETED, time.time()
                return
            now = time.time()
            model_id = user.next_model_id
            user.next_model_id += 1
            version = str(int(source.version) + 1) if source.version.isdigit() else "2"
            model = Model(
                model_id,
                user,
                source.name,
                source.raw_config,
                source.config,
                version,
                now,
                now,
                user.directory / "models" / str(model_id),
            )
            user.models[model_id] = model
            job.model_id = model_id
        source_dir = source.directory
        self._start_job(job.job, lambda: self._retrain_model(job, model, source_dir), model, "retrain", job.job_id)

    def _retrain_model(self, job: RetrainJob, model: Model, source_dir: Path) -> Callable[[Job], None]:
        model.directory.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "column_info.csv"):
            try:
                shutil.copyfile(source_dir / name, model.directory / name)
            except FileNotFoundError:
                raise DataError(contract.MSG_CONFIGURATION_FILE_NOT_FOUND) from None
        saved = json.loads((model.directory / "config.json").read_text(encoding="utf-8"))
        config = TrainConfig.from_json(saved["normalized"])
        train_path, eval_path = _split_retrain_upload(job.directory)
        learn = model.directory / "learn.csv"
        _snapshot(train_path, learn)
        if eval_path is not None:
            _snapshot(eval_path, model.directory / "eval.csv")
        data_set = self._add_data_set(job.user, job.filename, "csv", learn)
        stats = self._data_set_stats(data_set, learn)
        column_types = read_column_info(model.directory / "column_info.csv")
        archive = model.directory / "result.zip"
        result = train(learn, stats, config, column_types, model.directory / "eval.csv" if eval_path else None, archive)
        save_model(result.model, model.directory / "model.json")
        token = self._register_download(job.user, archive, "application/zip", "result.zip")

        def finish(state: Job) -> None:
            state.result_token = token
            model.trained = result.model
            model.state = "ready"
            model.updated = time.time()

        return finish

    def _retrain_job(self, request: Request, *, deleted_model_error: str) -> tuple[User, RetrainJob]:
        user, key = self._authenticate(request, CredentialType.RETRAIN, user_deleted_error=False)
        with self.lock:
            job = user.retrain_jobs.get(request.params["retrain_job_id"])
            if job is None:
                raise bad_request(contract.MSG_RETRAIN_JOB_NOT_FOUND)
            if key.model_id != job.source_model_id:
                raise bad_request(contract.MSG_NOT_FOUND_CREDENTIAL)
            if job.source_model_id not in user.models:
                raise bad_request(deleted_model_error)
        return user, job

    def get_retrain_job(self, request: Request) -> Response:
        """``GET /retrain_jobs/{retrain_job_id}`` (spec 4.16)."""
        _user, job = self._retrain_job(request, deleted_model_error=contract.MSG_JOB_DELETED)
        with self.lock:
            state = job.job.state
            body: dict[str, Any] = {"status": _RETRAIN_STATUS[state]}
            if job.model_id is not None:
                body["model_id"] = job.model_id
            if state == "failed":
                body["message"] = job.job.message
            elif state == "queued" and not job.uploaded:
                body["message"] = RETRAIN_WAITING_FOR_UPLOAD
            else:
                body["message"] = _RETRAIN_MESSAGES[state]
            if state == "finished" and job.job.result_token:
                body["download_url"] = self._url(request, DOWNLOAD_PATH, token=job.job.result_token)
            body["metadata"] = {"retrain_job_id": job.job_id}
        return json_response(body)

    def switch_model(self, request: Request) -> Response:
        """``PUT /retrain_jobs/{retrain_job_id}/update_model`` (spec 4.17)."""
        user, job = self._retrain_job(request, deleted_model_error=contract.MSG_RETRAIN_JOB_NOT_FOUND)
        with self.lock:
            if job.job.state != "finished" or job.model_id is None:
                raise bad_request(contract.MSG_RETRAIN_NOT_FINISHED)
            new_model = user.models.get(job.model_id)
            if new_model is None or new_model.trained is None:
                raise bad_request(contract.MSG_MODEL_DELETED)
            targets = [c for c in user.classifiers.values() if c.model_id == job.source_model_id]
            already = [c for c in user.classifiers.values() if c.model_id == job.model_id]
            if not targets and not already:
                raise bad_request(contract.MSG_CLASSIFIER_NOT_FOUND)
            for c in targets:
                self._tick(c)
                c.model_id, c.trained, c.version = new_model.model_id, new_model.trained, c.version + 1
                if c.status == ClassifierStatus.RUNNING.value:
                    self._transition(c, ClassifierStatus.UPDATING.value, ClassifierStatus.RUNNING.value)
                else:
                    c.updated = time.time()
        return json_response({"metadata": {"retrain_job_id": job.job_id}})


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 5987 UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _snapshot(source: Path, destination: Path) -> None:
    """Freeze an uploaded file for a job (hard link when possible; later re-uploads replace the
    upload slot's file, never this one)."""
    destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def _in_folder(name: str, folder: str) -> bool:
    parts = PurePosixPath(name).parts
    return len(parts) in (2, 3) and parts[-2] == folder and not name.startswith("__MACOSX")


def _split_retrain_upload(directory: Path) -> tuple[Path, Path | None]:
    """The retrain upload is a CSV, or a zip with ``train_src/<csv>`` and optional ``eval_src/<csv>``
    (spec 7.14; a single parent folder above them is tolerated)."""
    upload = directory / "upload.bin"
    with upload.open("rb") as handle:
        magic = handle.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        return upload, None
    try:
        with zipfile.ZipFile(upload) as archive:
            files = [info for info in archive.infolist() if not info.is_dir()]
            train = [i for i in files if _in_folder(i.filename, contract.RETRAIN_ZIP_TRAIN_DIR)]
            evaluation = [i for i in files if _in_folder(i.filename, contract.RETRAIN_ZIP_EVAL_DIR)]
            if len(train) != 1:
                raise DataError(
                    f"The retraining zip must hold exactly one file under {contract.RETRAIN_ZIP_TRAIN_DIR}/ "
                    f"(found {len(train)})."
                )
            if len(evaluation) > 1:
                raise DataError(
                    f"The retraining zip may hold at most one file under {contract.RETRAIN_ZIP_EVAL_DIR}/ "
                    f"(found {len(evaluation)})."
                )
            outputs: list[Path] = []
            for info, name in [(train[0], "train.csv"), *((e, "eval.csv") for e in evaluation)]:
                destination = directory / name
                with archive.open(info) as source, destination.open("wb") as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
                outputs.append(destination)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise DataError(f"The uploaded retraining zip cannot be read: {exc}.") from exc
    return outputs[0], (outputs[1] if len(outputs) > 1 else None)


_INFERENCE_INPUT_TYPES = {
    contract.INFERENCE_INPUT_CSV: "csv",
    contract.INFERENCE_FLAG_REASONS: "boolean",
    contract.INFERENCE_FLAG_INPUT_DATA: "boolean",
    contract.INFERENCE_FLAG_NO_CLASS: "boolean",
    contract.INFERENCE_FLAG_NO_ROW_NUMBER: "boolean",
    contract.INFERENCE_PIVOT_COLUMN: "string",
}
_INFERENCE_REQUIRED = (
    contract.INFERENCE_INPUT_CSV,
    contract.INFERENCE_FLAG_REASONS,
    contract.INFERENCE_FLAG_INPUT_DATA,
    contract.INFERENCE_FLAG_NO_CLASS,
)


@dataclass
class InferenceInputs:
    """A validated Inference request."""

    header: list[str]
    row: list[str]
    reasons: bool
    input_data: bool
    no_class: bool
    no_row_number: bool
    pivot: str | None


def _invalid() -> ApiError:
    return ApiError(contract.INFERENCE_BAD_REQUEST)


def _parse_inference_inputs(request: Request) -> InferenceInputs:
    try:
        body = request.json()
    except ValueError:
        raise _invalid() from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise _invalid()
    items: dict[str, Any] = {}
    for item in body["inputs"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "data" not in item:
            raise _invalid()
        name = item["name"]
        expected = _INFERENCE_INPUT_TYPES.get(name)
        if expected is None:
            continue  # undocumented inputs are ignored
        if name in items or item.get("type") != expected:
            raise _invalid()
        value = item["data"]
        if expected == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise _invalid()
        elif not isinstance(value, str):
            raise _invalid()
        items[name] = value
    if any(name not in items for name in _INFERENCE_REQUIRED):
        raise _invalid()
    try:
        raw = base64.b64decode("".join(items[contract.INFERENCE_INPUT_CSV].split()), validate=True)
        text = raw.decode("utf-8-sig")
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row and any(cell for cell in row)]
    except (binascii.Error, ValueError, csv.Error):
        raise _invalid() from None
    if len(rows) != 2:
        raise _invalid()
    header, row = [h.strip() for h in rows[0]], rows[1]
    if len(header) != len(row) or len(set(header)) != len(header):
        raise _invalid()
    pivot = items.get(contract.INFERENCE_PIVOT_COLUMN) or None
    if pivot is not None and pivot not in header:
        raise _invalid()
    return InferenceInputs(
        header=header,
        row=row,
        reasons=items[contract.INFERENCE_FLAG_REASONS],
        input_data=items[contract.INFERENCE_FLAG_INPUT_DATA],
        no_class=items[contract.INFERENCE_FLAG_NO_CLASS],
        no_row_number=items.get(contract.INFERENCE_FLAG_NO_ROW_NUMBER, False),
        pivot=pivot,
    )


def _csv_base64(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return base64.b64encode(buffer.getvalue().encode("utf-8")).decode("ascii")


def _predict_outputs(model: BaselineModel, inputs: InferenceInputs) -> list[dict[str, str]]:
    values = dict(zip(inputs.header, inputs.row, strict=False))
    if any(name not in values for name in model.required_columns):
        raise _invalid()
    prediction = model.predict_mapping(values)
    columns: list[str] = []
    cells: list[str] = []
    if inputs.pivot:
        columns.append(inputs.pivot)
        cells.append(values[inputs.pivot])
    if not inputs.no_row_number:
        columns.append(ROW_NUMBER_COLUMN)
        cells.append("1")
    if inputs.input_data:
        for name, value in zip(inputs.header, inputs.row, strict=False):
            if name != inputs.pivot:
                columns.append(name)
                cells.append(value)
    with_label = not inputs.no_class
    columns.extend(model.prediction_columns(with_label=with_label))
    cells.extend(model.prediction_values(prediction, with_label=with_label))
    outputs = [{"name": contract.OUTPUT_PREDICTION, "data": _csv_base64([columns, cells])}]
    if inputs.reasons:
        reasons = sorted(prediction.contributions, key=lambda item: -abs(item[2]))
        rows = [["column", "value", "contribution"]]
        rows.extend([name, value, format_number(score)] for name, value, score in reasons)
        outputs.append({"name": contract.OUTPUT_REASONS, "data": _csv_base64(rows)})
    return outputs
