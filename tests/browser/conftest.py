"""A real Airflow 3 API server and a headless Chromium for the browser tests.

* ``chromium_executable`` — Debian's ``chromium``, or ``$PREDICTIONONE_CHROMIUM``. When it is missing
  the browser tests are skipped, except when ``CI`` is set: there they fail and say how to install it
  (``scripts/install_browser_test_deps.sh``). A missing ``playwright`` package always fails.
* ``airflow_api_server`` — ``airflow api-server`` in a subprocess on a free loopback port, with a fresh
  SQLite ``AIRFLOW_HOME``, the simple auth manager with one known admin user, and connection testing
  enabled. Stopped (its whole process group) at the end of the module.
* ``browser_page`` — a Playwright page in a fresh Chromium profile.

Playwright's own browser download is never used: Playwright drives the system Chromium through
``executable_path``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
VIEWPORT = {"width": 1280, "height": 1300}
STARTUP_TIMEOUT = float(os.environ.get("PREDICTIONONE_BROWSER_STARTUP_TIMEOUT", "180"))
INSTALL_HINT = "run `scripts/install_browser_test_deps.sh .venv` (as root) to install Chromium and Playwright"

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_chromium() -> str | None:
    """The Chromium to drive: ``$PREDICTIONONE_CHROMIUM``, else ``chromium`` on the PATH."""
    configured = os.environ.get("PREDICTIONONE_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for candidate in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def airflow_too_old_for_the_form_test() -> str | None:
    """Why this Airflow cannot run the browser test, or ``None``; CI runs it on the newest Airflow."""
    import airflow
    from packaging.version import Version

    version = Version(airflow.__version__)
    if version.major < 3:
        return f"Airflow {version} has the Flask UI, not the Airflow 3 API server and UI this test drives"
    if version.release < (3, 2):
        return (
            f"Airflow {version} builds the connection form from the hook's methods (as text fields; on 3.0 only "
            "with the FAB provider installed); this test drives the form declared as data in the provider info (3.2+)"
        )
    return None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    too_old = airflow_too_old_for_the_form_test()
    if too_old:
        pytest.skip(too_old)
    path = find_chromium()
    if path is None:
        reason = f"Chromium is not installed (Debian package `chromium`); {INSTALL_HINT}"
        if _in_ci():
            pytest.fail(f"{reason}. CI is set, so the browser test may not be skipped.", pytrace=False)
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"The Python package `playwright` is not importable ({exc}); {INSTALL_HINT}", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowServer:
    """A running ``airflow api-server`` and how to reach it."""

    url: str
    username: str
    password: str
    home: Path
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """One HTTP call to the server; returns (status, decoded JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _NO_PROXY.open(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def token(self) -> str:
        """A JWT for the REST API, obtained with the user's password (simple auth manager)."""
        status, body = self.request("POST", "/auth/token", {"username": self.username, "password": self.password})
        assert status in (200, 201), f"login to the REST API failed: HTTP {status} {body}"
        return str(body["access_token"])


def _server_env(home: Path, username: str, password: str) -> dict[str, str]:
    """The environment of the Airflow subprocesses: nothing inherited from the test session's Airflow."""
    inherited = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_HOME", "DEV_MODE")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({username: password}))
    (home / "dags").mkdir(exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and the workers it forked (its own process group, started by us)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def airflow_api_server(chromium_executable: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    home = tmp_path_factory.mktemp("airflow-home")
    username, password = "admin", secrets.token_urlsafe(12)
    env = _server_env(home, username, password)
    log = home / "api-server.log"
    airflow = [sys.executable, "-m", "airflow"]

    migrate = subprocess.run(
        [*airflow, "db", "migrate"], env=env, cwd=home, capture_output=True, text=True, timeout=STARTUP_TIMEOUT
    )
    assert migrate.returncode == 0, f"`airflow db migrate` failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}"

    port = free_port()
    server = AirflowServer(f"http://127.0.0.1:{port}", username, password, home, log)
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"airflow api-server exited with {proc.returncode}:\n{server.log_tail()}", pytrace=False)
            try:
                status, _ = server.request("GET", "/api/v2/monitor/health")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"airflow api-server did not answer within {STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.5)
        yield server
    finally:
        _stop(proc)


@pytest.fixture
def browser_page(chromium_executable: str, tmp_path: Path) -> Iterator[Any]:
    """A page of a headless Chromium with a fresh profile (``tmp_path/chromium-profile``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium_executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            locale="en-US",
            timezone_id="UTC",
        )
        try:
            context.set_default_timeout(20_000)
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()
