"""The evaluation rows the promotion gate judges both models on (files only, no requests, no Airflow).

* :func:`archive_rows` reads the retrained model's answers on its evaluation rows from the result
  archive (``evaluation_raw_data.csv``: ``row_number``, ``actual``, then the prediction columns).
  Spec 7.20: the archive's content is undocumented, so a missing or unreadable file is reported,
  not assumed (the gate then falls back to the service's own figure).
* :func:`select_rows` picks the evaluation file's rows to score through the served prediction API —
  the first ``max_rows`` rows with a target value that the archive also holds — and writes them
  without the target column; :func:`served_rows` reads the batch output back, keyed by the same row
  numbers (1-based data rows of the evaluation file, blank lines not counted, as in the archive).
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.metrics import ScoredRow

MAX_LISTED_MISMATCHES = 3


@dataclass(frozen=True)
class PredictionColumns:
    """Where a prediction output keeps its answer: the label / value column and the probability columns."""

    prediction: int | None
    probabilities: Mapping[str, int]

    @classmethod
    def find(cls, header: Sequence[str], *, regression: bool, source: str) -> PredictionColumns:
        """Locate the columns in ``header``.

        :raises PredictionOneConfigError: no column holds the answer (names the columns found).
        """
        names = [name.strip() for name in header]
        prediction = names.index(c.PREDICTION_COLUMN) if c.PREDICTION_COLUMN in names else None
        probabilities = {
            name[len(c.PROBABILITY_PREFIX) :]: i
            for i, name in enumerate(names)
            if name.startswith(c.PROBABILITY_PREFIX)
        }
        if prediction is None and (regression or not probabilities):
            wanted = f"'{c.PREDICTION_COLUMN}'" + ("" if regression else f" or '{c.PROBABILITY_PREFIX}<class>' columns")
            raise PredictionOneConfigError(
                f"{source} has no {wanted} column (its columns: {', '.join(names)}), so the promotion gate cannot "
                "read the model's answers from it."
            )
        return cls(prediction, probabilities)

    def scored(self, cells: Sequence[str], actual: str, *, regression: bool) -> ScoredRow:
        """One row's answer."""
        label = cells[self.prediction].strip() if self.prediction is not None and self.prediction < len(cells) else None
        if regression:
            return ScoredRow(actual=actual, value=_number(label))
        probabilities = {cls: _number(cells[i]) for cls, i in self.probabilities.items() if i < len(cells)}
        return ScoredRow(actual=actual, label=label, probabilities=probabilities)


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _rows(handle: Any) -> Iterator[list[str]]:
    """The non-blank rows of a CSV text stream."""
    for row in csv.reader(handle):
        if any(cell.strip() for cell in row):
            yield row


@dataclass(frozen=True)
class ArchiveRows:
    """The retrained model's evaluation rows (``None`` when the archive does not hold them, and why)."""

    rows: dict[int, ScoredRow] | None
    why_not: str = ""


def archive_rows(archive: Path, *, regression: bool) -> ArchiveRows:
    """Read ``evaluation_raw_data.csv`` from the result archive at ``archive``."""
    with zipfile.ZipFile(archive) as bundle:
        names = [n for n in bundle.namelist() if n.rsplit("/", 1)[-1].lower() == c.RESULT_EVALUATION_FILE]
        if not names:
            return ArchiveRows(
                None, f"the result archive has no {c.RESULT_EVALUATION_FILE} (it holds {bundle.namelist()})"
            )
        with io.TextIOWrapper(bundle.open(names[0]), encoding="utf-8-sig", newline="") as handle:
            rows = _rows(handle)
            header = [h.strip() for h in next(rows, [])]
            missing = [n for n in (c.ROW_NUMBER_COLUMN, c.ACTUAL_COLUMN) if n not in header]
            if missing:
                return ArchiveRows(None, f"its {c.RESULT_EVALUATION_FILE} has no {' or '.join(missing)} column")
            try:
                columns = PredictionColumns.find(header, regression=regression, source=c.RESULT_EVALUATION_FILE)
            except PredictionOneConfigError as exc:
                return ArchiveRows(None, str(exc))
            number_at, actual_at = header.index(c.ROW_NUMBER_COLUMN), header.index(c.ACTUAL_COLUMN)
            found: dict[int, ScoredRow] = {}
            for cells in rows:
                try:
                    number = int(cells[number_at])
                except (ValueError, IndexError):
                    continue
                found[number] = columns.scored(cells, cells[actual_at].strip(), regression=regression)
    return ArchiveRows(found)


