"""Typed responses of the Prediction One REST API (spec section 4).

Each dataclass has a ``from_json`` constructor that accepts the documented JSON object and keeps
only documented fields. Unknown fields are ignored (the service may add some); missing optional
fields become ``None``. Secrets (API keys) are excluded from ``repr`` so that logging an object
never prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_predictionone.api.contract import (
    CLASSIFIER_FAILED,
    CLASSIFIER_READY,
    CLASSIFIER_STOPPED,
    SUCCESS_STATUSES,
    ClassifierTarget,
    JobKind,
    JobState,
    job_state,
)
from airflow_provider_predictionone.api.errors import ResponseFormatError
from airflow_provider_predictionone.api.ip_rules import ALLOW_ALL, IpRule

__all__ = ["ALLOW_ALL", "IpRule"]  # defined with the rules' checks; listed here with the other responses


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if key not in data:
        raise ResponseFormatError(f"{where}: the response has no {key!r} field (fields: {sorted(data)})")
    return data[key]


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def parse_end_date(value: str | None) -> datetime | None:
    """Parse an API key's ``end_date`` leniently (spec 7.11): ISO-8601 first, then a few common
    layouts; ``None`` when the text cannot be understood (the caller then never relies on it)."""
    if not value:
        return None
    text = str(value).strip()
    candidates = [text, text.replace("Z", "+00:00")]
    for candidate in candidates:
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    for layout in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class ApiKey:
    """Get API Key response (spec 4.1). ``expires_at`` is ``end_date`` parsed, or ``None``."""

    api_key: str = field(repr=False)
    end_date: str | None
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiKey:
        end_date = data.get("end_date") if isinstance(data, Mapping) else None
        return cls(
            api_key=str(_require(data, "api_key", "Get API Key")),
            end_date=None if end_date is None else str(end_date),
            expires_at=parse_end_date(end_date),
        )


@dataclass(frozen=True)
class TrainUploadUrls:
    """Train Data Upload response (spec 4.2). The URLs are bearer capabilities: not in ``repr``."""

    external_process_id: str
    learn_data_set_upload_url: str = field(repr=False)
    eval_data_set_upload_url: str = field(repr=False)
    column_info_upload_url: str = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainUploadUrls:
        where = "Train Data Upload"
        return cls(
            external_process_id=str(_require(data, "external_process_id", where)),
            learn_data_set_upload_url=str(_require(data, "learn_data_set_upload_url", where)),
            eval_data_set_upload_url=str(_require(data, "eval_data_set_upload_url", where)),
            column_info_upload_url=str(_require(data, "column_info_upload_url", where)),
        )


@dataclass(frozen=True)
class ColumnStatistics:
    """One entry of ``training_data_columns`` (spec 4.3)."""

    column_id: int
    name: str
    initial_data_type: int | None
    available_data_types: list[int]
    unique_count: int
    data_count: int
    missing_count: int
    cor_score: float | None
    classify_value: list[Any]
    numerical_value: list[Any]
    range_pick_info: dict[str, Any] | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnStatistics:
        where = "Train Data Set Info column"
        return cls(
            column_id=int(_require(data, "column_id", where)),
            name=str(_require(data, "name", where)),
            initial_data_type=_opt_int(data.get("initial_data_type")),
            available_data_types=[int(v) for v in data.get("available_data_types") or []],
            unique_count=int(data.get("unique_count") or 0),
            data_count=int(data.get("data_count") or 0),
            missing_count=int(data.get("missing_count") or 0),
            cor_score=None if data.get("cor_score") is None else float(data["cor_score"]),
            classify_value=list(data.get("classify_value") or []),
            numerical_value=list(data.get("numerical_value") or []),
            range_pick_info=data.get("range_pick_info"),
        )


@dataclass(frozen=True)
class DataSetInfo:
    """Train Data Set Info response (spec 4.3)."""

    raw_column_names: list[str]
    raw_training_data: list[str]
    columns: list[ColumnStatistics]
    useless_columns: list[str]
    row_count: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataSetInfo:
        where = "Train Data Set Info"
        rows = _require(data, "raw_training_data", where) or []
        return cls(
            raw_column_names=[str(v) for v in _require(data, "raw_column_names", where) or []],
            raw_training_data=[str(r.get("row_data", "")) for r in rows if isinstance(r, Mapping)],
            columns=[ColumnStatistics.from_json(c) for c in _require(data, "training_data_columns", where) or []],
            useless_columns=[str(v) for v in data.get("useless_column_list") or [] if v is not None],
            row_count=int(_require(data, "trainingdata_row_count", where)),
        )

    def column(self, name: str) -> ColumnStatistics | None:
        """The statistics of the column called ``name``, or ``None``."""
        return next((c for c in self.columns if c.name == name), None)


def describe_job_status(kind: JobKind, job_id: str, status: str | None, state: JobState, message: str | None) -> str:
    """One log line for a job status: the raw value, how it was read (spec 7.2), the service's message.

    Every value but ``finished`` / ``job_finished`` is undocumented (spec 7.2); the raw value is always
    in the line. A value the provider reads as "still running" is said so plainly (it is the
    ordinary case: queued, running ...); only a success it had to infer is flagged."""
    if state is JobState.RUNNING:
        reading = "still running"
    elif state is JobState.SUCCEEDED and (status or "").strip().lower() not in SUCCESS_STATUSES:
        reading = "succeeded (not a documented value, but the result is available)"
    else:
        reading = state.value
    line = f"Prediction One {kind.label} job {job_id}: status {status!r}: {reading}"
    return line + (f"; message: {message}" if message else "")


@dataclass(frozen=True)
class TrainStatus:
    """Train Status Check response (spec 4.5), classified with :func:`contract.job_state`."""

    external_process_id: str
    status: str
    created_datetime: str | None
    updated_datetime: str | None
    result_url: str | None = field(repr=False)
    message: str | None

    @property
    def state(self) -> JobState:
        return job_state(self.status, result_available=bool(self.result_url))

    @property
    def result_location(self) -> str | None:
        """Where the result archive can be downloaded (``result_url``)."""
        return self.result_url

    def describe(self) -> str:
        """One log line: status, how it was read, message."""
        return describe_job_status(JobKind.TRAIN, self.external_process_id, self.status, self.state, self.message)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], external_process_id: str) -> TrainStatus:
        return cls(
            external_process_id=external_process_id,
            status=str(_require(data, "status", "Train Status Check")),
            created_datetime=data.get("created_datetime"),
            updated_datetime=data.get("updated_datetime"),
            result_url=data.get("result_url") or None,
            message=data.get("message"),
        )


@dataclass(frozen=True)
class PageMetadata:
    offset: int
    limit: int
    total: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PageMetadata:
        data = data or {}
        return cls(int(data.get("offset") or 0), int(data.get("limit") or 0), int(data.get("total") or 0))


@dataclass(frozen=True)
class Model:
    """One entry of Get Model (spec 4.6)."""

    model_id: int
    name: str | None
    target_type: str | None
    version: str | None
    config: dict[str, Any]
    is_api_option: bool | None
    owner_user_id: str | None
    created_date: str | None
    updated_date: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        return cls(
            model_id=int(_require(data, "model_id", "Get Model")),
            name=data.get("name"),
            target_type=data.get("target_type"),
            version=data.get("version"),
            config=dict(data.get("config") or {}),
            is_api_option=data.get("is_api_option"),
            owner_user_id=data.get("owner_user_id"),
            created_date=data.get("created_date"),
            updated_date=data.get("updated_date"),
        )


@dataclass(frozen=True)
class ModelPage:
    models: list[Model]
    metadata: PageMetadata

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelPage:
        items = _require(data, "models", "Get Model") or []
        return cls([Model.from_json(m) for m in items], PageMetadata.from_json(data.get("metadata")))


@dataclass(frozen=True)
class DataSet:
    """One entry of Get Data Set (spec 4.8)."""

    data_set_id: int
    name: str | None
    extension: str | None
    column_count: int | None
    data_count: int | None
    data_size: int | None
    download_url: str | None = field(repr=False)
    owner_user_id: str | None
    created_date: str | None
    updated_date: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataSet:
        return cls(
            data_set_id=int(_require(data, "data_set_id", "Get Data Set")),
            name=data.get("name"),
            extension=data.get("extension"),
            column_count=_opt_int(data.get("column_count")),
            data_count=_opt_int(data.get("data_count")),
            data_size=_opt_int(data.get("data_size")),
            download_url=data.get("download_url"),
            owner_user_id=data.get("owner_user_id"),
            created_date=data.get("created_date"),
            updated_date=data.get("updated_date"),
        )


@dataclass(frozen=True)
class DataSetPage:
    data_sets: list[DataSet]
    metadata: PageMetadata

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataSetPage:
        items = _require(data, "data_sets", "Get Data Set") or []
        return cls([DataSet.from_json(d) for d in items], PageMetadata.from_json(data.get("metadata")))


@dataclass(frozen=True)
class CreatedClassifier:
    """Create Classifier response (spec 4.10). ``api_key`` is the inference key: a secret."""

    classifier_id: str
    api_key: str = field(repr=False)
    version: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CreatedClassifier:
        where = "Create Classifier"
        version = data.get("version")
        return cls(
            classifier_id=str(_require(data, "classifier_id", where)),
            api_key=str(_require(data, "api_key", where)),
            version=None if version is None else str(version),
        )


@dataclass(frozen=True)
class Classifier:
    """A prediction API as returned by Get / Update Classifier (spec 4.11, 4.12)."""

    classifier_id: str
    model_id: int | None
    status: str
    api_key: str | None = field(repr=False)
    version: str | None
    url: str | None
    active: bool | None
    is_editable: bool | None
    rules: list[IpRule]
    create_datetime: str | None
    update_datetime: str | None

    @property
    def is_ready(self) -> bool:
        return self.status in CLASSIFIER_READY and bool(self.url)

    @property
    def is_stopped(self) -> bool:
        return self.status in CLASSIFIER_STOPPED

    @property
    def is_failed(self) -> bool:
        return self.status in CLASSIFIER_FAILED

    def outcome(self, target: ClassifierTarget) -> JobState:
        """This prediction API against the goal of a wait (spec 7.9): ``SUCCEEDED`` when running with a
        url (goal ``running``) or ``terminated`` / ``stopped`` (goal ``stopped``), ``FAILED`` when
        ``failed``, else ``RUNNING`` (building, updating, terminating, undocumented values, or stopped
        while waiting to run: the status may lag a ``PATCH``)."""
        if self.is_failed:
            return JobState.FAILED
        reached = self.is_ready if target is ClassifierTarget.RUNNING else self.is_stopped
        return JobState.SUCCEEDED if reached else JobState.RUNNING

    def describe(self) -> str:
        """One log line for its state (never its key)."""
        url = "set" if self.url else "not set yet"
        return (
            f"Prediction One prediction API {self.classifier_id}: status {self.status!r}, active {self.active}, "
            f"url {url}"
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom, without the inference key."""
        return {
            "classifier_id": self.classifier_id,
            "model_id": self.model_id,
            "url": self.url,
            "version": self.version,
            "status": self.status,
            "active": self.active,
            "is_editable": self.is_editable,
            "rules": [rule.to_json() for rule in self.rules],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Classifier:
        where = "Get Classifier"
        version = data.get("version")
        return cls(
            classifier_id=str(_require(data, "classifier_id", where)),
            model_id=_opt_int(data.get("model_id")),
            status=str(data.get("status") or ""),
            api_key=data.get("api_key"),
            version=None if version is None else str(version),
            url=data.get("url") or None,
            active=data.get("active"),
            is_editable=data.get("is_editable"),
            rules=[IpRule.from_json(r) for r in data.get("rules") or []],
            # The manual misspells the field in one place (7.21); accept both spellings.
            create_datetime=data.get("create_datetime") or data.get("created_datetime"),
            update_datetime=data.get("update_datetime") or data.get("updated_datetime"),
        )


def classifier_outcome(classifier: Classifier | None, target: ClassifierTarget) -> JobState:
    """:meth:`Classifier.outcome`, where a prediction API that is no longer listed has stopped (goal
    ``stopped``) or failed (goal ``running``)."""
    if classifier is None:
        return JobState.SUCCEEDED if target is ClassifierTarget.STOPPED else JobState.FAILED
    return classifier.outcome(target)


@dataclass(frozen=True)
class RetrainUpload:
    """Retrain Data Upload response (spec 4.15)."""

    retrain_job_id: str
    upload_url: str = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetrainUpload:
        where = "Retrain Data Upload"
        return cls(
            retrain_job_id=str(_require(data, "retrain_job_id", where)),
            upload_url=str(_require(data, "upload_url", where)),
        )


@dataclass(frozen=True)
class RetrainStatus:
    """Retrain Status Check response (spec 4.16), classified with :func:`contract.job_state`."""

    retrain_job_id: str
    status: str
    model_id: int | None
    message: str | None
    download_url: str | None = field(repr=False)

    @property
    def state(self) -> JobState:
        return job_state(self.status, result_available=bool(self.download_url))

    @property
    def result_location(self) -> str | None:
        """Where the result archive can be downloaded (``download_url``)."""
        return self.download_url

    def describe(self) -> str:
        """One log line: status, how it was read, message."""
        return describe_job_status(JobKind.RETRAIN, self.retrain_job_id, self.status, self.state, self.message)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], retrain_job_id: str) -> RetrainStatus:
        metadata = data.get("metadata") or {} if isinstance(data, Mapping) else {}
        return cls(
            retrain_job_id=str(metadata.get("retrain_job_id") or retrain_job_id),
            status=str(_require(data, "status", "Retrain Status Check")),
            model_id=_opt_int(data.get("model_id")),
            message=data.get("message"),
            download_url=data.get("download_url") or None,
        )


@dataclass(frozen=True)
class InferenceResult:
    """Inference response (spec 4.14) with the base64 outputs decoded to text."""

    version: str | None
    outputs: dict[str, str]

    @property
    def prediction_csv(self) -> str | None:
        return self.outputs.get("prediction_valid.csv")

    @property
    def reasons_csv(self) -> str | None:
        return self.outputs.get("prediction_analysis.csv")
