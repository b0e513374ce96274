"""Operators for Prediction One prediction APIs (classifiers, spec 1.2): deploy, update, delete.

Each ``execute`` is a short composition of the hook's methods (:mod:`..hooks.prediction_api`);
waiting for a prediction API to be running or stopped runs in the worker or, when deferrable, on
the triggerer with :class:`~..triggers.classifier.PredictionOneClassifierTrigger`.

The prediction API's inference key (``api_key``) is a secret: no operator here returns it, pushes
it to XCom or logs it (the client registers it with Airflow's secret masker as well). Read it where
it is needed with the hook (``PredictionOneHook().get_conn().get_classifier(id).api_key``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import ClassifierTarget
from airflow_provider_predictionone.api.errors import (
    PredictionApiFailedError,
    PredictionApiNotFoundError,
    PredictionOneConfigError,
)
from airflow_provider_predictionone.operators.base import WaitingOperator

# Kept importable from here for DAGs written against earlier releases.
from airflow_provider_predictionone.operators.housekeeping import (  # noqa: F401
    PredictionOneDeleteDataSetOperator,
    PredictionOneDeleteModelOperator,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_predictionone.api.ip_rules import IpRule
    from airflow_provider_predictionone.api.models import Classifier

DEFAULT_DEPLOY_TIMEOUT = 3600.0
"""Building a prediction API takes about 5–20 minutes (spec 1.2); wait an hour at most by default."""
IF_EXISTS_CHOICES = ("reuse", "create")
CLASSIFIER_ID_XCOM_KEY = "classifier_id"
"""XCom key under which the deploy operator pushes the new prediction API's id before waiting."""


def _check_literal_rules(rules: Any) -> None:
    """Check rules known when the DAG is parsed (templates and XComArgs after rendering)."""
    if rules is not None and not arguments.is_templated(rules):
        _rules(rules)


def _rules(rules: Any) -> tuple[IpRule, ...] | None:
    """The rules, checked; ``None`` when not given."""
    from airflow_provider_predictionone.api.ip_rules import normalize_rules

    return None if rules is None else normalize_rules(rules)


class PredictionApiOperator(WaitingOperator):
    """Waits for a prediction API to be running or stopped, in the worker or deferred."""

    default_timeout = DEFAULT_DEPLOY_TIMEOUT

    def wait_for_prediction_api(
        self, classifier_id: str, target: ClassifierTarget, *, resume_kwargs: dict[str, Any] | None = None
    ) -> Classifier | None:
        """The prediction API once it reached ``target`` (``None``: it is gone, for "stopped").

        :raises PredictionApiFailedError: it failed (or vanished while waiting for "running").
        :raises JobTimeoutError: it did not get there within ``timeout``.
        """

        def trigger(deadline: float) -> Any:
            from airflow_provider_predictionone.triggers.classifier import PredictionOneClassifierTrigger

            return PredictionOneClassifierTrigger(
                classifier_id=classifier_id,
                predictionone_conn_id=self.predictionone_conn_id,
                target=target,
                poll_interval=self.check_interval,
                end_time=deadline,
            )

        return self.wait_until_done(
            check=lambda: self.hook.check_prediction_api(classifier_id, target),
            block=lambda timeout: self.hook.wait_for_prediction_api(
                classifier_id, target, check_interval=self.check_interval, timeout=timeout
            ),
            trigger=trigger,
            resume_kwargs=resume_kwargs,
        )

    @staticmethod
    def resumed(event: Any, classifier_id: str) -> None:
        """Check the trigger's event after a resume (a failure or a timeout raises)."""
        from airflow_provider_predictionone.events import classifier_event_result

        classifier_event_result(event, expected_classifier_id=classifier_id)


