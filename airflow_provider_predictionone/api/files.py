"""Files going to and coming from Prediction One: streaming uploads and downloads, the column-info
file, the retrain zip, and checks of data files that run before anything is sent.

Uploads stream from a path or a binary file object in chunks, so memory does not grow with the
file size; a failed upload is retried from the start; long uploads log their progress.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import logging
import os
import re
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any, Union

import requests

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.errors import (
    DownloadRejectedError,
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneDownloadError,
    PredictionOneUploadError,
    error_from_response,
)
from airflow_provider_predictionone.api.hashing import OrderedHasher
from airflow_provider_predictionone.api.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1024 * 1024
DEFAULT_PROGRESS_INTERVAL = 10.0
HEADER_READ_LIMIT = 4 * 1024 * 1024
"""Bytes read at most to find a CSV header line (guards against a file with no line break)."""

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes], Any]
"""A local path, a binary file object, or a storage path (see :func:`is_storage_path`)."""


def is_storage_path(obj: Any) -> bool:
    """Whether ``obj`` is a path of another filesystem: Airflow's ``ObjectStoragePath``, a
    ``UPath`` or anything path-like with ``open(mode)`` (and a size from ``stat().st_size`` or
    ``size()``). Duck-typed: this module does not import Airflow or fsspec. Plain strings,
    :mod:`pathlib` paths and open file objects are not storage paths."""
    if isinstance(obj, (str, bytes)) or hasattr(obj, "read"):
        return False
    if isinstance(obj, PurePath) and not hasattr(obj, "protocol"):  # a pathlib path (UPath 0.2 subclasses Path)
        return False
    return callable(getattr(obj, "open", None))


def storage_size(path: Any) -> int:
    """The size in bytes of a storage path: ``stat().st_size``, or fsspec's ``size()`` / ``stat()["size"]``."""
    stat = getattr(path, "stat", None)
    if callable(stat):
        info = stat()
        size = getattr(info, "st_size", None)
        if size is None and isinstance(info, Mapping):
            size = info.get("size")
        if size is not None:
            return int(size)
    return int(path.size())


