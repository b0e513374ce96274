"""Training: upload URLs (spec 4.2), Train Data Set Info (4.3), Train (4.4) and Train Status (4.5)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import CredentialType
from airflow_provider_predictionone.emulator.config import ConfigError, parse_config
from airflow_provider_predictionone.emulator.datasets.reading import DataError
from airflow_provider_predictionone.emulator.jobs import JobRunner
from airflow_provider_predictionone.emulator.paths import DOWNLOAD_PATH, UPLOAD_PATH
from airflow_provider_predictionone.emulator.resources.keys import authenticate
from airflow_provider_predictionone.emulator.state import Job, Store, TrainProcess, UploadTarget, User
from airflow_provider_predictionone.emulator.trainer import Trainer, snapshot
from airflow_provider_predictionone.emulator.web import Request, Response, bad_request, iso, json_response

UPLOAD_KINDS = ("learn", "eval", "column_info")
"""The upload slots of a training process."""

_TRAIN_STATUS = {
    "queued": contract.TRAIN_STATUS_QUEUED,
    "running": contract.TRAIN_STATUS_RUNNING,
    "finished": contract.TRAIN_STATUS_FINISHED,
    "failed": contract.TRAIN_STATUS_FAILED,
}


class Training:
    """Training processes (an ``external_process_id`` each): their uploads, statistics and job.

    ``read_json(request)`` reads a JSON object body; ``trainer`` and ``jobs`` fit and run.
    """

    def __init__(
        self, store: Store, trainer: Trainer, jobs: JobRunner, read_json: Callable[[Request], dict[str, Any]]
    ) -> None:
        self.store = store
        self.trainer = trainer
        self.jobs = jobs
        self._read_json = read_json

    def get_upload_urls(self, request: Request) -> Response:
        """``GET /data-sets/upload-url`` (spec 4.2): three upload URLs and an ``external_process_id``."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        extension = (request.arg("extension") or "").strip().lower().lstrip(".")
        if not extension:
            raise bad_request("extension is required (e.g. extension=csv).")
        if extension not in ("csv", "tsv"):
            raise bad_request("extension must be csv (or tsv).")
        process_id = str(uuid.uuid4())
        process = TrainProcess(process_id, user, extension, user.directory / "processes" / process_id)
        process.directory.mkdir(parents=True, exist_ok=True)
        with self.store.lock:
            user.processes[process_id] = process
            tokens = {kind: self.store.add_upload(UploadTarget(user, kind, process=process)) for kind in UPLOAD_KINDS}
        return json_response(
            {
                "learn_data_set_upload_url": request.url_for(UPLOAD_PATH, token=tokens["learn"]),
                "eval_data_set_upload_url": request.url_for(UPLOAD_PATH, token=tokens["eval"]),
                "column_info_upload_url": request.url_for(UPLOAD_PATH, token=tokens["column_info"]),
                "external_process_id": process_id,
            }
        )

    def _process(self, user: User, request: Request) -> TrainProcess:
        process_id = (request.arg("external_process_id") or "").strip()
        if not process_id:
            raise bad_request("external_process_id is required.")
        with self.store.lock:
            process = user.processes.get(process_id)
        if process is None:
            raise bad_request(
                f"Unknown external_process_id {process_id!r}: get one from {contract.PATH_DATA_SET_UPLOAD_URL}."
            )
        return process

    def get_column_info(self, request: Request) -> Response:
        """``GET /data-sets/column-info`` (spec 4.3): statistics of the uploaded training file."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        process = self._process(user, request)
        learn = process.path("learn")
        if not learn.exists():
            raise bad_request("The training data set has not been uploaded for this external_process_id yet.")
        try:
            stats = self.trainer.stats.stats(learn)
        except DataError as exc:
            raise bad_request(f"The uploaded training data cannot be read: {exc}") from exc
        return json_response(stats.to_api())

    def create_model(self, request: Request) -> Response:
        """``POST /models`` (spec 4.4): create the model record and start training."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        body = self._read_json(request)
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
        with self.store.lock:
            process = user.processes.get(process_id)
            if process is None:
                raise bad_request(f"Unknown external_process_id {process_id!r}.")
            if process.job is not None:
                raise bad_request("Training has already been started for this external_process_id.")
            if not process.path("learn").exists():
                raise bad_request("The training data set has not been uploaded for this external_process_id.")
            if not process.path("column_info").exists():
                raise bad_request("The column-info file has not been uploaded for this external_process_id.")
            model = self.store.add_model(user, name, body["config"], config, "1")
            process.job = job = Job(created=model.created, updated=model.created)
            process.model_id = model.model_id
        model.directory.mkdir(parents=True, exist_ok=True)
        for kind in UPLOAD_KINDS:
            if process.path(kind).exists():
                snapshot(process.path(kind), model.directory / f"{kind}.csv")
        (model.directory / "config.json").write_text(
            json.dumps({"name": name, "config": body["config"], "normalized": config.to_json()}, ensure_ascii=False),
            encoding="utf-8",
        )
        learn = model.directory / "learn.csv"
        data_set = self.trainer.add_data_set(user, name, process.extension, learn)
        eval_path = model.directory / "eval.csv"
        self.jobs.start(
            job,
            lambda: self.trainer.fit(model, config, learn, eval_path if eval_path.exists() else None, data_set),
            model,
            "train",
            process_id,
        )
        return json_response({"external_process_id": process_id})

    def get_train_status(self, request: Request) -> Response:
        """``GET /models/results`` (spec 4.5)."""
        user, _key = authenticate(self.store, request, CredentialType.TRAIN)
        process = self._process(user, request)
        with self.store.lock:
            job = process.job
            if job is None:
                raise bad_request("No training has been started for this external_process_id (POST /models first).")
            body: dict[str, Any] = {
                "status": _TRAIN_STATUS[job.state],
                "created_datetime": iso(job.created),
                "updated_datetime": iso(job.updated),
            }
            if job.state == "finished" and job.result_token:
                body["result_url"] = request.url_for(DOWNLOAD_PATH, token=job.result_token)
            if job.state == "failed":
                body["message"] = job.message
        return json_response(body)