class PredictionOneDeployModelOperator(PredictionApiOperator):
    """Deploy a trained model as a Prediction One prediction API (Create Classifier, spec 4.10).

    Creates the prediction API and waits until it is running with an inference URL (building
    takes about 5–20 minutes). Returns ``classifier_id``, ``model_id``, ``url``, ``version`` and
    ``status``; ``classifier_id`` is also pushed to XCom (key ``classifier_id``) before waiting.
    The inference key is never returned, pushed or logged: read it with the hook where needed.

    Each prediction API uses up one purchased API option, so by default (``if_exists="reuse"``)
    an existing prediction API of the same model that has not failed is reused instead of creating
    a second one: a stopped one is started again, and when ``rules`` are given and differ from its
    rules they are applied (without ``rules`` its rules are kept). ``if_exists="create"`` always
    creates a new prediction API.

    A retry never creates a duplicate: the hook records the new ``classifier_id`` in the task's
    durable state (before Create Classifier is sent), and the next try re-attaches to it — unless it
    failed, in which case a new one is created.

    :param model_id: the model to deploy (e.g. the ``model_id`` the train operator returns). Templated.
    :param rules: IP access rules: ``IpRule`` objects or ``{"source", "order", "priority"}`` dicts
        (CIDR source, ``"allow"``/``"deny"``, whole-number priority). Default ``None``: a new
        prediction API allows every caller (``ALLOW_ALL``, one ``0.0.0.0/0`` allow rule); a reused
        one keeps its current rules. Checked before any request. Templated.
    :param if_exists: ``"reuse"`` (default) or ``"create"``, see above.
    :param wait_for_running: wait until the prediction API is running (default true); otherwise
        return right after creating it, with its current status.
    :param check_interval: seconds between status checks (default 30).
    :param timeout: seconds to wait at most (default 3600).
    :param deferrable: wait on the triggerer instead of a worker slot; default from
        ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("model_id", "rules", "predictionone_conn_id")
    ui_color = "#c7e9c0"

    def __init__(
        self,
        *,
        model_id: int | str,
        rules: Sequence[IpRule | Mapping[str, Any]] | str | None = None,
        if_exists: str = "reuse",
        wait_for_running: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.rules = rules
        if if_exists not in IF_EXISTS_CHOICES:
            raise PredictionOneConfigError(
                f"if_exists={if_exists!r} must be 'reuse' (use the model's existing prediction API) or 'create' "
                "(always create another one)."
            )
        self.if_exists = if_exists
        self.wait_for_running = wait_for_running
        if not arguments.is_templated(model_id):
            arguments.as_id("model_id", model_id)
        _check_literal_rules(rules)

    def execute(self, context: Context) -> dict[str, Any]:
        model_id = arguments.as_id("model_id", self.model_id)
        classifier_id = self.hook.deploy_model(
            model_id, rules=_rules(self.rules), if_exists=self.if_exists, context=context
        )
        context["ti"].xcom_push(key=CLASSIFIER_ID_XCOM_KEY, value=classifier_id)
        if not self.wait_for_running:
            self.hook.ledger(context, "deploy").clear()
            return self._summary(self.hook.require_prediction_api(classifier_id), model_id)
        ready = self.wait_for_prediction_api(
            classifier_id,
            ClassifierTarget.RUNNING,
            resume_kwargs={"classifier_id": classifier_id, "model_id": model_id},
        )
        assert ready is not None  # a vanished API raises while waiting for "running"
        return self._finish(context, ready, model_id)

    def execute_complete(
        self, context: Context, event: dict[str, Any], classifier_id: str = "", model_id: int = 0
    ) -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and finish."""
        classifier_id = classifier_id or self.pushed_id(context, CLASSIFIER_ID_XCOM_KEY)
        model_id = model_id or arguments.as_id("model_id", self.model_id)
        self.resumed(event, classifier_id)
        return self._finish(context, self.hook.require_prediction_api(classifier_id), model_id)

    def _finish(self, context: Context, classifier: Classifier, model_id: int) -> dict[str, Any]:
        self.log.info(
            "Prediction API %s of model %s is running at %s.", classifier.classifier_id, model_id, classifier.url
        )
        self.hook.ledger(context, "deploy").clear()
        return self._summary(classifier, model_id)

    @staticmethod
    def _summary(classifier: Classifier, model_id: int) -> dict[str, Any]:
        return {
            "classifier_id": classifier.classifier_id,
            "model_id": classifier.model_id if classifier.model_id is not None else model_id,
            "url": classifier.url,
            "version": classifier.version,
            "status": classifier.status,
        }


