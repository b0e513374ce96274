"""The emulator's state: the records of every resource and the :class:`Store` that holds them.

The store guards everything with one re-entrant ``lock``; long work (streaming uploads,
statistics, training) runs outside it. Files live under the data directory::

    users/<user_id>/processes/<external_process_id>/{learn,eval,column_info}.csv
    users/<user_id>/models/<model_id>/{learn.csv,eval.csv,column_info.csv,config.json,model.json,result.zip}
    users/<user_id>/retrain/<retrain_job_id>/{upload.bin,train.csv,eval.csv}
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api.contract import ClassifierStatus
from airflow_provider_predictionone.emulator.baseline.models import BaselineModel
from airflow_provider_predictionone.emulator.config import TrainConfig

STOPPED_STATUSES = frozenset({ClassifierStatus.TERMINATING.value, ClassifierStatus.TERMINATED.value})
"""Statuses of a prediction API that was stopped (inference answers ``stopped``)."""


def new_token() -> str:
    """A fresh bearer token for an upload or download URL."""
    return secrets.token_urlsafe(24)


@dataclass
class Settings:
    """Timings of the emulated service (seconds)."""

    train_seconds: float = 5.0
    build_seconds: float = 2.0
    key_lifetime: float = 3600.0


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

    def tick(self) -> None:
        """Apply the pending status change once it is due (``running`` marks the API built)."""
        pending = self.pending
        if pending is not None and time.monotonic() >= pending[0]:
            self.status, self.updated, self.pending = pending[1], pending[2], None
            if self.status == ClassifierStatus.RUNNING.value:
                self.built = True

    def transition(self, interim: str, final: str, seconds: float) -> None:
        """Enter ``interim`` now and ``final`` after ``seconds``."""
        now = time.time()
        self.status, self.updated = interim, now
        self.pending = (time.monotonic() + seconds, final, now + seconds)
        self.tick()


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
    """What an upload URL writes: a file of a training process, or the data of a retraining job."""

    user: User
    kind: str  # learn / eval / column_info / retrain
    process: TrainProcess | None = None
    retrain_job: RetrainJob | None = None


@dataclass
class DownloadTarget:
    """What a download URL serves."""

    user: User
    path: Path
    content_type: str
    filename: str


class RequestCounter:
    """How many requests reached each route, by ``(method, route name)``."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, method: str, route: str) -> None:
        with self._lock:
            self._counts[(method, route)] += 1

    def count(self, method: str | None, route: str) -> int:
        """Requests with this method (``None`` = any) that reached this route."""
        with self._lock:
            wanted = None if method is None else method.upper()
            return sum(n for (m, r), n in self._counts.items() if r == route and wanted in (None, m))

    def all(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class Store:
    """Every record of the emulated service, guarded by one re-entrant ``lock``.

    ``users`` by secret key (each with its processes, models, data sets, classifiers and
    retraining jobs), issued API ``keys``, ``uploads`` and ``downloads`` by URL token, every
    ``classifiers`` by id (for inference); ``stopping`` is set when the emulator stops;
    ``requests`` counts the requests by route.
    """

    def __init__(self, data_dir: Path, settings: Settings, secret_keys: list[str]) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.users: dict[str, User] = {}
        self.keys: dict[str, ApiKey] = {}
        self.uploads: dict[str, UploadTarget] = {}
        self.downloads: dict[str, DownloadTarget] = {}
        self.classifiers: dict[str, Classifier] = {}
        self.requests = RequestCounter()
        for secret in secret_keys:
            self.add_user(secret)

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

    def add_model(self, user: User, name: str, raw_config: dict[str, Any], config: TrainConfig, version: str) -> Model:
        """A new model record of ``user`` (state ``training``), with the next model id."""
        with self.lock:
            now = time.time()
            model_id = user.next_model_id
            user.next_model_id += 1
            directory = user.directory / "models" / str(model_id)
            model = Model(model_id, user, name, raw_config, config, version, now, now, directory)
            user.models[model_id] = model
            return model

    def add_upload(self, target: UploadTarget) -> str:
        """Issue an upload URL token for ``target``."""
        token = new_token()
        with self.lock:
            self.uploads[token] = target
        return token

    def add_download(self, user: User, path: Path, content_type: str, filename: str) -> str:
        """Issue a download URL token for a file."""
        token = new_token()
        with self.lock:
            self.downloads[token] = DownloadTarget(user, path, content_type, filename)
        return token
