"""The data files: CSV checks that run before anything is sent, the column-info file (spec 4.2.2,
7.12) and the retrain archive (spec 4.15, 7.14).

A training or evaluation file is read twice at most before it is uploaded, and never whole: its
header (the first line) and its first :data:`SAMPLE_ROWS` data rows. That is enough to refuse a file
without data rows, with fewer rows than any training accepts, with rows whose field count differs
from the header, or whose target column holds a single value. The row maximum (spec 6: 1,000,000;
10,000 in time-series mode) is not counted here: that would read a big file once more before
uploading it. The service counts the rows, and training checks that count (Train Data Set Info)
before Train is sent.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.config_rules import suggest_column
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.sources import CHUNK_SIZE, PathOrFile, UploadSource

HEADER_READ_LIMIT = 4 * 1024 * 1024
"""Bytes read at most to find a CSV header line (guards against a file with no line break)."""
SAMPLE_ROWS = 1000
"""Data rows of a training or evaluation file read before the upload. Prediction One decides a
classification target's classes from the first 1000 rows too (spec 6)."""
_LINE_CHUNK = 64 * 1024
_ICONV = "Save it as UTF-8, e.g. `iconv -f SHIFT_JIS -t UTF-8 in.csv > out.csv`."


def read_csv_header(source: UploadSource, *, param: str) -> list[str]:
    """The column names of a UTF-8 CSV data file, checked: not empty, decodable, no blanks or
    duplicates, at least two columns. Reads only the first line."""
    if source.size == 0:
        raise PredictionOneConfigError(
            f"{param} ({source.name!r}) is empty. A CSV with a header row and data is needed."
        )
    with source.open() as stream:
        head = stream.read(min(source.size, HEADER_READ_LIMIT))
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PredictionOneConfigError(
            f"{param} ({source.name!r}) is not UTF-8 (byte {exc.start} of the header cannot be decoded). {_ICONV}"
        ) from None
    if end >= 0:
        # The rows read along with the header (up to HEADER_READ_LIMIT bytes, no extra I/O) must be
        # UTF-8 too: an ASCII header over Shift-JIS rows would otherwise be uploaded and fail remotely.
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head[end + 1 :], final=len(head) == source.size)
        except UnicodeDecodeError as exc:
            line_number = head[: end + 1 + exc.start].count(b"\n") + 1
            raise PredictionOneConfigError(
                f"{param} ({source.name!r}) is not UTF-8 after data row {line_number - 2} (line {line_number}). "
                + _ICONV
            ) from None
    rows = list(csv.reader([text.rstrip("\r")]))
    header = [name.strip() for name in (rows[0] if rows else [])]
    if len(header) < c.MIN_COLUMNS or not any(header):
        raise PredictionOneConfigError(
            f"{param} ({source.name!r}) has {len(header)} column(s) in its header; Prediction One needs "
            f"a comma-separated header row with at least {c.MIN_COLUMNS} columns."
        )
    if len(header) > c.MAX_COLUMNS:
        raise PredictionOneConfigError(
            f"{param} ({source.name!r}) has {len(header)} columns; Prediction One accepts at most {c.MAX_COLUMNS}."
        )
    blanks = [i + 1 for i, name in enumerate(header) if not name]
    if blanks:
        raise PredictionOneConfigError(f"{param} ({source.name!r}) has empty column names at positions {blanks}.")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise PredictionOneConfigError(f"{param} ({source.name!r}) has duplicate column names: {duplicates}.")
    return header


@dataclass(frozen=True)
class RowSample:
    """The first data rows of a CSV file, read before its upload (:func:`sample_rows`).

    :param rows: data rows read (blank lines are not rows), at most the sample's limit.
    :param complete: the whole file was read, so ``rows`` is its row count.
    :param target_values: the first two distinct non-empty values of the target column among them.
    """

    rows: int
    complete: bool
    target_values: tuple[str, ...] = ()


