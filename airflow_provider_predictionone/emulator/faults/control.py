"""The control endpoints ``/_emulator/...``: fault injection over HTTP (served only when enabled)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_predictionone.emulator.faults.kinds import FaultError, JobFailure
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.faults.validation import parse_seconds
from airflow_provider_predictionone.emulator.paths import CONTROL_PREFIX
from airflow_provider_predictionone.emulator.web import BodyError, Request, Response, json_response


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _control_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"message": message}, status, headers)


def _body(request: Request, *, required: bool) -> Any:
    try:
        raw = request.body.read_all()
    except BodyError as exc:
        raise FaultError(str(exc)) from exc
    if not raw.strip():
        if required:
            raise FaultError("a JSON body is required")
        return {}
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FaultError(f"the body is not valid JSON: {exc}") from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultError("the body must be a JSON object")
    return value


def _options(request: Request, fields: set[str]) -> dict[str, Any]:
    """The optional JSON object body of a POST, with only ``fields``."""
    body = _object(_body(request, required=False))
    unknown = set(body) - fields
    if unknown:
        raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
    return body


def _not_allowed(allowed: str) -> Response:
    return _control_error(405, "Method Not Allowed", {"Allow": allowed})


@dataclass
class ControlEndpoint:
    """Serves ``/_emulator/...`` (only when control is enabled; never counted or faulted).

    ``GET /_emulator/faults``, ``POST /_emulator/faults`` (a fault object or a list of them),
    ``DELETE /_emulator/faults``, ``GET``/``DELETE /_emulator/faults/{id}``,
    ``POST /_emulator/expire-keys`` (optional ``{"key_lifetime": s}``), ``POST
    /_emulator/fail-next-job`` (``{"kind", "message", "job_id"}``, all optional).

    It acts on ``registry`` and, for what is not a fault, through the callables it is given:
    ``expire_keys(key_lifetime)`` (how many keys were still valid), ``key_lifetime()`` (the
    current validity of new keys) and ``fail_next_job(kind=, message=, job_id=)``.
    """

    registry: FaultRegistry
    expire_keys: Callable[[float | None], int]
    key_lifetime: Callable[[], float]
    fail_next_job: Callable[..., JobFailure]

    def handle(self, request: Request) -> Response:
        path = request.path[:-1] if len(request.path) > 1 and request.path.endswith("/") else request.path
        sub = path[len(CONTROL_PREFIX) :]
        try:
            if sub == "/faults":
                return self._faults(request)
            if sub.startswith("/faults/"):
                return self._fault(request, sub[len("/faults/") :])
            if sub == "/expire-keys":
                return self._expire(request)
            if sub == "/fail-next-job":
                return self._fail_next_job(request)
            return _control_error(404, "Not Found")
        except ValueError as exc:  # FaultError, or e.g. an unknown or finished job id
            return _control_error(400, str(exc))

    def _faults(self, request: Request) -> Response:
        """``/_emulator/faults``: list (GET), add (POST), clear (DELETE)."""
        if request.method == "GET":
            return json_response(self.registry.to_json())
        if request.method == "POST":
            body = _body(request, required=True)
            specs = [_object(item) for item in body] if isinstance(body, list) else [_object(body)]
            added = self.registry.add_many(specs)
            return json_response({"faults": [f.to_json() for f in added]}, 201)
        if request.method == "DELETE":
            cleared = len(self.registry.list())
            self.registry.clear()
            return json_response({"cleared": cleared})
        return _not_allowed("DELETE, GET, POST")

    def _fault(self, request: Request, raw_id: str) -> Response:
        """``/_emulator/faults/{id}``: one fault (GET) or its removal (DELETE); 404 if unknown."""
        try:
            fault_id = int(raw_id)
            if request.method == "GET":
                return json_response({"fault": self.registry.get(fault_id).to_json()})
            if request.method == "DELETE":
                self.registry.remove(fault_id)
                return Response(204)
        except (ValueError, KeyError):
            return _control_error(404, "Not Found")
        return _not_allowed("DELETE, GET")

    def _expire(self, request: Request) -> Response:
        """``POST /_emulator/expire-keys``."""
        if request.method != "POST":
            return _not_allowed("POST")
        lifetime = parse_seconds(_options(request, {"key_lifetime"}).get("key_lifetime"), "key_lifetime")
        expired = self.expire_keys(lifetime)
        return json_response({"expired": expired, "key_lifetime": self.key_lifetime()})

    def _fail_next_job(self, request: Request) -> Response:
        """``POST /_emulator/fail-next-job``."""
        if request.method != "POST":
            return _not_allowed("POST")
        failure = self.fail_next_job(**_options(request, {"kind", "message", "job_id"}))
        return json_response({"job_failure": failure.to_json()}, 201)
