"""Operators for Prediction One prediction APIs (classifiers) and housekeeping.

Deploy a model as a prediction API, change its IP rules or start / stop it, delete it, and
delete models and data sets by id. Waiting for a prediction API to be running or stopped is done
in the worker or, when deferrable, on the triggerer with :class:`PredictionOneClassifierTrigger`.

The prediction API's inference key (``api_key``) is a secret: no operator here returns it, pushes
it to XCom or logs it (the client registers it with Airflow's secret masker as well). Read it where
it is needed with the hook (``PredictionOneHook().get_conn().get_classifier(id).api_key``).
"""

from __future__ import annotations

import ast
import ipaddress
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone.api.contract import ClassifierStatus
from airflow_provider_predictionone.api.errors import (
    ClassifierNotFoundError,
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneTransportError,
    UnknownIdError,
)
from airflow_provider_predictionone.compat import default_deferrable, lazy_getattr
from airflow_provider_predictionone.operators.ledger import JobLedger
from airflow_provider_predictionone.operators.predictionone import (
    DEFAULT_CHECK_INTERVAL,
    PredictionOneBaseOperator,
    _as_int,
    _is_templated,
    _positive,
    _require_text,
)

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.models import Classifier, IpRule
    from airflow_provider_predictionone.compat import Context
    from airflow_provider_predictionone.triggers.classifier import ClassifierTarget, PredictionApiFailedError

# Imported when first used, not when a DAG file imports the operators: the API's data classes
# (~12 ms) and the classifier trigger (with Airflow's trigger base classes, ~9 ms) are needed
# only in execute(). ``from airflow_provider_predictionone.operators.deploy import IpRule`` and
# the other names below keep working (module ``__getattr__``, PEP 562).
_MODELS = "airflow_provider_predictionone.api.models"
_CLASSIFIER = "airflow_provider_predictionone.triggers.classifier"
_DEFERRED = {
    "ALLOW_ALL": _MODELS,
    "IpRule": _MODELS,
    "ClassifierTarget": _CLASSIFIER,
    "PredictionApiFailedError": _CLASSIFIER,
    "PredictionApiNotFoundError": _CLASSIFIER,
    "PredictionOneClassifierTrigger": _CLASSIFIER,
    "check_classifier": _CLASSIFIER,
    "classifier_event_result": _CLASSIFIER,
    "not_found_message": _CLASSIFIER,
    "wait_for_classifier": _CLASSIFIER,
}


__getattr__ = lazy_getattr(globals(), {name: ((module, name),) for name, module in _DEFERRED.items()})


def _is_ip_rule(value: Any) -> bool:
    # No IpRule can exist before its module is imported: checking a DAG file's literal rules at
    # parse time does not need to import it.
    models = sys.modules.get(_MODELS)
    return models is not None and isinstance(value, models.IpRule)


DEFAULT_DEPLOY_TIMEOUT = 3600.0
"""Building a prediction API takes about 5–20 minutes (spec 1.2); wait an hour at most by default."""

IF_EXISTS_CHOICES = ("reuse", "create")
RULE_ORDERS = ("allow", "deny")
RULE_KEYS = ("source", "order", "priority")
CLASSIFIER_ID_XCOM_KEY = "classifier_id"
"""XCom key under which the deploy operator pushes the new prediction API's id before waiting."""

_WILDCARDS = frozenset({"*", "all", "any", "%"})


# --------------------------------------------------------------------------------------------
# Argument checks (before any request; at DAG parse time for literal values)
# --------------------------------------------------------------------------------------------


def _is_literal(value: Any) -> bool:
    """Whether ``value`` is known when the DAG is parsed: no Jinja template and no ``XComArg``."""
    return not _is_templated(value)