class PredictionOneUpdatePredictionApiOperator(PredictionApiOperator):
    """Change a prediction API's IP rules, start or stop it, or set its lock flag (spec 4.12).

    The prediction API is read first; like the manual's example (spec 4.12) the update sends
    ``rules``, ``active`` and ``is_editable``, and what is not changed is sent back as read (spec
    7.8 advises it for ``is_editable``). Then, with ``wait``, the operator waits until
    it is running (``active=True``, or new rules on a prediction API that is not stopped) or
    stopped (``active=False``). Returns the prediction API: ``classifier_id``, ``model_id``, ``url``,
    ``version``, ``status``, ``active``, ``is_editable`` and ``rules`` (never its inference key).

    :param classifier_id: the prediction API (e.g. from the deploy task's XCom). Templated.
    :param rules: replacement IP rules, as for :class:`PredictionOneDeployModelOperator`; ``None``
        leaves them unchanged. Templated.
    :param active: ``True`` starts it, ``False`` stops it, ``None`` leaves it. Templated.
    :param is_editable: the edit-lock flag (opaque, spec 7.8); ``None`` sends the current value.
        Templated.
    :param wait: wait for the change to take effect (default true).
    :param check_interval: seconds between status checks (default 30).
    :param timeout: seconds to wait at most (default 3600).
    :param deferrable: wait on the triggerer; default from ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("classifier_id", "rules", "active", "is_editable", "predictionone_conn_id")
    ui_color = "#a1d99b"

    def __init__(
        self,
        *,
        classifier_id: str,
        rules: Sequence[IpRule | Mapping[str, Any]] | str | None = None,
        active: bool | None = None,
        is_editable: bool | None = None,
        wait: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.classifier_id = classifier_id
        self.rules = rules
        self.active = active
        self.is_editable = is_editable
        self.wait = wait
        # Literal values fail at DAG parse time; templates and XComArgs are checked after rendering.
        if not arguments.is_templated(classifier_id):
            arguments.require_text("classifier_id", classifier_id)
        _check_literal_rules(rules)
        for name in ("active", "is_editable"):
            if not arguments.is_templated(getattr(self, name)):
                arguments.optional_bool(name, getattr(self, name))
        if rules is None and active is None and is_editable is None:
            self._changes()  # raises: nothing to update

    def _changes(self) -> tuple[tuple[IpRule, ...] | None, bool | None, bool | None]:
        rules = _rules(self.rules)
        active = arguments.optional_bool("active", self.active)
        is_editable = arguments.optional_bool("is_editable", self.is_editable)
        if rules is None and active is None and is_editable is None:
            raise PredictionOneConfigError(
                "Nothing to update: pass at least one of rules, active (True starts, False stops) or is_editable."
            )
        return rules, active, is_editable

    @staticmethod
    def _target(current: Classifier, rules: Any, active: bool | None) -> ClassifierTarget | None:
        """What to wait for after the update, if anything."""
        if active is not None:
            return ClassifierTarget.RUNNING if active else ClassifierTarget.STOPPED
        if rules is None:
            return None
        # New rules redeploy a running API; a stopped or failed one has nothing to wait for.
        serving = current.active is not False and not current.is_stopped and not current.is_failed
        return ClassifierTarget.RUNNING if serving else None

    def execute(self, context: Context) -> dict[str, Any]:
        classifier_id = arguments.require_text("classifier_id", self.classifier_id)
        rules, active, is_editable = self._changes()
        current = self.hook.require_prediction_api(classifier_id)
        updated = self.hook.update_prediction_api(
            classifier_id, rules=rules, active=active, is_editable=is_editable, current=current
        )
        done = [
            f"rules -> {[r.to_json() for r in rules]}" if rules is not None else "",
            f"active -> {active}" if active is not None else "",
            f"is_editable -> {is_editable}" if is_editable is not None else "",
        ]
        self.log.info(
            "Updated prediction API %s (%s); status now %r.",
            classifier_id,
            ", ".join(d for d in done if d),
            updated.status,
        )
        target = self._target(current, rules, active)
        if not self.wait or target is None:
            return updated.summary()
        reached = self.wait_for_prediction_api(classifier_id, target, resume_kwargs={"classifier_id": classifier_id})
        return self._finish(classifier_id, reached, target)

    def execute_complete(self, context: Context, event: dict[str, Any], classifier_id: str = "") -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and return the prediction API."""
        classifier_id = classifier_id or arguments.require_text("classifier_id", self.classifier_id)
        self.resumed(event, classifier_id)
        _rules_given, active, _lock = self._changes()
        target = ClassifierTarget.STOPPED if active is False else ClassifierTarget.RUNNING
        return self._finish(classifier_id, self.hook.get_conn().get_classifier(classifier_id), target)

    def _finish(self, classifier_id: str, classifier: Classifier | None, target: ClassifierTarget) -> dict[str, Any]:
        if classifier is None:  # only possible for "stopped": it was deleted meanwhile
            raise PredictionApiNotFoundError.for_id(classifier_id)
        self.log.info("Prediction API %s is %s (status %r).", classifier_id, target.label, classifier.status)
        return classifier.summary()


