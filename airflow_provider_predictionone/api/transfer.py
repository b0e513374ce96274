"""Moving files to and from Prediction One: streamed uploads to pre-issued URLs and downloads from
result URLs, each attempt checked and repeated by the one retry executor (:func:`.retry.run`).

Uploads stream from an :class:`~.sources.UploadSource` in chunks (memory does not grow with the
file), log their progress, and verify what the server received: the size always, the content
when the answer's ``ETag`` is the MD5 of the received body. Downloads stream to a local file
(written atomically) or a storage path. Upload and result URLs are bearer capabilities: they are
never logged or put into an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_predictionone.api import retry as retries
from airflow_provider_predictionone.api.errors import (
    DownloadRejectedError,
    PredictionOneAPIError,
    PredictionOneDownloadError,
    PredictionOneTransportError,
    PredictionOneUploadError,
    UploadIntegrityError,
    error_from_response,
)
from airflow_provider_predictionone.api.hashing import OrderedHasher
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.sources import CHUNK_SIZE, UploadSource, is_storage_path
from airflow_provider_predictionone.api.transport import HttpRequest, SyncTransport

log = logging.getLogger(__name__)

DEFAULT_PROGRESS_INTERVAL = 10.0


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
    transport: SyncTransport,
    policy: RetryPolicy,
    url: str,
    source: UploadSource,
    *,
    label: str,
    chunk_size: int = CHUNK_SIZE,
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    verify_checksum: bool = True,
) -> UploadReceipt:
    """PUT ``source`` to a pre-issued upload URL (no API key), streaming, retried from the start.

    An attempt whose bytes the server received differently (:class:`UploadIntegrityError`) counts
    as failed and is repeated; when retries run out it fails naming the file and both checksums.
    ``verify_checksum=False`` skips the comparison (for a store whose ETag is an MD5-shaped tag that
    is not the content's MD5, e.g. S3 with SSE-KMS encryption).
    """
    operation = f"upload of the {label}"
    last: list[str] = []

    def attempt() -> UploadReceipt:
        with source.open() as stream:
            reader = _ProgressReader(stream, source.size, label, chunk_size, progress_interval)
            try:
                response = transport.send(HttpRequest("PUT", url, body=reader))
            except PredictionOneTransportError as exc:
                last[:] = [f"{_kind(exc)} after {_human(reader.sent)}"]
                raise
            finally:
                reader.close()
        if not response.ok:
            last[:] = [f"HTTP {response.status}"]
            retry_after = response.headers.get("retry-after")
            raise error_from_response(operation, response.status, response.body, retry_after=retry_after)
        receipt = _received(reader, source, response.headers.get("etag"), verify_checksum, label)
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

    mismatches: list[str] = []
    try:
        return retries.run(policy, _noting(attempt, mismatches), what=operation, logger=log)
    except UploadIntegrityError as exc:
        raise UploadIntegrityError(
            f"The {label} {source.name!r} was not received intact by Prediction One after {policy.max_retries + 1} "
            f"attempts: {exc}. The data was altered on the way (a proxy, the network or the storage); the task can "
            "be retried safely."
        ) from None
    except PredictionOneAPIError as exc:
        if policy.should_retry_status(exc):
            raise PredictionOneUploadError(
                f"The {label} could not be uploaded to Prediction One after {policy.max_retries + 1} attempts "
                f"(last: {last[0]}). Check the network; the task can be retried safely."
            ) from exc
        raise _upload_rejected(exc, mismatches) from exc
    except PredictionOneTransportError as exc:
        raise PredictionOneUploadError(
            f"The {label} could not be uploaded to Prediction One after {exc.attempts} attempts "
            f"(last: {last[0] if last else exc}). Check the network; the task can be retried safely."
        ) from exc


def _noting(attempt: Any, mismatches: list[str]) -> Any:
    """``attempt``, remembering the integrity failures it raised (for the final message)."""

    def noted() -> Any:
        try:
            return attempt()
        except UploadIntegrityError as exc:
            mismatches.append(str(exc))
            raise

    return noted


def _received(
    reader: _ProgressReader, source: UploadSource, etag: str | None, verify: bool, label: str
) -> UploadReceipt:
    """Check a 2xx answer to an upload against what was sent; raises :class:`UploadIntegrityError`."""
    sent_md5 = reader.md5.hexdigest()
    # Size: requests sent Content-Length = source.size (from _ProgressReader.__len__), and a 2xx
    # means the server accepted that many bytes. So the sizes agree exactly when that many bytes
    # were read here; otherwise the file changed while it was being sent.
    if reader.sent != source.size:
        raise UploadIntegrityError(
            f"{reader.sent} bytes were read from it but {source.size} were announced as Content-Length: the "
            "file changed while it was being uploaded"
        )
    stated = received_md5(etag) if verify else None
    if stated is not None and stated != sent_md5:
        raise UploadIntegrityError(
            f"sent {reader.sent} bytes with MD5 {sent_md5}, but the server's ETag says it received MD5 {stated}"
        )
    return UploadReceipt(reader.sent, sent_md5, etag, stated is not None)


def _upload_rejected(error: PredictionOneAPIError, mismatches: list[str]) -> PredictionOneUploadError:
    hint = (
        " The upload URL may have expired or been used up: re-run the task to get fresh URLs."
        if error.status_code in (401, 403)
        else ""
    )
    if mismatches:
        # The service may hold (and a retraining may have started on) the altered bytes.
        hint += f" An earlier attempt was not received intact ({mismatches[-1]})."
        return UploadIntegrityError(f"{error}{hint}")
    return PredictionOneUploadError(f"{error}{hint}")


def download(
    transport: SyncTransport,
    policy: RetryPolicy,
    url: str,
    *,
    label: str,
    destination: str | os.PathLike[str] | Any | None = None,
) -> bytes | Path | Any:
    """GET a result URL (no API key). Streams to ``destination`` when given (returns it), otherwise
    returns the bytes. A local destination is written atomically (``.part`` + rename); a storage
    path is streamed to with ``open("wb")`` (object stores have no rename: the object appears when
    the write completes)."""
    operation = f"download of the {label}"
    received: list[bytes] = []

    def keep(chunks: Iterator[bytes]) -> None:
        if destination is None:
            received[:] = [b"".join(chunks)]
        elif is_storage_path(destination):
            with contextlib.suppress(Exception):  # a local file:// target needs its folder
                destination.parent.mkdir(parents=True, exist_ok=True)
            with destination.open("wb") as sink:
                _copy(chunks, sink)
        else:
            target = Path(destination)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as out:
                _copy(chunks, out)
            partial.replace(target)

    def attempt() -> None:
        response = transport.send(HttpRequest("GET", url), sink=keep)
        if not response.ok:
            raise error_from_response(
                operation,
                response.status,
                response.body,
                undocumented=DownloadRejectedError,
                retry_after=response.headers.get("retry-after"),
            )

    try:
        retries.run(policy, attempt, what=operation, logger=log)
    except PredictionOneTransportError as exc:
        raise PredictionOneDownloadError(
            f"The {label} could not be downloaded from Prediction One after {exc.attempts} attempts (last: "
            f"{_kind(exc)}). Check the worker's network access to the result URL's host (a proxy or firewall), "
            "or raise the timeout / retries in the connection extras; re-running the task downloads it again with a "
            "fresh URL.",
            attempts=exc.attempts,
        ) from exc
    if destination is None:
        return received[0]
    return destination if is_storage_path(destination) else Path(destination)


def _copy(chunks: Iterator[bytes], sink: IO[bytes]) -> None:
    for chunk in chunks:
        sink.write(chunk)


def _kind(exc: BaseException) -> str:
    """The HTTP library's exception behind a transport failure, by name (for messages)."""
    while isinstance(exc.__cause__, BaseException) and isinstance(exc, PredictionOneTransportError):
        exc = exc.__cause__
    return type(exc).__name__
