"""TrainConfig: the Train ``config`` object, its rules (spec 4.4, 6, 7.19) and representations (7.6)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.config import OPTION_KEYS, TrainConfig
from airflow_provider_predictionone.api.contract import PredictionType, TimeUnit
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.models import ColumnStatistics, DataSetInfo

HEADER = ["id", "age", "income", "region", "date", "store", "price", "sales", "bought"]

BINARY: dict[str, Any] = {"target_column": "bought", "prediction_type": "binary", "positive_value": "yes"}
MULTI: dict[str, Any] = {"target_column": "region", "prediction_type": "multiclass"}
REGRESSION: dict[str, Any] = {"target_column": "income", "prediction_type": "regression"}
TIME_SERIES: dict[str, Any] = {
    "target_column": "sales",
    "prediction_type": "regression",
    "time_series": True,
    "time_column": "date",
    "horizon_start": 2,
    "horizon_end": 4,
}


def make(base: dict[str, Any], **changes: Any) -> TrainConfig:
    return TrainConfig(**{**base, **changes})


# --------------------------------------------------------------------------------------------
# Happy paths
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            BINARY,
            {"tc": "bought", "tt": "binary_classification", "tv": "yes"},
            id="binary-minimal",
        ),
        pytest.param(
            {**BINARY, "cross_validation_folds": 5, "imbalance_correction": True, "time_series": False},
            {"tc": "bought", "tt": "binary_classification", "tv": "yes", "cv": "5", "im": True, "tsm": False},
            id="binary-full",
        ),
        pytest.param(MULTI, {"tc": "region", "tt": "multi_classification"}, id="multiclass-minimal"),
        pytest.param(
            {**MULTI, "prediction_type": "multi_class", "cross_validation_folds": -1, "imbalance_correction": False},
            {"tc": "region", "tt": "multi_classification", "cv": "-1", "im": False},
            id="multiclass-alias-full",
        ),
        pytest.param(REGRESSION, {"tc": "income", "tt": "regression"}, id="regression-minimal"),
        pytest.param(
            {**REGRESSION, "cross_validation_folds": 1, "time_series": False},
            {"tc": "income", "tt": "regression", "cv": "1", "tsm": False},
            id="regression-no-cv",
        ),
        pytest.param(
            TIME_SERIES,
            {"tc": "sales", "tt": "regression", "tsm": True, "tsc": "date", "tsf": "2", "tst": "4"},
            id="time-series-minimal",
        ),
        pytest.param(
            {
                **TIME_SERIES,
                "time_unit": "month",
                "time_step": 0,
                "series_column": "store",
                "future_known": True,
                "future_known_exceptions": ["price", "region"],
                "cross_validation_folds": 0,
            },
            {
                "tc": "sales",
                "tt": "regression",
                "cv": "0",
                "tsm": True,
                "tsu": "month",
                "tsc": "date",
                "tsi": "0",
                "tsf": "2",
                "tst": "4",
                "tss": "store",
                "tsin": True,
                "tsine": ["price", "region"],
            },
            id="time-series-full",
        ),
    ],
)
def test_valid_configs(options: dict[str, Any], expected: dict[str, Any]) -> None:
    config = TrainConfig(**options)
    config.validate()
    config.validate(HEADER)
    assert config.to_api() == expected


def test_to_api_alternate_representation() -> None:
    config = make(
        TIME_SERIES,
        time_unit=TimeUnit.END_OF_MONTH,
        time_step=1,
        future_known=False,
        future_known_exceptions="price",
        cross_validation_folds=3,
    )
    assert config.to_api() == {
        "tc": "sales",
        "tt": "regression",
        "cv": "3",
        "tsm": True,
        "tsu": "eom",
        "tsc": "date",
        "tsi": "1",
        "tsf": "2",
        "tst": "4",
        "tsin": False,
        "tsine": ["price"],
    }
    assert config.to_api(alternate=True) == {
        "tc": "sales",
        "tt": "regression",
        "cv": 3,
        "tsm": "true",
        "tsu": "eom",
        "tsc": "date",
        "tsi": 1,
        "tsf": 2,
        "tst": 4,
        "tsin": "false",
        "tsine": "price",
    }


def test_to_api_alternate_keeps_list_for_several_exceptions_and_booleans_as_strings() -> None:
    config = make(TIME_SERIES, future_known_exceptions=["price", "region"])
    alt = config.to_api(alternate=True)
    assert alt["tsine"] == ["price", "region"]
    assert alt["tsm"] == "true"
    binary = make(BINARY, imbalance_correction=False).to_api(alternate=True)
    assert binary["im"] == "false"


def test_to_api_key_order_follows_the_spec_and_omits_unset_options() -> None:
    payload = make(TIME_SERIES, series_column="store", cross_validation_folds=2).to_api()
    assert list(payload) == [k for k in contract.CONFIG_KEYS if k in payload]
    assert None not in payload.values()
    assert "tv" not in payload and "im" not in payload


def test_to_api_validates_first() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"positive_value \(tv\)"):
        TrainConfig(target_column="bought", prediction_type="binary").to_api()


def test_option_keys_match_the_contract() -> None:
    assert tuple(OPTION_KEYS.values()) == contract.CONFIG_KEYS
    assert [f.name for f in dataclasses.fields(TrainConfig)] == list(OPTION_KEYS)


# --------------------------------------------------------------------------------------------
# Normalisation on construction
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("binary", PredictionType.BINARY_CLASSIFICATION),
        ("Binary", PredictionType.BINARY_CLASSIFICATION),
        ("binary_classification", PredictionType.BINARY_CLASSIFICATION),
        (PredictionType.BINARY_CLASSIFICATION, PredictionType.BINARY_CLASSIFICATION),
        ("multiclass", PredictionType.MULTI_CLASSIFICATION),
        ("multi_class", PredictionType.MULTI_CLASSIFICATION),
        ("multi-class", PredictionType.MULTI_CLASSIFICATION),
        ("multi_classification", PredictionType.MULTI_CLASSIFICATION),
        (" regression ", PredictionType.REGRESSION),
        ("REGRESSION", PredictionType.REGRESSION),
    ],
)
def test_prediction_type_spellings(value: Any, expected: PredictionType) -> None:
    assert TrainConfig(prediction_type=value).prediction_type is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("month", TimeUnit.MONTH),
        ("Month", TimeUnit.MONTH),
        (TimeUnit.DAY, TimeUnit.DAY),
        ("eom", TimeUnit.END_OF_MONTH),
        ("end_of_month", TimeUnit.END_OF_MONTH),
        ("minute", TimeUnit.MINUTE),
    ],
)
def test_time_unit_spellings(value: Any, expected: TimeUnit) -> None:
    assert TrainConfig(time_unit=value).time_unit is expected


def test_template_strings_are_converted() -> None:
    config = make(
        TIME_SERIES,
        horizon_start="2",
        horizon_end=" 4 ",
        time_step="1",
        future_known="TRUE",
        time_series="true",
        cross_validation_folds="-1",
    )
    assert (config.horizon_start, config.horizon_end, config.time_step) == (2, 4, 1)
    assert config.future_known is True and config.time_series is True
    assert config.cross_validation_folds == -1
    config.validate(HEADER)


def test_positive_value_int_becomes_text_and_exceptions_become_a_list() -> None:
    config = TrainConfig(positive_value=1, future_known_exceptions="price")
    assert config.positive_value == "1"
    assert config.future_known_exceptions == ["price"]
    assert TrainConfig(future_known_exceptions=()).future_known_exceptions is None
    assert TrainConfig(future_known_exceptions=("a", "b")).future_known_exceptions == ["a", "b"]


def test_config_is_frozen_and_hashable() -> None:
    config = make(TIME_SERIES, future_known_exceptions=["price"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.target_column = "x"  # type: ignore[misc]
    assert hash(config) == hash(make(TIME_SERIES, future_known_exceptions=["price"]))
    assert config == make(TIME_SERIES, future_known_exceptions="price")


def test_replace_normalises() -> None:
    config = TrainConfig(**REGRESSION).replace(cross_validation_folds="4")
    assert config.cross_validation_folds == 4


def test_properties() -> None:
    assert TrainConfig(**BINARY).is_classification
    assert TrainConfig(**MULTI).is_classification
    assert not TrainConfig(**REGRESSION).is_classification
    assert TrainConfig(**TIME_SERIES).is_time_series
    assert not TrainConfig(**REGRESSION).is_time_series
    config = make(TIME_SERIES, series_column="store", future_known_exceptions=["price", "date"])
    assert config.referenced_columns() == ["sales", "date", "store", "price"]


# --------------------------------------------------------------------------------------------
# Every rule of validate()
# --------------------------------------------------------------------------------------------

RULES = [
    # target_column (tc)
    pytest.param({**BINARY, "target_column": None}, ["target_column (tc)", "not set", "required"], id="tc-missing"),
    pytest.param({**BINARY, "target_column": ""}, ["target_column (tc)", "''", "not a column name"], id="tc-empty"),
    pytest.param({**BINARY, "target_column": "  "}, ["target_column (tc)", "not a column name"], id="tc-blank"),
    pytest.param({**BINARY, "target_column": 3}, ["target_column (tc) = 3", "not a column name"], id="tc-not-text"),
    # prediction_type (tt)
    pytest.param(
        {**BINARY, "prediction_type": None}, ["prediction_type (tt)", "not set", "regression"], id="tt-missing"
    ),
    pytest.param(
        {**BINARY, "prediction_type": "classification"},
        ["prediction_type (tt) = 'classification'", "not a prediction type", "'binary_classification'"],
        id="tt-invalid",
    ),
    pytest.param({**REGRESSION, "prediction_type": 1}, ["prediction_type (tt) = 1"], id="tt-not-text"),
    # positive_value (tv)
    pytest.param(
        {**BINARY, "positive_value": None},
        ["positive_value (tv)", "not set", "binary classification needs it"],
        id="tv-required-for-binary",
    ),
    pytest.param({**BINARY, "positive_value": ""}, ["positive_value (tv) = ''"], id="tv-empty"),
    pytest.param({**BINARY, "positive_value": 1.0}, ["positive_value (tv) = 1.0", "as text"], id="tv-float"),
    pytest.param({**BINARY, "positive_value": True}, ["positive_value (tv) = True"], id="tv-bool"),
    pytest.param(
        {**MULTI, "positive_value": "north"},
        ["positive_value (tv) = 'north'", "only used for binary classification", "Remove positive_value"],
        id="tv-rejected-for-multiclass",
    ),
    pytest.param(
        {**REGRESSION, "positive_value": "1"},
        ["positive_value (tv) = '1'", "not for 'regression'"],
        id="tv-rejected-for-regression",
    ),
    # cross_validation_folds (cv)
    pytest.param(
        {**BINARY, "cross_validation_folds": -2},
        ["cross_validation_folds (cv) = -2", "not a valid setting", "k >= 2"],
        id="cv-below-minus-one",
    ),
    pytest.param(
        {**BINARY, "cross_validation_folds": 2.5}, ["cross_validation_folds (cv) = 2.5", "whole number"], id="cv-float"
    ),
    pytest.param(
        {**BINARY, "cross_validation_folds": 2.0},
        ["cross_validation_folds (cv) = 2.0", "whole number"],
        id="cv-float-2",
    ),
    pytest.param(
        {**BINARY, "cross_validation_folds": True}, ["cross_validation_folds (cv) = True", "whole number"], id="cv-bool"
    ),
    pytest.param(
        {**BINARY, "cross_validation_folds": "2.5"}, ["cross_validation_folds (cv) = '2.5'"], id="cv-float-text"
    ),
    pytest.param(
        {**BINARY, "cross_validation_folds": "{{ params.k }}"},
        ["cross_validation_folds (cv) = '{{ params.k }}'", "Jinja template that was not rendered"],
        id="cv-unrendered-template",
    ),
    # imbalance_correction (im)
    pytest.param(
        {**REGRESSION, "imbalance_correction": True},
        ["imbalance_correction (im) = True", "only applies to classification"],
        id="im-rejected-for-regression",
    ),
    pytest.param(
        {**REGRESSION, "imbalance_correction": False},
        ["imbalance_correction (im) = False", "only applies to classification"],
        id="im-false-rejected-for-regression",
    ),
    pytest.param(
        {**BINARY, "imbalance_correction": "yes"}, ["imbalance_correction (im) = 'yes'", "yes/no value"], id="im-text"
    ),
    pytest.param({**BINARY, "imbalance_correction": 1}, ["imbalance_correction (im) = 1"], id="im-int"),
    # time_series (tsm)
    pytest.param(
        {**TIME_SERIES, "prediction_type": "binary", "positive_value": "yes"},
        ["time_series (tsm) = True", "only available with prediction_type (tt) = 'regression'"],
        id="tsm-rejected-for-binary",
    ),
    pytest.param(
        {**TIME_SERIES, "prediction_type": "multiclass"},
        ["time_series (tsm) = True", "not 'multi_classification'"],
        id="tsm-rejected-for-multiclass",
    ),
    pytest.param({**REGRESSION, "time_series": "on"}, ["time_series (tsm) = 'on'", "yes/no"], id="tsm-not-bool"),
    # time-series requirements
    pytest.param(
        {**TIME_SERIES, "time_column": None}, ["time_column (tsc)", "not set", "time-series mode"], id="tsc-required"
    ),
    pytest.param({**TIME_SERIES, "time_column": ""}, ["time_column (tsc) = ''"], id="tsc-empty"),
    pytest.param({**TIME_SERIES, "horizon_start": None}, ["horizon_start (tsf)", "not set"], id="tsf-required"),
    pytest.param({**TIME_SERIES, "horizon_end": None}, ["horizon_end (tst)", "not set"], id="tst-required"),
    pytest.param({**TIME_SERIES, "horizon_start": 0}, ["horizon_start (tsf) = 0", "below 1"], id="tsf-zero"),
    pytest.param({**TIME_SERIES, "horizon_start": 1.5}, ["horizon_start (tsf) = 1.5", "whole number"], id="tsf-float"),
    pytest.param({**TIME_SERIES, "horizon_start": False}, ["horizon_start (tsf) = False"], id="tsf-bool"),
    pytest.param(
        {**TIME_SERIES, "horizon_start": 3, "horizon_end": 2},
        ["horizon_end (tst) = 2", "before horizon_start (tsf) = 3", ">= 3"],
        id="tst-before-tsf",
    ),
    pytest.param({**TIME_SERIES, "horizon_end": "x"}, ["horizon_end (tst) = 'x'", "whole number"], id="tst-text"),
    pytest.param(
        {**TIME_SERIES, "horizon_start": 0, "horizon_end": 0}, ["horizon_end (tst) = 0", "below 1"], id="tst-zero"
    ),
    pytest.param(
        {**TIME_SERIES, "time_unit": "week"}, ["time_unit (tsu) = 'week'", "not a time unit", "'eom'"], id="tsu-invalid"
    ),
    pytest.param({**TIME_SERIES, "time_step": -1}, ["time_step (tsi) = -1", "negative"], id="tsi-negative"),
    pytest.param({**TIME_SERIES, "time_step": 0.5}, ["time_step (tsi) = 0.5", "whole number"], id="tsi-float"),
    pytest.param({**TIME_SERIES, "series_column": " "}, ["series_column (tss) = ' '"], id="tss-blank"),
    pytest.param({**TIME_SERIES, "future_known": "maybe"}, ["future_known (tsin) = 'maybe'"], id="tsin-not-bool"),
    pytest.param(
        {**TIME_SERIES, "future_known_exceptions": 5},
        ["future_known_exceptions (tsine) = 5", "not a list"],
        id="tsine-not-list",
    ),
    pytest.param(
        {**TIME_SERIES, "future_known_exceptions": ["price", ""]},
        ["future_known_exceptions (tsine)", "not column names: ''"],
        id="tsine-empty-entry",
    ),
    pytest.param(
        {**TIME_SERIES, "future_known_exceptions": ["price", "price"]},
        ["future_known_exceptions (tsine)", "'price' more than once"],
        id="tsine-duplicate",
    ),
    pytest.param(
        {**TIME_SERIES, "future_known_exceptions": "sales"},
        ["future_known_exceptions (tsine) = ['sales']", "contains the target column 'sales'"],
        id="tsine-target",
    ),
    # column relations
    pytest.param(
        {**TIME_SERIES, "time_column": "sales"},
        ["time_column (tsc) = 'sales'", "same column as target_column (tc)"],
        id="tsc-equals-target",
    ),
    pytest.param(
        {**TIME_SERIES, "series_column": "sales"},
        ["series_column (tss) = 'sales'", "same column as target_column (tc)"],
        id="tss-equals-target",
    ),
    pytest.param(
        {**TIME_SERIES, "series_column": "date"},
        ["series_column (tss) = 'date'", "same column as time_column (tsc)"],
        id="tss-equals-tsc",
    ),
    # time-series-only options outside time-series mode
    pytest.param(
        {**REGRESSION, "time_unit": "month", "horizon_start": 2},
        ["time_unit (tsu) = 'month'", "horizon_start (tsf) = 2", "only apply in time-series mode", "not set"],
        id="ts-options-without-tsm",
    ),
    pytest.param(
        {**REGRESSION, "time_series": False, "future_known": False},
        ["future_known (tsin) = False", "time_series (tsm) is False", "Set time_series=True"],
        id="ts-options-with-tsm-false",
    ),
    pytest.param(
        {**BINARY, "time_column": "date", "series_column": "store", "time_step": 1},
        ["time_column (tsc) = 'date'", "series_column (tss) = 'store'", "time_step (tsi) = 1"],
        id="ts-options-for-classification",
    ),
    pytest.param(
        {**REGRESSION, "horizon_end": 4, "future_known_exceptions": "price"},
        ["horizon_end (tst) = 4", "future_known_exceptions (tsine) = ['price']"],
        id="ts-options-horizon-and-exceptions",
    ),
]


@pytest.mark.parametrize(("options", "fragments"), RULES)
def test_validate_rules(options: dict[str, Any], fragments: list[str]) -> None:
    config = TrainConfig(**options)
    with pytest.raises(PredictionOneConfigError) as excinfo:
        config.validate()
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert message.startswith(("Training option", "The training configuration has"))


def test_all_problems_are_reported_at_once() -> None:
    config = TrainConfig(target_column="", prediction_type="regression", positive_value="x", cross_validation_folds=-5)
    with pytest.raises(PredictionOneConfigError) as excinfo:
        config.validate()
    message = str(excinfo.value)
    assert message.startswith("The training configuration has 3 problems:")
    assert "target_column (tc)" in message and "positive_value (tv)" in message and "cross_validation_folds" in message


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"target_column \(tc\)"):
        TrainConfig().validate()


@pytest.mark.parametrize("folds", [None, 0, -1, 1, 2, 10, "3"])
def test_valid_cross_validation_settings(folds: Any) -> None:
    make(BINARY, cross_validation_folds=folds).validate()


def test_horizon_start_equal_end_is_fine() -> None:
    make(TIME_SERIES, horizon_start=3, horizon_end=3).validate()


# --------------------------------------------------------------------------------------------
# validate(columns=...)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        pytest.param(
            {**BINARY, "target_column": "Bought"},
            ["target_column (tc) = 'Bought'", "did you mean 'bought'", "Available columns (9): 'id', 'age'"],
            id="target-case",
        ),
        pytest.param(
            {**BINARY, "target_column": "bought "},
            ["target_column (tc) = 'bought '", "spaces differ"],
            id="target-spaces",
        ),
        pytest.param(
            {**BINARY, "target_column": "purchase"},
            ["target_column (tc) = 'purchase'", "not found in the training data header"],
            id="target-absent",
        ),
        pytest.param(
            {**TIME_SERIES, "time_column": "day", "series_column": "shop"},
            ["time_column (tsc) = 'day'", "series_column (tss) = 'shop'"],
            id="time-and-series-absent",
        ),
        pytest.param(
            {**TIME_SERIES, "future_known_exceptions": ["price", "discount"]},
            ["future_known_exceptions (tsine) = 'discount'"],
            id="exception-absent",
        ),
    ],
)
def test_validate_columns(options: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(PredictionOneConfigError) as excinfo:
        TrainConfig(**options).validate(HEADER)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_present_columns_are_not_reported() -> None:
    with pytest.raises(PredictionOneConfigError) as excinfo:
        make(TIME_SERIES, future_known_exceptions=["price", "discount"]).validate(HEADER)
    message = str(excinfo.value)
    assert "'price'" not in message.split("Available columns")[0]


def test_available_columns_are_truncated() -> None:
    header = [f"col{i:03d}" for i in range(150)]
    with pytest.raises(PredictionOneConfigError) as excinfo:
        make(REGRESSION, target_column="zzz").validate(header)
    message = str(excinfo.value)
    assert "Available columns (150): 'col000'" in message
    assert "… and 130 more" in message
    assert "'col149'" not in message


@pytest.mark.parametrize("count", [1, contract.MAX_COLUMNS + 1])
def test_column_count_limits(count: int) -> None:
    header = ["income", *[f"c{i}" for i in range(count - 1)]]
    with pytest.raises(PredictionOneConfigError, match=rf"has {count} column\(s\); Prediction One needs 2 – 200"):
        TrainConfig(**REGRESSION).validate(header)


def test_column_count_at_the_limits_is_fine() -> None:
    TrainConfig(**REGRESSION).validate(["income", "x"])
    TrainConfig(**REGRESSION).validate(["income", *[f"c{i}" for i in range(contract.MAX_COLUMNS - 1)]])


def test_bom_on_first_header_is_ignored() -> None:
    make(REGRESSION, target_column="id").validate(["\ufeffid", "income"])


def test_columns_as_a_string_is_rejected() -> None:
    with pytest.raises(PredictionOneConfigError, match="not a list of header names"):
        TrainConfig(**REGRESSION).validate("income,age")  # type: ignore[arg-type]


def test_unused_time_series_columns_are_not_checked_against_header() -> None:
    # Outside time-series mode these options are rejected for that reason alone.
    with pytest.raises(PredictionOneConfigError) as excinfo:
        make(REGRESSION, time_column="nope").validate(HEADER)
    assert "not found" not in str(excinfo.value)


# --------------------------------------------------------------------------------------------
# from_api / from_mapping
# --------------------------------------------------------------------------------------------

ROUND_TRIP = [
    pytest.param(make(BINARY, cross_validation_folds=3, imbalance_correction=True), id="binary"),
    pytest.param(make(MULTI, cross_validation_folds=-1), id="multiclass"),
    pytest.param(make(REGRESSION, time_series=False), id="regression"),
    pytest.param(
        make(
            TIME_SERIES,
            time_unit="day",
            time_step=1,
            series_column="store",
            future_known=True,
            future_known_exceptions=["price"],
        ),
        id="time-series",
    ),
    pytest.param(make(TIME_SERIES, future_known_exceptions=["price", "region"]), id="time-series-2-exceptions"),
]


@pytest.mark.parametrize("config", ROUND_TRIP)
@pytest.mark.parametrize("alternate", [False, True])
def test_from_api_round_trip(config: TrainConfig, alternate: bool) -> None:
    assert TrainConfig.from_api(config.to_api(alternate=alternate)) == config


@pytest.mark.parametrize("config", ROUND_TRIP)
def test_from_mapping_round_trip(config: TrainConfig) -> None:
    readable = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    assert TrainConfig.from_mapping(readable) == config
    assert TrainConfig.from_mapping(config.to_api()) == config


def test_from_api_is_lenient() -> None:
    config = TrainConfig.from_api(
        {
            "tc": "sales",
            "tt": "regression",
            "cv": 2.0,
            "tsm": 1,
            "tsc": "date",
            "tsf": "2",
            "tst": 4,
            "tsin": "False",
            "tsine": "price",
            "tsu": None,
            "md": "something-else",
        }
    )
    assert config == make(TIME_SERIES, cross_validation_folds=2, future_known=False, future_known_exceptions=["price"])
    assert TrainConfig.from_api({"tc": "y", "tt": "binary_classification", "tv": 1}).positive_value == "1"


def test_from_api_needs_a_mapping() -> None:
    with pytest.raises(PredictionOneConfigError, match="must be a mapping"):
        TrainConfig.from_api(["tc"])  # type: ignore[arg-type]


def test_from_mapping_mixes_names_and_keys() -> None:
    config = TrainConfig.from_mapping({"tc": "bought", "prediction_type": "binary", "tv": "yes", "cv": "2"})
    assert config == make(BINARY, cross_validation_folds=2)


def test_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(PredictionOneConfigError) as excinfo:
        TrainConfig.from_mapping({"target": "bought", "tc": "bought", "horizon_stop": 3})
    message = str(excinfo.value)
    assert "Unknown training option(s): 'target' (did you mean 'target_column'?)" in message
    assert "'horizon_stop' (did you mean 'horizon_start'?)" in message
    assert "target_column (tc)" in message and "future_known_exceptions (tsine)" in message


def test_from_mapping_rejects_an_option_given_twice() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"target_column \(tc\) is given twice"):
        TrainConfig.from_mapping({"tc": "a", "target_column": "a"})


def test_from_mapping_needs_a_mapping() -> None:
    with pytest.raises(PredictionOneConfigError, match="must be a mapping"):
        TrainConfig.from_mapping("tc=bought")  # type: ignore[arg-type]


def test_from_mapping_does_not_validate() -> None:
    config = TrainConfig.from_mapping({"tc": "bought"})
    with pytest.raises(PredictionOneConfigError, match=r"prediction_type \(tt\)"):
        config.validate()


# --------------------------------------------------------------------------------------------
# validate_against_data
# --------------------------------------------------------------------------------------------


def stats(
    name: str,
    *,
    classes: list[str] | None = None,
    numeric: bool = False,
    missing: int = 0,
    data_count: int = 1000,
    min_value: float = 0.0,
    max_value: float = 100.0,
) -> ColumnStatistics:
    return ColumnStatistics(
        column_id=HEADER.index(name) if name in HEADER else 99,
        name=name,
        initial_data_type=None,
        available_data_types=[],
        unique_count=len(classes or []),
        data_count=data_count,
        missing_count=missing,
        cor_score=None,
        classify_value=[{"name": c, "value": i} for i, c in enumerate(classes or [])],
        numerical_value=(
            [{"max_value": max_value, "min_value": min_value, "avg_value": 1.0, "median_value": 1.0}] if numeric else []
        ),
        range_pick_info=None,
    )


def info(
    columns: list[ColumnStatistics] | None = None,
    *,
    rows: int = 1000,
    useless: list[str] | None = None,
    header: list[str] | None = None,
) -> DataSetInfo:
    return DataSetInfo(
        raw_column_names=list(HEADER if header is None else header),
        raw_training_data=[],
        columns=list(columns or []),
        useless_columns=list(useless or []),
        row_count=rows,
    )


GOOD_DATA = [
    pytest.param(make(BINARY), info([stats("bought", classes=["yes", "no"])]), id="binary"),
    pytest.param(make(BINARY, positive_value=1), info([stats("bought", classes=["0", "1"])]), id="binary-numeric"),
    pytest.param(make(MULTI), info([stats("region", classes=["north", "south", "east"])]), id="multiclass"),
    pytest.param(make(REGRESSION), info([stats("income", numeric=True)]), id="regression"),
    pytest.param(
        make(REGRESSION), info([stats("income", numeric=True, classes=["1", "2", "3"])]), id="regression-with-names"
    ),
    pytest.param(make(TIME_SERIES), info([stats("sales", numeric=True)], rows=20), id="time-series-min-rows"),
    pytest.param(make(REGRESSION), info([stats("income", numeric=True)], rows=100), id="min-rows"),
    pytest.param(make(REGRESSION), info([stats("income", numeric=True)], rows=1_000_000), id="max-rows"),
    # Lenient when statistics are missing.
    pytest.param(make(BINARY), info([stats("bought")]), id="binary-without-classes"),
    pytest.param(make(REGRESSION), info([stats("income")]), id="regression-without-statistics"),
    pytest.param(make(MULTI), info([stats("region")]), id="multiclass-without-classes"),
]


@pytest.mark.parametrize(("config", "data"), GOOD_DATA)
def test_validate_against_data_accepts(config: TrainConfig, data: DataSetInfo) -> None:
    assert config.validate_against_data(data) == []


BAD_DATA = [
    pytest.param(
        make(BINARY, target_column="purchase"),
        info([stats("bought", classes=["yes", "no"])]),
        ["target_column (tc) = 'purchase'", "not found"],
        id="target-missing",
    ),
    pytest.param(
        make(BINARY),
        info([stats("id"), stats("age", numeric=True)], header=[]),
        ["target_column (tc) = 'bought'", "not found", "Available columns (2): 'id', 'age'"],
        id="target-missing-uses-statistics-names",
    ),
    pytest.param(
        make(BINARY),
        info([stats("bought", classes=["yes", "no"])], useless=["bought", "id"]),
        ["target_column (tc) = 'bought'", "unusable"],
        id="target-useless",
    ),
    pytest.param(
        make(BINARY),
        info([stats("bought", classes=["yes", "no"])], rows=99),
        ["99 rows", "at least 100 rows to train"],
        id="too-few-rows",
    ),
    pytest.param(
        make(BINARY),
        info([stats("bought", classes=["yes", "no"])], rows=1_000_001),
        ["1000001 rows", "at most 1000000 rows"],
        id="too-many-rows",
    ),
    pytest.param(
        make(TIME_SERIES),
        info([stats("sales", numeric=True)], rows=19),
        ["19 rows", "at least 20 rows in time-series mode"],
        id="time-series-too-few-rows",
    ),
    pytest.param(
        make(TIME_SERIES),
        info([stats("sales", numeric=True)], rows=10_001),
        ["at most 10000 rows in time-series mode"],
        id="time-series-too-many-rows",
    ),
    pytest.param(
        make(BINARY),
        info([stats("bought", classes=["yes", "no", "maybe"])]),
        ["prediction_type (tt) = 'binary_classification'", "exactly 2", "shows 3", "multi_classification"],
        id="binary-three-values",
    ),
    pytest.param(
        make(BINARY),
        info([stats("bought", classes=["yes"])]),
        ["exactly 2", "shows 1: 'yes'"],
        id="binary-one-value",
    ),
    pytest.param(
        make(BINARY, positive_value="Y"),
        info([stats("bought", classes=["yes", "no"])]),
        ["positive_value (tv) = 'Y'", "not a value of the target column 'bought'", "'yes', 'no'"],
        id="positive-value-not-a-value",
    ),
    pytest.param(
        make(MULTI),
        info([stats("region", classes=["north", "south"])]),
        ["at least 3 distinct", "binary_classification"],
        id="multiclass-two-values",
    ),
    pytest.param(
        make(MULTI),
        info([stats("region", classes=[f"r{i}" for i in range(contract.MAX_CLASSES + 1)])]),
        ["at most 200 classes", "shows 201"],
        id="multiclass-too-many-classes",
    ),
    pytest.param(
        make(REGRESSION),
        info([stats("income", classes=["low", "high", "mid"])]),
        ["prediction_type (tt) = 'regression'", "needs a numeric target", "'low'"],
        id="regression-text-target",
    ),
    pytest.param(
        make(TIME_SERIES, time_column="when"),
        info([stats("sales", numeric=True)]),
        ["time_column (tsc) = 'when'", "not found"],
        id="time-column-missing",
    ),
]


@pytest.mark.parametrize(("config", "data", "fragments"), BAD_DATA)
def test_validate_against_data_rejects(config: TrainConfig, data: DataSetInfo, fragments: list[str]) -> None:
    with pytest.raises(PredictionOneConfigError) as excinfo:
        config.validate_against_data(data)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_validate_against_data_reports_several_problems() -> None:
    data = info([stats("bought", classes=["a", "b", "c"])], rows=50, useless=["bought"])
    with pytest.raises(PredictionOneConfigError) as excinfo:
        make(BINARY).validate_against_data(data)
    assert str(excinfo.value).startswith("The training data (binary_classification target 'bought') has 4 problems")


def test_validate_against_data_warnings() -> None:
    data = info(
        [stats("bought", classes=["yes", "no"], missing=250, data_count=750)],
        useless=["id", "income"],
    )
    warnings = make(BINARY).validate_against_data(data)
    assert len(warnings) == 2
    assert "'bought' is empty in 250 of 1000 rows (25%)" in warnings[0]
    assert "2 column(s) unusable" in warnings[1] and "'id', 'income'" in warnings[1]


def test_warning_for_target_without_statistics() -> None:
    warnings = make(REGRESSION).validate_against_data(info([stats("age", numeric=True)]))
    assert warnings == ["No statistics were returned for the target column 'income'; its values were not checked."]


def test_warning_for_positive_value_written_differently() -> None:
    warnings = make(BINARY, positive_value="1").validate_against_data(info([stats("bought", classes=["0.0", "1.0"])]))
    assert len(warnings) == 1 and "matches '1.0'" in warnings[0]


def test_warning_for_constant_regression_target() -> None:
    data = info([stats("income", numeric=True, min_value=5.0, max_value=5.0)])
    warnings = make(REGRESSION).validate_against_data(data)
    assert warnings == ["The regression target 'income' has a single value (5.0); there is nothing to learn."]


def test_warning_for_useless_time_column() -> None:
    warnings = make(TIME_SERIES).validate_against_data(info([stats("sales", numeric=True)], useless=["date"]))
    assert any("time_column (tsc) = 'date' is among the unusable columns" in w for w in warnings)


def test_validate_against_data_from_json() -> None:
    payload = {
        "raw_column_names": ["id", "bought"],
        "raw_training_data": [{"row_data": "1,yes"}],
        "training_data_columns": [
            {"column_id": 0, "name": "id", "unique_count": 500, "classify_value": [], "numerical_value": [None]},
            {
                "column_id": 1,
                "name": "bought",
                "unique_count": 2,
                "data_count": 500,
                "missing_count": 0,
                "classify_value": [{"name": "yes", "value": 100}, None, {"name": "no", "value": 400}],
                "numerical_value": [None],
            },
        ],
        "useless_column_list": [None],
        "trainingdata_row_count": 500,
    }
    data = DataSetInfo.from_json(payload)
    assert make(BINARY).validate_against_data(data) == []
    with pytest.raises(PredictionOneConfigError, match="not a value of the target column"):
        make(BINARY, positive_value="maybe").validate_against_data(data)


def test_validate_known_checks_only_the_rules_of_options_known_now() -> None:
    template = "{{ params.target }}"
    binary = TrainConfig(target_column=template, prediction_type="binary_classification")
    with pytest.raises(PredictionOneConfigError, match=r"positive_value \(tv\)"):
        binary.validate_known({"target_column"})  # the missing positive value is known now
    binary.replace(positive_value=template).validate_known({"target_column", "positive_value"})
    regression = TrainConfig(target_column="購入", prediction_type="regression", positive_value=template)
    regression.validate_known({"positive_value"})  # it may render to nothing: left to run time
    with pytest.raises(PredictionOneConfigError, match=r"positive_value \(tv\)"):
        regression.replace(positive_value="はい").validate_known(set())