@contextmanager
def _open_text(source: Any) -> Iterator[Any]:
    from airflow_provider_predictionone.api.sources import UploadSource

    raw = UploadSource.of(source, param="evaluation_file").open()
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:  # closes ``raw`` too
        yield handle


@dataclass(frozen=True)
class Selection:
    """The evaluation rows sent to the served model: their row numbers and actual values, in input order."""

    numbers: list[int]
    actuals: list[str]
    rows_with_target: int
    """How many rows of the file have a target value (the selection is the first ``max_rows`` of them)."""


def select_rows(
    evaluation_file: Any,
    target: str,
    destination: Path,
    *,
    max_rows: int,
    regression: bool,
    wanted: Mapping[int, ScoredRow] | None = None,
) -> Selection:
    """Write the first ``max_rows`` rows of ``evaluation_file`` that have a target value (and, when
    ``wanted`` is given, that the retrained model was evaluated on) to ``destination`` without the
    target column.

    :raises PredictionOneConfigError: the file has no ``target`` column, no usable row, or its
        target values differ from the archive's ``actual`` values (it is not the file the
        retraining was evaluated on).
    """
    numbers: list[int] = []
    actuals: list[str] = []
    mismatches: list[str] = []
    with_target = 0
    with _open_text(evaluation_file) as handle, destination.open("w", encoding="utf-8", newline="") as out:
        rows = _rows(handle)
        header = [h.strip() for h in next(rows, [])]
        if target not in header:
            raise PredictionOneConfigError(
                f"evaluation_file={str(evaluation_file)!r} has no column {target!r}, the model's target column "
                f"(its columns: {', '.join(header) or 'none'}). Pass the evaluation file the retraining used."
            )
        at = header.index(target)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([h for i, h in enumerate(header) if i != at])
        for number, cells in enumerate(rows, start=1):
            actual = cells[at].strip() if at < len(cells) else ""
            if not actual or (regression and math.isnan(_number(actual))):
                continue
            with_target += 1
            if len(numbers) >= max_rows or (wanted is not None and number not in wanted):
                continue
            if wanted is not None and not _same_actual(wanted[number].actual, actual, regression=regression):
                mismatches.append(f"row {number}: {actual!r} in the file, {wanted[number].actual!r} in the archive")
            writer.writerow([v for i, v in enumerate(cells) if i != at])
            numbers.append(number)
            actuals.append(actual)
    if mismatches:
        raise PredictionOneConfigError(
            f"evaluation_file={str(evaluation_file)!r} is not the file the retraining was evaluated on: "
            f"{len(mismatches)} of {len(numbers)} rows have another target value than the result archive "
            f"({'; '.join(mismatches[:MAX_LISTED_MISMATCHES])}). Pass the same evaluation file as to the retrain task."
        )
    if not numbers:
        raise PredictionOneConfigError(
            f"evaluation_file={str(evaluation_file)!r} has no row with a value in {target!r} that the retrained model "
            "was evaluated on. Pass the evaluation file the retraining used."
        )
    return Selection(numbers, actuals, with_target)


def _same_actual(archived: str, given: str, *, regression: bool) -> bool:
    if regression:
        return math.isclose(_number(archived), _number(given), rel_tol=1e-9, abs_tol=1e-9)
    return archived.strip() == given.strip()


def served_rows(output_file: Path, selection: Selection, *, regression: bool) -> dict[int, ScoredRow]:
    """The served model's answers from a batch output (``input_row`` + prediction columns), keyed by the
    evaluation file's row numbers; rows the batch rejected are absent."""
    from airflow_provider_predictionone.api.batch_io import INPUT_ROW_COLUMN

    found: dict[int, ScoredRow] = {}
    with output_file.open(encoding="utf-8", newline="") as handle:
        rows = _rows(handle)
        header = [h.strip() for h in next(rows, [])]
        at = header.index(INPUT_ROW_COLUMN)
        columns: PredictionColumns | None = None
        for cells in rows:
            columns = columns or PredictionColumns.find(
                header, regression=regression, source="The served model's output"
            )
            index = int(cells[at]) - 1
            found[selection.numbers[index]] = columns.scored(cells, selection.actuals[index], regression=regression)
    return found
