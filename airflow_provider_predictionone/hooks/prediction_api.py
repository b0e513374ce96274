"""Prediction APIs (classifiers, spec 1.2) as hook methods: deploy a model once per task, wait until
it runs or stops, change it, delete it.

Each prediction API uses up a purchased API option, so :meth:`PredictionApiMixin.deploy_model`
reuses the model's existing one by default and records a new one in the task's ledger *before*
Create Classifier is sent: the next try re-attaches to it, or adopts the one a lost request created.
The inference key is a secret: nothing here returns it in a summary or logs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api.contract import ClassifierStatus, ClassifierTarget, JobState
from airflow_provider_predictionone.api.errors import (
    ClassifierNotFoundError,
    JobTimeoutError,
    PredictionApiFailedError,
    PredictionApiNotFoundError,
    PredictionOneConfigError,
    PredictionOneTransportError,
)
from airflow_provider_predictionone.api.ip_rules import ALLOW_ALL, IpRule, normalize_rules, same_rules
from airflow_provider_predictionone.hooks.base import HookMixin, poll_until

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.models import Classifier

DEFAULT_DEPLOY_TIMEOUT = 3600.0
"""Building a prediction API takes about 5–20 minutes (spec 1.2); wait an hour at most by default."""
IF_EXISTS_CHOICES = ("reuse", "create")


def failed_text(classifier_id: str, target: ClassifierTarget, status: str | None) -> str:
    """Why a wait for a prediction API is over badly: it failed, or vanished while expected to run."""
    if status is None:
        return (
            f"Prediction One prediction API {classifier_id} no longer exists, so it cannot become {target.label} "
            "(it was deleted while the task waited)."
        )
    return (
        f"Prediction One prediction API {classifier_id} is in status {status!r}, so it will not become "
        f"{target.label}. Check it in the Prediction One web app; delete it and deploy the model again."
    )


def describe_classifier(classifier_id: str, classifier: Classifier | None) -> str:
    """One log line for a prediction API's state (never its key)."""
    if classifier is None:
        return f"Prediction One prediction API {classifier_id}: not listed by Get Classifier (it no longer exists)"
    return classifier.describe()


