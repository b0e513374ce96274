"""Prediction APIs (classifiers): Create (spec 4.10), Get (4.11, 7.7), Update (4.12) and Delete (4.13).

A prediction API moves through its statuses on its own: ``building`` -> ``running`` (or
``failed`` under a ``fail-classifier`` fault), ``terminating`` -> ``terminated``, ``updating``
-> ``running``, each change taking ``build_seconds`` (:meth:`.state.Classifier.transition`).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import ClassifierStatus, CredentialType
from airflow_provider_predictionone.emulator.faults.kinds import FAIL_CLASSIFIER
from airflow_provider_predictionone.emulator.paths import INFERENCE_PATH
from airflow_provider_predictionone.emulator.resources.keys import authenticate
from airflow_provider_predictionone.emulator.resources.rules import parse_rules
from airflow_provider_predictionone.emulator.state import STOPPED_STATUSES, Classifier, Store, User
from airflow_provider_predictionone.emulator.web import Request, Response, bad_request, iso, json_response, parse_int

_UPDATABLE = ("rules", "active", "is_editable")


def classifier_json(request: Request, c: Classifier) -> dict[str, Any]:
    """The classifier object of Get Classifier (its status brought up to date first)."""
    c.tick()
    url = None
    if c.built:
        url = request.url_for(INFERENCE_PATH, group_id=c.user.group_id, classifier_id=c.classifier_id)
    return {
        "classifier_id": c.classifier_id,
        "model_id": c.model_id,
        "status": c.status,
        "api_key": c.api_key,
        "version": str(c.version),
        "url": url,
        "active": c.active,
        "is_editable": c.is_editable,
        "create_datetime": iso(c.created),
        "update_datetime": iso(c.updated),
        "rules": [dict(rule) for rule in c.rules],
    }


class Classifiers:
    """The prediction APIs of the caller (deploy API key); ``read_json(request)`` reads a JSON object body."""

    def __init__(self, store: Store, read_json: Callable[[Request], dict[str, Any]]) -> None:
        self.store = store
        self._read_json = read_json

    def _transition(self, c: Classifier, interim: str, final: str) -> None:
        c.transition(interim, final, self.store.settings.build_seconds)

    def _classifier(self, user: User, request: Request) -> Classifier:
        classifier = user.classifiers.get(request.params["classifier_id"])
        if classifier is None:
            raise bad_request(contract.MSG_CLASSIFIER_NOT_FOUND)
        return classifier

    def create_classifier(self, request: Request) -> Response:
        """``POST /classifiers`` (spec 4.10): start building a prediction API (``building`` ->
        ``running``, or ``failed`` under a ``fail-classifier`` fault)."""
        user, _key = authenticate(self.store, request, CredentialType.DEPLOY)
        body = self._read_json(request)
        raw_id = body.get("model_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
            raise bad_request("model_id (integer) is required.")
        if "rules" not in body:
            raise bad_request("rules (a list of {source, order, priority}) is required.")
        rules = parse_rules(body["rules"])
        model_id = raw_id if isinstance(raw_id, int) else parse_int(raw_id)
        with self.store.lock:
            model = user.models.get(model_id) if model_id is not None else None
            if model is None or model.trained is None:
                raise bad_request(contract.MSG_MODEL_DELETED)
            now = time.time()
            classifier = Classifier(
                str(uuid.uuid4()), user, model.model_id, model.trained, secrets.token_urlsafe(32), rules, now, now
            )
            fails = request.handler_fault == FAIL_CLASSIFIER
            final = ClassifierStatus.FAILED.value if fails else ClassifierStatus.RUNNING.value
            self._transition(classifier, ClassifierStatus.BUILDING.value, final)
            user.classifiers[classifier.classifier_id] = classifier
            self.store.classifiers[classifier.classifier_id] = classifier
        return json_response(
            {
                "classifier_id": classifier.classifier_id,
                "api_key": classifier.api_key,
                "version": str(classifier.version),
            }
        )

    def list_classifiers(self, request: Request) -> Response:
        """``GET /classifiers`` (spec 4.11)."""
        user, _key = authenticate(self.store, request, CredentialType.DEPLOY)
        with self.store.lock:
            items = [classifier_json(request, c) for c in user.classifiers.values()]
        return json_response({"classifiers": items})

    def get_classifier(self, request: Request) -> Response:
        """``GET /classifiers/{classifier_id}`` (spec 7.7, curl example): ``{"classifier": ...}``."""
        user, _key = authenticate(self.store, request, CredentialType.DEPLOY)
        with self.store.lock:
            return json_response({"classifier": classifier_json(request, self._classifier(user, request))})

    def update_classifier(self, request: Request) -> Response:
        """``PATCH /classifiers/{classifier_id}`` (spec 4.12): rules, active, is_editable."""
        user, _key = authenticate(self.store, request, CredentialType.DEPLOY)
        body = self._read_json(request)
        unknown = sorted(k for k in body if k not in _UPDATABLE)
        if unknown:
            raise bad_request(
                f"Unknown field(s) {', '.join(unknown)}: only rules, active and is_editable can be updated."
            )
        for flag in ("active", "is_editable"):
            if flag in body and not isinstance(body[flag], bool):
                raise bad_request(f"{flag} must be a boolean.")
        rules = parse_rules(body["rules"]) if "rules" in body else None
        running, building = ClassifierStatus.RUNNING.value, ClassifierStatus.BUILDING.value
        with self.store.lock:
            c = self._classifier(user, request)
            c.tick()
            rules_changed = rules is not None and rules != c.rules
            if rules is not None:
                c.rules = rules
            if "is_editable" in body:
                c.is_editable = body["is_editable"]
            active = body.get("active")
            c.updated = time.time()
            if active is False:
                c.active = False
                if c.status not in STOPPED_STATUSES:
                    self._transition(c, ClassifierStatus.TERMINATING.value, ClassifierStatus.TERMINATED.value)
            elif active is True and (c.status in STOPPED_STATUSES or c.status == ClassifierStatus.FAILED.value):
                c.active = True
                self._transition(c, building, running)
            else:
                if active is True:
                    c.active = True
                if rules_changed and c.status == running:
                    self._transition(c, ClassifierStatus.UPDATING.value, running)
            return json_response({"classifier": classifier_json(request, c)})

    def delete_classifier(self, request: Request) -> Response:
        """``DELETE /classifiers/{classifier_id}`` (spec 4.13): allowed in any status; 200 ``{}``.

        The page documents no response body, yet its example calls ``.json()`` on the answer: an
        empty JSON object satisfies both."""
        user, _key = authenticate(self.store, request, CredentialType.DEPLOY)
        with self.store.lock:
            c = self._classifier(user, request)
            del user.classifiers[c.classifier_id]
            self.store.classifiers.pop(c.classifier_id, None)
        return json_response({})
