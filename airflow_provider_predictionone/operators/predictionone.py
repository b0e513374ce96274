"""Operators for Prediction One: upload training data, train, retrain and switch models.

All operators are thin: the API client does HTTP, the hook turns a connection into a client,
the shared trigger does deferred waiting. Constructors never touch the network or a connection.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api.contract import RETRAIN_STATUS_RUNNING, JobState
from airflow_provider_predictionone.api.errors import (
    JobFailedError,
    JobTimeoutError,
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneError,
    PredictionOneTransportError,
    PredictionOneUploadError,
    connection_not_found,
)
from airflow_provider_predictionone.compat import BaseOperator, default_deferrable
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook
from airflow_provider_predictionone.operators.ledger import JobLedger
from airflow_provider_predictionone.operators.lineage import PredictionOneLineageMixin, file_ref, pushed

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.client import PredictionOneClient
    from airflow_provider_predictionone.api.config import TrainConfig
    from airflow_provider_predictionone.api.models import DataSetInfo, RetrainStatus, TrainingResult, TrainStatus
    from airflow_provider_predictionone.compat import Context

DEFAULT_CHECK_INTERVAL = 30.0
DEFAULT_TIMEOUT = 24 * 3600.0
MODEL_NAME_MAX = 100
_NAME_HASH_LENGTH = 10


_EMPTY_TEXTS = frozenset({"", "none", "null"})
"""What a required value looks like when it is missing: a template renders a missing param or XCom as 'None'."""

_TEMPLATE_NOTE = (
    "If it comes from a template or an XCom, check that it renders to a value: a missing param or XCom "
    "renders as 'None'."
)

_REQUIRED_HINTS = {
    "external_process_id": "pass the id the upload operator returns (e.g. external_process_id=upload.output)",
    "retrain_job_id": "pass the id the retrain operator pushes to XCom (key 'retrain_job_id')",
    "classifier_id": "pass the prediction API id the deploy operator pushes to XCom (key 'classifier_id')",
    "training_file": "pass the path of the training CSV file",
    "column_info": "pass a {column: type} mapping or the path of a column-info CSV file",
    "input_file": "pass the path of the CSV file to score",
    "output_file": "pass the path to write the predictions to",
}


def _as_int(name: str, value: Any) -> int:
    """``value`` as an int: templated ids render to strings, so "12" is accepted."""
    if isinstance(value, bool):
        raise PredictionOneConfigError(f"{name}={value!r} is not an id; pass the numeric {name}.")
    if value is None or str(value).strip().lower() in _EMPTY_TEXTS:
        raise PredictionOneConfigError(
            f"{name}={value!r} is empty; it is required: pass the numeric {name}. {_TEMPLATE_NOTE}"
        )
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise PredictionOneConfigError(
            f"{name}={value!r} is not a whole number. Pass the numeric {name}, e.g. 12. {_TEMPLATE_NOTE}"
        ) from None


def _as_id(name: str, value: Any) -> int:
    """A positive whole-number id (model ids start at 1): "0" and "-3" are refused before any request."""
    number = _as_int(name, value)
    if number <= 0:
        raise PredictionOneConfigError(f"{name}={value!r} is not a valid id; ids are positive whole numbers.")
    return number


def _require_text(name: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if text.lower() in _EMPTY_TEXTS:
        hint = _REQUIRED_HINTS.get(name, f"pass a value for {name}")
        raise PredictionOneConfigError(f"{name}={value!r} is empty; it is required: {hint}. {_TEMPLATE_NOTE}")
    return text


def _positive(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PredictionOneConfigError(f"{name}={value!r} is not a number of seconds.") from None
    if number <= 0:
        raise PredictionOneConfigError(f"{name}={value!r} must be more than 0 seconds.")
    return number


def _is_runtime_reference(value: Any) -> bool:
    """Whether ``value`` is something Airflow resolves at run time: an ``XComArg`` (``task.output``,
    a ``@task`` call's result) or another of Airflow's ``ResolveMixin`` values.

    Duck-typed on ``resolve`` and ``iter_references`` (what ``ResolveMixin`` defines on every
    supported Airflow version), so that no version-dependent import is needed.
    """
    return callable(getattr(value, "resolve", None)) and callable(getattr(value, "iter_references", None))


def _is_templated(value: Any) -> bool:
    """Whether ``value`` is known only at run time: a Jinja template, an ``XComArg`` (see
    :func:`_is_runtime_reference`), or a mapping / list / tuple holding one. Such values are
    validated after rendering, in ``execute``."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if _is_runtime_reference(value):
        return True
    if isinstance(value, Mapping):
        return any(_is_templated(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_is_templated(v) for v in value)
    return False


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def default_model_name(context: Context) -> str:
    """A model name unique to the DAG run and task (spec 7.4 needs one to find the model id).

    A name longer than the service allows (``MODEL_NAME_MAX``) keeps its beginning and ends with a
    short hash of the whole name, so that two long names never collide.
    """
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    suffix = f".{map_index}" if map_index not in (None, -1) else ""
    raw = f"{ti.dag_id}.{ti.task_id}{suffix}.{ti.run_id}"
    name = re.sub(r"[^\w.\-:+]", "_", raw)
    if len(name) <= MODEL_NAME_MAX:
        return name
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:_NAME_HASH_LENGTH]
    return f"{name[: MODEL_NAME_MAX - _NAME_HASH_LENGTH - 1]}-{digest}"


class PredictionOneBaseOperator(BaseOperator):
    """Base of the Prediction One operators: the connection id and a lazily built hook.

    File arguments take a local path on the worker, a URL (``s3://``, ``gs://``, ``file://``,
    ``memory://`` ... any scheme Airflow's object storage has a filesystem for) or an
    ``ObjectStoragePath``; see :mod:`airflow_provider_predictionone.storage`.

    :param predictionone_conn_id: the Prediction One connection (secret key as password); templated on
        the upload, train, retrain and switch operators.
    :param storage_conn_id: the connection for file URLs (e.g. an ``aws_default`` for ``s3://``);
        default: the filesystem's default connection. An ``ObjectStoragePath`` keeps its own.
    """

    def __init__(
        self,
        *,
        predictionone_conn_id: str = PredictionOneHook.default_conn_name,
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.predictionone_conn_id = predictionone_conn_id
        self.storage_conn_id = storage_conn_id

    def _file(self, name: str, value: Any, *, required: bool = False) -> Any:
        """A file argument as the API layer takes it: a local path (str), an ``ObjectStoragePath``
        (from a URL or given as one), or ``None`` when it is empty and optional."""
        from airflow_provider_predictionone.api.files import is_storage_path
        from airflow_provider_predictionone.storage import resolve_path

        if is_storage_path(value):
            return value
        if required:
            value = _require_text(name, value)
        elif value is None or str(value).strip().lower() in _EMPTY_TEXTS:
            return None
        return resolve_path(value, param=name, conn_id=self.storage_conn_id)

    @cached_property
    def hook(self) -> PredictionOneHook:
        return PredictionOneHook(self.predictionone_conn_id)

    @property
    def client(self) -> PredictionOneClient:
        return connect(self.hook)


def connect(hook: PredictionOneHook) -> PredictionOneClient:
    """``hook.get_conn()``, with a missing connection reported as bad input (with its fix)."""
    try:
        return hook.get_conn()
    except Exception as exc:
        if type(exc).__name__ != "AirflowNotFoundException":  # the class moved between Airflow versions
            raise
        raise connection_not_found(hook.predictionone_conn_id) from exc


class _JobWaitingOperator(PredictionOneBaseOperator):
    """Shared waiting for a training or retraining job: poll in the worker, or defer."""

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.check_interval = _positive("check_interval", check_interval)
        self.timeout = _positive("timeout", timeout)
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _wait(
        self,
        context: Context,
        *,
        kind: str,
        job_id: str,
        model_id: int | None,
        resume_kwargs: dict[str, Any],
    ) -> TrainStatus | RetrainStatus:
        """Return the job's final status once it succeeded; raise if it failed or timed out
        (``check_job`` raises ``JobFailedError`` with the service's message).

        When deferrable and still running, this defers (raises ``TaskDeferred``) and the task
        resumes in ``execute_complete`` with ``resume_kwargs``.
        """
        from airflow_provider_predictionone.triggers.predictionone import PredictionOneJobTrigger, check_job

        deadline = time.time() + self.timeout
        status = check_job(self.client, kind, job_id, model_id)
        if not status.state.is_terminal and self.deferrable:
            self.log.info("Deferring while Prediction One %s job %s runs (status %r).", kind, job_id, status.status)
            self.defer(
                trigger=PredictionOneJobTrigger(
                    kind=kind,
                    job_id=job_id,
                    model_id=model_id,
                    predictionone_conn_id=self.predictionone_conn_id,
                    poll_interval=self.check_interval,
                    end_time=deadline,
                ),
                method_name="execute_complete",
                kwargs=resume_kwargs,
            )
        last = None
        while not status.state.is_terminal:
            if status.status != last:
                self.log.info("Prediction One %s job %s: status %r.", kind, job_id, status.status)
                last = status.status
            if time.time() + self.check_interval > deadline:
                raise JobTimeoutError(
                    f"Prediction One {kind} job {job_id} did not finish within {self.timeout:.0f}s "
                    f"(last status {status.status!r}). It may still be running; raise `timeout`, or retry the "
                    "task: the retry re-attaches to this job instead of starting another."
                )
            time.sleep(self.check_interval)
            status = check_job(self.client, kind, job_id, model_id)  # raises JobFailedError on failure
        return status

    def _pushed(self, context: Context, key: str) -> str:
        """An id this task pushed to XCom before deferring (XComs survive a resume)."""
        value = context["ti"].xcom_pull(task_ids=self.task_id, key=key)
        return "" if value is None else str(value)

    def _resume_status(self, event: dict[str, Any], job_id: str, kind: str, model_id: int | None) -> Any:
        from airflow_provider_predictionone.triggers.predictionone import check_job, job_event_result

        job_event_result(event, expected_job_id=job_id)
        return check_job(self.client, kind, job_id, model_id)


class PredictionOneUploadDataOperator(PredictionOneLineageMixin, PredictionOneBaseOperator):
    """Upload training data to Prediction One and return the ``external_process_id``.

    Uploads the training file, the column-info file and, optionally, an evaluation file (spec
    4.2). The files are checked before anything is sent: the training file must be UTF-8 CSV and
    the column info must give a type to every one of its columns. Afterwards the operator reads
    Train Data Set Info and logs a summary; with ``target_column`` it fails when that column is
    missing or judged unusable by the service.

    :param training_file: path of the training CSV (UTF-8, header row). Templated.
    :param column_info: ``{column: type}`` (types ``string``, ``float``, ``date``, ``text``) or the
        path of a column-info CSV. Templated.
    :param evaluation_file: optional path of an evaluation CSV with the same columns. Templated.
    :param target_column: the column the model will predict; checked against the statistics.
    :param check_data: read Train Data Set Info after uploading (default true).
    :return: the ``external_process_id`` (also pushed to XCom).
    """

    template_fields: Sequence[str] = (
        "training_file",
        "column_info",
        "evaluation_file",
        "target_column",
        "predictionone_conn_id",
    )
    ui_color = "#dbe9f6"

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Inputs: the uploaded files; output: the data set on Prediction One."""
        column_info = None if isinstance(self.column_info, Mapping) else self.column_info
        files = [file_ref(self.training_file), file_ref(self.evaluation_file), file_ref(column_info)]
        epid = pushed(task_instance, self.task_id, "external_process_id")
        return files, [self.service_ref("datasets", epid)]

    def __init__(
        self,
        *,
        training_file: str | Path,
        column_info: Mapping[str, str] | str | Path,
        evaluation_file: str | Path | None = None,
        target_column: str | None = None,
        check_data: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.training_file = training_file
        self.column_info = column_info
        self.evaluation_file = evaluation_file
        self.target_column = target_column
        self.check_data = check_data

    def execute(self, context: Context) -> str:
        training_file = self._file("training_file", self.training_file, required=True)
        column_info = (
            self.column_info
            if isinstance(self.column_info, Mapping)
            else self._file("column_info", self.column_info, required=True)
        )
        evaluation_file = self._file("evaluation_file", self.evaluation_file)
        if self.target_column:
            check_target_in_file(training_file, str(self.target_column))  # before anything is created
        urls = self.client.upload_training_data(training_file, column_info, evaluation_file)
        epid = urls.external_process_id
        context["ti"].xcom_push(key="external_process_id", value=epid)
        if self.check_data:
            info = read_data_set_info(self.client, epid)
            self.log.info("%s", summarize_data_set(info))
            if self.target_column:
                check_target_usable(info, str(self.target_column))
        return epid


def check_target_in_file(training_file: Any, target_column: str) -> None:
    """Refuse a target column the training file (local or a storage path) does not have, before any request."""
    from airflow_provider_predictionone.api import files
    from airflow_provider_predictionone.api.config import _suggest

    source = files.UploadSource.of(training_file, param="training_file")
    header = files.read_csv_header(source, param="training_file")
    if target_column not in header:
        raise PredictionOneConfigError(
            f"target_column={target_column!r}{_suggest(target_column, header)} is not a column of training_file "
            f"({source.name!r}); its columns are {header}. Use the header text exactly."
        )


def read_data_set_info(client: PredictionOneClient, external_process_id: str, attempts: int = 5) -> DataSetInfo:
    """Train Data Set Info, retried briefly while the service may still be processing the
    uploads (spec 7.5)."""
    for attempt in range(1, attempts + 1):
        try:
            return client.data_set_info(external_process_id)
        except PredictionOneAPIError as exc:
            if type(exc) is not PredictionOneAPIError or attempt == attempts:
                raise
            time.sleep(min(2.0 * attempt, 10.0))
    raise AssertionError("unreachable")


def summarize_data_set(info: DataSetInfo) -> str:
    unusable = ", ".join(info.useless_columns) or "none"
    return (
        f"Prediction One read {info.row_count} rows x {len(info.raw_column_names)} columns; "
        f"columns judged unusable: {unusable}."
    )


def check_target_usable(info: DataSetInfo, target_column: str) -> None:
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


class PredictionOneTrainModelOperator(PredictionOneLineageMixin, _JobWaitingOperator):
    """Train a Prediction One model (spec 4.4) and wait for it.

    The configuration is given with readable names (``target_column``, ``prediction_type``,
    ``positive_value``, ...) or as ``config`` (a mapping of readable names or spec keys). It is
    validated before any request — at DAG parse time when no value is templated, otherwise after
    rendering — and checked against Train Data Set Info before training starts.

    When training finishes, the model id is resolved by the model name (spec 7.4; by default
    unique to DAG, task and run), the result archive is read for metrics (and kept at
    ``result_path`` when given), and a summary is
    returned: ``external_process_id``, ``model_id``, ``model_name``, ``status``, ``metrics``,
    ``result_files``, ``result_path``.

    A retry never starts a second training: the job is recorded in the task's durable state
    before waiting, and the next try re-attaches to it (see :mod:`.ledger`).

    :param external_process_id: from :class:`PredictionOneUploadDataOperator`. Templated.
    :param target_column: column to predict (``tc``).
    :param prediction_type: ``binary_classification``, ``multi_classification`` or ``regression``.
    :param positive_value: the positive class, required for binary classification only (``tv``).
    :param config: further options as a mapping (see :class:`~..api.config.TrainConfig`); its values
        may be templates. A template for the whole mapping (``"{{ params.cfg }}"``) needs
        ``render_template_as_native_obj=True`` on the DAG: it must render to a mapping.
    :param model_name: the model's name; default unique per DAG, task and run. Templated.
    :param check_data: check the config against Train Data Set Info before training.
    :param wait_for_completion: wait for the training to finish (default true). Without waiting the
        task succeeds once training started (returning ``status`` ``"started"``), and the retry record
        is cleared then: clearing the successful task later starts a new training.
    :param check_interval: seconds between status checks (default 30, as the manual).
    :param timeout: seconds to wait at most (default 24 hours).
    :param deferrable: wait in the triggerer instead of a worker slot; default from
        ``[operators] default_deferrable``.
    :param result_path: where to keep the result zip (optional): a local path on the worker that runs
        the task, or a URL / ``ObjectStoragePath``. The metrics are returned (XCom) either way; when a
        later task needs the zip itself on a multi-worker deployment, use an object-store URL (e.g.
        ``s3://bucket/results/{{ run_id }}.zip``), which every worker can read. Templated.
    """

    template_fields: Sequence[str] = (
        "external_process_id",
        "target_column",
        "prediction_type",
        "positive_value",
        "config",
        "model_name",
        "result_path",
        "predictionone_conn_id",
    )
    ui_color = "#c6dbef"

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Input: the uploaded data set; outputs: the trained model (and the kept result zip)."""
        model_id = pushed(task_instance, self.task_id, "model_id")
        outputs = [self.service_ref("models", model_id), file_ref(self.result_path)]
        return [self.service_ref("datasets", self.external_process_id)], outputs

    def __init__(
        self,
        *,
        external_process_id: str,
        target_column: str | None = None,
        prediction_type: str | None = None,
        positive_value: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        model_name: str | None = None,
        check_data: bool = True,
        result_path: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.external_process_id = external_process_id
        self.target_column = target_column
        self.prediction_type = prediction_type
        self.positive_value = positive_value
        # A mapping is copied; a template or XComArg giving the whole config is kept and checked
        # after rendering (see _train_config).
        self.config: Any = dict(config) if isinstance(config, Mapping) else ({} if config is None else config)
        self.model_name = model_name
        self.check_data = check_data
        self.result_path = result_path
        self._check_literal_options()  # literal values fail at DAG parse time

    def _options(self) -> dict[str, Any]:
        """``config`` with the explicit options on top (``self.config`` must be a mapping)."""
        options: dict[str, Any] = dict(self.config)
        for name, value in (
            ("target_column", self.target_column),
            ("prediction_type", self.prediction_type),
            ("positive_value", self.positive_value),
        ):
            if value is not None and value != "":
                options[name] = value
        return options

    def _check_literal_options(self) -> None:
        """Validate, when the DAG is parsed, every rule whose options are all literal.

        Options that are templated or come from an XCom are known only at run time: each is replaced
        by a placeholder, and the problems that name one of them are left to ``execute`` (after
        rendering). So a missing ``positive_value`` for a literal binary classification, or an
        unknown option name, fails at parse time even when ``target_column`` is a template. When the
        whole ``config`` is a template, every option it could set is treated as known at run time only.
        """
        from airflow_provider_predictionone.api.config import OPTION_KEYS, TrainConfig

        if isinstance(self.config, Mapping):
            config = TrainConfig.from_mapping(self._options())  # unknown or doubled names fail here
            runtime = {name for name in OPTION_KEYS if _is_templated(getattr(config, name))}
        elif _is_templated(self.config):
            explicit = {
                name: value
                for name, value in (
                    ("target_column", self.target_column),
                    ("prediction_type", self.prediction_type),
                    ("positive_value", self.positive_value),
                )
                if value is not None and value != ""
            }
            config = TrainConfig(**explicit)
            runtime = {name for name in OPTION_KEYS if name not in explicit or _is_templated(explicit[name])}
        else:
            self._train_config()  # raises: not a mapping
            return
        config.validate_known(runtime)

    def _train_config(self) -> TrainConfig:
        """The rendered options as a :class:`TrainConfig` (not validated yet)."""
        from airflow_provider_predictionone.api.config import TrainConfig

        if not isinstance(self.config, Mapping):
            raise PredictionOneConfigError(
                f"config={_short(self.config)} is not a mapping of training options (it is a "
                f"{type(self.config).__name__}). Pass a dict, e.g. {{'cross_validation_folds': 5}}; to fill it from "
                "params, template its values ({'cross_validation_folds': '{{ params.folds }}'}) or set "
                "render_template_as_native_obj=True on the DAG so that '{{ params.cfg }}' renders to a dict. "
                f"{_TEMPLATE_NOTE}"
            )
        return TrainConfig.from_mapping(self._options())

    def execute(self, context: Context) -> dict[str, Any]:
        epid = _require_text("external_process_id", self.external_process_id)
        config = self._train_config()
        config.validate()
        ledger = JobLedger(context, "train")
        record = ledger.get()
        model_name = str(self.model_name) if self.model_name else default_model_name(context)
        job_id = None
        if record and record.get("upload_id") == epid:
            model_name = str(record.get("model_name") or model_name)
            if record.get("job_id"):
                job_id = self._reattach(str(record["job_id"]))
            else:
                job_id = self._find_lost_training(epid, model_name)
        if job_id is None:
            if self.check_data:
                info = read_data_set_info(self.client, epid)
                self.log.info("%s", summarize_data_set(info))
                for warning in config.validate_against_data(info):
                    self.log.warning("%s", warning)
            # Recorded before Train is sent: if its answer is lost, the next try looks the model up
            # by this name instead of sending Train again (see _find_lost_training).
            ledger.set({"upload_id": epid, "job_id": None, "model_name": model_name})
            job_id = self._start_training(epid, model_name, config)
            ledger.set({"upload_id": epid, "job_id": job_id, "model_name": model_name})
        context["ti"].xcom_push(key="external_process_id", value=job_id)
        context["ti"].xcom_push(key="model_name", value=model_name)
        if not self.wait_for_completion:
            ledger.clear()  # the task succeeds now: clearing it later starts a new training
            return {"external_process_id": job_id, "model_name": model_name, "status": "started"}
        status = self._wait(
            context,
            kind="train",
            job_id=job_id,
            model_id=None,
            resume_kwargs={"job_id": job_id, "model_name": model_name},
        )
        return self._finish(context, job_id, model_name, status)

    def _reattach(self, job_id: str, status: TrainStatus | None = None) -> str:
        """Re-attach to the training an earlier try started, or fail with its message if it failed.

        A failed training is not started again: Train is refused for an ``external_process_id``
        that was trained already (the emulator answers so; the manual is silent), and the same data
        and config would most likely fail the same way.
        """
        if status is None:
            status = self.client.train_status(job_id)
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

    def _find_lost_training(self, epid: str, model_name: str) -> str | None:
        """An earlier try sent Train but recorded no answer (the answer was lost, or the worker
        died): find out whether the training exists before sending Train again.

        Train creates a model record under ``model_name`` (by default unique to the DAG, task and
        run; spec 7.4), so a model with that name means the request reached the service. Its
        training is then polled with the upload's ``external_process_id`` (spec 4.5: "the value from
        Train Data Upload"; 7.3: the id Train returns is most likely identical). No such model means
        nothing was created, and Train is sent. Known window: a service that listed the model only
        some time after accepting Train could still be asked twice.
        """
        model = self.client.find_model_by_name(model_name)
        if model is None:
            self.log.info(
                "An earlier try sent Train for %r without an answer, and no model has that name: it did not reach "
                "the service. Starting training.",
                model_name,
            )
            return None
        try:
            status = self.client.train_status(epid)
        except PredictionOneAPIError as exc:
            raise PredictionOneError(
                f"An earlier try of this task sent Train for model {model_name!r} and lost the answer. A model with "
                f"that name exists (model_id {model.model_id}), but the training of external_process_id {epid} "
                f"cannot be read ({exc.message or exc}). Not starting a second training. If that model belongs to "
                "another run, give this task a model_name that is unique per run."
            ) from exc
        self.log.info(
            "An earlier try's Train request for %r reached the service although its answer was lost (model_id %s, "
            "status %r): re-attaching instead of training twice.",
            model_name,
            model.model_id,
            status.status,
        )
        return self._reattach(epid, status)

    def _start_training(self, epid: str, model_name: str, config: TrainConfig) -> str:
        try:
            job_id = self.client.create_model(epid, model_name, config.to_api())
        except PredictionOneTransportError as exc:
            # The client does not repeat Train once it may have reached the service. Say what the
            # next try does about it.
            raise PredictionOneTransportError(
                f"{exc} A retry of this task does not send Train blindly: it first looks for a model named "
                f"{model_name!r} and re-attaches to its training if the request did reach the service."
            ) from exc
        except PredictionOneAPIError as exc:
            # Spec 7.6: value types are undocumented. A plain bad-request answer means nothing was
            # created, so try the other representation once.
            if type(exc) is not PredictionOneAPIError or exc.status_code != 400:
                raise
            self.log.warning("Train rejected the config (%s); retrying with the alternate value types.", exc.message)
            job_id = self.client.create_model(epid, model_name, config.to_api(alternate=True))
            self.log.info("The alternate config representation was accepted (spec 7.6).")
        self.log.info("Started training %r: external_process_id %s.", model_name, job_id)
        return job_id

    def execute_complete(
        self, context: Context, event: dict[str, Any], job_id: str = "", model_name: str = ""
    ) -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and finish."""
        job_id = job_id or self._pushed(context, "external_process_id")
        model_name = model_name or self._pushed(context, "model_name")
        status = self._resume_status(event, job_id, "train", None)
        return self._finish(context, job_id, model_name, status)

    def _finish(self, context: Context, job_id: str, model_name: str, status: TrainStatus) -> dict[str, Any]:
        model = None
        for attempt in range(5):  # the model list may lag the status a little
            model = self.client.find_model_by_name(model_name)
            if model is not None:
                break
            time.sleep(1.0 + attempt)
        if model is None:
            raise PredictionOneAPIError(
                "Get Model (GET /models)",
                200,
                message=f"no model named {model_name!r} after training {job_id} finished",
            )
        context["ti"].xcom_push(key="model_id", value=model.model_id)
        destination = self._file("result_path", self.result_path)
        result_path = None if destination is None else str(destination)
        metrics: dict[str, Any] = {}
        files: list[str] = []
        if status.result_url:
            result = download_result(self.client, status.result_url, destination)
            metrics, files = result.metrics, result.file_names
        summary = {
            "external_process_id": job_id,
            "model_id": model.model_id,
            "model_name": model_name,
            "status": status.status,
            "metrics": metrics,
            "result_files": files,
            "result_path": result_path,
        }
        self.log.info("Training finished: model_id %s, metrics %s", model.model_id, metrics)
        JobLedger(context, "train").clear()
        return summary


class PredictionOneRetrainModelOperator(PredictionOneLineageMixin, _JobWaitingOperator):
    """Retrain a deployed model with new data (spec 1.3) and wait for it.

    Fetches the retrain key for ``model_id``, uploads the new training CSV — or, with an
    evaluation file, a zip of both in the layout the spec gives — which starts retraining, and
    waits. Returns ``retrain_job_id``, ``model_id`` (the retrained one), ``base_model_id``,
    ``status``, ``metrics``. The job id goes to XCom (key ``retrain_job_id``) before waiting; a
    retry re-attaches to it instead of starting a second retraining.

    :param model_id: the model behind the prediction API to retrain. Templated.
    :param training_file: the new training CSV. Templated.
    :param evaluation_file: optional evaluation CSV. Templated.
    :param result_path: where to keep the result archive (optional): a local path, or a URL /
        ``ObjectStoragePath`` (use an object store when a task on another worker reads it). Templated.
    """

    template_fields: Sequence[str] = (
        "model_id",
        "training_file",
        "evaluation_file",
        "result_path",
        "predictionone_conn_id",
    )
    ui_color = "#9ecae1"

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Inputs: the new data and the base model; outputs: the retrained model (and result zip)."""
        inputs = [
            file_ref(self.training_file),
            file_ref(self.evaluation_file),
            self.service_ref("models", self.model_id),
        ]
        model_id = pushed(task_instance, self.task_id, "model_id")
        return inputs, [self.service_ref("models", model_id), file_ref(self.result_path)]

    def __init__(
        self,
        *,
        model_id: int | str,
        training_file: str | Path,
        evaluation_file: str | Path | None = None,
        result_path: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.training_file = training_file
        self.evaluation_file = evaluation_file
        self.result_path = result_path
        if not _is_templated(model_id):
            _as_id("model_id", model_id)

    def execute(self, context: Context) -> dict[str, Any]:
        model_id = _as_id("model_id", self.model_id)
        training_file = self._file("training_file", self.training_file, required=True)
        evaluation_file = self._file("evaluation_file", self.evaluation_file)
        # A missing or unreadable file fails here, before any request (re-attaching included).
        from airflow_provider_predictionone.api.files import UploadSource

        for name, value in (("training_file", training_file), ("evaluation_file", evaluation_file)):
            if value is not None:
                UploadSource.of(value, param=name)
        ledger = JobLedger(context, "retrain")
        record = ledger.get()
        job_id = None
        if record and record.get("model_id") == model_id and record.get("job_id") and not record.get("damaged"):
            job_id = self._reattach(model_id, str(record["job_id"]), uploaded=bool(record.get("uploaded")))
        if job_id is None:
            job_id = self._upload(ledger, model_id, training_file, evaluation_file)
            ledger.set({"model_id": model_id, "job_id": job_id, "uploaded": True})
            self.log.info("Uploaded retraining data for model %s: retrain_job_id %s.", model_id, job_id)
        context["ti"].xcom_push(key="retrain_job_id", value=job_id)
        if not self.wait_for_completion:
            ledger.clear()  # the task succeeds now: clearing it later starts a new retraining
            return {"retrain_job_id": job_id, "base_model_id": model_id, "status": "started"}
        status = self._wait(
            context,
            kind="retrain",
            job_id=job_id,
            model_id=model_id,
            resume_kwargs={"job_id": job_id, "model_id": model_id},
        )
        return self._finish(context, job_id, model_id, status)

    def _reattach(self, model_id: int, job_id: str, *, uploaded: bool) -> str | None:
        """The retraining an earlier try started, if it is usable; ``None`` to start a new one.

        ``uploaded`` is false when the earlier try recorded the job but not the end of its upload
        (the upload failed, its answer was lost, or the worker died): the job is re-attached only if
        the service shows it received the data (see :func:`retrain_received_data`).
        """
        try:
            status = self.client.retrain_status(model_id, job_id)
        except PredictionOneAPIError:
            if uploaded:
                raise
            self.log.info("The retraining job %s of an earlier try is unknown; starting a new one.", job_id)
            return None
        if not uploaded and not retrain_received_data(status):
            self.log.info(
                "The retraining job %s of an earlier try never received its data (status %r); starting a new one.",
                job_id,
                status.status,
            )
            return None
        if status.state is JobState.FAILED:
            self.log.info("The retraining started by an earlier try (%s) failed; starting a new one.", job_id)
            return None
        self.log.info("Re-attaching to retraining %s started by an earlier try (no duplicate).", job_id)
        return job_id

    def _upload(self, ledger: JobLedger, model_id: int, training_file: Any, evaluation_file: Any = None) -> str:
        """Upload the data (which starts retraining) and return the job id.

        The upload is repeated by the client when it fails; a repeated upload after the service
        did receive the first one is refused (the data was already taken), so when the upload
        fails the job's status decides: a job that received its data is the one to wait for —
        unless the upload's checksum showed the data arrived altered (that job is never used).
        """
        started: list[str] = []

        def record(new_id: str) -> None:
            started.append(new_id)
            ledger.set({"model_id": model_id, "job_id": new_id, "uploaded": False})

        try:
            upload = self.client.upload_retrain_data(model_id, training_file, evaluation_file, on_job_id=record)
        except (PredictionOneUploadError, PredictionOneTransportError) as exc:
            if not started:
                raise
            if _NOT_INTACT in str(exc):
                # The service received different bytes than were sent: never wait for that job.
                ledger.set({"model_id": model_id, "job_id": started[-1], "uploaded": False, "damaged": True})
                raise
            try:
                status = self.client.retrain_status(model_id, started[-1])
            except PredictionOneError:
                raise exc from None
            if not retrain_received_data(status):
                raise
            self.log.warning(
                "The upload for retraining %s reported a failure (%s), but the service received the data (status "
                "%r): waiting for that job instead of starting another.",
                started[-1],
                exc,
                status.status,
            )
            return started[-1]
        return upload.retrain_job_id

    def execute_complete(
        self, context: Context, event: dict[str, Any], job_id: str = "", model_id: int = 0
    ) -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and finish."""
        job_id = job_id or self._pushed(context, "retrain_job_id")
        model_id = model_id or _as_id("model_id", self.model_id)
        status = self._resume_status(event, job_id, "retrain", model_id)
        return self._finish(context, job_id, model_id, status)

    def _finish(self, context: Context, job_id: str, model_id: int, status: RetrainStatus) -> dict[str, Any]:
        destination = self._file("result_path", self.result_path)
        result_path = None if destination is None else str(destination)
        metrics: dict[str, Any] = {}
        if status.download_url:
            metrics = download_result(self.client, status.download_url, destination).metrics
        new_model_id = status.model_id
        if new_model_id is not None:
            context["ti"].xcom_push(key="model_id", value=new_model_id)
        self.log.info("Retraining %s finished: new model_id %s, metrics %s", job_id, new_model_id, metrics)
        JobLedger(context, "retrain").clear()
        return {
            "retrain_job_id": job_id,
            "base_model_id": model_id,
            "model_id": new_model_id,
            "status": status.status,
            "message": status.message,
            "metrics": metrics,
            "result_path": result_path,
        }


def download_result(client: PredictionOneClient, url: str, destination: Any) -> TrainingResult:
    """Download a result archive and read its metrics, keeping it at ``destination`` when given.

    A storage destination (object store) gets the archive streamed from a local temporary copy:
    the download is complete and checked before anything is written to the store.
    """
    from airflow_provider_predictionone.api.files import copy_to_storage, is_storage_path

    if not is_storage_path(destination):
        return client.download_result(url, destination)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="predictionone-") as folder:
        local = Path(folder) / "result.zip"
        result = client.download_result(url, local)
        copy_to_storage(local, destination)
    return result


_NOT_INTACT = "not received intact"
"""In an upload error: an attempt's checksum showed the service received altered data (see files.upload)."""


def retrain_received_data(status: RetrainStatus) -> bool:
    """Whether a retraining job shows that its upload reached the service.

    Only positive evidence counts: the job reports the model it creates, is running (the
    emulator's ``job_running``; the service's non-final values are undocumented, spec 7.2), or has
    ended. A job still waiting for its data (``job_queued``) or in an unknown state has not.
    """
    if status.model_id is not None or status.state is not JobState.RUNNING:
        return True
    return (status.status or "").strip().lower() == RETRAIN_STATUS_RUNNING


class PredictionOneSwitchModelOperator(PredictionOneBaseOperator):
    """Switch the deployed prediction API to a finished retrained model (spec 4.17).

    Checks the retraining job first and fails with a clear message when it has not finished.

    :param model_id: the model the retraining started from (its retrain key is used). Templated.
    :param retrain_job_id: the finished retraining job. Templated.
    :return: ``retrain_job_id``, ``base_model_id`` and the new ``model_id`` now being served.
    """

    template_fields: Sequence[str] = ("model_id", "retrain_job_id", "predictionone_conn_id")
    ui_color = "#6baed6"

    def __init__(self, *, model_id: int | str, retrain_job_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.retrain_job_id = retrain_job_id
        if not _is_templated(model_id):
            _as_id("model_id", model_id)

    def execute(self, context: Context) -> dict[str, Any]:
        model_id = _as_id("model_id", self.model_id)
        job_id = _require_text("retrain_job_id", self.retrain_job_id)
        status = self.client.retrain_status(model_id, job_id)
        if status.state is not JobState.SUCCEEDED:
            raise PredictionOneConfigError(
                f"Retraining {job_id} is not finished (status {status.status!r}); switch only after it reports "
                "'job_finished' (wait with PredictionOneRetrainSensor or the retrain operator)."
            )
        self.client.switch_model(model_id, job_id)
        self.log.info("The prediction API of model %s now serves retrained model %s.", model_id, status.model_id)
        return {"retrain_job_id": job_id, "base_model_id": model_id, "model_id": status.model_id}
