"""The result archive of a training (spec 7.20): evaluation rows, metrics and column importances."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_provider_predictionone.api.contract import RESULT_EVALUATION_FILE as EVALUATION_FILE
from airflow_provider_predictionone.api.contract import RESULT_METRICS_FILE as METRICS_FILE
from airflow_provider_predictionone.emulator.baseline.models import ACTUAL_COLUMN, ROW_NUMBER_COLUMN, format_number

SUMMARY_FILE = "analysis_summary.csv"


def _csv_text(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


class ResultArchive:
    """A result archive being written: the evaluation rows are streamed into it one by one, then
    :meth:`complete` adds the metrics and the importances and moves the archive into place.

    Written to a temporary file next to ``path``; leaving the ``with`` block without
    :meth:`complete` (an error) removes it.
    """

    def __init__(self, path: Path, prediction_columns: Sequence[str]) -> None:
        self.path = path
        self._partial = path.with_suffix(".tmp")
        self._zip = zipfile.ZipFile(self._partial, "w", compression=zipfile.ZIP_DEFLATED)
        self._evaluation = io.TextIOWrapper(self._zip.open(EVALUATION_FILE, "w"), encoding="utf-8", newline="")
        self._rows = csv.writer(self._evaluation, lineterminator="\n")
        self._rows.writerow([ROW_NUMBER_COLUMN, ACTUAL_COLUMN, *prediction_columns])
        self._complete = False

    def add_evaluation_row(self, row_number: int, actual: str, predicted: Sequence[str]) -> None:
        self._rows.writerow([row_number, actual, *predicted])

    def complete(self, metrics: Mapping[str, float], importances: Sequence[tuple[str, float]]) -> None:
        """Write ``metrics.csv`` and ``analysis_summary.csv`` and move the archive to ``path``."""
        self._evaluation.close()
        self._zip.writestr(
            METRICS_FILE, _csv_text([["metric", "value"], *([k, format_number(v)] for k, v in metrics.items())])
        )
        self._zip.writestr(
            SUMMARY_FILE, _csv_text([["column", "importance"], *([n, format_number(v)] for n, v in importances)])
        )
        self._zip.close()
        self._partial.replace(self.path)
        self._complete = True

    def __enter__(self) -> ResultArchive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._complete:
            self._evaluation.close()
            self._zip.close()
            self._partial.unlink(missing_ok=True)
