"""Unit tests of the emulator's statistics, baseline models and config validation."""

from __future__ import annotations

import math
import random
import zipfile
from pathlib import Path

import pytest
from emulator_testkit import (
    COLUMN_TYPES,
    HEADER,
    REGRESSION_HEADER,
    purchase_rows,
    regression_rows,
    to_csv,
)

from airflow_provider_predictionone.emulator.baseline.metrics import roc_auc
from airflow_provider_predictionone.emulator.baseline.models import NaiveBayesModel, load_model, save_model
from airflow_provider_predictionone.emulator.baseline.sufficient import solve_linear
from airflow_provider_predictionone.emulator.baseline.training import TrainingResult, evaluation_plan, train
from airflow_provider_predictionone.emulator.config import ConfigError, parse_config
from airflow_provider_predictionone.emulator.datasets.analysis import RESERVOIR_SIZE, TOP_VALUES, analyze
from airflow_provider_predictionone.emulator.datasets.summary import TIME_UNIT_IDS
from airflow_provider_predictionone.emulator.datasets.values import parse_date, parse_number


def _write(tmp_path: Path, data: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_analyze_types_and_useless_columns(tmp_path: Path) -> None:
    header = ["id", "数値", "日付", "文章", "定数", "空", "番号"]
    rows = [
        [
            f"u{i}",
            i * 1.5,
            f"2024/1/{1 + i % 28} 10:{i % 60:02d}",
            f"これは 長い 説明文 です 番号 {i} とても長い",
            "x",
            "",
            i + 1,
        ]
        for i in range(50)
    ]
    stats = analyze(_write(tmp_path, to_csv(header, rows, bom=True)))
    types = {c.name: c.inferred_type for c in stats.columns}
    assert types == {"id": 2, "数値": 1, "日付": 4, "文章": 3, "定数": 2, "空": 0, "番号": 1}
    assert set(stats.useless_columns) == {"id", "定数", "空", "番号"}
    date = stats.column("日付").to_api()["range_pick_info"]["date"]
    assert date["time_unit_id"] == TIME_UNIT_IDS["minute"]
    assert date["min_epoc_sec"] < date["initial_threshold_epoc_sec"] < date["max_epoc_sec"]


def test_distinct_counting_is_bounded(tmp_path: Path) -> None:
    n = 30_000
    rows = [[f"value-{i}", i % 7] for i in range(n)]
    stats = analyze(_write(tmp_path, to_csv(["v", "k"], rows)))
    column = stats.column("v")
    assert not column.unique_exact
    assert abs(column.unique_count - n) / n < 0.15
    assert len(column.top_values) <= TOP_VALUES
    assert len(column.numbers.sample) == 0 or len(column.numbers.sample) <= RESERVOIR_SIZE
    assert stats.column("k").unique_count == 7
    assert "v" in stats.useless_columns  # ID-like, detected from the estimate


@pytest.mark.parametrize(
    ("text", "expected_unit"),
    [
        ("2024-01-05", "day"),
        ("2024/1/5 7:30", "minute"),
        ("2024/1/5 07:00:00", "hour"),
        ("2024-03", "month"),
        ("20240105", "day"),
        ("202401", "month"),
        ("05-01-2024", "day"),
        ("2024", "year"),
        ("Jan-24", "month"),
    ],
)
def test_parse_date_layouts(text: str, expected_unit: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None and parsed[1] == expected_unit


@pytest.mark.parametrize("text", ["1969-12-31", "2024-13-01", "hello", "2024-02-30", "4000-01-01"])
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text) is None


def test_parse_number() -> None:
    assert parse_number(" 1.5e3 ") == 1500.0
    assert parse_number("-.5") == -0.5
    for text in ("nan", "inf", "1,000", "", "abc"):
        assert parse_number(text) is None


def test_roc_auc() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert math.isnan(roc_auc([0.1, 0.2], [True, True]))


def test_solve_linear() -> None:
    solution = solve_linear([[2.0, 1.0], [1.0, 3.0]], [3.0, 5.0])
    assert solution == pytest.approx([0.8, 1.4])


def _train(
    tmp_path: Path,
    header: list[str],
    rows: list[list[object]],
    config: dict[str, object],
    types: list[str] | None = None,
) -> TrainingResult:
    path = _write(tmp_path, to_csv(header, rows))
    column_types = dict(zip(header, types, strict=True)) if types else None
    return train(path, analyze(path), parse_config(config), column_types, None, tmp_path / "result.zip")


def test_naive_bayes_learns_and_round_trips(tmp_path: Path) -> None:
    result = _train(
        tmp_path,
        HEADER,
        purchase_rows(400),
        {"tc": "購入", "tt": "binary_classification", "tv": "はい", "cv": "1"},
        COLUMN_TYPES,
    )
    assert result.evaluation == "hold-out" and result.evaluated_rows == 80
    assert result.metrics["accuracy"] > 0.75
    assert "会員ID" not in result.model.required_columns and "購入" not in result.model.required_columns
    save_model(result.model, tmp_path / "model.json")
    loaded = load_model(tmp_path / "model.json")
    for row in purchase_rows(20, seed=9):
        values = dict(zip(HEADER, map(str, row), strict=True))
        assert loaded.predict_mapping(values).probabilities == result.model.predict_mapping(values).probabilities
    with zipfile.ZipFile(tmp_path / "result.zip") as archive:
        assert archive.read("metrics.csv").decode().startswith("metric,value\naccuracy,")


def test_ridge_regression_recovers_a_linear_signal(tmp_path: Path) -> None:
    result = _train(tmp_path, REGRESSION_HEADER, regression_rows(400), {"tc": "価格", "tt": "regression", "cv": "-1"})
    assert result.evaluation == "k-fold" and result.evaluated_rows == 400
    assert result.metrics["r2"] > 0.9
    importances = dict(result.model.importances())
    assert max(importances, key=importances.__getitem__) == "面積"
    assert sum(importances.values()) == pytest.approx(1.0)


def test_class_imbalance_option_uses_uniform_prior(tmp_path: Path) -> None:
    rnd = random.Random(4)
    rows = [[rnd.random(), "レア" if i % 10 == 0 else "普通"] for i in range(300)]
    balanced = _train(tmp_path, ["x", "y"], rows, {"tc": "y", "tt": "binary_classification", "tv": "レア", "im": True})
    assert isinstance(balanced.model, NaiveBayesModel)
    assert balanced.model.log_prior[0] == pytest.approx(balanced.model.log_prior[1])


def test_evaluation_plan() -> None:
    config = parse_config({"tc": "y", "tt": "regression"})
    assert evaluation_plan(config, 500, False) == ("k-fold", 5)
    assert evaluation_plan(config, 5000, False) == ("hold-out", 2)
    assert evaluation_plan(config, 500, True) == ("evaluation file", 1)
    assert evaluation_plan(parse_config({"tc": "y", "tt": "regression", "cv": 30}), 500, False) == (
        "k-fold",
        10,
    )


def test_parse_config_normalises() -> None:
    config = parse_config({"tc": "y", "tt": "binary_classification", "tv": 1, "cv": "3", "im": "TRUE", "tsine": "a"})
    assert (config.positive, config.cv, config.balance, config.future_exceptions) == ("1", 3, True, ("a",))
    with pytest.raises(ConfigError, match="tsine"):
        parse_config({"tc": "y", "tt": "regression", "tsine": []})
    with pytest.raises(ConfigError, match="tst"):
        parse_config({"tc": "y", "tt": "regression", "tsf": "3", "tst": "2"})
