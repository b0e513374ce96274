"""What fired faults do to a request: :class:`FaultInjector` and the effect of each kind."""

from __future__ import annotations

import hashlib
import http
import io
import threading
from collections.abc import Callable
from pathlib import Path

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.faults.kinds import (
    DEFAULT_HTML_STATUS,
    DEFAULT_MESSAGE,
    DROP,
    DROP_MID_RESPONSE,
    DROP_MID_UPLOAD,
    ERROR,
    EXPIRE_KEYS,
    HANDLER_FAULTS,
    HTML,
    LATENCY,
    Fault,
)
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.web import BodyError, Request, Response, bad_request, json_response

UPLOAD_DROP_LIMIT = 1024 * 1024
"""``drop-mid-upload`` reads at most this many bytes before closing."""

_ERROR_NAMES = {
    429: "PREDA_EXTERNAL_TOO_MANY_REQUESTS",
    500: contract.ERROR_INTERNAL,
    502: "PREDA_EXTERNAL_BAD_GATEWAY",
    503: "PREDA_EXTERNAL_SERVICE_UNAVAILABLE",
    504: "PREDA_EXTERNAL_GATEWAY_TIMEOUT",
}


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _retry_headers(fault: Fault) -> dict[str, str]:
    return {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}


def error_fault_response(fault: Fault) -> Response:
    """``error``: the documented error shape with a synthetic, undocumented code and message."""
    status = fault.status or 500
    body = {
        "code": f"{status}1000299",
        "error": _ERROR_NAMES.get(status, "PREDA_EXTERNAL_INJECTED_FAULT"),
        "message": fault.message or DEFAULT_MESSAGE,
    }
    return json_response(body, status, _retry_headers(fault))


def html_fault_response(fault: Fault) -> Response:
    """``html``: a gateway-style HTML error page."""
    status = fault.status or DEFAULT_HTML_STATUS
    title = f"{status} {_reason(status)}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, page.encode("ascii"), "text/html", _retry_headers(fault))


def alter_stored_file(path: Path) -> str:
    """``corrupt-upload``: alter the stored bytes of an upload in place; the hex MD5 of the result.

    The middle byte is inverted (every bit flipped), so the size stays the same and the content
    differs from what was sent; an empty upload becomes the single byte ``0xff``. The MD5 is
    computed from the file as stored, like the ETag of a store that received altered bytes.
    """
    with path.open("r+b") as handle:
        size = handle.seek(0, io.SEEK_END)
        position = size // 2
        handle.seek(position)
        original = handle.read(1)
        handle.seek(position)
        handle.write(bytes([original[0] ^ 0xFF]) if original else b"\xff")
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def read_part_of_body(request: Request) -> int:
    """``drop-mid-upload``: read (and discard) part of the request body; the bytes read."""
    length = request.headers.get("Content-Length")
    try:
        wanted = int(length) // 2 if length is not None else UPLOAD_DROP_LIMIT
    except ValueError:
        wanted = 0
    wanted = max(1, min(wanted, UPLOAD_DROP_LIMIT))
    total = 0
    try:
        while total < wanted:
            data = request.body.read(wanted - total)
            if not data:
                break
            total += len(data)
    except (BodyError, OSError):
        pass
    return total


class FaultInjector:
    """Applies the faults a request fires (:meth:`intercept`), as matched by ``registry``.

    ``stopping`` cuts a latency short when the emulator stops; ``expire_keys(key_lifetime)``
    expires every API key issued so far (the ``expire-keys`` kind).
    """

    def __init__(
        self,
        registry: FaultRegistry,
        stopping: threading.Event,
        expire_keys: Callable[[float | None], int],
    ) -> None:
        self.registry = registry
        self.stopping = stopping
        self._expire_keys = expire_keys

    def intercept(self, request: Request, serve: Callable[[], Response]) -> Response | None:
        """Act on the faults ``request`` fires (``request.route`` is its route name).

        Returns a :class:`Response` to answer instead of the real handler (an injected error or
        HTML page, or the real answer of ``serve()`` marked for truncation), sleeps to add
        latency, or raises ``ConnectionAbortedError`` to make the server drop the connection;
        ``None`` lets the real handler answer (with ``request.handler_fault`` set for a fault it
        applies itself: ``corrupt-upload``, ``fail-classifier``).
        """
        fired = self.registry.match(request.method, request.route)
        if not fired:
            return None
        delay = sum(f.latency for f in fired)
        if delay > 0 and self.stopping.wait(delay):
            raise ConnectionAbortedError("the emulator is stopping")
        fault = next((f for f in fired if f.kind != LATENCY), None)
        if fault is None:
            return None
        if fault.kind == ERROR:
            return error_fault_response(fault)
        if fault.kind == HTML:
            return html_fault_response(fault)
        if fault.kind == DROP:
            raise ConnectionAbortedError("injected fault: drop")
        if fault.kind == DROP_MID_UPLOAD:
            read_part_of_body(request)
            raise ConnectionAbortedError("injected fault: drop-mid-upload")
        if fault.kind == DROP_MID_RESPONSE:
            response = serve()
            response.truncate = response.length // 2
            return response
        if fault.kind == EXPIRE_KEYS:
            self._expire_keys(fault.key_lifetime)
            raise bad_request(contract.MSG_INACTIVE_CREDENTIAL)
        if fault.kind in HANDLER_FAULTS:  # the real handler applies it
            request.handler_fault = fault.kind
            return None
        raise AssertionError(f"unhandled fault kind {fault.kind}")  # pragma: no cover
