"""The data files: CSV checks that run before anything is sent, the column-info file (spec 4.2.2,
7.12) and the retrain archive (spec 4.15, 7.14)."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.sources import CHUNK_SIZE, PathOrFile, UploadSource

HEADER_READ_LIMIT = 4 * 1024 * 1024
"""Bytes read at most to find a CSV header line (guards against a file with no line break)."""


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
            f"{param} ({source.name!r}) is not UTF-8 (byte {exc.start} of the header cannot be decoded). "
            "Save it as UTF-8, e.g. `iconv -f SHIFT_JIS -t UTF-8 in.csv > out.csv`."
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
                "Save it as UTF-8, e.g. `iconv -f SHIFT_JIS -t UTF-8 in.csv > out.csv`."
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
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise PredictionOneConfigError(f"{param} line {number} should have 2 fields, has {len(row)}: {row}.")
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
