"""The HTTP server and the in-process :class:`Emulator` API."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import socket
import socketserver
import sys
import tempfile
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.app import EmulatorApp
from airflow_provider_predictionone.emulator.faults.kinds import JobFailure
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.faults.validation import make_job_failure
from airflow_provider_predictionone.emulator.paths import CONTROL_PREFIX
from airflow_provider_predictionone.emulator.state import Settings
from airflow_provider_predictionone.emulator.web import BodyError, Request, RequestBody, Response, json_response

log = logging.getLogger(__name__)

DEFAULT_SECRET_KEY = "emulator-secret-key"
"""Secret key accepted when no other is configured."""

ERROR_DRAIN_LIMIT = 8 * 1024 * 1024
"""Unread request bytes discarded after an answer so that the connection stays usable (beyond: closed)."""

_HOST_HEADER = re.compile(r"^(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_COPY_CHUNK = 256 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PredictionOneEmulator/1"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        try:
            body = RequestBody(self.rfile, self.headers)
        except BodyError as exc:
            self._send(json_response({"message": f"Bad Request: {exc}"}, 400), close=True)
            return
        host = self.headers.get("Host")
        base_url = f"http://{host}" if host and _HOST_HEADER.match(host) else self.server.url
        request = Request(
            method=self.command,
            path=unquote(split.path) or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            client_ip=self.client_address[0],
            base_url=base_url,
        )
        try:
            response = self.server.app.handle(request)
        except ConnectionAbortedError:
            self.close_connection = True
            return
        close = response.close
        if not body.consumed and not body.drain(ERROR_DRAIN_LIMIT):
            close = True
        self._send(response, close=close)

    def _send(self, response: Response, *, close: bool = False) -> None:
        if response.truncate is not None:
            self._send_truncated(response)
            return
        try:
            length = response.length
            has_length = response.status not in (204, 304) and not 100 <= response.status < 200
            self._send_head(response, length if has_length else None, close=close)
            if self.command == "HEAD" or response.status in (204, 304):
                return
            self._send_body(response, length)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_truncated(self, response: Response) -> None:
        """Fault injection (``drop-mid-response``): send part of the response, then drop the connection."""
        self.close_connection = True
        try:
            length = response.length
            cut = max(0, min(response.truncate or 0, length - 1))
            if length == 0 or self.command == "HEAD" or response.status in (204, 304):
                status_line = f"{self.protocol_version} {response.status} ".encode("ascii")
                self.wfile.write(status_line[: len(status_line) // 2])
                return
            self._send_head(response, length, close=False)
            self._send_body(response, cut)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send_head(self, response: Response, length: int | None, *, close: bool) -> None:
        """The status line and the headers (``Content-Length`` unless ``length`` is ``None``)."""
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _send_body(self, response: Response, size: int) -> None:
        """The first ``size`` bytes of the body (streamed from its file, for a file response)."""
        if response.file is None:
            if size > 0:
                self.wfile.write(response.body[:size])
            return
        with response.file.open("rb") as handle:
            while size > 0:
                data = handle.read(min(_COPY_CHUNK, size))
                if not data:
                    break
                self.wfile.write(data)
                size -= len(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: EmulatorApp, verbose: bool) -> None:
        self.app = app
        self.verbose = verbose
        self.url = ""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind: its getfqdn() reverse lookup can take seconds.
        if self.address_family == socket.AF_INET6 and self.server_address[0] in ("::", ""):
            with contextlib.suppress(OSError):  # platforms without dual stack
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection problems (client went away, timeouts) are normal; report the rest.
        if self.verbose or not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self.connections_accepted += 1
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Server6(_Server):
    address_family = socket.AF_INET6


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class Emulator:
    """A local Prediction One service on a real HTTP port.

    Example::

        with Emulator(train_seconds=0.5, build_seconds=0.2) as emulator:
            base = emulator.url + "/v1/external"   # use as the management base URL
            ...

    ``port=0`` picks a free port. ``data_dir=None`` uses a temporary folder that :meth:`stop`
    removes. An instance can be started once.

    Fault injection: :attr:`faults` (a :class:`~.faults.registry.FaultRegistry`), :meth:`fail_next_job`,
    :meth:`expire_api_keys`; ``enable_control`` (default on in-process) serves the HTTP control
    endpoints under :attr:`control_url` (``/_emulator``). See ``docs/emulator.md``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_keys: Iterable[str] = (DEFAULT_SECRET_KEY,),
        train_seconds: float = 5.0,
        build_seconds: float = 2.0,
        key_lifetime: float = 3600.0,
        data_dir: str | Path | None = None,
        verbose: bool = False,
        enable_control: bool = True,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.secret_keys = list(secret_keys) or [DEFAULT_SECRET_KEY]
        self.settings = Settings(train_seconds=train_seconds, build_seconds=build_seconds, key_lifetime=key_lifetime)
        self._data_dir_arg = Path(data_dir) if data_dir is not None else None
        self._data_dir: Path | None = None
        self._temporary = data_dir is None
        self.verbose = verbose
        self.enable_control = enable_control
        self._faults = FaultRegistry()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._app: EmulatorApp | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        """Bind the port, start serving in a background thread and return ``self``."""
        if self._server is not None:
            return self
        if self._app is not None:
            raise RuntimeError("an Emulator cannot be restarted; create a new one")
        if self._temporary:
            self._data_dir = Path(tempfile.mkdtemp(prefix="predictionone-emulator-"))
        else:
            assert self._data_dir_arg is not None
            self._data_dir = self._data_dir_arg
            self._data_dir.mkdir(parents=True, exist_ok=True)
        self._app = EmulatorApp(
            self._data_dir,
            self.secret_keys,
            self.settings,
            fault_registry=self._faults,
            control_enabled=self.enable_control,
        )
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self._requested_port), self._app, self.verbose)
        except OSError:
            self._cleanup_data_dir()
            raise
        self._server = server
        server.url = f"http://{_url_host(self.host)}:{server.server_port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="predictionone-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, stop background jobs, remove a temporary data dir."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._app is not None:
            self._app.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._cleanup_data_dir()

    def _cleanup_data_dir(self) -> None:
        if self._temporary and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._require_server().server_port

    @property
    def url(self) -> str:
        """Root URL without a trailing slash, e.g. ``http://127.0.0.1:8765``."""
        return self._require_server().url

    @property
    def base_url(self) -> str:
        """The management API base: ``url + "/v1/external"``."""
        return self.url + contract.BASE_PATH

    @property
    def control_url(self) -> str:
        """Root of the HTTP control endpoints, ``url + "/_emulator"`` (served with ``enable_control``)."""
        return self.url + CONTROL_PREFIX

    @property
    def data_dir(self) -> Path:
        """Folder holding uploads, models and result archives."""
        if self._data_dir is None:
            raise RuntimeError("the emulator is not started")
        return self._data_dir

    @property
    def app(self) -> EmulatorApp:
        """The application object, for advanced tests: its ``state`` (also ``app.users``,
        ``app.keys``, ``app.classifiers``, ... under ``app.lock``) and its dispatch point."""
        if self._app is None:
            raise RuntimeError("the emulator is not started")
        return self._app

    def _require_server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server

    # ---------------------------------------------------------------- test helpers

    def request_count(self, method: str | None, route: str) -> int:
        """Requests received for ``route`` with ``method`` (``None`` = any method).

        ``route`` is a contract path template (``"/api-key"``, ``"/models/results"``,
        ``"/classifiers/{classifier_id}"``, ...), ``"upload"``, ``"download"``, ``"inference"`` or
        ``"unmatched"`` (paths no route serves).
        """
        return self.app.state.requests.count(method, route)

    def connections_accepted(self) -> int:
        """TCP connections accepted since the emulator started (a client that keeps its connections
        alive opens few; one that opens a connection per request, one per request)."""
        return 0 if self._server is None else self._server.connections_accepted

    def request_counts(self) -> dict[tuple[str, str], int]:
        """All counters as ``{(method, route): count}``."""
        return self.app.state.requests.all()

    def reset_request_counts(self) -> None:
        """Set every request counter back to zero."""
        self.app.state.requests.reset()

    def expire_api_keys(self, key_lifetime: float | None = None) -> int:
        """Every API key issued so far expires now (later calls get ``Inactive_credential.``);
        returns how many were still valid. ``key_lifetime`` (seconds) also sets the validity of
        keys issued from now on (e.g. short-lived keys)."""
        return self.app.state.expire_api_keys(key_lifetime=key_lifetime)

    # ---------------------------------------------------------------- fault injection

    @property
    def faults(self) -> FaultRegistry:
        """The fault registry: ``faults.add(route, kind, count=1, ...)``, ``faults.clear()``,
        ``faults.fired(route=None, kind=None)``, ... (usable before :meth:`start` too)."""
        return self._faults

    def fail_next_job(
        self, kind: str | None = None, message: str | None = None, job_id: str | None = None
    ) -> JobFailure:
        """Make a training or retraining job fail: its status becomes ``failed`` / ``job_failed``
        with ``message`` (default ``Injected job failure.``).

        ``kind`` = ``"train"``, ``"retrain"`` or ``None`` (any): the next job of that kind started
        fails after its queued phase. ``job_id`` (an ``external_process_id`` or ``retrain_job_id``):
        that job fails now if it is running, or when it starts; ``ValueError`` if the id is
        unknown or the job has already ended.
        """
        if self._app is None:
            if job_id is not None:
                raise ValueError("a job id needs a started emulator")
            return self._faults.add_job_failure(make_job_failure(kind, message))
        return self._app.jobs.fail_next_job(kind=kind, message=message, job_id=job_id)

    def delete_user(self, secret_key: str) -> None:
        """Delete the user of ``secret_key``; its calls then get ``This user may be deleted.``."""
        self.app.state.delete_user(secret_key)

    def add_user(self, secret_key: str) -> None:
        """Accept one more secret key, as a new independent user."""
        self.app.state.add_user(secret_key)
        if secret_key not in self.secret_keys:
            self.secret_keys.append(secret_key)

    def set_train_seconds(self, seconds: float) -> None:
        """Duration of training/retraining jobs started from now on."""
        self.settings.train_seconds = float(seconds)

    def set_build_seconds(self, seconds: float) -> None:
        """Duration of prediction-API transitions started from now on."""
        self.settings.build_seconds = float(seconds)

    def set_key_lifetime(self, seconds: float) -> None:
        """Validity of API keys issued from now on."""
        self.settings.key_lifetime = float(seconds)