def _positive_id(name: str, value: Any) -> int:
    """One explicit, positive integer id: no lists, no wildcards, no "delete everything"."""
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        raise PredictionOneConfigError(
            f"{name}={value!r} is not one id. This operator acts on exactly one {name}; for several, use one "
            f"task per id (e.g. dynamic task mapping: .expand({name}=[...]))."
        )
    if isinstance(value, str) and value.strip().lower() in _WILDCARDS:
        raise PredictionOneConfigError(
            f"{name}={value!r} looks like a wildcard. Only explicit ids are accepted: pass the numeric {name}."
        )
    number = _as_int(name, value)
    if number <= 0:
        raise PredictionOneConfigError(f"{name}={value!r} is not a valid id; ids are positive whole numbers.")
    return number


def _optional_bool(name: str, value: Any) -> bool | None:
    """``None`` (leave unchanged), or a bool; rendered templates arrive as "True" / "false"."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"", "none", "null"}:
        return None
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise PredictionOneConfigError(f"{name}={value!r} is not true or false; pass True, False or None (unchanged).")


def _rules_from_text(text: str) -> Any:
    # A rendered template is text: JSON, or the Python repr of a list param (non-native rendering).
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise PredictionOneConfigError(
            f"rules={text[:200]!r} is text that is neither JSON nor a Python list. Pass a list of "
            '{"source": "203.0.113.0/24", "order": "allow", "priority": 0} rules.'
        ) from None


def _rule_source(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PredictionOneConfigError(
            f"{where} has source={value!r}; it must be an IP range in CIDR notation, e.g. '203.0.113.0/24' "
            "(or '0.0.0.0/0' for every caller)."
        )
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise PredictionOneConfigError(
            f"{where} has source={value!r}, which is not an IP range in CIDR notation. Write it like "
            "'203.0.113.0/24', '198.51.100.7/32' or '0.0.0.0/0' (every caller)."
        ) from None
    # A range with host bits set ("10.0.0.5/24") is sent as its network ("10.0.0.0/24").
    return network.with_prefixlen


def _rule_order(where: str, value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in RULE_ORDERS:
        raise PredictionOneConfigError(f"{where} has order={value!r}; it must be 'allow' or 'deny'.")
    return text


def _rule_priority(where: str, value: Any) -> int:
    if isinstance(value, bool):
        raise PredictionOneConfigError(f"{where} has priority={value!r}; it must be a whole number, e.g. 0.")
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        raise PredictionOneConfigError(f"{where} has priority={value!r}; it must be a whole number, e.g. 0.") from None
    return number


def normalize_rules(rules: Any) -> tuple[IpRule, ...]:
    """Check IP rules (spec 4.10) and return them as :class:`IpRule` objects.

    Each rule is an :class:`IpRule` or a mapping with exactly the keys ``source`` (an IP range in
    CIDR notation; a bare address means ``/32`` or ``/128``), ``order`` (``"allow"`` or ``"deny"``)
    and ``priority`` (a whole number). A JSON text of such a list (a rendered template) is accepted.

    :param rules: the rules as given by the user.
    :return: the rules, with each ``source`` written as its network (``10.0.0.5/24`` → ``10.0.0.0/24``).
    :raises PredictionOneConfigError: naming the rule at fault and how to fix it.
    """
    from airflow_provider_predictionone.api.models import IpRule

    return tuple(IpRule(source, order, priority) for source, order, priority in _checked_rules(rules))


def _checked_rules(rules: Any) -> list[tuple[str, str, int]]:
    """:func:`normalize_rules` without building the :class:`IpRule` objects (parse-time checks)."""
    if isinstance(rules, str):
        rules = _rules_from_text(rules)
    if _is_ip_rule(rules) or isinstance(rules, Mapping):
        rules = [rules]
    if not isinstance(rules, (list, tuple)):
        raise PredictionOneConfigError(
            f"rules={rules!r} must be a list of rules, each an IpRule or "
            '{"source": "203.0.113.0/24", "order": "allow", "priority": 0}.'
        )
    if not rules:
        raise PredictionOneConfigError(
            "rules is empty: the prediction API would accept no caller. Leave rules unset (None) to allow every "
            "caller, or give at least one rule (a 'deny' rule for 0.0.0.0/0 blocks everyone explicitly)."
        )
    checked = []
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if _is_ip_rule(rule):
            source, order, priority = rule.source, rule.order, rule.priority
        elif isinstance(rule, Mapping):
            unknown = sorted(str(key) for key in rule if key not in RULE_KEYS)
            missing = [key for key in RULE_KEYS if key not in rule]
            if unknown or missing:
                problems = []
                if missing:
                    problems.append(f"missing {', '.join(missing)}")
                if unknown:
                    problems.append(f"unknown {', '.join(unknown)}")
                raise PredictionOneConfigError(
                    f"{where}={dict(rule)!r} has {'; '.join(problems)}. A rule has exactly the keys source, order "
                    'and priority, e.g. {"source": "203.0.113.0/24", "order": "allow", "priority": 0}.'
                )
            source, order, priority = rule["source"], rule["order"], rule["priority"]
        else:
            raise PredictionOneConfigError(
                f"{where}={rule!r} is not a rule; pass an IpRule or "
                '{"source": "203.0.113.0/24", "order": "allow", "priority": 0}.'
            )
        checked.append((_rule_source(where, source), _rule_order(where, order), _rule_priority(where, priority)))
    return checked


def _same_rules(current: Sequence[IpRule], wanted: Sequence[IpRule]) -> bool:
    if not current:
        return not wanted
    try:
        return normalize_rules(list(current)) == tuple(wanted)
    except PredictionOneConfigError:  # the service holds rules we would not write: they differ
        return False


def classifier_summary(classifier: Classifier) -> dict[str, Any]:
    """A prediction API as a JSON-safe dict for XCom, without its inference key."""
    return {
        "classifier_id": classifier.classifier_id,
        "model_id": classifier.model_id,
        "url": classifier.url,
        "version": classifier.version,
        "status": classifier.status,
        "active": classifier.active,
        "is_editable": classifier.is_editable,
        "rules": [rule.to_json() for rule in classifier.rules],
    }


# --------------------------------------------------------------------------------------------
# Shared waiting
# --------------------------------------------------------------------------------------------


class _PredictionApiOperator(PredictionOneBaseOperator):
    """What the prediction-API operators share: wait for running / stopped, in the worker or deferred."""

    def __init__(
        self,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check_interval = _positive("check_interval", check_interval)
        self.timeout = _positive("timeout", timeout)
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _wait(
        self,
        classifier_id: str,
        target: ClassifierTarget,
        *,
        resume_kwargs: dict[str, Any] | None = None,
    ) -> Classifier | None:
        """Return the prediction API once it reached ``target`` (``None``: it is gone, for "stopped").

        When deferrable and not there yet, this defers (raises ``TaskDeferred``) and the task
        resumes in ``execute_complete`` with ``resume_kwargs``.

        :raises PredictionApiFailedError: it failed (or vanished while waiting for "running").
        :raises JobTimeoutError: it did not get there within ``timeout``.
        """
        from airflow_provider_predictionone.triggers.classifier import (
            PredictionOneClassifierTrigger,
            check_classifier,
            wait_for_classifier,
        )

        if not self.deferrable:
            return wait_for_classifier(self.client, classifier_id, target, self.check_interval, self.timeout, self.log)
        deadline = time.time() + self.timeout
        reached, classifier = check_classifier(self.client, classifier_id, target)
        if reached:
            return classifier
        self.log.info(
            "Deferring until Prediction One prediction API %s is %s (status %r).",
            classifier_id,
            target.label,
            None if classifier is None else classifier.status,
        )
        self.defer(
            trigger=PredictionOneClassifierTrigger(
                classifier_id=classifier_id,
                predictionone_conn_id=self.predictionone_conn_id,
                target=target,
                poll_interval=self.check_interval,
                end_time=deadline,
            ),
            method_name="execute_complete",
            kwargs=resume_kwargs,
        )
        raise AssertionError("unreachable: defer() raises")  # pragma: no cover

    def _pushed(self, context: Context, key: str) -> str:
        """An id this task pushed to XCom before deferring (XComs survive a resume)."""
        value = context["ti"].xcom_pull(task_ids=self.task_id, key=key)
        return "" if value is None else str(value)

    def _require(self, classifier_id: str) -> Classifier:
        """The prediction API, or a clear error when there is none."""
        from airflow_provider_predictionone.triggers.classifier import PredictionApiNotFoundError, not_found_message

        classifier = self.client.get_classifier(classifier_id)
        if classifier is None:
            raise PredictionApiNotFoundError(not_found_message(classifier_id))
        return classifier


# --------------------------------------------------------------------------------------------
# Deploy
# --------------------------------------------------------------------------------------------


class PredictionOneDeployModelOperator(_PredictionApiOperator):
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

    A retry never creates a duplicate: the new ``classifier_id`` is recorded in the task's durable
    state before waiting, and the next try re-attaches to it (see :mod:`.ledger`) — unless it
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
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(check_interval=check_interval, timeout=timeout, deferrable=deferrable, **kwargs)
        self.model_id = model_id
        self.rules = rules
        if if_exists not in IF_EXISTS_CHOICES:
            raise PredictionOneConfigError(
                f"if_exists={if_exists!r} must be 'reuse' (use the model's existing prediction API) or 'create' "
                "(always create another one)."
            )
        self.if_exists = if_exists
        self.wait_for_running = wait_for_running
        # Literal values fail at DAG parse time; templates and XComArgs are checked after rendering.
        if _is_literal(model_id):
            _positive_id("model_id", model_id)
        if rules is not None and _is_literal(rules):
            _checked_rules(rules)

    def _rules(self) -> tuple[IpRule, ...] | None:
        """The rules the user asked for, checked; ``None`` when left unset (allow all for a new API,
        keep the rules of a reused one)."""
        return None if self.rules is None else normalize_rules(self.rules)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_predictionone.api.models import ALLOW_ALL
        from airflow_provider_predictionone.triggers.classifier import ClassifierTarget

        model_id = _positive_id("model_id", self.model_id)
        rules = self._rules()
        ledger = JobLedger(context, "deploy")
        classifier = self._reattach(ledger, model_id)
        listing = None
        if classifier is None and self.if_exists == "reuse":
            listing = self.client.list_classifiers()
            classifier = self._existing(model_id, listing)
        if classifier is not None:
            classifier_id = classifier.classifier_id
            ledger.set({"model_id": model_id, "classifier_id": classifier_id})
            self._adopt(classifier, rules)
        else:
            # Recorded before Create Classifier is sent: if its answer is lost, the next try adopts the
            # prediction API the lost request created instead of creating another (see _reattach).
            listing = self.client.list_classifiers() if listing is None else listing
            known = sorted(c.classifier_id for c in listing if c.model_id == model_id)
            ledger.set({"model_id": model_id, "classifier_id": None, "known": known})
            try:
                created = self.client.create_classifier(model_id, rules or ALLOW_ALL)
            except PredictionOneTransportError as exc:
                raise PredictionOneTransportError(
                    f"{exc} A retry of this task does not create blindly: it first adopts a prediction API of model "
                    f"{model_id} that appeared since this try (the one the lost request created, if it did)."
                ) from exc
            classifier_id = created.classifier_id
            # Recorded before anything else can fail, so that a retry re-attaches (no second API).
            ledger.set({"model_id": model_id, "classifier_id": classifier_id})
            self.log.info(
                "Created prediction API %s for model %s (version %s).", classifier_id, model_id, created.version
            )
        context["ti"].xcom_push(key=CLASSIFIER_ID_XCOM_KEY, value=classifier_id)
        if not self.wait_for_running:
            ledger.clear()
            return self._summary(self._require(classifier_id), model_id)
        ready = self._wait(
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
        from airflow_provider_predictionone.triggers.classifier import classifier_event_result

        classifier_id = classifier_id or self._pushed(context, CLASSIFIER_ID_XCOM_KEY)
        model_id = model_id or _positive_id("model_id", self.model_id)
        classifier_event_result(event, expected_classifier_id=classifier_id)
        return self._finish(context, self._require(classifier_id), model_id)

    def _finish(self, context: Context, classifier: Classifier, model_id: int) -> dict[str, Any]:
        self.log.info(
            "Prediction API %s of model %s is running at %s.", classifier.classifier_id, model_id, classifier.url
        )
        JobLedger(context, "deploy").clear()
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

    def _reattach(self, ledger: JobLedger, model_id: int) -> Classifier | None:
        """The prediction API an earlier try of this task created, if it is still usable."""
        record = ledger.get()
        if not record or record.get("model_id") != model_id:
            return None
        if not record.get("classifier_id"):
            if not isinstance(record.get("known"), list):
                return None
            return self._created_by_lost_request(model_id, set(record["known"]))
        classifier_id = str(record["classifier_id"])
        classifier = self.client.get_classifier(classifier_id)
        if classifier is None:
            self.log.info("The prediction API %s of an earlier try no longer exists; deploying again.", classifier_id)
            return None
        if classifier.is_failed:
            self.log.info("The prediction API %s of an earlier try failed; creating a new one.", classifier_id)
            return None
        self.log.info("Re-attaching to prediction API %s created by an earlier try (no duplicate).", classifier_id)
        return classifier

    def _created_by_lost_request(self, model_id: int, known: set[str]) -> Classifier | None:
        """An earlier try sent Create Classifier but recorded no answer: the prediction API of the
        model that was not there before that request is the one it created (if it reached the
        service). Known window: another task deploying the same model at the same moment."""
        listing = self.client.list_classifiers()
        new = [c for c in listing if c.model_id == model_id and c.classifier_id not in known]
        usable = [c for c in new if not c.is_failed]
        if not usable:
            self.log.info(
                "An earlier try sent Create Classifier for model %s without an answer, and no new prediction API "
                "appeared: it did not reach the service.",
                model_id,
            )
            return None
        chosen = max(usable, key=lambda c: c.create_datetime or "")
        self.log.info(
            "An earlier try's Create Classifier request reached the service although its answer was lost: "
            "re-attaching to prediction API %s instead of creating another.",
            chosen.classifier_id,
        )
        return chosen

    def _existing(self, model_id: int, listing: list[Classifier] | None = None) -> Classifier | None:
        """The model's existing prediction API that has not failed: running first, then newest."""
        listing = self.client.list_classifiers() if listing is None else listing
        candidates = [c for c in listing if c.model_id == model_id and not c.is_failed]
        if not candidates:
            return None
        candidates.sort(key=lambda c: (c.is_ready, not c.is_stopped, c.create_datetime or ""), reverse=True)
        chosen = candidates[0]
        if len(candidates) > 1:
            self.log.warning(
                "Model %s already has %d prediction APIs (%s); reusing %s. Each one uses up an API option: delete "
                "the ones you do not need.",
                model_id,
                len(candidates),
                ", ".join(c.classifier_id for c in candidates),
                chosen.classifier_id,
            )
        self.log.info(
            "Reusing prediction API %s of model %s (status %r) instead of creating another one (if_exists='reuse').",
            chosen.classifier_id,
            model_id,
            chosen.status,
        )
        return chosen

    def _adopt(self, classifier: Classifier, rules: tuple[IpRule, ...] | None) -> None:
        """Make an existing prediction API match the request: started, and with the given rules."""
        change: dict[str, Any] = {}
        if rules is not None and not _same_rules(classifier.rules, rules):
            change["rules"] = list(rules)
        stopping = classifier.status == ClassifierStatus.TERMINATING.value
        if classifier.active is False or classifier.is_stopped or stopping:
            change["active"] = True
        if not change:
            return
        self.log.info(
            "Updating prediction API %s: %s.",
            classifier.classifier_id,
            ", ".join("start it" if key == "active" else "apply the given rules" for key in change),
        )
        # Spec 4.12 / 7.8: the fields not changed (the lock flag, the rules when none were given) are sent
        # back as read, so the update never changes them by accident.
        self.client.update_classifier(classifier.classifier_id, current=classifier, **change)


