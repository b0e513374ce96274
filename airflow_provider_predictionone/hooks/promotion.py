"""The promotion gate: switch a prediction API to its retrained model only when that model is at least
as good as the one it serves (champion / challenger).

Like with like: both models are judged on the **same evaluation rows** — the rows of the evaluation
file the retraining used — by the **same local code** (:mod:`..api.metrics`):

* the retrained model's answers on those rows come from its result archive
  (``evaluation_raw_data.csv``; read by :func:`~.api.evaluation.archive_rows`);
* the served model's answers come from scoring the same rows (target column removed, at most
  ``max_rows``) through the served prediction API with the batch predictor: one Inference request
  per row.

When the archive holds no evaluation rows (spec 7.20: its content is undocumented), the retrained
figure is the service's own ``metrics.csv`` value, and the log says the comparison relies on it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_predictionone import arguments
from airflow_provider_predictionone.api import metrics as m
from airflow_provider_predictionone.api.errors import ModelNotPromotedError, PredictionOneConfigError
from airflow_provider_predictionone.hooks.predict import PredictMixin
from airflow_provider_predictionone.hooks.retraining import RetrainingMixin

if TYPE_CHECKING:
    from airflow_provider_predictionone.api.models import Classifier, Model

MAX_REJECTED_FRACTION = 0.1
"""Rows the served prediction API may reject while the gate still judges on the others (both models on
the rows it answered); more fail the task (the comparison would cover too little of the file)."""


class PromotionMixin(RetrainingMixin, PredictMixin):
    """Switch a prediction API to a retrained model behind a champion / challenger gate."""

    def promote_if_better(
        self,
        model_id: int,
        retrain_job_id: str,
        *,
        metric: str | None,
        evaluation_file: Any = None,
        min_improvement: float = 0.0,
        on_worse: str = m.ON_WORSE_KEEP,
        classifier_id: str | None = None,
        max_rows: int = 1000,
        logger: logging.Logger | None = None,
    ) -> dict[str, Any]:
        """Switch the prediction API of ``model_id`` to the finished retraining ``retrain_job_id`` if the
        retrained model's ``metric`` on the evaluation rows is at least the served model's plus
        ``min_improvement`` (at most minus, for a lower-is-better metric such as ``rmse``).

        Requests: Retrain Status Check, Get Model (the model type and target), Get Classifier(s), the
        result archive's download, one Inference request per evaluation row (at most ``max_rows``),
        and Retrain Model Switch when the gate passes.

        :param metric: ``auc``, ``accuracy``, ``f1``, ``precision``, ``recall``, ``macro_f1``,
            ``logloss``; ``rmse``, ``mae``, ``r2`` (any case). ``None``: no gate, switch at once.
        :param evaluation_file: the evaluation CSV the retraining used (local path or storage path).
        :param min_improvement: how much better the retrained model must be (metric units, >= 0).
        :param on_worse: ``"keep"`` (keep the served model, return ``switched: False``) or ``"fail"``
            (raise :class:`~.api.errors.ModelNotPromotedError`).
        :param classifier_id: the prediction API to score the served model through; default: the one
            serving ``model_id`` (Get Classifiers).
        :param max_rows: at most this many evaluation rows are sent to the served prediction API.
        :return: ``switched``, ``metric``, ``served_value``, ``retrained_value``, ``min_improvement``,
            ``reason``, ``model_id`` (served now), ``base_model_id``, ``retrain_job_id``,
            ``retrained_model_id``, ``classifier_id``, ``evaluation_rows``.
        """
        log = logger or self.log
        if metric is None:
            switched = self.switch_model(model_id, retrain_job_id)
            reason = (
                f"Switched to retrained model {switched['model_id']} without a promotion gate (metric=None): it was "
                f"not compared with the served model {model_id}."
            )
            log.warning("%s", reason)
            return _outcome(True, switched["model_id"], model_id, retrain_job_id, switched["model_id"], None, reason)
        policy = m.GatePolicy.of(metric, min_improvement, on_worse, max_rows)
        arguments.require_text("evaluation_file", evaluation_file)
        status = self.finished_retraining(model_id, retrain_job_id)
        model = self._model(model_id)
        policy = policy.for_type(model.config.get("tt") or model.target_type)
        served_api = self._serving_api(model_id, classifier_id)
        judged = self._judge(policy, model, served_api, status.download_url, evaluation_file, log)
        served, retrained, rows, note = judged
        name, new_id = policy.metric.name, status.model_id
        figures = (
            f"retrained model {new_id} has {name} {m.figure(retrained)} on {rows} evaluation rows{note}, served model "
            f"{model_id} has {m.figure(served)} ({policy.comparison(served)})"
        )
        api = served_api.classifier_id
        if not policy.promotes(served, retrained):
            reason = f"Kept model {model_id} on prediction API {api}: {figures}."
            log.warning("%s", reason)
            if policy.on_worse == m.ON_WORSE_FAIL:
                raise ModelNotPromotedError(f"{reason} on_worse='fail': failing the task.")
            return _outcome(
                False, model_id, model_id, retrain_job_id, new_id, policy, reason, (served, retrained), rows, api
            )
        self.get_conn().switch_model(model_id, retrain_job_id)
        reason = f"Switched prediction API {api} from model {model_id} to retrained model {new_id}: {figures}."
        log.info("%s", reason)
        return _outcome(True, new_id, model_id, retrain_job_id, new_id, policy, reason, (served, retrained), rows, api)

    def _model(self, model_id: int) -> Model:
        """The model's Get Model entry (its config says the prediction type, target and positive class)."""
        found = next((x for x in self.get_conn().iter_models() if x.model_id == model_id), None)
        if found is None:
            raise PredictionOneConfigError(
                f"model_id={model_id!r}: Get Model lists no such model, so the promotion gate cannot tell its type. "
                "Pass the model the retraining started from (the retrain task's XCom 'base_model_id')."
            )
        return found

    def _serving_api(self, model_id: int, classifier_id: str | None) -> Classifier:
        """The prediction API serving ``model_id``: ``classifier_id``'s (checked), else the one Get
        Classifiers lists for it."""
        if classifier_id:
            classifier = self.require_prediction_api(classifier_id)
            if classifier.model_id != model_id:
                raise PredictionOneConfigError(
                    f"classifier_id={classifier_id!r} serves model {classifier.model_id}, not model {model_id} that "
                    "the retraining started from. Pass the prediction API of that model, or classifier_id=None to "
                    "find it."
                )
            return classifier
        serving = [api for api in self.get_conn().list_classifiers() if api.model_id == model_id]
        if len(serving) != 1:
            found = ", ".join(api.classifier_id for api in serving) or "none"
            raise PredictionOneConfigError(
                f"classifier_id=None: the promotion gate needs the one prediction API that serves model {model_id} "
                f"to score the served model, and Get Classifiers lists {len(serving)} ({found}). Pass classifier_id."
            )
        return serving[0]

    def _judge(
        self,
        policy: m.GatePolicy,
        model: Model,
        api: Classifier,
        download_url: str | None,
        evaluation_file: Any,
        log: logging.Logger,
    ) -> tuple[float, float, int, str]:
        """Both figures on the same rows: ``(served, retrained, rows, note)``."""
        from airflow_provider_predictionone.api import evaluation as ev
        from airflow_provider_predictionone.api.results import TrainingResult
        from airflow_provider_predictionone.api.scratch import working_folder

        regression = model.config.get("tt") == m.REGRESSION
        target, positive = str(model.config.get("tc") or ""), model.config.get("tv")
        if not target:
            raise PredictionOneConfigError(f"Get Model shows no target column ('tc') for model {model.model_id}.")
        if not download_url:
            raise PredictionOneConfigError("The retraining reports no result archive (download_url): nothing to judge.")
        with working_folder() as folder:
            archive = Path(folder) / "result.zip"
            self.get_conn().download(download_url, label="result archive", destination=archive)
            evaluated = ev.archive_rows(archive, regression=regression)
            reported = None
            if evaluated.rows is None:
                reported = _reported(TrainingResult.from_zip_bytes(archive.read_bytes()).metrics, policy.metric)
                log.warning(
                    "The retrained model's answers are not in its result archive (%s): its %s is the service's "
                    "metrics.csv figure %s, on the service's own evaluation rows, so the comparison relies on the "
                    "service's figure.",
                    evaluated.why_not,
                    policy.metric.name,
                    m.figure(reported),
                )
            source = Path(folder) / "served_input.csv"
            chosen = ev.select_rows(
                evaluation_file, target, source, max_rows=policy.max_rows, regression=regression, wanted=evaluated.rows
            )
            log.info(
                "Scoring %d evaluation rows (of %d with a %s value; max_rows=%d) through prediction API %s (model %s): "
                "one Inference request per row.",
                len(chosen.numbers),
                chosen.rows_with_target,
                target,
                policy.max_rows,
                api.classifier_id,
                model.model_id,
            )
            output = Path(folder) / "served_predictions.csv"
            self.predict_file(
                api.classifier_id, source, output, logger=log, max_rejected_fraction=MAX_REJECTED_FRACTION
            )
            served_rows = ev.served_rows(output, chosen, regression=regression)
        common = [n for n in chosen.numbers if n in served_rows]
        served = policy.metric([served_rows[n] for n in common], positive)
        if evaluated.rows is None:
            assert reported is not None
            return served, reported, len(common), " (the service's figure)"
        return served, policy.metric([evaluated.rows[n] for n in common], positive), len(common), ""


