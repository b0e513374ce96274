"""Typed responses of the Prediction One REST API (spec section 4).

Each dataclass has a ``from_json`` constructor that accepts the documented JSON object and keeps
only documented fields. Unknown fields are ignored (the service may add some); missing optional
fields become ``None``. Secrets (API keys) are excluded from ``repr`` so that logging an object
never prints them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_predictionone.api.contract import (
    CLASSIFIER_FAILED,
    CLASSIFIER_READY,
    CLASSIFIER_STOPPED,
    JobState,
    job_state,
)
from airflow_provider_predictionone.api.errors import ResultArchiveError

_EXCERPT_BYTES = 64


class ResponseFormatError(ValueError):
    """A 2xx response whose body does not have the documented shape."""


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
class IpRule:
    """An IP access rule of a prediction API (spec 4.10)."""

    source: str
    order: str
    priority: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "order": self.order, "priority": self.priority}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IpRule:
        return cls(str(data.get("source")), str(data.get("order")), int(data.get("priority") or 0))


ALLOW_ALL = (IpRule("0.0.0.0/0", "allow", 0),)
"""The default rule set: every caller may use the prediction API."""


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


@dataclass(frozen=True)
class TrainingResult:
    """What the training / retraining result archive holds (spec 7.20: inspect, don't assume).

    ``metrics`` is read from the first CSV whose name contains ``metric`` when it has two columns
    (name, value) or one header row of metric names and one row of values; numbers become floats.
    """

    file_names: list[str]
    metrics: dict[str, float | str]

    @classmethod
    def from_zip_bytes(
        cls, payload: bytes, *, operation: str = "download of the result archive", status_code: int = 200
    ) -> TrainingResult:
        """Read a result archive.

        :param payload: the downloaded bytes.
        :param operation: what produced them, for the error message.
        :param status_code: the HTTP status they came with, for the error message.
        :raises ResultArchiveError: the bytes are not a readable zip archive.
        """
        try:
            return cls._from_zip(payload)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            excerpt = payload[:_EXCERPT_BYTES].decode("utf-8", errors="replace").strip()
            raise ResultArchiveError(
                operation, status_code, excerpt=f"{excerpt} ({len(payload)} bytes; {exc})"
            ) from exc

    @classmethod
    def _from_zip(cls, payload: bytes) -> TrainingResult:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            names = archive.namelist()
            metrics: dict[str, float | str] = {}
            metric_files = [n for n in names if "metric" in n.lower() and n.lower().endswith(".csv")]
            if metric_files:
                text = archive.read(metric_files[0]).decode("utf-8-sig", errors="replace")
                metrics = _parse_metrics_csv(text)
        return cls(file_names=names, metrics=metrics)


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _parse_metrics_csv(text: str) -> dict[str, float | str]:
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]
    if len(header) == 2 and header[0] in {"metric", "name", "metric_name", "指標"}:
        return {row[0]: _number_or_text(row[1]) for row in rows[1:] if len(row) >= 2}
    if len(rows) >= 2:
        return {name: _number_or_text(value) for name, value in zip(rows[0], rows[1], strict=False)}
    return {}
