"""The upload and download URLs: ``PUT <upload url>`` and ``GET <result_url | download_url>``.

Like presigned storage URLs they need no API key: the token in the path is the capability.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from urllib.parse import quote

from airflow_provider_predictionone.emulator.faults.injection import alter_stored_file
from airflow_provider_predictionone.emulator.faults.kinds import CORRUPT_UPLOAD
from airflow_provider_predictionone.emulator.state import RetrainJob, Store
from airflow_provider_predictionone.emulator.web import BodyError, HttpError, Request, Response

log = logging.getLogger(__name__)

ALREADY_UPLOADED = "The retraining data of this job has already been uploaded."


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 5987 UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class Transfers:
    """Stores uploads and serves downloads; ``start_retrain(job)`` runs once a retraining job's
    data is stored."""

    def __init__(self, store: Store, start_retrain: Callable[[RetrainJob], None]) -> None:
        self.store = store
        self._start_retrain = start_retrain

    def upload(self, request: Request) -> Response:
        """``PUT <upload url>``: stream the body to disk; the ``ETag`` is the MD5 of what is stored
        (altered by a ``corrupt-upload`` fault). A retraining job takes one upload (then 409)."""
        store = self.store
        with store.lock:
            target = store.uploads.get(request.params["token"])
            if target is None or target.user.deleted:
                raise HttpError(404, "Not Found")
            job = target.retrain_job
            if job is not None and job.uploaded:
                raise HttpError(409, ALREADY_UPLOADED)
            if job is not None:
                destination = job.directory / "upload.bin"
            else:
                assert target.process is not None
                destination = target.process.path(target.kind)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f"{destination.name}.{secrets.token_hex(4)}.part")
        digest = hashlib.md5(usedforsecurity=False)  # the ETag, as an S3 presigned PUT answers
        try:
            with partial.open("wb") as handle:
                request.body.copy_to(handle, digest)  # hashed on a helper thread while receiving
        except (BodyError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise HttpError(400, f"The upload failed: {exc}") from exc
        received = digest.hexdigest()
        stored = received
        if request.handler_fault == CORRUPT_UPLOAD:
            stored = alter_stored_file(partial)
            log.info("fault injected: upload stored altered (received MD5 %s, stored MD5 %s)", received, stored)
        if job is not None:
            with store.lock:
                if job.uploaded:
                    partial.unlink(missing_ok=True)
                    raise HttpError(409, ALREADY_UPLOADED)
                job.uploaded = True
        os.replace(partial, destination)
        if job is not None:
            self._start_retrain(job)
        return Response(200, b"", headers={"ETag": f'"{stored}"'})

    def download(self, request: Request) -> Response:
        """``GET <result_url | download_url>``: stream a stored file."""
        with self.store.lock:
            target = self.store.downloads.get(request.params["token"])
            if target is None or target.user.deleted or not target.path.exists():
                raise HttpError(404, "Not Found")
        return Response(
            200,
            file=target.path,
            content_type=target.content_type,
            headers={"Content-Disposition": content_disposition(target.filename)},
        )