def _reported(figures: dict[str, Any], metric: m.Metric) -> float:
    """The metric from the archive's ``metrics.csv`` (names in any case)."""
    by_name = {str(k).strip().lower(): v for k, v in figures.items()}
    value = by_name.get(metric.name)
    if not isinstance(value, float) or math.isnan(value):
        raise PredictionOneConfigError(
            f"metric={metric.name!r}: the retraining's result archive has neither its evaluation rows nor a "
            f"{metric.name} figure (its metrics: {', '.join(by_name) or 'none'}). Use one of those metrics."
        )
    return value


def _outcome(
    switched: bool,
    model_id: Any,
    base_model_id: int,
    retrain_job_id: str,
    retrained_model_id: Any,
    policy: m.GatePolicy | None,
    reason: str,
    values: tuple[float, float] | None = None,
    rows: int = 0,
    classifier_id: str | None = None,
) -> dict[str, Any]:
    """The gate's XCom: the same keys whether it switched, kept, or did not judge (an undefined figure,
    e.g. the AUC of rows of one class, is ``None``: XCom is JSON)."""
    served, retrained = (None, None) if values is None else (_defined(values[0]), _defined(values[1]))
    return {
        "switched": switched,
        "metric": None if policy is None else policy.metric.name,
        "served_value": served,
        "retrained_value": retrained,
        "min_improvement": None if policy is None else policy.min_improvement,
        "reason": reason,
        "model_id": model_id,
        "base_model_id": base_model_id,
        "retrain_job_id": retrain_job_id,
        "retrained_model_id": retrained_model_id,
        "classifier_id": classifier_id,
        "evaluation_rows": rows,
    }


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else value
