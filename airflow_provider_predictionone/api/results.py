"""The training / retraining result archive (spec 7.20: inspect, don't assume) and its metrics."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from airflow_provider_predictionone.api.errors import ResultArchiveError

_EXCERPT_BYTES = 64


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
