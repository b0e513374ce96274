"""What is uploaded and where files live: local paths, open binary files and storage paths.

A storage path is anything path-like with ``open(mode)`` and a size — Airflow's
``ObjectStoragePath``, a ``UPath`` — duck-typed, so this module imports neither Airflow nor fsspec.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any, Union

from airflow_provider_predictionone.api.errors import PredictionOneConfigError

CHUNK_SIZE = 1024 * 1024

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


def copy_to_storage(local: str | os.PathLike[str], destination: Any, chunk_size: int = CHUNK_SIZE) -> None:
    """Stream a local file to a storage path in chunks (object stores have no atomic rename: the
    object appears when the write is closed)."""
    with contextlib.suppress(Exception):  # object stores have no folders; a local file:// target needs its own
        destination.parent.mkdir(parents=True, exist_ok=True)
    with open(local, "rb") as source, destination.open("wb") as out:
        while chunk := source.read(chunk_size):
            out.write(chunk)


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