class _Lines:
    """The lines of a UTF-8 binary stream as text (line ends kept, a BOM dropped), read in chunks;
    :attr:`number` is the line being read, so that a decoding error can name it."""

    def __init__(self, binary: IO[bytes]) -> None:
        self.binary = binary
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        unfinished: list[bytes] = []  # the pieces of a line that spans chunks
        size = 0
        while chunk := self.binary.read(_LINE_CHUNK):
            pieces = chunk.split(b"\n")
            if len(pieces) == 1:
                unfinished.append(chunk)
                size += len(chunk)
                if size > HEADER_READ_LIMIT:
                    raise csv.Error(f"a line longer than {HEADER_READ_LIMIT} bytes")
                continue
            pieces[0] = b"".join([*unfinished, pieces[0]])
            unfinished, size = [pieces[-1]], len(pieces[-1])
            for line in pieces[:-1]:
                yield self._decode(line + b"\n")
        if any(unfinished):
            yield self._decode(b"".join(unfinished))

    def _decode(self, line: bytes) -> str:
        self.number += 1
        return line.decode("utf-8-sig" if self.number == 1 else "utf-8")


def sample_rows(
    source: UploadSource,
    header: list[str],
    *,
    param: str,
    target_column: str | None = None,
    limit: int = SAMPLE_ROWS,
) -> RowSample:
    """Read up to ``limit`` data rows after ``header`` (from :func:`read_csv_header`) in one
    stream, and refuse a row whose field count differs from the header (spec 6: every row has as
    many fields as the header) or text that is not UTF-8. A row the :mod:`csv` module cannot parse
    (e.g. a field over its size limit) ends the sample early: the service judges the rest."""
    target = header.index(target_column) if target_column in header else None
    values: list[str] = []
    rows = 0
    with source.open() as binary:
        lines = _Lines(binary)
        reader = csv.reader(lines)
        try:
            next(reader, None)  # the header
            for record in reader:
                if not record:
                    continue
                rows += 1
                if len(record) != len(header):
                    raise PredictionOneConfigError(
                        f"{param} ({source.name!r}) data row {rows} (line {reader.line_num}) has {len(record)} "
                        f"field(s) but the header has {len(header)} columns. Every row needs one field per column: "
                        "quote values that hold a comma, and check the file's delimiter (a comma)."
                    )
                if target is not None and len(values) < 2:
                    value = record[target].strip()
                    if value and value not in values:
                        values.append(value)
                if rows >= limit:
                    return RowSample(rows, complete=False, target_values=tuple(values))
        except UnicodeDecodeError:
            raise PredictionOneConfigError(
                f"{param} ({source.name!r}) is not UTF-8 after data row {rows} (line {lines.number}). " + _ICONV
            ) from None
        except csv.Error:
            return RowSample(rows, complete=False, target_values=tuple(values))
    return RowSample(rows, complete=True, target_values=tuple(values))


def training_rows_problems(sample: RowSample, *, param: str, name: str, target_column: str | None = None) -> list[str]:
    """Refuse a training file that no training accepts (no data rows, fewer than
    :data:`~.contract.MIN_TIME_SERIES_ROWS`, a target column with one value or none); return
    warnings for what only some trainings accept. Which limits apply (spec 6: 100 rows, or 20 in
    time-series mode) is known only when the training is configured; training checks the service's
    own row count again before Train is sent."""
    shown = f"{param} ({name!r})"
    limits = (
        f"Prediction One trains on {c.MIN_TRAINING_ROWS:,} to {c.MAX_TRAINING_ROWS:,} rows "
        f"({c.MIN_TIME_SERIES_ROWS:,} to {c.MAX_TIME_SERIES_ROWS:,} in time-series mode)"
    )
    if sample.complete and sample.rows == 0:
        raise PredictionOneConfigError(f"{shown} has a header but no data rows. {limits}: add rows below the header.")
    if sample.complete and sample.rows < c.MIN_TIME_SERIES_ROWS:
        raise PredictionOneConfigError(f"{shown} has only {sample.rows} data row(s). {limits}: add rows.")
    warnings = []
    if sample.complete and sample.rows < c.MIN_TRAINING_ROWS:
        warnings.append(
            f"{shown} has {sample.rows} data rows: enough only in time-series mode (at least "
            f"{c.MIN_TIME_SERIES_ROWS}); any other training or retraining needs at least {c.MIN_TRAINING_ROWS} rows "
            "and will be refused."
        )
    if target_column and sample.rows:
        values = sample.target_values
        where = f"all {sample.rows} data rows" if sample.complete else f"the first {sample.rows} data rows"
        if len(values) > 1:
            return warnings
        problem = (
            f"target_column={target_column!r} is empty in {where} of {shown}"
            if not values
            else f"target_column={target_column!r} has the same value {values[0]!r} in {where} of {shown}"
        )
        if sample.complete:
            raise PredictionOneConfigError(
                f"{problem}: there is nothing to predict (Prediction One would judge the column unusable). Fill in "
                "the target values, or choose another target_column."
            )
        warnings.append(
            f"{problem}. Prediction One decides a classification target's classes from the first {SAMPLE_ROWS} rows "
            "(spec 6): a classification would fail. Shuffle the rows if the other values come later."
        )
    return warnings


