"""Files going to and coming from Prediction One: streaming uploads and downloads, the column-info
file, the retrain zip, and checks of data files that run before anything is sent.

Uploads stream from a path or a binary file object in chunks, so memory does not grow with the
file size; a failed upload is retried from the start; long uploads log their progress.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

import requests

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import (
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneUploadError,
    error_from_response,
)
from airflow_provider_predictionone.api.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1024 * 1024
DEFAULT_PROGRESS_INTERVAL = 10.0
HEADER_READ_LIMIT = 4 * 1024 * 1024
"""Bytes read at most to find a CSV header line (guards against a file with no line break)."""

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


@dataclass
class UploadSource:
    """Something to upload: a local path or an open binary file object.

    A file object is read from its current position; it must be seekable for a failed upload to
    be retried from the start.
    """

    name: str
    size: int
    _path: Path | None = None
    _file: IO[bytes] | None = None
    _start: int = 0

    @classmethod
    def of(cls, source: PathOrFile, *, param: str) -> UploadSource:
        """Describe ``source``; ``param`` names the argument in error messages."""
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise PredictionOneConfigError(
                    f"{param}={str(path)!r} does not exist. Give the path of an existing file."
                )
            if not path.is_file():
                raise PredictionOneConfigError(f"{param}={str(path)!r} is not a file.")
            if not os.access(path, os.R_OK):
                raise PredictionOneConfigError(f"{param}={str(path)!r} is not readable by this worker (permissions).")
            return cls(name=path.name, size=path.stat().st_size, _path=path)
        if not hasattr(source, "read"):
            raise PredictionOneConfigError(
                f"{param} must be a file path or a binary file object, got {type(source).__name__}."
            )
        start = source.tell() if source.seekable() else 0
        if source.seekable():
            end = source.seek(0, io.SEEK_END)
            source.seek(start)
            size = end - start
        else:
            raise PredictionOneConfigError(
                f"{param} is a file object that cannot seek; its size is needed for the upload. "
                "Pass a path or a seekable binary file object."
            )
        name = os.path.basename(str(getattr(source, "name", "") or param))
        return cls(name=name, size=size, _file=source, _start=start)

    @property
    def path(self) -> Path | None:
        return self._path

    def open(self) -> IO[bytes]:
        """A binary stream positioned at the start of the content."""
        if self._path is not None:
            return self._path.open("rb")
        assert self._file is not None
        self._file.seek(self._start)
        return _Unclosable(self._file)


class _Unclosable(io.RawIOBase):
    """Wraps a caller's file object so that our ``with`` block does not close it."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        return self._inner.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --------------------------------------------------------------------------------------------
# Upload and download
# --------------------------------------------------------------------------------------------