def copy_to_storage(local: str | os.PathLike[str], destination: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
    """Stream a local file to a storage path in chunks (object stores have no atomic rename: the
    object appears when the write is closed)."""
    with contextlib.suppress(Exception):  # object stores have no folders; a local file:// target needs its own
        destination.parent.mkdir(parents=True, exist_ok=True)
    with open(local, "rb") as source, destination.open("wb") as out:
        while chunk := source.read(chunk_size):
            out.write(chunk)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


@dataclass
class UploadSource:
    """Something to upload: a local path, a storage path or an open binary file object.

    A storage path (:func:`is_storage_path`, e.g. Airflow's ``ObjectStoragePath``) is opened again
    for every read, so a failed upload is retried from the start. A file object is read from its
    current position; it must be seekable for a failed upload to be retried from the start.
    """

    name: str
    size: int
    _path: Path | None = None
    _file: IO[bytes] | None = None
    _start: int = 0
    _storage: Any = None

    @classmethod
    def of(cls, source: PathOrFile, *, param: str) -> UploadSource:
        """Describe ``source``; ``param`` names the argument in error messages."""
        if is_storage_path(source):
            return cls._of_storage(source, param=param)
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise PredictionOneConfigError(
                    f"{param}={str(path)!r} does not exist. Give the path of an existing file."
                )
            if not path.is_file():
                what = "a directory" if path.is_dir() else "not a regular file"
                raise PredictionOneConfigError(f"{param}={str(path)!r} is {what}. Give the path of the file itself.")
            if not os.access(path, os.R_OK):
                raise PredictionOneConfigError(
                    f"{param}={str(path)!r} is not readable by this worker (permissions). Make it readable by the "
                    "user the Airflow task runs as."
                )
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

    @classmethod
    def _of_storage(cls, source: Any, *, param: str) -> UploadSource:
        shown = str(source)
        try:
            exists = source.exists() if callable(getattr(source, "exists", None)) else True
            is_file = source.is_file() if exists and callable(getattr(source, "is_file", None)) else exists
            size = storage_size(source) if is_file else 0
        except Exception as exc:  # no filesystem for the scheme, missing driver, credentials, network
            raise PredictionOneConfigError(
                f"{param}={shown!r} cannot be read: {type(exc).__name__}: {exc}. Check the URL, the storage "
                "connection and that the filesystem for its scheme is installed."
            ) from exc
        if not exists:
            raise PredictionOneConfigError(f"{param}={shown!r} does not exist. Give the URL of an existing file.")
        if not is_file:
            raise PredictionOneConfigError(f"{param}={shown!r} is not a file (a folder?). Give the URL of the file.")
        name = str(getattr(source, "name", "") or "") or param
        return cls(name=name, size=size, _storage=source)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def storage(self) -> Any:
        """The storage path this source reads from, if it is one."""
        return self._storage

    def open(self) -> IO[bytes]:
        """A binary stream positioned at the start of the content."""
        if self._path is not None:
            return self._path.open("rb")
        if self._storage is not None:
            stream: IO[bytes] = self._storage.open("rb")
            return stream
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
        readinto = getattr(self._inner, "readinto", None)
        if readinto is not None:
            return int(readinto(buffer) or 0)
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


_MD5_ETAG = re.compile(r'"?([0-9a-fA-F]{32})"?')
"""An S3-style ETag of a single-part PUT: the quoted hex MD5 of the body the store received."""


def _md5() -> Any:
    # A checksum of the bytes sent, not a security use (so FIPS builds allow it too).
    return hashlib.md5(usedforsecurity=False)


def received_md5(etag: str | None) -> str | None:
    """The MD5 an upload answer's ``ETag`` states, in lower-case hex, or ``None`` when there is no
    ETag or it is not a plain MD5 (a multipart upload's ``"<hex>-<parts>"``, a weak ``W/"..."``
    validator, or another store's opaque tag): then there is nothing to compare with."""
    match = _MD5_ETAG.fullmatch((etag or "").strip())
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class UploadReceipt:
    """What an upload sent, and whether the server confirmed it.

    :param size: bytes sent (the ``Content-Length``).
    :param md5: hex MD5 of the bytes sent, computed while streaming them.
    :param etag: the server's ``ETag`` answer header, if any.
    :param verified: the ETag was an MD5 and equal to ``md5``.
    """

    size: int
    md5: str
    etag: str | None
    verified: bool


class _ProgressReader:
    """A file-like body for ``requests`` that reads big chunks, logs progress and computes the
    MD5 of what it hands out (in the same pass: the file is read once per attempt).

    Chunks are read into two alternating buffers and handed out as views of them; an
    :class:`~.hashing.OrderedHasher` hashes each on a helper thread while it is being sent, in
    order, and :attr:`md5` waits for it. Hashing before sending, in one thread, held uploads to
    the sum of both costs (MD5 alone runs at ~740 MB/s here; see ``docs/benchmarks.md``). The HTTP
    library sends a chunk before it asks for the next one, and a buffer is filled again only once
    its chunk is hashed. A stream without ``readinto`` is read and hashed chunk by chunk.
    """

    _PIPELINE_MIN_CHUNKS = 4
    """Smaller bodies are hashed inline (a helper thread is not worth it)."""

    def __init__(self, stream: IO[bytes], size: int, label: str, chunk_size: int, interval: float) -> None:
        self._stream = stream
        self._size = size
        self._label = label
        self._chunk = chunk_size
        self._interval = interval
        self._readinto = getattr(stream, "readinto", None)
        self._hashes = OrderedHasher(
            _md5(),
            buffers=2 if self._readinto is not None else 0,
            size=chunk_size,
            threaded=self._readinto is not None and size >= self._PIPELINE_MIN_CHUNKS * chunk_size,
            name="predictionone-upload-md5",
        )
        self.sent = 0
        self.started = time.monotonic()
        self._last_log = self.started

    @property
    def md5(self) -> Any:
        """The MD5 of everything handed out so far (waits for the helper thread)."""
        return self._hashes.finish()

    def close(self) -> None:
        """Stop the helper thread (an attempt that failed never asks for :attr:`md5`)."""
        self._hashes.close()

    def __len__(self) -> int:
        # requests takes Content-Length from here: presigned URLs refuse chunked uploads.
        return self._size - self.sent

    def read(self, _size: int = -1) -> bytes | memoryview:
        data: bytes | memoryview
        if self._readinto is not None:
            index, buffer = self._hashes.acquire()
            data = buffer[: int(self._readinto(buffer) or 0)]
            self._hashes.submit(index, len(data))
        else:
            data = self._stream.read(self._chunk)
            self._hashes.digest.update(data)
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
    verify_checksum: bool = True,
) -> UploadReceipt:
    """PUT ``source`` to a pre-issued upload URL (no API key), streaming, retried from the start.

    What the server received is verified: the size always (see below), the content when the
    answer carries an S3-style ``ETag`` holding the MD5 of the received body (the MD5 of what was
    sent is computed while streaming, without a second read). A mismatch counts as a failed
    attempt and the upload is retried from the start; when retries run out it fails naming the
    file and both checksums. ``verify_checksum=False`` skips the comparison (for a store whose
    ETag is an MD5-shaped tag that is not the content's MD5, e.g. S3 with SSE-KMS encryption).

    The URL is a bearer capability and is never logged or put into an error message.
    """
    retry = retry or RetryPolicy()
    operation = f"upload of the {label}"
    attempt = 0
    mismatch: str | None = None  # the last attempt that the server received differently
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
            finally:
                reader.close()
        retry_after = None
        if response is not None and 200 <= response.status_code < 300:
            receipt, problem = _received(reader, source, response.headers.get("ETag"), verify_checksum)
            if problem is None:
                elapsed = max(time.monotonic() - reader.started, 1e-6)
                log.info(
                    "Uploaded %s (%s) in %.1fs, %.1f MB/s%s.",
                    label,
                    _human(source.size),
                    elapsed,
                    source.size / elapsed / 1e6,
                    "; the server confirmed its MD5" if receipt.verified else "",
                )
                return receipt
            failure = mismatch = problem
        elif response is not None:
            error = error_from_response(operation, response.status_code, response.content)
            if not retry.should_retry_status(error, idempotent=True):
                raise _upload_rejected(error, label, mismatch)
            failure = f"HTTP {response.status_code}"
            retry_after = response.headers.get("Retry-After")
        if attempt > retry.max_retries:
            if failure is mismatch:
                raise PredictionOneUploadError(
                    f"The {label} {source.name!r} was not received intact by Prediction One after {attempt} "
                    f"attempts: {mismatch}. The data was altered on the way (a proxy, the network or the storage); "
                    "the task can be retried safely."
                )
            raise PredictionOneUploadError(
                f"The {label} could not be uploaded to Prediction One after {attempt} attempts "
                f"(last: {failure}). Check the network; the task can be retried safely."
            )
        delay = retry.delay(attempt, retry_after)
        log.warning("Upload of %s failed (%s); retrying from the start in %.1fs.", label, failure, delay)
        time.sleep(delay)