class PredictionOneDeletePredictionApiOperator(PredictionApiOperator):
    """Delete a prediction API (spec 4.13), stopping it first (spec 7.9).

    The web app deletes only stopped prediction APIs, so one that is running, building or
    updating is first stopped (``PATCH active=false``, its lock flag sent back unchanged) and, with
    ``wait_for_stop``, waited for until ``terminated`` / ``stopped``; then it is deleted. A
    prediction API in the ``failed`` status is deleted directly. Deleting frees its API option; it
    also disappears from the web app.

    Returns ``classifier_id``, ``model_id`` and ``deleted`` (``False`` only with ``missing_ok``
    when there was nothing to delete).

    :param classifier_id: the prediction API to delete. Templated.
    :param wait_for_stop: wait until it has stopped before deleting (default true); otherwise the
        delete is sent right after the stop request.
    :param check_interval: seconds between status checks (default 30).
    :param timeout: seconds to wait for the stop at most (default 3600).
    :param deferrable: wait on the triggerer; default from ``[operators] default_deferrable``.
        The task resumes in ``execute_complete``, which then deletes.
    :param missing_ok: succeed when no such prediction API exists (default false: fail with a
        clear error).
    """

    template_fields: Sequence[str] = ("classifier_id", "predictionone_conn_id")
    ui_color = "#fcbba1"

    def __init__(
        self, *, classifier_id: str, wait_for_stop: bool = True, missing_ok: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.classifier_id = classifier_id
        self.wait_for_stop = wait_for_stop
        self.missing_ok = missing_ok
        if not arguments.is_templated(classifier_id):
            arguments.require_text("classifier_id", classifier_id)  # literal values fail at DAG parse time

    def execute(self, context: Context) -> dict[str, Any]:
        classifier_id = arguments.require_text("classifier_id", self.classifier_id)
        current = self.hook.get_conn().get_classifier(classifier_id)
        if current is None:
            if not self.missing_ok:
                raise PredictionApiNotFoundError.for_id(classifier_id)
            self.log.info("Prediction API %s does not exist; nothing to delete (missing_ok=True).", classifier_id)
            return {"classifier_id": classifier_id, "model_id": None, "deleted": False}
        context["ti"].xcom_push(key="model_id", value=current.model_id)
        self.hook.stop_prediction_api(current)
        if self.wait_for_stop and not current.is_stopped and not current.is_failed:
            try:
                self.wait_for_prediction_api(
                    classifier_id, ClassifierTarget.STOPPED, resume_kwargs={"classifier_id": classifier_id}
                )
            except PredictionApiFailedError as exc:
                self._failed_while_stopping(classifier_id, exc)
        return self._delete(classifier_id, current.model_id)

    def execute_complete(self, context: Context, event: dict[str, Any], classifier_id: str = "") -> dict[str, Any]:
        """Resume after the stop wait: validate the event, then delete."""
        classifier_id = classifier_id or arguments.require_text("classifier_id", self.classifier_id)
        try:
            self.resumed(event, classifier_id)
        except PredictionApiFailedError as exc:
            self._failed_while_stopping(classifier_id, exc)
        return self._delete(classifier_id, context["ti"].xcom_pull(task_ids=self.task_id, key="model_id"))

    def _failed_while_stopping(self, classifier_id: str, exc: PredictionApiFailedError) -> None:
        # A failed prediction API is not running either (spec 7.9): the delete may go ahead.
        self.log.warning("Prediction API %s failed while stopping (%s); deleting it anyway.", classifier_id, exc)

    def _delete(self, classifier_id: str, model_id: Any) -> dict[str, Any]:
        self.hook.delete_prediction_api(classifier_id, model_id)
        return {"classifier_id": classifier_id, "model_id": model_id, "deleted": True}
