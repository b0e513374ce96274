"""The train flow (spec 1.1) as hook methods: upload the data, start training once, read the result.

A training costs money and time and Prediction One has no idempotency key, so
:meth:`TrainingMixin.start_training` records the job in the task's ledger *before* the Train
request and re-attaches on the next try of the same task: to the recorded job, or — when the
answer to Train was lost — to the training found by its deterministic model name (spec 7.4).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api import retry
from airflow_provider_predictionone.api.contract import JobKind, JobState
from airflow_provider_predictionone.api.errors import (
    JobFailedError,
    ModelNotFoundError,
    PredictionOneConfigError,
    PredictionOneError,
    PredictionOneTransportError,
    UndocumentedApiError,
)
from airflow_provider_predictionone.hooks.jobs import DEFAULT_CHECK_INTERVAL, DEFAULT_TIMEOUT, JobsMixin

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.config import TrainConfig
    from airflow_provider_predictionone.api.models import DataSetInfo, Model, TrainStatus
    from airflow_provider_predictionone.api.results import TrainingResult
    from airflow_provider_predictionone.api.sources import PathOrFile

MODEL_NAME_MAX = 100
_NAME_HASH_LENGTH = 10
SETTLING = retry.RetryPolicy(max_retries=4, backoff_seconds=2.0, max_backoff_seconds=8.0, jitter=False)
"""How long to wait for the service to catch up: Train Data Set Info right after the uploads (spec
7.5) and a new model in Get Model right after its training finished."""


@dataclass(frozen=True)
class TrainingJob:
    """A training the hook started (or re-attached to): poll it with ``external_process_id``."""

    external_process_id: str
    model_name: str


def default_model_name(context: Mapping[str, Any] | None) -> str:
    """A model name unique to the DAG run and task (spec 7.4 needs one to find the model id), or
    a random one outside a task. A name longer than the service allows keeps its beginning and
    ends with a short hash of the whole name, so that two long names never collide."""
    ti = None if context is None else context.get("ti")
    if ti is None:
        return f"predictionone-{uuid.uuid4().hex[:16]}"
    map_index = getattr(ti, "map_index", -1)
    suffix = f".{map_index}" if map_index not in (None, -1) else ""
    raw = f"{ti.dag_id}.{ti.task_id}{suffix}.{ti.run_id}"
    name = re.sub(r"[^\w.\-:+]", "_", raw)
    if len(name) <= MODEL_NAME_MAX:
        return name
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:_NAME_HASH_LENGTH]
    return f"{name[: MODEL_NAME_MAX - _NAME_HASH_LENGTH - 1]}-{digest}"


def summarize_data_set(info: DataSetInfo) -> str:
    """One line: rows, columns and the columns the service judged unusable."""
    unusable = ", ".join(info.useless_columns) or "none"
    return (
        f"Prediction One read {info.row_count} rows x {len(info.raw_column_names)} columns; "
        f"columns judged unusable: {unusable}."
    )


def check_target_usable(info: DataSetInfo, target_column: str) -> None:
    """Refuse a target column the uploaded data lacks or the service judged unusable."""
    if target_column not in info.raw_column_names:
        raise PredictionOneConfigError(
            f"target_column={target_column!r} is not a column of the uploaded training data; its columns are "
            f"{info.raw_column_names}."
        )
    if target_column in info.useless_columns:
        raise PredictionOneConfigError(
            f"Prediction One judged the target column {target_column!r} unusable (e.g. constant or all "
            "missing). Check the training data."
        )


class TrainingMixin(JobsMixin):
    """Upload training data, train a model, read its result."""

    def upload_training_data(
        self,
        training_file: PathOrFile,
        column_info: Mapping[str, Any] | PathOrFile,
        evaluation_file: PathOrFile | None = None,
        *,
        target_column: str | None = None,
        check_data: bool = True,
    ) -> str:
        """Upload the training file, the column info and an optional evaluation file (spec 1.1 steps 2–3).

        Everything is checked before any request (:func:`~.api.datafiles.check_training_files`): the
        files are UTF-8 CSVs with data rows (the training file at least as many as any training
        needs; its first rows are read, never the whole file), ``target_column`` is one of its
        columns and does not hold a single value, the column info types every column, the evaluation
        file has the same columns. With ``check_data`` Train Data Set Info is read afterwards and
        logged, and an unusable ``target_column`` fails.

        :param training_file: a local path, a storage path or a binary file object.
        :param column_info: ``{column: type}`` (``string``, ``float``, ``date``, ``text``) or a
            column-info CSV; what is uploaded is always the canonical file (UTF-8 with BOM, rows in
            the training file's order).
        :return: the ``external_process_id`` that training needs.
        """
        from airflow_provider_predictionone.api.datafiles import check_training_files, column_info_source

        files = check_training_files(training_file, evaluation_file, target_column=target_column)
        for warning in files.warnings:
            self.log.warning("%s", warning)
        training, evaluation = files.training, files.evaluation
        info, _columns = column_info_source(column_info, files.header)
        client = self.get_conn()
        urls = client.train_upload_urls()
        self.log.info("Uploading training data for external_process_id %s.", urls.external_process_id)
        client.upload(urls.learn_data_set_upload_url, training, label="training file")
        client.upload(urls.column_info_upload_url, info, label="column-info file")
        if evaluation is not None:
            client.upload(urls.eval_data_set_upload_url, evaluation, label="evaluation file")
        if check_data:
            self.check_uploaded_data(urls.external_process_id, target_column)
        return urls.external_process_id

    def check_uploaded_data(self, external_process_id: str, target_column: str | None = None) -> DataSetInfo:
        """Read Train Data Set Info of an upload (:meth:`read_data_set_info`), log a summary, and refuse a
        ``target_column`` the data lacks or the service judged unusable."""
        info = self.read_data_set_info(external_process_id)
        self.log.info("%s", summarize_data_set(info))
        if target_column:
            check_target_usable(info, target_column)
        return info

    def read_data_set_info(self, external_process_id: str) -> DataSetInfo:
        """Train Data Set Info (spec 4.3), asked again for a short while when the service answers with
        an undocumented error: it may still be processing the uploads (spec 7.5)."""
        return retry.run(
            SETTLING,
            lambda: self.get_conn().data_set_info(external_process_id),
            what="Train Data Set Info",
            retry_if=lambda exc: isinstance(exc, UndocumentedApiError),
            logger=self.log,
        )

    def start_training(
        self,
        external_process_id: str,
        config: TrainConfig | Mapping[str, Any],
        *,
        model_name: str | None = None,
        check_data: bool = True,
        context: Mapping[str, Any] | None = None,
    ) -> TrainingJob:
        """Start training once per task (spec 4.4), or re-attach to the training an earlier try started.

        :param config: a :class:`~.api.config.TrainConfig` or a mapping of its options (readable
            names or spec keys); validated before any request.
        :param model_name: default: unique to the DAG, task and run (see :func:`default_model_name`).
        :param check_data: check the config against Train Data Set Info before Train is sent.
        :param context: the task's context (default: the running task's, if any) for the ledger.
        :raises JobFailedError: the training an earlier try started failed (it is not started again
            for the same upload: Train refuses an ``external_process_id`` trained already).
        """
        from airflow_provider_predictionone.api.config import TrainConfig

        settings = TrainConfig.from_mapping(config)
        settings.validate()
        ledger = self.ledger(context, JobKind.TRAIN.value)
        record = ledger.get()
        name = model_name or default_model_name(context or ledger.context)
        if record and record.get("upload_id") == external_process_id:
            name = str(record.get("model_name") or name)
            if record.get("job_id"):
                return TrainingJob(self._reattached(str(record["job_id"])), name)
            found = self._lost_training(external_process_id, name)
            if found is not None:
                return TrainingJob(found, name)
        if check_data:
            info = self.read_data_set_info(external_process_id)
            self.log.info("%s", summarize_data_set(info))
            for warning in settings.validate_against_data(info):
                self.log.warning("%s", warning)
        # Recorded before Train is sent: if its answer is lost, the next try looks the model up by
        # this name instead of sending Train again (see _lost_training).
        ledger.set({"upload_id": external_process_id, "job_id": None, "model_name": name})
        job_id = self._train(external_process_id, name, settings)
        ledger.set({"upload_id": external_process_id, "job_id": job_id, "model_name": name})
        return TrainingJob(job_id, name)

    def _reattached(self, job_id: str, status: TrainStatus | None = None) -> str:
        status = status or self.get_conn().train_status(job_id)
        if status.state is JobState.FAILED:
            message = status.message or "no message from the service"
            raise JobFailedError(
                f"Prediction One training {job_id}, started by an earlier try of this task, failed with status "
                f"{status.status!r}: {message}. It is not started again for the same upload: fix the data or the "
                "config, then clear the upload task and this task to upload and train afresh.",
                status=status.status,
                message=status.message,
            )
        self.log.info("Re-attaching to training %s started by an earlier try (no duplicate).", job_id)
        return job_id

    def _lost_training(self, external_process_id: str, model_name: str) -> str | None:
        """An earlier try sent Train but recorded no answer: a model named ``model_name`` means the
        request reached the service (its training is polled with the upload's id, spec 4.5 / 7.3);
        none means nothing was created. Known window: a service that listed the model only some
        time after accepting Train could still be asked twice."""
        client = self.get_conn()
        model = client.find_model_by_name(model_name)
        if model is None:
            self.log.info(
                "An earlier try sent Train for %r without an answer, and no model has that name: it did not reach "
                "the service. Starting training.",
                model_name,
            )
            return None
        try:
            status = client.train_status(external_process_id)
        except PredictionOneError as exc:
            raise PredictionOneError(
                f"An earlier try of this task sent Train for model {model_name!r} and lost the answer. A model with "
                f"that name exists (model_id {model.model_id}), but the training of external_process_id "
                f"{external_process_id} cannot be read ({exc}). Not starting a second training. If that model "
                "belongs to another run, give this task a model_name that is unique per run."
            ) from exc
        self.log.info(
            "An earlier try's Train request for %r reached the service although its answer was lost (model_id %s, "
            "status %r): re-attaching instead of training twice.",
            model_name,
            model.model_id,
            status.status,
        )
        return self._reattached(external_process_id, status)

    def _train(self, external_process_id: str, model_name: str, config: TrainConfig) -> str:
        client = self.get_conn()
        try:
            job_id = client.create_model(external_process_id, model_name, config.to_api())
        except PredictionOneTransportError as exc:
            raise exc.with_advice(
                "A retry of this task does not send Train blindly: it first looks for a model named "
                f"{model_name!r} and re-attaches to its training if the request did reach the service."
            ) from exc
        except UndocumentedApiError as exc:
            # Spec 7.6: value types are undocumented. A bad-request answer without a documented
            # message means nothing was created, so the other representation is tried once.
            if exc.status_code != 400:
                raise
            self.log.warning("Train rejected the config (%s); retrying with the alternate value types.", exc.message)
            job_id = client.create_model(external_process_id, model_name, config.to_api(alternate=True))
            self.log.info("The alternate config representation was accepted (spec 7.6).")
        self.log.info("Started training %r: external_process_id %s.", model_name, job_id)
        return job_id

    def model_named(self, model_name: str) -> Model:
        """The model trained under ``model_name`` (spec 7.4), asked again for a short while: the
        model list may lag the training's status."""

        def find() -> Model:
            model = self.get_conn().find_model_by_name(model_name)
            if model is None:
                raise ModelNotFoundError(f"Get Model lists no model named {model_name!r} after its training finished.")
            return model

        return retry.run(
            SETTLING, find, what="Get Model", retry_if=lambda exc: isinstance(exc, ModelNotFoundError), logger=self.log
        )

    def download_result(self, url: str, destination: Any = None) -> TrainingResult:
        """Download a result archive (training or retraining) and read its metrics, keeping it at
        ``destination`` when given (a local path, or a storage path that gets the archive copied
        from a local temporary file once it is complete and checked)."""
        from airflow_provider_predictionone.api.results import TrainingResult
        from airflow_provider_predictionone.api.scratch import working_folder
        from airflow_provider_predictionone.api.sources import copy_to_storage, is_storage_path

        client = self.get_conn()
        with working_folder() as folder:
            local = Path(folder) / "result.zip" if is_storage_path(destination) or destination is None else destination
            client.download(url, label="result archive", destination=local)
            result = TrainingResult.from_zip_bytes(Path(local).read_bytes())
            if is_storage_path(destination):
                copy_to_storage(local, destination)
        return result

    def training_result(
        self,
        job: TrainingJob,
        status: TrainStatus,
        *,
        result_path: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What a finished training produced: ``external_process_id``, ``model_id``, ``model_name``,
        ``status``, ``metrics``, ``result_files``, ``result_path``. Clears the task's ledger entry
        (clearing the task later trains again)."""
        model = self.model_named(job.model_name)
        metrics: dict[str, Any] = {}
        files: list[str] = []
        if status.result_url:
            result = self.download_result(status.result_url, result_path)
            metrics, files = result.metrics, result.file_names
        self.log.info("Training finished: model_id %s, metrics %s", model.model_id, metrics)
        self.ledger(context, JobKind.TRAIN.value).clear()
        return {
            "external_process_id": job.external_process_id,
            "model_id": model.model_id,
            "model_name": job.model_name,
            "status": status.status,
            "metrics": metrics,
            "result_files": files,
            "result_path": None if result_path is None else str(result_path),
        }

    def train_model(
        self,
        external_process_id: str,
        config: TrainConfig | Mapping[str, Any],
        *,
        model_name: str | None = None,
        check_data: bool = True,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        result_path: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Train a model and wait for it: :meth:`start_training`, :meth:`wait_for_job`,
        :meth:`training_result` (what the train operator does when it does not defer)."""
        job = self.start_training(
            external_process_id, config, model_name=model_name, check_data=check_data, context=context
        )
        status = self.wait_for_job(
            JobKind.TRAIN, job.external_process_id, check_interval=check_interval, timeout=timeout
        )
        return self.training_result(job, status, result_path=result_path, context=context)