def _received(
    reader: _ProgressReader, source: UploadSource, etag: str | None, verify_checksum: bool
) -> tuple[UploadReceipt, str | None]:
    """Check a 2xx answer to an upload against what was sent: ``(receipt, problem or None)``."""
    sent_md5 = reader.md5.hexdigest()
    # Size: requests sent Content-Length = source.size (from _ProgressReader.__len__), and a 2xx
    # means the server accepted that many bytes. So the sizes agree exactly when that many bytes
    # were read here; otherwise the file changed while it was being sent.
    if reader.sent != source.size:
        problem = (
            f"{reader.sent} bytes were read from it but {source.size} were announced as Content-Length: the "
            "file changed while it was being uploaded"
        )
        return UploadReceipt(reader.sent, sent_md5, etag, False), problem
    stated = received_md5(etag) if verify_checksum else None
    if stated is None:
        return UploadReceipt(reader.sent, sent_md5, etag, False), None
    if stated != sent_md5:
        problem = f"sent {reader.sent} bytes with MD5 {sent_md5}, but the server's ETag says it received MD5 {stated}"
        return UploadReceipt(reader.sent, sent_md5, etag, False), problem
    return UploadReceipt(reader.sent, sent_md5, etag, True), None


def _upload_rejected(error: PredictionOneAPIError, label: str, mismatch: str | None = None) -> PredictionOneUploadError:
    hint = (
        " The upload URL may have expired or been used up: re-run the task to get fresh URLs."
        if error.status_code in (401, 403)
        else ""
    )
    if mismatch is not None:
        hint += f" An earlier attempt was not received intact ({mismatch})."
    return PredictionOneUploadError(f"{error}{hint}")


def _download_rejected(error: PredictionOneAPIError) -> PredictionOneAPIError:
    """The error for a download the server refused: its own class, with what to do about it."""
    if type(error) is not PredictionOneAPIError:
        return error  # a specific class (ServerError, RateLimitedError, ...) already says what to do
    return DownloadRejectedError(
        error.operation,
        error.status_code,
        code=error.code,
        error=error.error,
        message=error.message,
        excerpt=error.excerpt,
    )


def download(
    session: requests.Session,
    url: str,
    *,
    label: str,
    timeout: tuple[float, float],
    verify: bool | str = True,
    destination: str | os.PathLike[str] | Any | None = None,
    retry: RetryPolicy | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes | Path | Any:
    """GET a result URL (no API key). Streams to ``destination`` when given (returns the path),
    otherwise returns the bytes. A local destination is written atomically (``.part`` + rename); a
    storage path (:func:`is_storage_path`) is streamed to with ``open("wb")`` — object stores have
    no rename, the object appears when the write completes."""
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
                    if is_storage_path(destination):
                        with contextlib.suppress(Exception):  # a local file:// target needs its folder
                            destination.parent.mkdir(parents=True, exist_ok=True)
                        with destination.open("wb") as sink:
                            for chunk in response.iter_content(chunk_size):
                                sink.write(chunk)
                        return destination
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
                    raise _download_rejected(error)
                failure = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
        except requests.exceptions.RequestException as exc:
            if attempt > retry.max_retries:
                raise PredictionOneDownloadError(
                    f"The {label} could not be downloaded from Prediction One after {attempt} attempts (last: "
                    f"{type(exc).__name__}). Check the worker's network access to the result URL's host (a proxy or "
                    "firewall), or raise the timeout / retries in the connection extras; re-running the task "
                    "downloads it again with a fresh URL."
                ) from exc
            failure = type(exc).__name__
            retry_after = None
        delay = retry.delay(attempt, retry_after)
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
                while chunk := stream.read(DEFAULT_CHUNK_SIZE):
                    entry.write(chunk)
    return UploadSource.of(destination, param="retrain archive")
