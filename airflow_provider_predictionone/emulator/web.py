"""Small HTTP building blocks of the emulator: request body streaming, requests, responses, routing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.hashing import OrderedHasher

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CHUNK_SIZE = 1024 * 1024
MAX_JSON_BODY = 16 * 1024 * 1024
UPLOAD_CHUNK_SIZE = 1024 * 1024
"""Piece size of :meth:`RequestBody.copy_to` (uploads)."""
_UPLOAD_BUFFERS = 4
_PIPELINE_MIN_CHUNKS = 4
"""Bodies shorter than this many pieces are hashed in the request's thread."""


class BodyError(Exception):
    """The request body is malformed (bad framing, truncated, or too large)."""


class RequestBody:
    """Streams a request body with ``Content-Length`` or ``Transfer-Encoding: chunked`` framing."""

    def __init__(self, rfile: BinaryIO, headers: Message) -> None:
        self._rfile = rfile
        self._chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self._remaining = 0
        self._chunk_left = 0
        self._done = False
        if not self._chunked:
            length = headers.get("Content-Length")
            if length is not None:
                try:
                    self._remaining = int(length)
                except ValueError as exc:
                    raise BodyError("invalid Content-Length") from exc
                if self._remaining < 0:
                    raise BodyError("invalid Content-Length")
            self._done = self._remaining == 0

    @property
    def consumed(self) -> bool:
        """True once the whole body has been read (the connection can be reused)."""
        return self._done

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        """Up to ``size`` bytes of the body; ``b""`` at its end."""
        if self._done or size <= 0:
            return b""
        if self._chunked:
            return self._read_chunked(size)
        data = self._rfile.read(min(size, self._remaining))
        if not data:
            raise BodyError("the request body ended early")
        self._remaining -= len(data)
        if self._remaining == 0:
            self._done = True
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile.readline(65537)
            if not line.endswith(b"\n"):
                raise BodyError("truncated chunked body")
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BodyError("invalid chunk size") from exc
            if length < 0:
                raise BodyError("invalid chunk size")
            if length == 0:
                while True:  # trailer section
                    trailer = self._rfile.readline(65537)
                    if not trailer:
                        raise BodyError("truncated chunked body")
                    if trailer in (b"\r\n", b"\n"):
                        break
                self._done = True
                return b""
            self._chunk_left = length
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise BodyError("truncated chunked body")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self._rfile.readline(3) not in (b"\r\n", b"\n"):
            raise BodyError("missing CRLF after a chunk")
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` with the next bytes of the body (as many as fit and are left); 0 at
        its end. The same framing checks as :meth:`read`, without allocating."""
        if self._done or not len(buffer):
            return 0
        if self._chunked:
            data = self._read_chunked(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        got = self._rfile.readinto(buffer[: min(len(buffer), self._remaining)])  # type: ignore[attr-defined]
        if not got:
            raise BodyError("the request body ended early")
        self._remaining -= got
        if self._remaining == 0:
            self._done = True
        return int(got)

    def copy_to(self, out: BinaryIO, digest: Any, size: int = UPLOAD_CHUNK_SIZE) -> int:
        """Write the rest of the body to ``out`` and feed it to ``digest`` (a :mod:`hashlib`
        object), in order; the bytes copied. :class:`BodyError` / ``OSError`` as :meth:`read`.

        A large body is received into a few reused buffers; while the request's thread receives
        and writes one, a helper thread hashes the previous ones (``recv_into``, ``write`` and
        ``hashlib`` release the GIL), so the MD5 (~1.3 ms of CPU per MiB) no longer adds up with
        the socket reads and the disk writes. A buffer is refilled only once it is hashed.
        """
        threaded = self._chunked or self._remaining >= _PIPELINE_MIN_CHUNKS * size
        hasher = OrderedHasher(
            digest,
            buffers=_UPLOAD_BUFFERS if threaded else 1,
            size=size if threaded else min(size, self._remaining),
            threaded=threaded,
            name="emulator-upload-md5",
        )
        total = 0
        try:
            while True:
                index, view = hasher.acquire()
                got = self.readinto(view)
                if got:
                    out.write(view[:got])
                hasher.submit(index, got)
                if not got:
                    break
                total += got
        finally:
            hasher.close()
        hasher.finish()
        return total

    def iter_chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Iterate over the body in pieces of at most ``size`` bytes."""
        while True:
            data = self.read(size)
            if not data:
                return
            yield data

    def read_all(self, limit: int = MAX_JSON_BODY) -> bytes:
        """The whole body; :class:`BodyError` if it is larger than ``limit``."""
        parts = []
        total = 0
        for data in self.iter_chunks():
            total += len(data)
            if total > limit:
                raise BodyError(f"the request body is larger than {limit} bytes")
            parts.append(data)
        return b"".join(parts)

    def drain(self, limit: int) -> bool:
        """Discard up to ``limit`` unread bytes; True if the body was fully consumed."""
        total = 0
        try:
            while not self._done:
                data = self.read(CHUNK_SIZE)
                total += len(data)
                if total > limit:
                    return False
        except (BodyError, OSError):
            return False
        return True


@dataclass
class Request:
    """One HTTP request as the application sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: RequestBody
    client_ip: str
    base_url: str
    route: str = ""
    params: dict[str, str] = field(default_factory=dict)
    handler_fault: str | None = None
    """A fault kind the route's handler applies itself (``corrupt-upload``, ``fail-classifier``)."""

    def arg(self, name: str) -> str | None:
        """First value of a query parameter, or ``None``."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def api_key(self) -> str | None:
        return self.headers.get(contract.API_KEY_HEADER)

    def url_for(self, template: str, **params: str) -> str:
        """An absolute URL on the host the client called: ``template`` with ``params`` filled in."""
        return self.base_url + template.format(**params)

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not valid JSON."""
        try:
            raw = self.body.read_all()
        except BodyError as exc:
            raise ValueError(str(exc)) from exc
        try:
            return json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the request body is not valid JSON: {exc}") from exc


@dataclass
class Response:
    """An HTTP response: bytes in memory, or a file streamed from disk."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    close: bool = False
    truncate: int | None = None
    """Fault injection: send only this many body bytes (the headers announce the full length),
    then drop the connection; with an empty body, only part of the status line is sent."""

    @property
    def length(self) -> int:
        """The length of the body (of the file, for a streamed one)."""
        return self.file.stat().st_size if self.file is not None else len(self.body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (UTF-8, non-ASCII characters kept as they are)."""
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(status, body, JSON_CONTENT_TYPE, dict(headers or {}))


def error_response(spec: contract.ErrorSpec) -> Response:
    """The documented error body ``{code, error, message}`` with the status of its code (spec 7.10)."""
    return json_response(spec.body(), spec.http_status)


class ApiError(Exception):
    """Raised by handlers to answer with a documented error row."""

    def __init__(self, spec: contract.ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


def bad_request(message: str) -> ApiError:
    """A management-API bad request (code 4001000204) with ``message``."""
    return ApiError(contract.bad_request(message))


def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; a bad request when it is not one."""
    try:
        body = request.json()
    except ValueError as exc:
        raise bad_request(f"The request body must be a JSON object ({exc}).") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def parse_int(raw: str) -> int | None:
    """An id given as text (a path segment or a query parameter), or ``None`` when it is no integer."""
    try:
        return int(raw)
    except ValueError:
        return None


def iso(timestamp: float) -> str:
    """ISO-8601 UTC with milliseconds and an explicit offset, e.g. ``2024-05-01T12:00:00.000+00:00``."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


class HttpError(Exception):
    """Raised to answer with a plain ``{"message": ...}`` JSON error (404/405/409/...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """A method + path template (``{name}`` segments) served by a handler.

    ``name`` is what :meth:`Emulator.request_count` counts by: the contract path template for
    management endpoints, ``"upload"``, ``"download"`` or ``"inference"`` otherwise.
    """

    method: str
    template: str
    name: str
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.template)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compile(template: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(template)
    if pattern is None:
        parts = re.split(r"(\{[a-z_]+\})", template)
        regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        pattern = _PATTERNS[template] = re.compile(f"^{regex}$")
    return pattern


class Router:
    """Matches a method and path to a :class:`Route`; literal templates win over parameterised ones."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.template.count("{"))

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], Route | None]:
        """``(route, params, path_match)``: ``route`` is None when nothing serves this method;
        ``path_match`` is a route whose path matched (for 405 answers and counting)."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        path_match: Route | None = None
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method:
                return route, match.groupdict(), route
            path_match = path_match or route
        return None, {}, path_match

    def allowed_methods(self, path: str) -> list[str]:
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        return sorted({r.method for r in self.routes if r.pattern.match(path)})