# --------------------------------------------------------------------------------------------
# Update
# --------------------------------------------------------------------------------------------


class PredictionOneUpdatePredictionApiOperator(_PredictionApiOperator):
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
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(check_interval=check_interval, timeout=timeout, deferrable=deferrable, **kwargs)
        self.classifier_id = classifier_id
        self.rules = rules
        self.active = active
        self.is_editable = is_editable
        self.wait = wait
        # Literal values fail at DAG parse time; templates and XComArgs are checked after rendering.
        if _is_literal(classifier_id):
            _require_text("classifier_id", classifier_id)
        if rules is not None and _is_literal(rules):
            _checked_rules(rules)
        if _is_literal(active):
            _optional_bool("active", active)
        if _is_literal(is_editable):
            _optional_bool("is_editable", is_editable)
        if rules is None and active is None and is_editable is None:
            self._changes()  # raises: nothing to update

    def _changes(self) -> tuple[tuple[IpRule, ...] | None, bool | None, bool | None]:
        rules = None if self.rules is None else normalize_rules(self.rules)
        active = _optional_bool("active", self.active)
        is_editable = _optional_bool("is_editable", self.is_editable)
        if rules is None and active is None and is_editable is None:
            raise PredictionOneConfigError(
                "Nothing to update: pass at least one of rules, active (True starts, False stops) or is_editable."
            )
        return rules, active, is_editable

    def _target(self, current: Classifier | None, rules: Any, active: bool | None) -> ClassifierTarget | None:
        """What to wait for after the update, if anything."""
        from airflow_provider_predictionone.triggers.classifier import ClassifierTarget

        if active is False:
            return ClassifierTarget.STOPPED
        if active is True:
            return ClassifierTarget.RUNNING
        if rules is None or current is None:
            return None
        # New rules redeploy a running API; a stopped or failed one has nothing to wait for.
        serving = current.active is not False and not current.is_stopped and not current.is_failed
        return ClassifierTarget.RUNNING if serving else None

    def execute(self, context: Context) -> dict[str, Any]:
        classifier_id = _require_text("classifier_id", self.classifier_id)
        rules, active, is_editable = self._changes()
        current = self._require(classifier_id)
        # Spec 4.12 / 7.8: what is not changed (rules, active, the lock flag) is sent back as read.
        updated = self.client.update_classifier(
            classifier_id,
            rules=None if rules is None else list(rules),
            active=active,
            is_editable=is_editable,
            current=current,
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
            return classifier_summary(updated)
        reached = self._wait(classifier_id, target, resume_kwargs={"classifier_id": classifier_id})
        return self._finish(classifier_id, reached, target)

    def execute_complete(self, context: Context, event: dict[str, Any], classifier_id: str = "") -> dict[str, Any]:
        """Resume after the trigger fired: validate its event and return the prediction API."""
        from airflow_provider_predictionone.triggers.classifier import ClassifierTarget, classifier_event_result

        classifier_id = classifier_id or _require_text("classifier_id", self.classifier_id)
        classifier_event_result(event, expected_classifier_id=classifier_id)
        _rules, active, _lock = self._changes()
        target = ClassifierTarget.STOPPED if active is False else ClassifierTarget.RUNNING
        return self._finish(classifier_id, self.client.get_classifier(classifier_id), target)

    def _finish(self, classifier_id: str, classifier: Classifier | None, target: ClassifierTarget) -> dict[str, Any]:
        if classifier is None:  # only possible for "stopped": it was deleted meanwhile
            from airflow_provider_predictionone.triggers.classifier import PredictionApiNotFoundError, not_found_message

            raise PredictionApiNotFoundError(not_found_message(classifier_id))
        self.log.info("Prediction API %s is %s (status %r).", classifier_id, target.label, classifier.status)
        return classifier_summary(classifier)


# --------------------------------------------------------------------------------------------
# Delete
# --------------------------------------------------------------------------------------------


class PredictionOneDeletePredictionApiOperator(_PredictionApiOperator):
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
        self,
        *,
        classifier_id: str,
        wait_for_stop: bool = True,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        deferrable: bool | None = None,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(check_interval=check_interval, timeout=timeout, deferrable=deferrable, **kwargs)
        self.classifier_id = classifier_id
        self.wait_for_stop = wait_for_stop
        self.missing_ok = missing_ok
        if _is_literal(classifier_id):
            _require_text("classifier_id", classifier_id)  # literal values fail at DAG parse time

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_predictionone.triggers.classifier import (
            ClassifierTarget,
            PredictionApiFailedError,
            PredictionApiNotFoundError,
            not_found_message,
        )

        classifier_id = _require_text("classifier_id", self.classifier_id)
        current = self.client.get_classifier(classifier_id)
        if current is None:
            if not self.missing_ok:
                raise PredictionApiNotFoundError(not_found_message(classifier_id))
            self.log.info("Prediction API %s does not exist; nothing to delete (missing_ok=True).", classifier_id)
            return {"classifier_id": classifier_id, "model_id": None, "deleted": False}
        context["ti"].xcom_push(key="model_id", value=current.model_id)
        if not current.is_stopped and not current.is_failed:
            if current.status != ClassifierStatus.TERMINATING.value:
                self.log.info(
                    "Prediction API %s is %r; stopping it before deleting (spec 7.9).", classifier_id, current.status
                )
                # Spec 4.12 / 7.8: the rules and the lock flag are sent back as read.
                self.client.update_classifier(classifier_id, active=False, current=current)
            if self.wait_for_stop:
                try:
                    self._wait(classifier_id, ClassifierTarget.STOPPED, resume_kwargs={"classifier_id": classifier_id})
                except PredictionApiFailedError as exc:
                    self._failed_while_stopping(classifier_id, exc)
        return self._delete(classifier_id, current.model_id)

    def execute_complete(self, context: Context, event: dict[str, Any], classifier_id: str = "") -> dict[str, Any]:
        """Resume after the stop wait: validate the event, then delete."""
        from airflow_provider_predictionone.triggers.classifier import PredictionApiFailedError, classifier_event_result

        classifier_id = classifier_id or _require_text("classifier_id", self.classifier_id)
        try:
            classifier_event_result(event, expected_classifier_id=classifier_id)
        except PredictionApiFailedError as exc:
            self._failed_while_stopping(classifier_id, exc)
        model_id = context["ti"].xcom_pull(task_ids=self.task_id, key="model_id")
        return self._delete(classifier_id, model_id)

    def _failed_while_stopping(self, classifier_id: str, exc: PredictionApiFailedError) -> None:
        # A failed prediction API is not running either (spec 7.9): the delete may go ahead.
        self.log.warning("Prediction API %s failed while stopping (%s); deleting it anyway.", classifier_id, exc)

    def _delete(self, classifier_id: str, model_id: Any) -> dict[str, Any]:
        self.log.warning(
            "Deleting prediction API %s (model %s): it also disappears from the Prediction One web app, and its "
            "URL stops answering.",
            classifier_id,
            model_id,
        )
        try:
            self.client.delete_classifier(classifier_id)
        except ClassifierNotFoundError:
            # It existed when the task started: someone (or a retried request) deleted it meanwhile.
            self.log.warning("Prediction API %s was already deleted meanwhile.", classifier_id)
        self.log.info("Deleted prediction API %s.", classifier_id)
        return {"classifier_id": classifier_id, "model_id": model_id, "deleted": True}


# --------------------------------------------------------------------------------------------
# Housekeeping: models and data sets
# --------------------------------------------------------------------------------------------


class _DeleteByIdOperator(PredictionOneBaseOperator):
    """Delete one object (a model or a data set) by its explicit id: no lists, wildcards or "delete all".

    The object must be listed by the service first: an unknown id is refused before any DELETE is
    sent, naming the id. A DELETE whose answer was lost is repeated by the client; when the first
    attempt did delete the object, the repeat is told it does not exist, and the task still succeeds.
    """

    id_param: str
    """The constructor argument (and template field) holding the id."""
    noun: str
    """What is deleted, for messages: "model", "data set"."""
    list_call: str
    """The list request that shows the object: "Get Model", "Get Data Set"."""

    ui_color = "#fc9272"

    def __init__(self, *, object_id: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        setattr(self, self.id_param, object_id)
        if _is_literal(object_id):
            _positive_id(self.id_param, object_id)  # literal values fail at DAG parse time

    def execute(self, context: Context) -> dict[str, Any]:
        object_id = _positive_id(self.id_param, getattr(self, self.id_param))
        if not self._exists(object_id):
            raise UnknownIdError(
                f"{self.id_param}={object_id}: this Prediction One account has no {self.noun} with this id "
                f"({self.list_call} does not list it; it may have been deleted already). Nothing was deleted. "
                f"Check the {self.id_param} in the Prediction One web app, or the XCom it came from."
            )
        self.log.warning("Deleting Prediction One %s %s: it also disappears from the web app.", self.noun, object_id)
        try:
            self._delete(object_id)
        except PredictionOneAPIError:
            # It existed a moment ago: if it is gone now, a repeated DELETE (after a lost answer) or
            # someone else deleted it, which is the outcome the task asked for.
            if self._exists(object_id):
                raise
            self.log.warning(
                "%s %s was already deleted meanwhile (a repeated request, or someone else).",
                self.noun.capitalize(),
                object_id,
            )
        self.log.info("Deleted %s %s.", self.noun, object_id)
        return {self.id_param: object_id, "deleted": True}

    def _exists(self, object_id: int) -> bool:
        raise NotImplementedError

    def _delete(self, object_id: int) -> None:
        raise NotImplementedError


class PredictionOneDeleteModelOperator(_DeleteByIdOperator):
    """Delete one model by id (Delete Model, spec 4.7).

    Only an explicit model id is accepted: no lists, wildcards or "delete all". The model also
    disappears from the Prediction One web app; a warning says so in the task log. An id that Get
    Model does not list is refused (:class:`~airflow_provider_predictionone.api.errors.UnknownIdError`)
    before anything is deleted.

    :param model_id: the model to delete (a positive whole number). Templated.
    :return: ``{"model_id": ..., "deleted": True}``.
    """

    template_fields: Sequence[str] = ("model_id", "predictionone_conn_id")
    id_param = "model_id"
    noun = "model"
    list_call = "Get Model"

    def __init__(self, *, model_id: int | str, **kwargs: Any) -> None:
        super().__init__(object_id=model_id, **kwargs)

    def _exists(self, object_id: int) -> bool:
        return any(model.model_id == object_id for model in self.client.iter_models())

    def _delete(self, object_id: int) -> None:
        self.client.delete_model(object_id)


class PredictionOneDeleteDataSetOperator(_DeleteByIdOperator):
    """Delete one training data set by id (Delete Data Set, spec 4.9).

    Only an explicit data set id is accepted: no lists, wildcards or "delete all". The data set
    also disappears from the Prediction One web app; a warning says so in the task log. An id that
    Get Data Set does not list is refused
    (:class:`~airflow_provider_predictionone.api.errors.UnknownIdError`) before anything is deleted.

    :param data_set_id: the data set to delete (a positive whole number, see Get Data Set). Templated.
    :return: ``{"data_set_id": ..., "deleted": True}``.
    """

    template_fields: Sequence[str] = ("data_set_id", "predictionone_conn_id")
    id_param = "data_set_id"
    noun = "data set"
    list_call = "Get Data Set"

    def __init__(self, *, data_set_id: int | str, **kwargs: Any) -> None:
        super().__init__(object_id=data_set_id, **kwargs)

    def _exists(self, object_id: int) -> bool:
        return any(data_set.data_set_id == object_id for data_set in self.client.iter_data_sets())

    def _delete(self, object_id: int) -> None:
        self.client.delete_data_set(object_id)