@dataclass(frozen=True)
class TrainingFiles:
    """A training file and an optional evaluation file, checked (:func:`check_training_files`)."""

    training: UploadSource
    header: list[str]
    evaluation: UploadSource | None = None
    warnings: list[str] = field(default_factory=list)
    """What only some trainings accept (e.g. fewer than 100 rows: time-series mode only), to log."""


def check_training_files(
    training_file: PathOrFile, evaluation_file: PathOrFile | None = None, *, target_column: str | None = None
) -> TrainingFiles:
    """Check a training file and an optional evaluation file before any request: each is a UTF-8
    CSV with a usable header (:func:`read_csv_header`); ``target_column``, when given, is one of the
    training file's columns; both have data rows (:func:`sample_rows`; the training file enough of
    them, see :func:`training_rows_problems`); the evaluation file has the same columns in the same
    order. Reads each header and at most :data:`SAMPLE_ROWS` rows of each, never a whole big file."""
    training = UploadSource.of(training_file, param="training_file")
    header = read_csv_header(training, param="training_file")
    if target_column and target_column not in header:
        raise PredictionOneConfigError(
            f"target_column={target_column!r}{suggest_column(target_column, header)} is not a column of "
            f"training_file ({training.name!r}); its columns are {header}. Use the header text exactly."
        )
    sample = sample_rows(training, header, param="training_file", target_column=target_column)
    warnings = training_rows_problems(sample, param="training_file", name=training.name, target_column=target_column)
    if evaluation_file is None:
        return TrainingFiles(training, header, None, warnings)
    evaluation = UploadSource.of(evaluation_file, param="evaluation_file")
    eval_header = read_csv_header(evaluation, param="evaluation_file")
    if eval_header != header:
        raise PredictionOneConfigError(
            "evaluation_file must have the same columns as training_file, in the same order; "
            f"training has {header}, evaluation has {eval_header}."
        )
    eval_sample = sample_rows(evaluation, header, param="evaluation_file")
    if eval_sample.complete and eval_sample.rows == 0:
        raise PredictionOneConfigError(
            f"evaluation_file ({evaluation.name!r}) has a header but no data rows. Add the rows to evaluate the model "
            "on, or leave evaluation_file out."
        )
    return TrainingFiles(training, header, evaluation, warnings)


