"""Retraining: Get Retrain Upload URL (spec 4.15), Retrain Status Check (4.16) and Update Model (4.17).

A retrain API key is bound to one model; its jobs train a new version of that model from one
upload (a CSV, or a zip with ``train_src/`` and optional ``eval_src/``, spec 7.14), with the
source model's config and column info. Update Model then makes the prediction APIs that serve
the source model serve the new one.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import ClassifierStatus, CredentialType
from airflow_provider_predictionone.emulator.config import TrainConfig
from airflow_provider_predictionone.emulator.datasets.reading import DataError
from airflow_provider_predictionone.emulator.jobs import JobRunner, fail_job
from airflow_provider_predictionone.emulator.paths import DOWNLOAD_PATH, UPLOAD_PATH
from airflow_provider_predictionone.emulator.resources.keys import authenticate
from airflow_provider_predictionone.emulator.state import ApiKey, Job, Model, RetrainJob, Store, UploadTarget, User
from airflow_provider_predictionone.emulator.trainer import Trainer, snapshot
from airflow_provider_predictionone.emulator.web import ApiError, Request, Response, bad_request, json_response

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


class Retraining:
    """Retraining jobs of the caller (retrain API key); ``trainer`` and ``jobs`` fit and run them."""

    def __init__(self, store: Store, trainer: Trainer, jobs: JobRunner) -> None:
        self.store = store
        self.trainer = trainer
        self.jobs = jobs

    def _key_model(self, user: User, key: ApiKey) -> Model:
        with self.store.lock:
            model = user.models.get(key.model_id or -1)
        if model is None:
            raise bad_request(contract.MSG_MODEL_DELETED)
        return model

    def get_retrain_upload_url(self, request: Request) -> Response:
        """``GET /retrain_jobs/upload_url`` (spec 4.15): create a job waiting for its upload."""
        user, key = authenticate(self.store, request, CredentialType.RETRAIN)
        filename = (request.arg("filename") or "").strip()
        if not filename:
            raise bad_request("filename is required (the name of the CSV or zip file to upload).")
        model = self._key_model(user, key)
        if not (model.directory / "config.json").exists() or not (model.directory / "column_info.csv").exists():
            raise ApiError(contract.CONFIGURATION_FILE_NOT_FOUND)
        job_id = str(uuid.uuid4())
        now = time.time()
        job = RetrainJob(
            job_id, user, model.model_id, filename, user.directory / "retrain" / job_id, Job(created=now, updated=now)
        )
        with self.store.lock:
            user.retrain_jobs[job_id] = job
            token = self.store.add_upload(UploadTarget(user, "retrain", retrain_job=job))
        return json_response({"retrain_job_id": job_id, "upload_url": request.url_for(UPLOAD_PATH, token=token)})

    def start(self, job: RetrainJob) -> None:
        """Start the job once its data is uploaded: a new model version of the source model."""
        user = job.user
        with self.store.lock:
            source = user.models.get(job.source_model_id)
            if source is None:
                fail_job(job.job, None, contract.MSG_MODEL_DELETED)
                return
            version = str(int(source.version) + 1) if source.version.isdigit() else "2"
            model = self.store.add_model(user, source.name, source.raw_config, source.config, version)
            job.model_id = model.model_id
        source_dir = source.directory
        self.jobs.start(job.job, lambda: self._retrain(job, model, source_dir), model, "retrain", job.job_id)

    def _retrain(self, job: RetrainJob, model: Model, source_dir: Path) -> Callable[[Job], None]:
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
        snapshot(train_path, learn)
        if eval_path is not None:
            snapshot(eval_path, model.directory / "eval.csv")
        data_set = self.trainer.add_data_set(job.user, job.filename, "csv", learn)
        evaluation = model.directory / "eval.csv" if eval_path else None
        return self.trainer.fit(model, config, learn, evaluation, data_set)

    def _job(self, request: Request, *, deleted_model_error: str) -> tuple[User, RetrainJob]:
        user, key = authenticate(self.store, request, CredentialType.RETRAIN, user_deleted_error=False)
        with self.store.lock:
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
        _user, job = self._job(request, deleted_model_error=contract.MSG_JOB_DELETED)
        with self.store.lock:
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
                body["download_url"] = request.url_for(DOWNLOAD_PATH, token=job.job.result_token)
            body["metadata"] = {"retrain_job_id": job.job_id}
        return json_response(body)

    def switch_model(self, request: Request) -> Response:
        """``PUT /retrain_jobs/{retrain_job_id}/update_model`` (spec 4.17)."""
        user, job = self._job(request, deleted_model_error=contract.MSG_RETRAIN_JOB_NOT_FOUND)
        running = ClassifierStatus.RUNNING.value
        with self.store.lock:
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
                c.tick()
                c.model_id, c.trained, c.version = new_model.model_id, new_model.trained, c.version + 1
                if c.status == running:
                    c.transition(ClassifierStatus.UPDATING.value, running, self.store.settings.build_seconds)
                else:
                    c.updated = time.time()
        return json_response({"metadata": {"retrain_job_id": job.job_id}})


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
