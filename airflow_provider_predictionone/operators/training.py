"""Operators for the train flow (spec 1.1): upload training data, train a model.

Each ``execute`` is a short composition of the hook's methods (:mod:`..hooks.training`); waiting
for the training runs in the worker or, when deferrable, on the triggerer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import JobKind
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.assets import event_extra, literal_data_assets, record_outlet_events
from airflow_provider_predictionone.operators.base import JobWaitingOperator, PredictionOneBaseOperator
from airflow_provider_predictionone.operators.lineage import PredictionOneLineageMixin, file_ref, pushed

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_predictionone.api.config import TrainConfig
    from airflow_provider_predictionone.hooks.training import TrainingJob

_EXPLICIT_OPTIONS = ("target_column", "prediction_type", "positive_value")


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

    Assets: the training and evaluation files are the task's ``inlets`` when their paths are known
    at parse time (absolute paths or URLs; see :mod:`~airflow_provider_predictionone.assets`), unless
    ``inlets`` is given. The asset event of each Asset in ``outlets`` gets ``extra``
    ``{"external_process_id": ...}``.
    """

    template_fields: Sequence[str] = (
        "training_file",
        "column_info",
        "evaluation_file",
        "target_column",
        "predictionone_conn_id",
    )
    ui_color = "#dbe9f6"

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
        if not self.inlets:
            self.inlets = literal_data_assets(training_file, evaluation_file)

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Inputs: the uploaded files; output: the data set on Prediction One."""
        column_info = None if isinstance(self.column_info, Mapping) else self.column_info
        files = [file_ref(self.training_file), file_ref(self.evaluation_file), file_ref(column_info)]
        epid = pushed(task_instance, self.task_id, "external_process_id")
        return files, [self.service_ref("datasets", epid)]

    def execute(self, context: Context) -> str:
        column_info = self.column_info
        if not isinstance(column_info, Mapping):
            column_info = self.file_argument("column_info", column_info, required=True)
        upload_id = self.hook.upload_training_data(
            self.file_argument("training_file", self.training_file, required=True),
            column_info,
            self.file_argument("evaluation_file", self.evaluation_file),
            target_column=None if arguments.is_empty(self.target_column) else str(self.target_column),
            check_data=self.check_data,
        )
        context["ti"].xcom_push(key="external_process_id", value=upload_id)
        record_outlet_events(context, self.outlets, event_extra({"external_process_id": upload_id}))
        return upload_id


class PredictionOneTrainModelOperator(PredictionOneLineageMixin, JobWaitingOperator):
    """Train a Prediction One model (spec 4.4) and wait for it.

    The configuration is given with readable names (``target_column``, ``prediction_type``,
    ``positive_value``, ...) or as ``config`` (a mapping of readable names or spec keys). It is
    validated before any request — at DAG parse time when no value is templated, otherwise after
    rendering — and checked against Train Data Set Info before training starts.

    When training finishes, the model id is resolved by the model name (spec 7.4; by default
    unique to DAG, task and run), the result archive is read for metrics (and kept at
    ``result_path`` when given), and a summary is returned: ``external_process_id``, ``model_id``,
    ``model_name``, ``status``, ``metrics``, ``result_files``, ``result_path``.

    A retry never starts a second training: the hook records the job in the task's durable state
    before the Train request, and the next try re-attaches to it (see :mod:`..hooks.ledger`).

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

    Assets: the asset event of each Asset in ``outlets`` gets ``extra`` ``model_id``, ``model_name``,
    ``external_process_id`` and ``metrics`` (the numeric ones), shown in the Assets view of the UI.
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
        # after rendering (see train_config).
        self.config: Any = dict(config) if isinstance(config, Mapping) else ({} if config is None else config)
        self.model_name = model_name
        self.check_data = check_data
        self.result_path = result_path
        self._check_literal_options()

    def lineage_refs(self, task_instance: Any) -> tuple[list[Any], list[Any]]:
        """Input: the uploaded data set; outputs: the trained model (and the kept result zip)."""
        model_id = pushed(task_instance, self.task_id, "model_id")
        outputs = [self.service_ref("models", model_id), file_ref(self.result_path)]
        return [self.service_ref("datasets", self.external_process_id)], outputs

    def _explicit(self) -> dict[str, Any]:
        """The options given as their own arguments (they override ``config``)."""
        given = {name: getattr(self, name) for name in _EXPLICIT_OPTIONS}
        return {name: value for name, value in given.items() if value is not None and value != ""}

    def _check_literal_options(self) -> None:
        """Validate, when the DAG is parsed, every rule whose options are all literal.

        Options that are templated or come from an XCom are known only at run time: the rules that
        read one of them are left to ``execute`` (after rendering). So a missing ``positive_value``
        for a literal binary classification, or an unknown option name, fails at parse time even
        when ``target_column`` is a template. When the whole ``config`` is a template, every option it
        could set is known at run time only.
        """
        from airflow_provider_predictionone.api.config import OPTION_KEYS, TrainConfig

        if isinstance(self.config, Mapping):
            config = TrainConfig.from_mapping({**self.config, **self._explicit()})  # unknown names fail here
            runtime = {name for name in OPTION_KEYS if arguments.is_templated(getattr(config, name))}
        elif arguments.is_templated(self.config):
            explicit = self._explicit()
            config = TrainConfig(**explicit)
            runtime = {name for name in OPTION_KEYS if name not in explicit or arguments.is_templated(explicit[name])}
        else:
            self.train_config()  # raises: not a mapping
            return
        config.validate_known(runtime)

    def train_config(self) -> TrainConfig:
        """The rendered options as a :class:`~..api.config.TrainConfig` (validated by the hook)."""
        from airflow_provider_predictionone.api.config import TrainConfig

        if not isinstance(self.config, Mapping):
            raise PredictionOneConfigError(
                f"config={arguments.short(self.config)} is not a mapping of training options (it is a "
                f"{type(self.config).__name__}). Pass a dict, e.g. {{'cross_validation_folds': 5}}; to fill it from "
                "params, template its values ({'cross_validation_folds': '{{ params.folds }}'}) or set "
                "render_template_as_native_obj=True on the DAG so that '{{ params.cfg }}' renders to a dict. "
                f"{arguments.TEMPLATE_NOTE}"
            )
        return TrainConfig.from_mapping({**self.config, **self._explicit()})

    def execute(self, context: Context) -> dict[str, Any]:
        upload_id = arguments.require_text("external_process_id", self.external_process_id)
        model_name = None if arguments.is_empty(self.model_name) else str(self.model_name)
        job = self.hook.start_training(
            upload_id, self.train_config(), model_name=model_name, check_data=self.check_data, context=context
        )
        context["ti"].xcom_push(key="external_process_id", value=job.external_process_id)
        context["ti"].xcom_push(key="model_name", value=job.model_name)
        if not self.wait_for_completion:
            self.hook.ledger(context, JobKind.TRAIN.value).clear()  # clearing the task later trains again
            started = {
                "external_process_id": job.external_process_id,
                "model_name": job.model_name,
                "status": "started",
            }
            record_outlet_events(context, self.outlets, event_extra(started))
            return started
        status = self.wait_for_job(
            JobKind.TRAIN,
            job.external_process_id,
            resume_kwargs={"job_id": job.external_process_id, "model_name": job.model_name},
        )
        return self._finish(context, job, status)

    def execute_complete(
        self, context: Context, event: dict[str, Any], job_id: str = "", model_name: str = ""
    ) -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and finish."""
        from airflow_provider_predictionone.hooks.training import TrainingJob

        job_id = job_id or self.pushed_id(context, "external_process_id")
        model_name = model_name or self.pushed_id(context, "model_name")
        status = self.resumed_status(event, JobKind.TRAIN, job_id)
        return self._finish(context, TrainingJob(job_id, model_name), status)

    def _finish(self, context: Context, job: TrainingJob, status: Any) -> dict[str, Any]:
        result_path = self.file_argument("result_path", self.result_path)
        summary = self.hook.training_result(job, status, result_path=result_path, context=context)
        context["ti"].xcom_push(key="model_id", value=summary["model_id"])
        record_outlet_events(context, self.outlets, event_extra(summary))
        return summary
