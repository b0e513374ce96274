"""The training flow (spec 1.1), driven exactly as the manual describes it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
from emulator_testkit import (
    BINARY_CONFIG,
    HEADER,
    MULTI_HEADER,
    MULTI_TYPES,
    REGRESSION_HEADER,
    REGRESSION_TYPES,
    ManualClient,
    column_info,
    multi_rows,
    purchase_rows,
    read_csv,
    regression_rows,
    to_csv,
)

from airflow_provider_predictionone.emulator import Emulator


def test_full_train_flow(
    p1: ManualClient, emulator: Emulator, learn_csv: bytes, eval_csv: bytes, info_csv: bytes
) -> None:
    # 1. train key from the secret key
    response = p1.call("GET", "/api-key", p1.secret_key, params={"credential_type": "train"})
    assert response.status_code == 200
    body = response.json()
    key = body["api_key"]
    assert isinstance(key, str) and len(key) >= 32
    end = datetime.fromisoformat(body["end_date"])
    assert end.tzinfo is not None and end > datetime.now(timezone.utc)

    # 2. upload URLs: absolute, on the emulator's host, unguessable and distinct
    urls = p1.ok("GET", "/data-sets/upload-url", key, params={"extension": "csv"})
    upload_keys = ["learn_data_set_upload_url", "eval_data_set_upload_url", "column_info_upload_url"]
    assert set(urls) == {*upload_keys, "external_process_id"}
    assert len({urls[k] for k in upload_keys}) == 3
    for name in upload_keys:
        parts = urlsplit(urls[name])
        assert f"{parts.scheme}://{parts.netloc}" == emulator.url
        assert len(parts.path.rsplit("/", 1)[1]) >= 24

    # 3. raw PUTs without an API key; empty 200 answers
    for name, data in (
        ("learn_data_set_upload_url", learn_csv),
        ("column_info_upload_url", info_csv),
        ("eval_data_set_upload_url", eval_csv),
    ):
        put = p1.session.put(urls[name], data=data)
        assert put.status_code == 200 and put.content == b""
    process_id = urls["external_process_id"]

    # 4. Train Data Set Info: statistics of the uploaded file
    info = p1.ok("GET", "/data-sets/column-info", key, params={"external_process_id": process_id})
    assert info["raw_column_names"] == HEADER
    assert info["trainingdata_row_count"] == 300
    assert len(info["raw_training_data"]) == 10
    assert info["raw_training_data"][0]["row_data"].count(",") == len(HEADER) - 1
    columns = {c["name"]: c for c in info["training_data_columns"]}
    assert [c["column_id"] for c in info["training_data_columns"]] == list(range(len(HEADER)))
    age = columns["年齢"]
    assert age["initial_data_type"] == 1 and age["data_count"] == 300 and age["missing_count"] == 0
    numeric = age["numerical_value"][0]
    assert 18 <= numeric["min_value"] <= numeric["median_value"] <= numeric["max_value"] <= 80
    assert numeric["min_value"] <= numeric["avg_value"] <= numeric["max_value"]
    assert age["range_pick_info"]["numeric"]["min_val"] == numeric["min_value"]
    sex = columns["性別"]
    assert sex["initial_data_type"] == 2 and sex["unique_count"] == 2
    assert {v["name"] for v in sex["classify_value"]} == {"男", "女"}
    assert sum(v["value"] for v in sex["classify_value"]) == 300
    assert columns["登録日"]["initial_data_type"] == 4
    assert columns["登録日"]["range_pick_info"]["date"]["min_epoc_sec"] > 0
    assert "会員ID" in info["useless_column_list"]
    for column in info["training_data_columns"]:
        assert set(column) >= {
            "column_id",
            "name",
            "initial_data_type",
            "available_data_types",
            "unique_count",
            "data_count",
            "missing_count",
            "cor_score",
            "classify_value",
            "numerical_value",
        }

    # 5. train
    returned = p1.start_training(key, process_id, "購入予測-flow", BINARY_CONFIG)
    assert returned == process_id

    # the model is listed at once
    listed = p1.ok("GET", "/models", key)
    assert [m["name"] for m in listed["models"]] == ["購入予測-flow"]

    # 6. poll: queued -> running -> finished
    status, seen = p1.wait_training(key, process_id)
    assert seen[-1] == "finished"
    assert set(seen) <= {"queued", "running", "finished"}
    assert seen.index("running") < seen.index("finished")
    assert datetime.fromisoformat(status["updated_datetime"]) >= datetime.fromisoformat(status["created_datetime"])

    # 7. result.zip with metrics computed by the baseline
    archive = p1.download_zip(status["result_url"])
    assert set(archive.namelist()) == {"metrics.csv", "analysis_summary.csv", "evaluation_raw_data.csv"}
    metrics = {row["metric"]: float(row["value"]) for row in read_csv(archive.read("metrics.csv"))}
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "auc"}
    assert metrics["accuracy"] > 0.75 and metrics["auc"] > 0.8
    summary = read_csv(archive.read("analysis_summary.csv"))
    assert {row["column"] for row in summary} <= set(HEADER) - {"購入", "会員ID"}
    assert summary[0]["column"] in ("年齢", "年収")
    evaluation = read_csv(archive.read("evaluation_raw_data.csv"))
    assert len(evaluation) == 100  # the uploaded evaluation file
    assert {"row_number", "actual", "prediction", "probability_はい", "probability_いいえ"} <= set(evaluation[0])

    # 8. model id by name; the model record has every documented field
    model_id = p1.model_id_by_name(key, "購入予測-flow")
    model = p1.ok("GET", "/models", key)["models"][0]
    assert model["model_id"] == model_id
    assert set(model) == {
        "model_id",
        "owner_user_id",
        "target_type",
        "name",
        "version",
        "config",
        "is_api_option",
        "updated_date",
        "created_date",
    }
    assert model["target_type"] == "binary_classification"
    assert model["config"] == BINARY_CONFIG

    # the training file became a data set whose download_url serves it
    data_sets = p1.ok("GET", "/data-sets", key)
    assert data_sets["metadata"]["total"] == 1
    data_set = data_sets["data_sets"][0]
    assert (data_set["column_count"], data_set["data_count"], data_set["data_size"]) == (7, 300, len(learn_csv))
    assert data_set["extension"] == "csv"
    assert p1.session.get(data_set["download_url"]).content == learn_csv


def test_regression_flow_with_cross_validation(p1: ManualClient) -> None:
    learn = to_csv(REGRESSION_HEADER, regression_rows(300))
    config = {"tc": "価格", "tt": "regression", "cv": 3}
    _model_id, status = p1.train("regression", learn, column_info(REGRESSION_HEADER, REGRESSION_TYPES), config)
    archive = p1.download_zip(status["result_url"])
    metrics = {row["metric"]: float(row["value"]) for row in read_csv(archive.read("metrics.csv"))}
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert metrics["r2"] > 0.9
    assert 0 < metrics["mae"] <= metrics["rmse"]
    evaluation = read_csv(archive.read("evaluation_raw_data.csv"))
    assert len(evaluation) == 300  # 3-fold: every row predicted out of fold
    assert set(evaluation[0]) == {"row_number", "actual", "prediction"}


def test_multiclass_flow_and_holdout(p1: ManualClient) -> None:
    learn = to_csv(MULTI_HEADER, multi_rows(300))
    config = {"tc": "種類", "tt": "multi_classification", "cv": "1", "im": "true"}
    _model_id, status = p1.train("multi", learn, column_info(MULTI_HEADER, MULTI_TYPES), config)
    archive = p1.download_zip(status["result_url"])
    metrics = {row["metric"]: float(row["value"]) for row in read_csv(archive.read("metrics.csv"))}
    assert set(metrics) == {"accuracy", "macro_f1"}
    assert metrics["accuracy"] > 0.8
    evaluation = read_csv(archive.read("evaluation_raw_data.csv"))
    assert len(evaluation) == 60  # cv=1: hold-out of the last 20 %
    assert evaluation[0]["row_number"] == "241"
    assert {"probability_A", "probability_B", "probability_C"} <= set(evaluation[0])


@pytest.mark.parametrize(
    "config",
    [
        {"tc": "購入", "tt": "binary_classification", "tv": "はい"},
        {"tc": "購入", "tt": "binary_classification", "tv": "はい", "cv": 2, "im": True},
        {"tc": "購入", "tt": "binary_classification", "tv": "はい", "cv": "-1", "im": "false"},
        {"tc": "購入", "tt": "binary_classification", "tv": "はい", "cv": None},
    ],
)
def test_config_representations_are_accepted(
    emulator_factory: Any, client_for: Any, learn_csv: bytes, info_csv: bytes, config: dict[str, Any]
) -> None:
    emulator = emulator_factory(train_seconds=0.1)
    client = client_for(emulator, "emulator-secret-key")
    _model_id, status = client.train("variant", learn_csv, info_csv, config)
    assert status["status"] == "finished"


def test_time_series_config_trains_as_regression(p1: ManualClient) -> None:
    rows = [[f"2020-{1 + i // 28:02d}-{1 + i % 28:02d}", i % 7, 100 + i + (i % 7) * 3] for i in range(200)]
    header = ["日付", "曜日", "売上"]
    config = {
        "tc": "売上",
        "tt": "regression",
        "tsm": True,
        "tsc": "日付",
        "tsu": "day",
        "tsf": "1",
        "tst": "3",
        "tsin": False,
        "tsine": ["曜日"],
    }
    _model_id, status = p1.train("ts", to_csv(header, rows), column_info(header, ["date", "float", "float"]), config)
    assert status["status"] == "finished"


def _failed_training(
    client: ManualClient, learn: bytes, info: bytes, config: dict[str, Any], evaluation: bytes | None = None
) -> str:
    key = client.api_key("train")
    process_id = client.upload_training_data(key, learn, info, evaluation)
    client.start_training(key, process_id, "failing", config)
    status, _ = client.wait_training(key, process_id)
    assert status["status"] == "failed"
    assert "result_url" not in status
    return status["message"]


GOOD = to_csv(HEADER, purchase_rows(150))
GOOD_INFO = column_info(HEADER, ["float", "string", "float", "string", "date", "string", "string"])


@pytest.mark.parametrize(
    ("learn", "info", "config", "evaluation", "fragment"),
    [
        (GOOD, GOOD_INFO, {"tc": "存在しない", "tt": "regression"}, None, "is not a column"),
        (to_csv(HEADER, purchase_rows(99)), GOOD_INFO, BINARY_CONFIG, None, "99 rows"),
        (GOOD, GOOD_INFO, {"tc": "地域", "tt": "binary_classification", "tv": "東京"}, None, "exactly 2"),
        (GOOD, GOOD_INFO, {"tc": "購入", "tt": "binary_classification", "tv": "多分"}, None, "tv='多分'"),
        (GOOD, GOOD_INFO, {"tc": "性別", "tt": "regression"}, None, "numeric target"),
        (GOOD, GOOD_INFO, {"tc": "性別", "tt": "multi_classification"}, None, "at least 3"),
        (GOOD, column_info(HEADER[:-1], ["float"] * 6), BINARY_CONFIG, None, "does not match"),
        (GOOD, b"name,type\nx,float\n", BINARY_CONFIG, None, "column_name,column_type"),
        (
            GOOD,
            column_info(HEADER, ["float", "string", "money", "string", "date", "string", "string"]),
            BINARY_CONFIG,
            None,
            "unknown column type",
        ),
        (
            "年齢,購入\n".encode("cp932") + b"\x82\xa0,1\n" * 120,
            column_info(["年齢", "購入"], ["float", "string"]),
            BINARY_CONFIG,
            None,
            "UTF-8",
        ),
        (GOOD + b"1,2\n", GOOD_INFO, BINARY_CONFIG, None, "same number of columns"),
        (GOOD, GOOD_INFO, BINARY_CONFIG, to_csv(["年齢", "購入"], [[30, "はい"]]), "evaluation data lacks"),
    ],
    ids=[
        "target-missing",
        "too-few-rows",
        "binary-3-values",
        "tv-not-a-value",
        "regression-not-numeric",
        "multi-2-values",
        "column-info-mismatch",
        "column-info-header",
        "column-info-type",
        "not-utf8",
        "ragged-rows",
        "eval-missing-columns",
    ],
)
def test_data_problems_make_the_job_fail(
    emulator_factory: Any,
    client_for: Any,
    learn: bytes,
    info: bytes,
    config: dict[str, Any],
    evaluation: bytes | None,
    fragment: str,
) -> None:
    client = client_for(emulator_factory(train_seconds=0.1), "emulator-secret-key")
    message = _failed_training(client, learn, info, config, evaluation)
    assert fragment in message


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"tt": "regression"}, "config.tc"),
        ({"tc": "購入", "tt": "classification"}, "config.tt"),
        ({"tc": "購入", "tt": "binary_classification"}, "config.tv"),
        ({"tc": "購入", "tt": "regression", "tv": "はい"}, "config.tv"),
        ({"tc": "購入", "tt": "regression", "cv": "two"}, "config.cv"),
        ({"tc": "購入", "tt": "regression", "im": "yes"}, "config.im"),
        ({"tc": "購入", "tt": "regression", "foo": 1}, "Unknown config key"),
        ({"tc": "購入", "tt": "regression", "tsm": True}, "config.tsc"),
        (
            {
                "tc": "購入",
                "tt": "binary_classification",
                "tv": "はい",
                "tsm": "true",
                "tsc": "登録日",
                "tsf": 1,
                "tst": 2,
            },
            "only allowed with tt = regression",
        ),
        ("not an object", "config must be a JSON object"),
    ],
)
def test_malformed_config_is_a_bad_request(
    p1: ManualClient, learn_csv: bytes, info_csv: bytes, config: Any, fragment: str
) -> None:
    key = p1.api_key("train")
    process_id = p1.upload_training_data(key, learn_csv, info_csv)
    response = p1.call("POST", "/models", key, json={"external_process_id": process_id, "name": "x", "config": config})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "4001000204" and body["error"] == "PREDA_EXTERNAL_BAD_REQUEST"
    assert fragment in body["message"]
    assert p1.ok("GET", "/models", key)["metadata"]["total"] == 0


def test_structural_errors_of_train(p1: ManualClient, learn_csv: bytes, info_csv: bytes) -> None:
    key = p1.api_key("train")

    def post(body: Any, **kwargs: Any) -> dict[str, Any]:
        response = (
            p1.call("POST", "/models", key, json=body, **kwargs)
            if body is not None
            else p1.call("POST", "/models", key, **kwargs)
        )
        assert response.status_code == 400, response.text
        return response.json()

    config = BINARY_CONFIG
    assert (
        "Unknown external_process_id" in post({"external_process_id": "nope", "name": "x", "config": config})["message"]
    )
    urls = p1.ok("GET", "/data-sets/upload-url", key, params={"extension": "csv"})
    process_id = urls["external_process_id"]
    body = {"external_process_id": process_id, "name": "x", "config": config}
    assert "training data set has not been uploaded" in post(body)["message"]
    p1.session.put(urls["learn_data_set_upload_url"], data=learn_csv)
    assert "column-info file has not been uploaded" in post(body)["message"]
    p1.session.put(urls["column_info_upload_url"], data=info_csv)
    assert "not valid JSON" in post(None, data=b"{not json", headers={"content-type": "application/json"})["message"]
    assert "name" in post({"external_process_id": process_id, "config": config})["message"]
    assert p1.call("POST", "/models", key, json=body).status_code == 200
    assert "already been started" in post(body)["message"]


def test_column_info_and_status_errors(p1: ManualClient) -> None:
    key = p1.api_key("train")
    response = p1.call("GET", "/data-sets/column-info", key, params={"external_process_id": "unknown"})
    assert response.status_code == 400 and "Unknown external_process_id" in response.json()["message"]
    urls = p1.ok("GET", "/data-sets/upload-url", key, params={"extension": "csv"})
    params = {"external_process_id": urls["external_process_id"]}
    response = p1.call("GET", "/data-sets/column-info", key, params=params)
    assert response.status_code == 400 and "not been uploaded" in response.json()["message"]
    response = p1.call("GET", "/models/results", key, params=params)
    assert response.status_code == 400 and "No training" in response.json()["message"]
    response = p1.call("GET", "/data-sets/upload-url", key)
    assert response.status_code == 400 and "extension" in response.json()["message"]
    p1.session.put(urls["learn_data_set_upload_url"], data=b"\xff\xfe\x00broken")
    response = p1.call("GET", "/data-sets/column-info", key, params=params)
    assert response.status_code == 400 and "UTF-8" in response.json()["message"]


def test_reupload_overwrites_and_tsv_is_read(p1: ManualClient, info_csv: bytes) -> None:
    key = p1.api_key("train")
    urls = p1.ok("GET", "/data-sets/upload-url", key, params={"extension": "csv"})
    params = {"external_process_id": urls["external_process_id"]}
    p1.session.put(urls["learn_data_set_upload_url"], data=to_csv(HEADER, purchase_rows(120)))
    assert p1.ok("GET", "/data-sets/column-info", key, params=params)["trainingdata_row_count"] == 120
    p1.session.put(urls["learn_data_set_upload_url"], data=to_csv(HEADER, purchase_rows(130), delimiter="\t"))
    info = p1.ok("GET", "/data-sets/column-info", key, params=params)
    assert info["trainingdata_row_count"] == 130
    assert info["raw_column_names"] == HEADER


def test_missing_values_and_useless_columns(p1: ManualClient) -> None:
    header = ["a", "定数", "空", "b", "y"]
    rows = [[i % 10 if i % 5 else "", "同じ", "", f"v{i % 3}", i % 2] for i in range(120)]
    key = p1.api_key("train")
    process_id = p1.upload_training_data(key, to_csv(header, rows), column_info(header, ["float"] * 5))
    info = p1.ok("GET", "/data-sets/column-info", key, params={"external_process_id": process_id})
    columns = {c["name"]: c for c in info["training_data_columns"]}
    assert columns["a"]["missing_count"] == 24 and columns["a"]["data_count"] == 96
    assert columns["空"]["initial_data_type"] == 0
    assert set(info["useless_column_list"]) == {"定数", "空"}


def test_set_train_seconds_slows_training(
    p1: ManualClient, emulator: Emulator, learn_csv: bytes, info_csv: bytes
) -> None:
    emulator.set_train_seconds(1.5)
    key = p1.api_key("train")
    process_id = p1.upload_training_data(key, learn_csv, info_csv)
    started = time.monotonic()
    p1.start_training(key, process_id, "slow", BINARY_CONFIG)
    status, seen = p1.wait_training(key, process_id)
    assert status["status"] == "finished"
    assert time.monotonic() - started >= 1.4
    assert seen[:2] == ["queued", "running"]