def build_column_info(columns: Mapping[str, str | c.ColumnType]) -> bytes:
    """The column-info file for ``{column: type}`` (spec 4.2.2): UTF-8 with BOM, header
    ``column_name,column_type``, one row per column in the mapping's order."""
    if not columns:
        raise PredictionOneConfigError("column_info is empty: give a type for every column of the training file.")
    allowed = {t.value for t in c.ColumnType}
    rows = []
    for name, kind in columns.items():
        value = kind.value if isinstance(kind, c.ColumnType) else str(kind).strip().lower()
        if value not in allowed:
            raise PredictionOneConfigError(
                f"column_info[{name!r}]={kind!r} is not a column type Prediction One accepts; use one of "
                f"{sorted(allowed)} (integer columns are 'float', see spec 7.12)."
            )
        rows.append((str(name), value))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(c.COLUMN_INFO_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode(c.COLUMN_INFO_ENCODING)


def parse_column_info(payload: bytes, *, param: str = "column_info") -> dict[str, str]:
    """Read a column-info file and check its header and types."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PredictionOneConfigError(
            f"{param} is not UTF-8; the column-info file must be UTF-8 (with BOM)."
        ) from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise PredictionOneConfigError(
            f"{param} is empty; a column-info file holds the header 'column_name,column_type' and one row per "
            "column of the training file. Fill it in, or give column_info as a mapping {column: type}."
        )
    if tuple(h.strip() for h in rows[0]) != c.COLUMN_INFO_HEADER:
        raise PredictionOneConfigError(f"{param} must start with the header 'column_name,column_type' (got {rows[0]}).")
    columns: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise PredictionOneConfigError(f"{param} line {number} should have 2 fields, has {len(row)}: {row}.")
        if row[0] in lines:
            raise PredictionOneConfigError(
                f"{param} lists the column {row[0]!r} twice (lines {lines[row[0]]} and {number}). Give one type per "
                "column."
            )
        lines[row[0]] = number
        columns[row[0]] = row[1].strip()
    build_column_info(columns)  # validates the types
    return columns


def check_column_info_covers(header: Iterable[str], columns: Iterable[str], *, data_param: str) -> None:
    """Every column of the data header has a type, and column info names no other column."""
    header_list = list(header)
    column_set = set(columns)
    missing = [name for name in header_list if name not in column_set]
    extra = sorted(column_set - set(header_list))
    problems = []
    if missing:
        problems.append(f"no type for column(s) {missing} of {data_param}")
    if extra:
        problems.append(f"column(s) {extra} that {data_param} does not have")
    if problems:
        raise PredictionOneConfigError(
            "column_info does not match the data: " + "; ".join(problems) + ". Give exactly one type per column."
        )


def column_info_source(
    column_info: Mapping[str, Any] | PathOrFile, header: list[str] | None
) -> tuple[UploadSource, dict[str, str]]:
    """The column-info file to upload, from a ``{column: type}`` mapping or a file, checked against
    ``header`` (the training file's columns) when the data file is local.

    What is uploaded is always the canonical file of spec 4.2.2 / 7.12, rebuilt by
    :func:`build_column_info`: UTF-8 with BOM, header ``column_name,column_type``, one row per
    column in the training file's order when ``header`` is known (else in the given order). A file
    given by path is read and checked, never uploaded as is: a file saved without BOM or with its
    rows in another order is fixed on the way.
    """
    if isinstance(column_info, Mapping):
        columns = parse_column_info(build_column_info(column_info))  # checked, types normalized
        name = "column_info.csv"
    else:
        given = UploadSource.of(column_info, param="column_info")
        with given.open() as stream:
            payload = stream.read()
        columns = parse_column_info(payload, param=f"column_info ({given.name!r})")
        name = given.name
    if header is not None:
        check_column_info_covers(header, columns, data_param="training_file")
        columns = {column: columns[column] for column in header}  # spec: rows in the data file's order
    source = UploadSource.of(io.BytesIO(build_column_info(columns)), param="column_info")
    source.name = name
    return source, columns


def build_retrain_zip(training: UploadSource, evaluation: UploadSource, destination: Path) -> UploadSource:
    """Write the retrain archive (spec 4.15, 7.14): ``train_src/<train.csv>`` and
    ``eval_src/<eval.csv>`` at the root, deflated, streamed from the sources."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder, source in ((c.RETRAIN_ZIP_TRAIN_DIR, training), (c.RETRAIN_ZIP_EVAL_DIR, evaluation)):
            with source.open() as stream, archive.open(f"{folder}/{source.name}", "w", force_zip64=True) as entry:
                while chunk := stream.read(CHUNK_SIZE):
                    entry.write(chunk)
    return UploadSource.of(destination, param="retrain archive")