class PredictionApiMixin(HookMixin):
    """Deploy, wait for, change and delete prediction APIs."""

    def require_prediction_api(self, classifier_id: str) -> Classifier:
        """The prediction API, or :class:`~.api.errors.PredictionApiNotFoundError` when there is none."""
        classifier = self.get_conn().get_classifier(classifier_id)
        if classifier is None:
            raise PredictionApiNotFoundError.for_id(classifier_id)
        return classifier

    def check_prediction_api(
        self, classifier_id: str, target: ClassifierTarget | str
    ) -> tuple[bool, Classifier | None]:
        """Check a prediction API once against ``target`` (``running`` or ``stopped``).

        :return: ``(reached, classifier)``; ``classifier`` is ``None`` when it no longer exists (which
            counts as reached for ``stopped``).
        :raises PredictionApiFailedError: it failed, or vanished while waiting for ``running``.
        """
        goal = arguments.classifier_target(target)
        classifier_id = arguments.require_text("classifier_id", classifier_id)
        from airflow_provider_predictionone.api.models import classifier_outcome  # loaded with the client already

        classifier = self.get_conn().get_classifier(classifier_id)
        outcome = classifier_outcome(classifier, goal)
        if outcome is JobState.FAILED:
            status = None if classifier is None else classifier.status
            raise PredictionApiFailedError(failed_text(classifier_id, goal, status), status=status)
        return outcome is JobState.SUCCEEDED, classifier

    def wait_for_prediction_api(
        self,
        classifier_id: str,
        target: ClassifierTarget | str,
        *,
        check_interval: float = 30.0,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
    ) -> Classifier | None:
        """Wait until the prediction API reached ``target``; return it as last read (``None`` if it
        disappeared while waiting for ``stopped``).

        :raises PredictionApiFailedError: it failed (or vanished while waiting for ``running``).
        :raises JobTimeoutError: it did not get there within ``timeout`` seconds.
        """
        goal = arguments.classifier_target(target)

        def timed_out(classifier: Classifier | None) -> JobTimeoutError:
            last = None if classifier is None else classifier.status
            return JobTimeoutError(
                f"Prediction One prediction API {classifier_id} did not become {goal.label} within {timeout:g}s "
                f"(last status {last!r}). It may still be changing; raise `timeout`, or retry the task."
            )

        return poll_until(
            lambda: self.check_prediction_api(classifier_id, goal),
            interval=check_interval,
            timeout=timeout,
            seen=lambda c: None if c is None else (c.status, c.active, bool(c.url)),
            describe=lambda c: describe_classifier(classifier_id, c),
            timed_out=timed_out,
            log=self.log,
        )

    def update_prediction_api(
        self,
        classifier_id: str,
        *,
        rules: Sequence[IpRule | Mapping[str, Any]] | None = None,
        active: bool | None = None,
        is_editable: bool | None = None,
        current: Classifier | None = None,
    ) -> Classifier:
        """Update Classifier (spec 4.12) changing only what is given: like the manual's example the
        request carries ``rules``, ``active`` and ``is_editable``, the unchanged ones as read (spec
        7.8 asks so for the lock flag). ``current`` is the prediction API as just read (read when
        not given)."""
        current = current or self.require_prediction_api(classifier_id)
        return self.get_conn().update_classifier(
            classifier_id,
            rules=normalize_rules(rules) if rules is not None else (current.rules or None),
            active=current.active if active is None else active,
            is_editable=current.is_editable if is_editable is None else is_editable,
        )

    def deploy_model(
        self,
        model_id: int,
        *,
        rules: Sequence[IpRule | Mapping[str, Any]] | None = None,
        if_exists: str = "reuse",
        context: Mapping[str, Any] | None = None,
    ) -> str:
        """Deploy ``model_id`` as a prediction API (Create Classifier, spec 4.10), without waiting.

        With ``if_exists="reuse"`` an existing prediction API of the model that has not failed is
        reused instead (started again when stopped, given ``rules`` when they differ; without
        ``rules`` its rules are kept); ``"create"`` always creates one (a new one's default rule:
        allow every caller). A retry of the task re-attaches to the prediction API an earlier try
        created, unless it failed or is gone.

        :return: the ``classifier_id`` (wait for it with :meth:`wait_for_prediction_api`).
        """
        if if_exists not in IF_EXISTS_CHOICES:
            raise PredictionOneConfigError(
                f"if_exists={if_exists!r} must be 'reuse' (use the model's existing prediction API) or 'create' "
                "(always create another one)."
            )
        rules = None if rules is None else normalize_rules(rules)
        ledger = self.ledger(context, "deploy")
        client = self.get_conn()
        classifier = self._deployed_before(ledger.get(), model_id)
        listing = client.list_classifiers() if classifier is None else []
        if classifier is None and if_exists == "reuse":
            classifier = self._existing(model_id, listing)
        if classifier is not None:
            ledger.set({"model_id": model_id, "classifier_id": classifier.classifier_id})
            self._adopt(classifier, rules)
            return classifier.classifier_id
        # Recorded before Create Classifier is sent: if its answer is lost, the next try adopts the
        # prediction API the lost request created instead of creating another (see _deployed_before).
        known = sorted(c.classifier_id for c in listing if c.model_id == model_id)
        ledger.set({"model_id": model_id, "classifier_id": None, "known": known})
        try:
            created = client.create_classifier(model_id, rules or ALLOW_ALL)
        except PredictionOneTransportError as exc:
            raise exc.with_advice(
                "A retry of this task does not create blindly: it first adopts a prediction API of model "
                f"{model_id} that appeared since this try (the one the lost request created, if it did)."
            ) from exc
        ledger.set({"model_id": model_id, "classifier_id": created.classifier_id})
        self.log.info(
            "Created prediction API %s for model %s (version %s).", created.classifier_id, model_id, created.version
        )
        return created.classifier_id

    def _deployed_before(self, record: Mapping[str, Any] | None, model_id: int) -> Classifier | None:
        """The prediction API an earlier try of this task created, if it is still usable."""
        if not record or record.get("model_id") != model_id:
            return None
        if not record.get("classifier_id"):
            known = record.get("known")
            return self._created_by_lost_request(model_id, set(known)) if isinstance(known, list) else None
        classifier_id = str(record["classifier_id"])
        classifier = self.get_conn().get_classifier(classifier_id)
        if classifier is None or classifier.is_failed:
            what = "no longer exists" if classifier is None else "failed"
            self.log.info("The prediction API %s of an earlier try %s; deploying again.", classifier_id, what)
            return None
        self.log.info("Re-attaching to prediction API %s created by an earlier try (no duplicate).", classifier_id)
        return classifier

    def _created_by_lost_request(self, model_id: int, known: set[str]) -> Classifier | None:
        """An earlier try sent Create Classifier but recorded no answer: the prediction API of the
        model that was not there before that request is the one it created (if it reached the
        service). Known window: another task deploying the same model at the same moment."""
        new = [c for c in self.get_conn().list_classifiers() if c.model_id == model_id and c.classifier_id not in known]
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

    def _existing(self, model_id: int, listing: list[Classifier]) -> Classifier | None:
        """The model's existing prediction API that has not failed: running first, then newest."""
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

    def _adopt(self, classifier: Classifier, rules: Sequence[IpRule] | None) -> None:
        """Make an existing prediction API match the request: started, and with the given rules."""
        change: dict[str, Any] = {}
        if rules is not None and not same_rules(classifier.rules, rules):
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
        self.update_prediction_api(classifier.classifier_id, current=classifier, **change)

    def stop_prediction_api(self, classifier: Classifier) -> None:
        """Ask a prediction API to stop (``PATCH active=false``, its rules and lock flag as read),
        unless it is stopped, stopping or failed already (spec 7.9)."""
        if classifier.is_stopped or classifier.is_failed or classifier.status == ClassifierStatus.TERMINATING.value:
            return
        self.log.info(
            "Prediction API %s is %r; stopping it before deleting (spec 7.9).",
            classifier.classifier_id,
            classifier.status,
        )
        self.update_prediction_api(classifier.classifier_id, active=False, current=classifier)

    def delete_prediction_api(self, classifier_id: str, model_id: Any = None) -> None:
        """Delete Classifier (spec 4.13); one deleted meanwhile (a repeated request) counts as deleted."""
        self.log.warning(
            "Deleting prediction API %s (model %s): it also disappears from the Prediction One web app, and its "
            "URL stops answering.",
            classifier_id,
            model_id,
        )
        try:
            self.get_conn().delete_classifier(classifier_id)
        except ClassifierNotFoundError:
            self.log.warning("Prediction API %s was already deleted meanwhile.", classifier_id)
        self.log.info("Deleted prediction API %s.", classifier_id)
