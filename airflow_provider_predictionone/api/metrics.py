"""Model metrics computed locally, and the promotion gate's decision (pure functions, no Airflow).

The gate (:mod:`..hooks.promotion`) judges the served and the retrained model on the same
evaluation rows with these functions, so both figures come from the same code. The names are the
ones the result archive's ``metrics.csv`` uses (``auc``, ``accuracy``, ``f1``, ``precision``,
``recall``, ``macro_f1``; ``rmse``, ``mae``, ``r2``), plus ``logloss``; they are accepted in any case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_predictionone.api.contract import PredictionType
from airflow_provider_predictionone.api.errors import PredictionOneConfigError

ON_WORSE_KEEP = "keep"
ON_WORSE_FAIL = "fail"
ON_WORSE = (ON_WORSE_KEEP, ON_WORSE_FAIL)
LOGLOSS_EPSILON = 1e-15
"""Probabilities are clipped to ``[eps, 1 - eps]`` so that a confident miss costs a finite amount."""

BINARY = PredictionType.BINARY_CLASSIFICATION.value
MULTI = PredictionType.MULTI_CLASSIFICATION.value
REGRESSION = PredictionType.REGRESSION.value


@dataclass(frozen=True)
class ScoredRow:
    """One evaluation row as a model scored it: the actual target value and the model's answer.

    :param label: the predicted class (classification; ``None`` when the output had no label).
    :param probabilities: ``{class: probability}`` (classification).
    :param value: the predicted number (regression).
    """

    actual: str
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    value: float | None = None


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the ROC curve from the rank statistic (tied scores share their average rank).

    ``nan`` when the rows hold only one of the two classes (the curve is not defined).
    """
    n_pos = sum(1 for p in positives if p)
    n_neg = len(positives) - n_pos
    if not n_pos or not n_neg:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1
        rank_sum += average_rank * sum(1 for k in range(i, j + 1) if positives[order[k]])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _label(row: ScoredRow) -> str:
    """The predicted class: the label, else the class with the highest probability."""
    if row.label not in (None, ""):
        return str(row.label)
    if not row.probabilities:
        return ""
    return max(row.probabilities.items(), key=lambda item: item[1])[0]


def _counts(rows: Sequence[ScoredRow], positive: str) -> tuple[int, int, int]:
    """True positives, false positives, false negatives for the class ``positive``."""
    tp = fp = fn = 0
    for row in rows:
        predicted = _label(row) == positive
        actual = row.actual == positive
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    return tp, fp, fn


