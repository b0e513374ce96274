"""The emulated Prediction One service: its state and resources behind one dispatch point.

:class:`EmulatorApp` holds the state (:class:`~.state.Store`), builds the resources of
:mod:`.resources` on it and routes every request to them through :meth:`EmulatorApp.handle`,
the single dispatch point: control endpoints, routing, counting, fault injection
(:meth:`EmulatorApp.intercept`, :mod:`.faults`), the handler, and the mapping of errors to
responses. It is HTTP-agnostic; :mod:`.server` serves it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.faults.control import ControlEndpoint, is_control_path
from airflow_provider_predictionone.emulator.faults.injection import FaultInjector
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.jobs import JobRunner
from airflow_provider_predictionone.emulator.paths import (
    DOWNLOAD_PATH,
    INFERENCE_PATH,
    ROUTE_DOWNLOAD,
    ROUTE_INFERENCE,
    ROUTE_UNMATCHED,
    ROUTE_UPLOAD,
    UPLOAD_PATH,
)
from airflow_provider_predictionone.emulator.resources.catalog import Catalog
from airflow_provider_predictionone.emulator.resources.classifiers import Classifiers
from airflow_provider_predictionone.emulator.resources.inference import Inference
from airflow_provider_predictionone.emulator.resources.keys import Keys
from airflow_provider_predictionone.emulator.resources.retraining import Retraining
from airflow_provider_predictionone.emulator.resources.training import Training
from airflow_provider_predictionone.emulator.resources.transfers import Transfers
from airflow_provider_predictionone.emulator.state import Settings, Store
from airflow_provider_predictionone.emulator.trainer import Trainer
from airflow_provider_predictionone.emulator.web import (
    ApiError,
    HttpError,
    Request,
    Response,
    Route,
    Router,
    error_response,
    json_response,
    read_json_object,
)

log = logging.getLogger(__name__)


class EmulatorApp:
    """The emulated service (see the module docstring); :attr:`state` is its state.

    The state's containers are also reachable under their own names (``lock``, ``stopping``,
    ``users``, ``keys``, ``classifiers``, ``uploads``, ``downloads``) for inspection by tests;
    read them under ``lock``.
    """

    def __init__(
        self,
        data_dir: Path,
        secret_keys: list[str],
        settings: Settings,
        fault_registry: FaultRegistry | None = None,
        control_enabled: bool = False,
    ) -> None:
        self.state = state = Store(data_dir, settings, secret_keys)
        self.faults = fault_registry if fault_registry is not None else FaultRegistry()
        self.control_enabled = control_enabled
        self.jobs = JobRunner(state, self.faults)
        self.lock, self.stopping = state.lock, state.stopping
        self.users, self.keys, self.classifiers = state.users, state.keys, state.classifiers
        self.uploads, self.downloads = state.uploads, state.downloads
        self.router = Router(self._routes())
        self.control = ControlEndpoint(
            self.faults,
            expire_keys=state.expire_api_keys,
            key_lifetime=lambda: state.settings.key_lifetime,
            fail_next_job=self.jobs.fail_next_job,
        )
        self._injector = FaultInjector(self.faults, state.stopping, state.expire_api_keys)

    def _routes(self) -> list[Route]:
        """The routing table: every endpoint and the resource method that serves it."""
        state, jobs = self.state, self.jobs
        trainer = Trainer(state)

        def read_json(request: Request) -> dict[str, Any]:
            return self._json_object(request)  # looked up per call: a wrapper installed later applies

        keys = Keys(state)
        training = Training(state, trainer, jobs, read_json)
        catalog = Catalog(state)
        classifiers = Classifiers(state, read_json)
        inference = Inference(state)
        retraining = Retraining(state, trainer, jobs)
        transfers = Transfers(state, start_retrain=retraining.start)

        def r(method: str, path: str, handler: Callable[[Request], Response]) -> Route:
            return Route(method, contract.BASE_PATH + path, path, handler)

        return [
            r("GET", contract.PATH_API_KEY, keys.get_api_key),
            r("GET", contract.PATH_DATA_SET_UPLOAD_URL, training.get_upload_urls),
            r("GET", contract.PATH_DATA_SET_COLUMN_INFO, training.get_column_info),
            r("GET", contract.PATH_DATA_SETS, catalog.list_data_sets),
            r("DELETE", contract.PATH_DATA_SET, catalog.delete_data_set),
            r("POST", contract.PATH_MODELS, training.create_model),
            r("GET", contract.PATH_MODELS, catalog.list_models),
            r("GET", contract.PATH_MODEL_RESULTS, training.get_train_status),
            r("DELETE", contract.PATH_MODEL, catalog.delete_model),
            r("POST", contract.PATH_CLASSIFIERS, classifiers.create_classifier),
            r("GET", contract.PATH_CLASSIFIERS, classifiers.list_classifiers),
            r("GET", contract.PATH_CLASSIFIER, classifiers.get_classifier),
            r("PATCH", contract.PATH_CLASSIFIER, classifiers.update_classifier),
            r("DELETE", contract.PATH_CLASSIFIER, classifiers.delete_classifier),
            r("GET", contract.PATH_RETRAIN_UPLOAD_URL, retraining.get_retrain_upload_url),
            r("GET", contract.PATH_RETRAIN_JOB, retraining.get_retrain_job),
            r("PUT", contract.PATH_RETRAIN_UPDATE_MODEL, retraining.switch_model),
            Route("POST", INFERENCE_PATH, ROUTE_INFERENCE, inference.inference),
            Route("PUT", UPLOAD_PATH, ROUTE_UPLOAD, transfers.upload),
            Route("GET", DOWNLOAD_PATH, ROUTE_DOWNLOAD, transfers.download),
        ]

    def _json_object(self, request: Request) -> dict[str, Any]:
        """Every JSON object body of the API is read here (a test may wrap it to see the bodies)."""
        return read_json_object(request)

    # ---------------------------------------------------------------- dispatch

    def handle(self, request: Request) -> Response:
        """The single dispatch point: control endpoints (when enabled; never counted or faulted),
        else resolve, count, intercept, run the handler, map errors."""
        if self.control_enabled and is_control_path(request.path):
            return self.control.handle(request)
        route, params, path_match = self.router.resolve(request.method, request.path)
        request.route = (route or path_match).name if (route or path_match) else ROUTE_UNMATCHED
        request.params = params
        self.state.requests.add(request.method, request.route)
        try:
            intercepted = self.intercept(request)
        except ConnectionAbortedError:
            raise
        except Exception as exc:
            return self._error(request, exc)
        if intercepted is not None:
            return intercepted
        return self._serve(request, route, path_match)

    def intercept(self, request: Request) -> Response | None:
        """Fault-injection hook, called for every request after routing and counting.

        Returns a :class:`Response` to answer instead of the real handler (an injected error or
        HTML page, or the real answer marked for truncation), sleeps to add latency, or raises
        ``ConnectionAbortedError`` to make the server drop the connection; ``None`` lets the
        real handler answer (with ``request.handler_fault`` set for a fault it applies itself:
        ``corrupt-upload``, ``fail-classifier``). ``request.route`` holds the route name used by
        ``request_count``. The faults come from :meth:`FaultRegistry.match
        <.faults.registry.FaultRegistry.match>`, the only place where faults are matched, and
        act through :class:`~.faults.injection.FaultInjector`.
        """
        return self._injector.intercept(request, serve=lambda: self._serve_again(request))

    def _serve_again(self, request: Request) -> Response:
        route, _params, path_match = self.router.resolve(request.method, request.path)
        return self._serve(request, route, path_match)

    def _serve(self, request: Request, route: Route | None, path_match: Route | None) -> Response:
        """Run the route's handler (404/405 without one) and map exceptions to error responses."""
        try:
            if route is None:
                if path_match is not None:
                    allow = ", ".join(self.router.allowed_methods(request.path))
                    raise HttpError(405, "Method Not Allowed", {"Allow": allow})
                raise HttpError(404, "Not Found")
            return route.handler(request)
        except ConnectionAbortedError:
            raise
        except Exception as exc:
            return self._error(request, exc)

    def _error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return error_response(exc.spec)
        if isinstance(exc, HttpError):
            return json_response({"message": exc.message}, exc.status, exc.headers)
        log.error("emulator error on %s %s\n%s", request.method, request.path, traceback.format_exc())
        spec = contract.ErrorSpec(contract.CODE_INTERNAL, contract.ERROR_INTERNAL, f"Emulator error: {exc}")
        return error_response(spec)
