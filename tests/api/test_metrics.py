"""The promotion gate's metrics and decision: small cases computed by hand."""

from __future__ import annotations

import math

import pytest

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.metrics import METRICS, GatePolicy, ScoredRow, metric_for, metric_named

YES, NO = "はい", "いいえ"


def binary(actual: str, p_yes: float) -> ScoredRow:
    return ScoredRow(actual=actual, label=YES if p_yes >= 0.5 else NO, probabilities={YES: p_yes, NO: 1 - p_yes})


# actual:     yes  yes  no   no   yes
# p(yes):     0.9  0.4  0.6  0.2  0.6   -> predicted yes, no, yes, no, yes
ROWS = [binary(YES, 0.9), binary(YES, 0.4), binary(NO, 0.6), binary(NO, 0.2), binary(YES, 0.6)]


def test_classification_metrics_by_hand() -> None:
    # tp = 2 (rows 1, 5), fp = 1 (row 3), fn = 1 (row 2), tn = 1 (row 4)
    assert METRICS["accuracy"](ROWS, YES) == pytest.approx(3 / 5)
    assert METRICS["precision"](ROWS, YES) == pytest.approx(2 / 3)
    assert METRICS["recall"](ROWS, YES) == pytest.approx(2 / 3)
    assert METRICS["f1"](ROWS, YES) == pytest.approx(2 / 3)
    # positive scores 0.9, 0.4, 0.6 vs negative 0.6, 0.2: pairs won 2 + 1 + 1.5 (tie) + ... = (2 + 1 + 1.5) / 6
    assert METRICS["auc"](ROWS, YES) == pytest.approx(4.5 / 6)
    expected_logloss = -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.8) + math.log(0.6)) / 5
    assert METRICS["logloss"](ROWS, YES) == pytest.approx(expected_logloss)
    # macro F1 over both classes: F1(yes) = 2/3, F1(no): tp 1, fp 1, fn 1 -> 1/2
    assert METRICS["macro_f1"](ROWS) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_auc_edge_cases() -> None:
    assert METRICS["auc"]([binary(YES, 0.5), binary(NO, 0.5)], YES) == 0.5  # a tie counts half
    assert math.isnan(METRICS["auc"]([binary(YES, 0.5), binary(YES, 0.7)], YES))  # one class only
    # the label is taken from the probabilities when the output has none (nc=true)
    assert METRICS["accuracy"]([ScoredRow(actual=NO, probabilities={YES: 0.3, NO: 0.7})]) == 1.0


def test_regression_metrics_by_hand() -> None:
    rows = [ScoredRow("1", value=2.0), ScoredRow("2", value=2.0), ScoredRow("3", value=5.0)]
    # errors 1, 0, 2: squared 1, 0, 4
    assert METRICS["rmse"](rows) == pytest.approx(math.sqrt(5 / 3))
    assert METRICS["mae"](rows) == pytest.approx(1.0)
    assert METRICS["r2"](rows) == pytest.approx(1 - 5 / 2)  # SS_tot = 1 + 0 + 1
    assert math.isnan(METRICS["r2"]([ScoredRow("1", value=1.0), ScoredRow("1", value=2.0)]))


def test_decision_higher_is_better() -> None:
    gate = GatePolicy.of("AUC", 0.01)
    assert gate.metric.higher_is_better and gate.needed(0.80) == pytest.approx(0.81)
    assert gate.promotes(0.80, 0.81) and not gate.promotes(0.80, 0.805)
    assert GatePolicy.of("auc").promotes(0.80, 0.80)  # min_improvement 0: at least as good
    assert gate.comparison(0.80) == "needs >= 0.8100"
    assert not gate.promotes(0.80, math.nan) and gate.promotes(math.nan, 0.5)


def test_decision_lower_is_better() -> None:
    gate = GatePolicy.of("rmse", 0.5)
    assert not gate.metric.higher_is_better and gate.needed(10.0) == 9.5
    assert gate.promotes(10.0, 9.5) and gate.promotes(10.0, 3.0)
    assert not gate.promotes(10.0, 9.6) and not gate.promotes(10.0, 12.0)
    assert gate.comparison(10.0) == "needs <= 9.5000"
    assert GatePolicy.of("MAE").promotes(2.0, 2.0) and not GatePolicy.of("logloss").promotes(0.3, 0.31)


def test_metric_names_and_types() -> None:
    assert metric_named(" F1 ").name == "f1"
    with pytest.raises(PredictionOneConfigError, match="metric=.gini. is not a metric the promotion gate knows"):
        metric_named("gini")
    assert metric_for("rmse", "regression").name == "rmse"
    with pytest.raises(PredictionOneConfigError, match="regression model.* Use one of mae, r2, rmse"):
        metric_for("auc", "regression")
    with pytest.raises(PredictionOneConfigError, match="multi_classification model"):
        metric_for("auc", "multi_classification")