def accuracy(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Share of rows whose predicted class is the actual one."""
    return sum(_label(r) == r.actual for r in rows) / len(rows)


def precision(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Of the rows predicted ``positive``, the share that are (0 when none is predicted)."""
    tp, fp, _ = _counts(rows, _positive(positive))
    return tp / (tp + fp) if tp + fp else 0.0


def recall(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Of the ``positive`` rows, the share predicted so (0 when there is none)."""
    tp, _, fn = _counts(rows, _positive(positive))
    return tp / (tp + fn) if tp + fn else 0.0


def f1(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """F1 of the class ``positive``: ``2 tp / (2 tp + fp + fn)`` (0 when all three are 0)."""
    tp, fp, fn = _counts(rows, _positive(positive))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def macro_f1(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """The mean of every class's F1 (each class that is an actual or a predicted value)."""
    labels = sorted({r.actual for r in rows} | {_label(r) for r in rows})
    return sum(f1(rows, label) for label in labels) / len(labels)


def auc(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """ROC AUC of the probability of the class ``positive`` (:func:`roc_auc`)."""
    cls = _positive(positive)
    return roc_auc([r.probabilities.get(cls, 0.0) for r in rows], [r.actual == cls for r in rows])


def logloss(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Mean negative log of the probability given to the actual class (clipped, natural log)."""
    total = 0.0
    for row in rows:
        p = min(max(row.probabilities.get(row.actual, 0.0), LOGLOSS_EPSILON), 1 - LOGLOSS_EPSILON)
        total -= math.log(p)
    return total / len(rows)


def _errors(rows: Sequence[ScoredRow]) -> list[tuple[float, float]]:
    return [(float(r.actual), float(r.value if r.value is not None else math.nan)) for r in rows]


def rmse(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Root mean squared error."""
    pairs = _errors(rows)
    return math.sqrt(sum((p - a) ** 2 for a, p in pairs) / len(pairs))


def mae(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Mean absolute error."""
    pairs = _errors(rows)
    return sum(abs(p - a) for a, p in pairs) / len(pairs)


def r2(rows: Sequence[ScoredRow], positive: str | None = None) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (``nan`` when the actual values are all equal)."""
    pairs = _errors(rows)
    mean = sum(a for a, _ in pairs) / len(pairs)
    total = sum((a - mean) ** 2 for a, _ in pairs)
    residual = sum((p - a) ** 2 for a, p in pairs)
    return 1 - residual / total if total > 1e-12 else math.nan


def _positive(positive: str | None) -> str:
    if positive is None:
        raise PredictionOneConfigError(
            "This metric needs the positive class (the model's 'tv' setting), and the model does not say."
        )
    return positive


@dataclass(frozen=True)
class Metric:
    """A metric the gate can judge with: its name, its direction, the prediction types that have it."""

    name: str
    higher_is_better: bool
    prediction_types: frozenset[str]
    compute: Callable[[Sequence[ScoredRow], str | None], float]
    needs_probabilities: bool = False

    def __call__(self, rows: Sequence[ScoredRow], positive: str | None = None) -> float:
        """The metric over ``rows`` (at least one)."""
        if not rows:
            raise ValueError(f"No rows to compute {self.name} on.")
        return self.compute(rows, positive)

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


_CLASSIFICATION = frozenset({BINARY, MULTI})
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", True, frozenset({BINARY}), auc, needs_probabilities=True),
        Metric("accuracy", True, _CLASSIFICATION, accuracy),
        Metric("f1", True, frozenset({BINARY}), f1),
        Metric("precision", True, frozenset({BINARY}), precision),
        Metric("recall", True, frozenset({BINARY}), recall),
        Metric("macro_f1", True, frozenset({MULTI}), macro_f1),
        Metric("logloss", False, _CLASSIFICATION, logloss, needs_probabilities=True),
        Metric("rmse", False, frozenset({REGRESSION}), rmse),
        Metric("mae", False, frozenset({REGRESSION}), mae),
        Metric("r2", True, frozenset({REGRESSION}), r2),
    )
}


def metric_named(name: Any) -> Metric:
    """The metric called ``name`` (any case), or a :class:`PredictionOneConfigError` listing the known ones."""
    key = str(name).strip().lower() if isinstance(name, str) else None
    if key not in METRICS:
        raise PredictionOneConfigError(
            f"metric={name!r} is not a metric the promotion gate knows. Use one of "
            f"{', '.join(sorted(METRICS))} (classification: auc, accuracy, f1, precision, recall, macro_f1, "
            "logloss; regression: rmse, mae, r2), or metric=None to switch without a gate."
        )
    return METRICS[key]


def metric_for(name: str, prediction_type: str | None) -> Metric:
    """The metric called ``name``, checked against the model's prediction type (``tt``)."""
    metric = metric_named(name)
    if prediction_type is not None and prediction_type not in metric.prediction_types:
        usable = sorted(m.name for m in METRICS.values() if prediction_type in m.prediction_types)
        raise PredictionOneConfigError(
            f"metric={name!r} does not apply to this model: it is a {prediction_type} model, and {metric.name} is "
            f"defined for {', '.join(sorted(metric.prediction_types))}. Use one of {', '.join(usable)}."
        )
    return metric


@dataclass(frozen=True)
class GatePolicy:
    """What the promotion gate is asked: the metric, the margin, and what to do with a worse model."""

    metric: Metric
    min_improvement: float = 0.0
    on_worse: str = ON_WORSE_KEEP
    max_rows: int = 1000

    @classmethod
    def of(
        cls, metric: Any, min_improvement: Any = 0.0, on_worse: Any = ON_WORSE_KEEP, max_rows: Any = 1000
    ) -> GatePolicy:
        """Check the gate's arguments (as a user passed them) and build the policy.

        :raises PredictionOneConfigError: naming the argument, the value and the fix.
        """
        return cls(
            metric_named(metric),
            check_min_improvement(min_improvement),
            check_on_worse(on_worse),
            check_max_rows(max_rows),
        )

    def for_type(self, prediction_type: str | None) -> GatePolicy:
        """This policy, its metric checked against the model's prediction type (:func:`metric_for`)."""
        return replace(self, metric=metric_for(self.metric.name, prediction_type))

    def needed(self, served: float) -> float:
        """The figure the retrained model must reach (at least; at most for lower-is-better)."""
        return served + self.min_improvement if self.metric.higher_is_better else served - self.min_improvement

    def promotes(self, served: float, retrained: float) -> bool:
        """Whether the retrained model's figure passes: ``>= served + min_improvement`` when higher
        is better, ``<= served - min_improvement`` when lower is better. An undefined figure (``nan``)
        of the retrained model never passes; one of the served model lets any defined figure pass."""
        if math.isnan(retrained):
            return False
        if math.isnan(served):
            return True
        needed = self.needed(served)
        return retrained >= needed if self.metric.higher_is_better else retrained <= needed

    def comparison(self, served: float) -> str:
        """``needs >= 0.8012`` / ``needs <= 12.5``."""
        sign = ">=" if self.metric.higher_is_better else "<="
        return f"needs {sign} {figure(self.needed(served))}"


def figure(value: float | None) -> str:
    """A metric value for a log line: 4 decimals."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def check_min_improvement(value: Any) -> float:
    """``min_improvement``: a number >= 0."""
    if isinstance(value, bool):
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise PredictionOneConfigError(
            f"min_improvement={value!r} is not a number >= 0. Pass how much better the retrained model must be, "
            "in the metric's units (0 = at least as good as the served model, e.g. 0.01 for one AUC point)."
        )
    return number


def check_on_worse(value: Any) -> str:
    """``on_worse``: ``keep`` or ``fail``."""
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in ON_WORSE:
        raise PredictionOneConfigError(
            f"on_worse={value!r} is not a policy. Pass 'keep' (keep the served model and succeed with "
            "switched=False) or 'fail' (fail the task)."
        )
    return text


def check_max_rows(value: Any) -> int:
    """``max_rows``: a whole number >= 1."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < 1:
        raise PredictionOneConfigError(
            f"max_rows={value!r} is not a whole number >= 1. Pass how many evaluation rows at most to send to the "
            "served prediction API (one Inference request each), e.g. max_rows=1000."
        )
    return number