def _human(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(num_bytes) < 1024 or unit == "GiB":
            return f"{num_bytes:.1f} {unit}" if unit != "B" else f"{int(num_bytes)} B"
        num_bytes /= 1024
    return f"{num_bytes:.1f} GiB"


class _ProgressReader:
    """A file-like body for ``requests`` that reads big chunks and logs progress."""

    def __init__(self, stream: IO[bytes], size: int, label: str, chunk_size: int, interval: float) -> None:
        self._stream = stream
        self._size = size
        self._label = label
        self._chunk = chunk_size
        self._interval = interval
        self.sent = 0
        self.started = time.monotonic()
        self._last_log = self.started

    def __len__(self) -> int:
        # requests takes Content-Length from here: presigned URLs refuse chunked uploads.
        return self._size - self.sent

    def read(self, _size: int = -1) -> bytes:
        data = self._stream.read(self._chunk)
        self.sent += len(data)
        now = time.monotonic()
        if now - self._last_log >= self._interval and self._size:
            self._last_log = now
            rate = self.sent / max(now - self.started, 1e-6) / 1e6
            log.info(
                "Uploading %s: %s of %s (%.0f%%), %.1f MB/s",
                self._label,
                _human(self.sent),
                _human(self._size),
                100.0 * self.sent / self._size,
                rate,
            )
        return data


def upload(
    session: requests.Session,
    url: str,
    source: UploadSource,
    *,
    label: str,
    timeout: tuple[float, float],
    verify: bool | str = True,
    retry: RetryPolicy | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
) -> None:
    """PUT ``source`` to a pre-issued upload URL (no API key), streaming, retried from the start.

    The URL is a bearer capability and is never logged or put into an error message.
    """
    retry = retry or RetryPolicy()
    operation = f"upload of the {label}"
    attempt = 0
    while True:
        attempt += 1
        failure: str
        with source.open() as stream:
            reader = _ProgressReader(stream, source.size, label, chunk_size, progress_interval)
            try:
                response = session.put(url, data=reader, timeout=timeout, verify=verify)
            except requests.exceptions.RequestException as exc:
                response = None
                failure = f"{type(exc).__name__} after {_human(reader.sent)}"
        if response is not None:
            if 200 <= response.status_code < 300:
                elapsed = max(time.monotonic() - reader.started, 1e-6)
                log.info(
                    "Uploaded %s (%s) in %.1fs, %.1f MB/s.",
                    label,
                    _human(source.size),
                    elapsed,
                    source.size / elapsed / 1e6,
                )
                return
            error = error_from_response(operation, response.status_code, response.content)
            if not retry.should_retry_status(error, idempotent=True):
                raise _upload_rejected(error, label)
            failure = f"HTTP {response.status_code}"
            retry_after = response.headers.get("Retry-After")
        else:
            retry_after = None
        if attempt > retry.max_retries:
            raise PredictionOneUploadError(
                f"The {label} could not be uploaded to Prediction One after {attempt} attempts "
                f"(last: {failure}). Check the network; the task can be retried safely."
            )
        delay = retry.delay(attempt, retry_after)
        log.warning("Upload of %s failed (%s); retrying from the start in %.1fs.", label, failure, delay)
        time.sleep(delay)


def _upload_rejected(error: PredictionOneAPIError, label: str) -> PredictionOneUploadError:
    hint = (
        " The upload URL may have expired or been used up: re-run the task to get fresh URLs."
        if error.status_code in (401, 403)
        else ""
    )
    return PredictionOneUploadError(f"{error}{hint}")


def download(
    session: requests.Session,
    url: str,
    *,
    label: str,
    timeout: tuple[float, float],
    verify: bool | str = True,
    destination: str | os.PathLike[str] | None = None,
    retry: RetryPolicy | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes | Path:
    """GET a result URL (no API key). Streams to ``destination`` when given (returns the path,
    written atomically), otherwise returns the bytes."""
    retry = retry or RetryPolicy()
    operation = f"download of the {label}"
    attempt = 0
    while True:
        attempt += 1
        try:
            with session.get(url, stream=True, timeout=timeout, verify=verify) as response:
                if 200 <= response.status_code < 300:
                    if destination is None:
                        return response.content
                    target = Path(destination)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_name(target.name + ".part")
                    with partial.open("wb") as out:
                        for chunk in response.iter_content(chunk_size):
                            out.write(chunk)
                    partial.replace(target)
                    return target
                error = error_from_response(operation, response.status_code, response.content)
                if not retry.should_retry_status(error, idempotent=True) or attempt > retry.max_retries:
                    raise error
                failure = f"HTTP {response.status_code}"
        except requests.exceptions.RequestException as exc:
            if attempt > retry.max_retries:
                raise PredictionOneUploadError(
                    f"The {label} could not be downloaded after {attempt} attempts ({type(exc).__name__})."
                ) from exc
            failure = type(exc).__name__
        delay = retry.delay(attempt)
        log.warning("Download of %s failed (%s); retrying in %.1fs.", label, failure, delay)
        time.sleep(delay)


# --------------------------------------------------------------------------------------------
# CSV data files and the column-info file
# --------------------------------------------------------------------------------------------


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
    if not rows or tuple(h.strip() for h in rows[0]) != c.COLUMN_INFO_HEADER:
        raise PredictionOneConfigError(
            f"{param} must start with the header 'column_name,column_type' (got {rows[0] if rows else 'nothing'})."
        )
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
    ``header`` (the training file's columns) when the data file is local."""
    if isinstance(column_info, Mapping):
        ordered: dict[str, Any] = dict(column_info)
        if header is not None and set(header) == set(ordered):
            ordered = {name: ordered[name] for name in header}  # spec: rows in the data file's order
        payload = build_column_info(ordered)
        source = UploadSource.of(io.BytesIO(payload), param="column_info")
        source.name = "column_info.csv"
    else:
        source = UploadSource.of(column_info, param="column_info")
        with source.open() as stream:
            payload = stream.read()
    columns = parse_column_info(payload)
    if header is not None:
        check_column_info_covers(header, columns, data_param="training_file")
    return source, columns


def build_retrain_zip(training: UploadSource, evaluation: UploadSource, destination: Path) -> UploadSource:
    """Write the retrain archive (spec 4.15, 7.14): ``train_src/<train.csv>`` and
    ``eval_src/<eval.csv>`` at the root, deflated, streamed from the sources."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder, source in ((c.RETRAIN_ZIP_TRAIN_DIR, training), (c.RETRAIN_ZIP_EVAL_DIR, evaluation)):
            with source.open() as stream, archive.open(f"{folder}/{source.name}", "w", force_zip64=True) as entry:
                while chunk := stream.read(DEFAULT_CHUNK_SIZE):
                    entry.write(chunk)
    return UploadSource.of(destination, param="retrain archive")
