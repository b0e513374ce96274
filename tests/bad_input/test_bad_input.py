"""Every bad input a user can give, refused with a clear error before anything is created remotely.

Each test names the case as it appears in ``docs/bad-input.md``. The operators run against the
local emulator (``execute`` with a fake task context); ``refused.check`` asserts the message and
that no request (parse time / before any request) or no creating request (first request) was sent.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from airflow.exceptions import AirflowException

from airflow_provider_predictionone.api.batch import HEADER_PROBE_ROWS
from airflow_provider_predictionone.api.errors import (
    InvalidCredentialsError,
    ModelDeletedError,
    PredictionApiNotFoundError,
    RetrainJobNotFoundError,
    UndocumentedApiError,
    UnknownIdError,
)
from airflow_provider_predictionone.compat import AIRFLOW_V3
from airflow_provider_predictionone.hooks import training as training_hook
from airflow_provider_predictionone.operators import (
    PredictionOneBatchPredictOperator,
    PredictionOneDeleteDataSetOperator,
    PredictionOneDeleteModelOperator,
    PredictionOneDeletePredictionApiOperator,
    PredictionOneDeployModelOperator,
    PredictionOneRetrainModelOperator,
    PredictionOneSwitchModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUpdatePredictionApiOperator,
    PredictionOneUploadDataOperator,
)
from airflow_provider_predictionone.sensors import PredictionOneRetrainSensor, PredictionOneTrainingSensor
from tests.bad_input.conftest import BEFORE, DATA, FIRST, PARSE, Refusals
from tests.task_context import fake_context
from tests.triggers.job_fixtures import wait_until, write_customers_csv

TRAIN_CSV = DATA / "customers_train.csv"
COLUMN_INFO = DATA / "column_info.csv"
TARGET = "プレミアム購入"
COLUMNS = {line.split(",")[0]: line.split(",")[1] for line in COLUMN_INFO.read_text("utf-8-sig").splitlines()[1:]}
TEMPLATE_NOTE = "a missing param or XCom renders as 'None'"


def conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    """Install a connection as an ``AIRFLOW_CONN_*`` environment variable; returns its id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "predictionone", **fields}))
    return conn_id


def upload(**kwargs: Any) -> PredictionOneUploadDataOperator:
    options = {"task_id": "upload", "training_file": str(TRAIN_CSV), "column_info": str(COLUMN_INFO)} | kwargs
    return PredictionOneUploadDataOperator(**options)


def train(**kwargs: Any) -> PredictionOneTrainModelOperator:
    options = {
        "task_id": "train",
        "external_process_id": "epid",
        "target_column": TARGET,
        "prediction_type": "binary_classification",
        "positive_value": "はい",
    } | kwargs
    return PredictionOneTrainModelOperator(**options)


def rendered(op: Any, **params: Any) -> Any:
    """``op`` with its templated fields rendered as Airflow does, with these ``params``."""
    op.render_template_fields({"params": params, "ti": _NoXcom()})
    return op


class _NoXcom:
    """A task instance whose XComs are all missing (``xcom_pull`` returns ``None``)."""

    def xcom_pull(self, *_: Any, **__: Any) -> None:
        return None


def csv_file(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_text(text, encoding=encoding)
    return str(path)


# --------------------------------------------------------------------------------------------
# The connection
# --------------------------------------------------------------------------------------------


def test_connection_inputs(refused: Refusals, monkeypatch: pytest.MonkeyPatch, predictionone_conn: str) -> None:
    refused.check(
        "connection: no such conn id",
        BEFORE,
        lambda: upload(predictionone_conn_id="predictionone_nope").execute(fake_context()),
        says=["predictionone_conn_id='predictionone_nope'", "no Airflow connection", "Create it"],
    )
    empty = conn(monkeypatch, "p1_empty", host=refused.emulator.url, password="")
    refused.check(
        "connection: password (secret key) empty",
        BEFORE,
        lambda: upload(predictionone_conn_id=empty).execute(fake_context()),
        says=["'p1_empty' has no secret key", "Settings screen", "password"],
    )
    remote = conn(monkeypatch, "p1_http", host="http://predictionone.example.com", password="s3cr3t")
    text = refused.check(
        "connection: http:// to a remote host",
        BEFORE,
        lambda: upload(predictionone_conn_id=remote).execute(fake_context()),
        says=["'http://predictionone.example.com'", "plain http://", "Use https://"],
    )
    assert "s3cr3t" not in text
    extra = conn(monkeypatch, "p1_extra", host=refused.emulator.url, password="s", extra={"timeout": "soon"})
    refused.check(
        "connection: extra timeout not a number",
        BEFORE,
        lambda: upload(predictionone_conn_id=extra).execute(fake_context()),
        says=["timeout='soon'", "is not a number", "number of seconds"],
    )
    # Airflow 3.3 and 2.x give such a connection back with the Extra unread (logging only "Failed to
    # deserialize extra property"); 3.0 and 3.1 refuse it as if it did not exist. Same message on all.
    broken = conn(monkeypatch, "p1_broken_extra", host=refused.emulator.url, password="s", extra="{retries: 1")
    refused.check(
        "connection: extra is not valid JSON",
        BEFORE,
        lambda: upload(predictionone_conn_id=broken).execute(fake_context()),
        says=["Connection 'p1_broken_extra'", "Extra field is not valid JSON", "Write it as a JSON object"],
    )
    listed = conn(monkeypatch, "p1_list_extra", host=refused.emulator.url, password="s", extra="[1, 2]")
    refused.check(
        "connection: extra is JSON but not an object",
        BEFORE,
        lambda: upload(predictionone_conn_id=listed).execute(fake_context()),
        says=["Connection 'p1_list_extra'", "Extra field is JSON but not an object (list)"],
    )
    monkeypatch.setenv("AIRFLOW_CONN_P1_URI_EXTRA", f"predictionone://:s@?__extra__={quote('{retries: 1')}")
    refused.check(
        "connection: URI with an __extra__ that is not valid JSON",
        BEFORE,
        lambda: upload(predictionone_conn_id="p1_uri_extra").execute(fake_context()),
        says=["Connection 'p1_uri_extra'", "Extra field is not valid JSON"],
    )
    wrong = conn(monkeypatch, "p1_wrong", host=refused.emulator.url, password="not-the-secret-key")
    text = refused.check(
        "connection: wrong secret key",
        FIRST,
        lambda: upload(predictionone_conn_id=wrong).execute(fake_context()),
        error=InvalidCredentialsError,
        says=["Get API Key", "invalid_api_key.", "Settings screen", "Secret key (password) field"],
        via="Get API Key",
    )
    assert "not-the-secret-key" not in text
    assert refused.emulator.request_count("GET", "/api-key") == 1  # refused at once: no retry storm


# --------------------------------------------------------------------------------------------
# Data files
# --------------------------------------------------------------------------------------------


def test_data_file_inputs(refused: Refusals, predictionone_conn: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    refused.check(
        "training file missing",
        BEFORE,
        lambda: upload(training_file=str(missing)).execute(fake_context()),
        says=[f"training_file='{missing}'", "does not exist", "Give the path of an existing file"],
    )
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused.check(
        "training file empty",
        BEFORE,
        lambda: upload(training_file=str(empty)).execute(fake_context()),
        says=["training_file ('empty.csv') is empty", "header row"],
    )
    refused.check(
        "training file is a directory",
        BEFORE,
        lambda: upload(training_file=str(tmp_path)).execute(fake_context()),
        says=[f"training_file='{tmp_path}' is a directory", "path of the file itself"],
    )
    refused.check(
        "training file path empty (template rendered to '')",
        BEFORE,
        lambda: upload(training_file="").execute(fake_context()),
        says=["training_file='' is empty", "path of the training CSV", TEMPLATE_NOTE],
    )
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes(TRAIN_CSV.read_text("utf-8").encode("cp932"))
    refused.check(
        "training file in Shift-JIS",
        BEFORE,
        lambda: upload(training_file=str(sjis)).execute(fake_context()),
        says=["training_file ('sjis.csv') is not UTF-8", "iconv -f SHIFT_JIS -t UTF-8"],
    )
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(b"id,name,y\n1,a,0\n" + "2,山田,1\n".encode("cp932"))
    refused.check(
        "training file: ASCII header, Shift-JIS rows",
        BEFORE,
        lambda: upload(training_file=str(mixed), column_info={"id": "string", "name": "string", "y": "float"}).execute(
            fake_context()
        ),
        says=["training_file ('mixed.csv') is not UTF-8 after data row 1 (line 3)", "iconv"],
    )
    one_column = csv_file(tmp_path / "one.csv", "y\n1\n2\n")
    refused.check(
        "training file with one column",
        BEFORE,
        lambda: upload(training_file=one_column, column_info={"y": "float"}).execute(fake_context()),
        says=["training_file ('one.csv') has 1 column(s)", "at least 2 columns"],
    )
    dupes = csv_file(tmp_path / "dupes.csv", "a,a,y\n1,2,3\n")
    refused.check(
        "training file with duplicate column names",
        BEFORE,
        lambda: upload(training_file=dupes, column_info={"a": "float", "y": "float"}).execute(fake_context()),
        says=["training_file ('dupes.csv') has duplicate column names: ['a']"],
    )
    other = csv_file(tmp_path / "eval.csv", "a,b\n1,2\n")
    refused.check(
        "evaluation file with other columns",
        BEFORE,
        lambda: upload(evaluation_file=other).execute(fake_context()),
        says=["evaluation_file must have the same columns as training_file", "evaluation has ['a', 'b']"],
    )
    refused.check(
        "evaluation file missing",
        BEFORE,
        lambda: upload(evaluation_file=str(missing)).execute(fake_context()),
        says=[f"evaluation_file='{missing}'", "does not exist", "Give the path of an existing file"],
    )
    refused.check(
        "target_column not in the training file (upload operator)",
        BEFORE,
        lambda: upload(target_column="プレミアム購買").execute(fake_context()),
        says=["target_column='プレミアム購買'", "did you mean 'プレミアム購入'", "not a column of training_file"],
    )


def customers_rows(count: int, *, target: str | None = None) -> str:
    """The header and the first ``count`` rows of the example training file; ``target`` replaces
    every target value."""
    lines = TRAIN_CSV.read_text("utf-8").splitlines()
    rows = lines[1 : count + 1]
    if target is not None:
        rows = [row.rsplit(",", 1)[0] + f",{target}" for row in rows]
    return "\n".join([lines[0], *rows]) + "\n"


def test_empty_and_mismatched_data_files(refused: Refusals, predictionone_conn: str, tmp_path: Path) -> None:
    """Well-formed files that Prediction One would take and then refuse (an upload slot and two or
    three PUTs for nothing): refused before any request. The first 1000 rows are read, never more."""
    header_only = csv_file(tmp_path / "header_only.csv", customers_rows(0))
    refused.check(
        "training file: header only (no data rows)",
        BEFORE,
        lambda: upload(training_file=header_only).execute(fake_context()),
        says=["training_file ('header_only.csv') has a header but no data rows", "100 to 1,000,000 rows"],
    )
    few = csv_file(tmp_path / "few.csv", customers_rows(5))
    refused.check(
        "training file: 5 data rows (any training needs 20 or more)",
        BEFORE,
        lambda: upload(training_file=few).execute(fake_context()),
        says=["training_file ('few.csv') has only 5 data row(s)", "(20 to 10,000 in time-series mode)"],
    )
    lines = customers_rows(10).splitlines()
    lines[3] += ",extra"
    ragged = csv_file(tmp_path / "ragged.csv", "\n".join(lines) + "\n")
    refused.check(
        "training file: a row with one field too many",
        BEFORE,
        lambda: upload(training_file=ragged).execute(fake_context()),
        says=["training_file ('ragged.csv') data row 3 (line 4) has 12 field(s) but the header has 11", "quote"],
    )
    constant = csv_file(tmp_path / "constant.csv", customers_rows(150, target="はい"))
    refused.check(
        "target_column with a single value (upload operator)",
        BEFORE,
        lambda: upload(training_file=constant, target_column=TARGET).execute(fake_context()),
        says=[f"target_column='{TARGET}' has the same value 'はい' in all 150 data rows", "nothing to predict"],
    )
    blank = csv_file(tmp_path / "blank_target.csv", customers_rows(150, target=""))
    refused.check(
        "target_column empty in every row (upload operator)",
        BEFORE,
        lambda: upload(training_file=blank, target_column=TARGET).execute(fake_context()),
        says=[f"target_column='{TARGET}' is empty in all 150 data rows", "Fill in the target values"],
    )
    eval_header_only = csv_file(tmp_path / "eval_header_only.csv", customers_rows(0))
    refused.check(
        "evaluation file: header only (no data rows)",
        BEFORE,
        lambda: upload(evaluation_file=eval_header_only).execute(fake_context()),
        says=["evaluation_file ('eval_header_only.csv') has a header but no data rows", "leave evaluation_file out"],
    )
    twice = tmp_path / "column_info_twice.csv"
    twice.write_text(COLUMN_INFO.read_text("utf-8-sig") + "年齢,string\n", "utf-8-sig")
    refused.check(
        "column info file naming a column twice",
        BEFORE,
        lambda: upload(column_info=str(twice)).execute(fake_context()),
        says=["column_info ('column_info_twice.csv') lists the column '年齢' twice", "one type per column"],
    )


def test_unreadable_training_file(
    refused: Refusals, predictionone_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked.csv"
    shutil.copy(TRAIN_CSV, locked)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            # Running as root (as in the CI container): chmod 000 does not stop reads. Simulate the
            # refusal the kernel gives any other user, for this one path (a real chmod elsewhere).
            real_access = os.access

            def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
                if Path(path) == locked and mode & os.R_OK:
                    return False
                return real_access(path, mode, *args, **kwargs)

            monkeypatch.setattr(os, "access", access)
        refused.check(
            "training file unreadable (chmod 000)",
            BEFORE,
            lambda: upload(training_file=str(locked)).execute(fake_context()),
            says=[f"training_file='{locked}' is not readable", "Make it readable"],
        )
    finally:
        locked.chmod(0o644)


# --------------------------------------------------------------------------------------------
# Column info
# --------------------------------------------------------------------------------------------


def test_column_info_inputs(refused: Refusals, predictionone_conn: str, tmp_path: Path) -> None:
    without_target = {k: v for k, v in COLUMNS.items() if k != TARGET}
    refused.check(
        "column info: a column missing",
        BEFORE,
        lambda: upload(column_info=without_target).execute(fake_context()),
        says=["column_info does not match the data", f"no type for column(s) ['{TARGET}']", "one type per column"],
    )
    refused.check(
        "column info: an extra column",
        BEFORE,
        lambda: upload(column_info=COLUMNS | {"会員ランク": "string"}).execute(fake_context()),
        says=["column(s) ['会員ランク'] that training_file does not have", "one type per column"],
    )
    refused.check(
        "column info: unknown type name",
        BEFORE,
        lambda: upload(column_info=COLUMNS | {"年齢": "int"}).execute(fake_context()),
        says=["column_info['年齢']='int'", "is not a column type", "'float'", "'string'"],
    )
    wrong_header = tmp_path / "column_info_bad.csv"
    wrong_header.write_text(COLUMN_INFO.read_text("utf-8-sig").replace("column_name,column_type", "name,type"), "utf-8")
    refused.check(
        "column info file with a wrong header",
        BEFORE,
        lambda: upload(column_info=str(wrong_header)).execute(fake_context()),
        says=["must start with the header 'column_name,column_type'", "['name', 'type']"],
    )
    sjis_info = tmp_path / "column_info_sjis.csv"
    sjis_info.write_bytes(COLUMN_INFO.read_text("utf-8-sig").encode("cp932"))
    refused.check(
        "column info file in Shift-JIS",
        BEFORE,
        lambda: upload(column_info=str(sjis_info)).execute(fake_context()),
        says=["column_info ('column_info_sjis.csv') is not UTF-8", "UTF-8 (with BOM)"],
    )
    missing_info = tmp_path / "no_column_info.csv"
    refused.check(
        "column info file missing",
        BEFORE,
        lambda: upload(column_info=str(missing_info)).execute(fake_context()),
        says=[f"column_info='{missing_info}'", "does not exist", "Give the path of an existing file"],
    )
    empty_info = tmp_path / "column_info_empty.csv"
    empty_info.write_bytes(b"")
    refused.check(
        "column info file empty",
        BEFORE,
        lambda: upload(column_info=str(empty_info)).execute(fake_context()),
        says=["column_info ('column_info_empty.csv') is empty", "column_name,column_type", "mapping {column: type}"],
    )
    # Accepted: a column-info file without the BOM (it is read as UTF-8 all the same).
    no_bom = tmp_path / "column_info_nobom.csv"
    no_bom.write_text(COLUMN_INFO.read_text("utf-8-sig"), "utf-8")
    assert upload(column_info=str(no_bom), check_data=False).execute(fake_context())


# --------------------------------------------------------------------------------------------
# Training configuration
# --------------------------------------------------------------------------------------------

CONFIG_CASES = [
    (
        "config: binary without positive_value",
        {"positive_value": None},
        ["positive_value (tv) is not set", "binary classification needs it", "exactly as written in the file"],
    ),
    (
        "config: positive_value with regression",
        {"prediction_type": "regression"},
        ["positive_value (tv) = 'はい'", "only used for binary classification", "Remove positive_value"],
    ),
    (
        "config: time series without horizon",
        {"prediction_type": "regression", "positive_value": None, "config": {"time_series": True, "time_column": "d"}},
        ["horizon_start (tsf) is not set", "horizon_end (tst) is not set", "time-series mode"],
    ),
    (
        "config: horizon_end < horizon_start",
        {
            "prediction_type": "regression",
            "positive_value": None,
            "config": {"time_series": True, "time_column": "d", "horizon_start": 4, "horizon_end": 2},
        },
        ["horizon_end (tst) = 2 is before horizon_start (tsf) = 4", "horizon_start=2, horizon_end=4"],
    ),
    (
        "config: imbalance correction with regression",
        {"prediction_type": "regression", "positive_value": None, "config": {"imbalance_correction": True}},
        ["imbalance_correction (im) = True only applies to classification", "Remove imbalance_correction"],
    ),
    (
        "config: time series with classification",
        {"config": {"time_series": True, "time_column": "d", "horizon_start": 1, "horizon_end": 1}},
        ["time_series (tsm) = True", "only available with prediction_type (tt) = 'regression'"],
    ),
    (
        "config: time-series option without time_series",
        {"prediction_type": "regression", "positive_value": None, "config": {"horizon_start": 1}},
        ["horizon_start (tsf) = 1 only apply in time-series mode", "Set time_series=True"],
    ),
    (
        "config: cross_validation_folds = -2",
        {"config": {"cross_validation_folds": -2}},
        ["cross_validation_folds (cv) = -2 is not a valid setting", "Use 0 (decide automatically"],
    ),
    (
        "config: unknown prediction_type",
        {"prediction_type": "binary_clasification"},
        ["prediction_type (tt) = 'binary_clasification' is not a prediction type", "'binary_classification'"],
    ),
    (
        "config: misspelt option name",
        {"config": {"imbalance_corection": True}},
        ["Unknown training option(s): 'imbalance_corection' (did you mean 'imbalance_correction'?)"],
    ),
]


@pytest.mark.parametrize(("case", "options", "says"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_invalid_config_fails_when_the_dag_is_parsed(
    refused: Refusals, case: str, options: dict[str, Any], says: list[str]
) -> None:
    refused.check(case, PARSE, lambda: train(**options), says=says)


def test_templated_config_is_refused_after_rendering(refused: Refusals, predictionone_conn: str) -> None:
    op = rendered(train(prediction_type="{{ params.kind }}"), kind="regression")
    refused.check(
        "config: templated prediction_type renders to 'regression' with positive_value",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["positive_value (tv) = 'はい' is only used for binary classification", "Remove positive_value"],
    )
    op = rendered(train(target_column="{{ params.target }}", positive_value="{{ params.positive }}"), target=TARGET)
    refused.check(
        "config: templated positive_value renders to ''",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["positive_value (tv) is not set", "binary classification needs it"],
    )


# --------------------------------------------------------------------------------------------
# Ids: missing, not numeric, templated to nonsense, unknown
# --------------------------------------------------------------------------------------------


def test_retrain_model_id_inputs(refused: Refusals, predictionone_conn: str) -> None:
    refused.check(
        "retrain without model_id",
        PARSE,
        lambda: PredictionOneRetrainModelOperator(task_id="r", training_file=str(TRAIN_CSV)),  # type: ignore[call-arg]
        error=TypeError if AIRFLOW_V3 else AirflowException,  # how Airflow 2's operator metaclass reports it
        says=["model_id"],
    )
    refused.check(
        "retrain: model_id=None",
        PARSE,
        lambda: PredictionOneRetrainModelOperator(task_id="r", model_id=None, training_file="x.csv"),  # type: ignore[arg-type]
        says=["model_id=None is empty; it is required", "numeric model_id"],
    )
    refused.check(
        "retrain: model_id='abc'",
        PARSE,
        lambda: PredictionOneRetrainModelOperator(task_id="r", model_id="abc", training_file="x.csv"),
        says=["model_id='abc' is not a whole number", "Pass the numeric model_id"],
    )
    refused.check(
        "retrain: model_id=0",
        PARSE,
        lambda: PredictionOneRetrainModelOperator(task_id="r", model_id=0, training_file="x.csv"),
        says=["model_id=0 is not a valid id", "positive whole numbers"],
    )
    for value in (None, "abc"):
        op = rendered(
            PredictionOneRetrainModelOperator(
                task_id="r", model_id="{{ params.model_id }}", training_file=str(TRAIN_CSV)
            ),
            model_id=value,
        )
        refused.check(
            f"retrain: model_id template renders to {str(value)!r}",
            BEFORE,
            lambda op=op: op.execute(fake_context()),
            says=[f"model_id='{value}'", "numeric model_id", TEMPLATE_NOTE],
        )
    refused.check(
        "retrain: evaluation file with other columns",
        BEFORE,
        lambda: PredictionOneRetrainModelOperator(
            task_id="r",
            model_id=999,
            training_file=str(DATA / "customers_retrain.csv"),
            evaluation_file=str(DATA / "customers_score.csv"),  # no target column
        ).execute(fake_context()),
        says=["evaluation_file must have the same columns as training_file", "evaluation has ['顧客ID'"],
    )
    text = refused.check(
        "retrain: unknown model_id",
        FIRST,
        lambda: PredictionOneRetrainModelOperator(task_id="r", model_id=999, training_file=str(TRAIN_CSV)).execute(
            fake_context()
        ),
        error=ModelDeletedError,
        says=["model_id=999", "This model may be deleted.", "Check the model_id"],
        via="Get API Key for the retrain key",
    )
    assert "retrain key of model_id=999" in text


def test_retrain_files_are_checked_before_any_request(
    refused: Refusals, predictionone_conn: str, tmp_path: Path
) -> None:
    def retrain(training_file: Path) -> Any:
        op = PredictionOneRetrainModelOperator(task_id="r", model_id=999, training_file=str(training_file))
        return op.execute(fake_context())

    missing = tmp_path / "new_data.csv"
    refused.check(
        "retrain: training file missing",
        BEFORE,
        lambda: retrain(missing),
        says=[f"training_file='{missing}'", "does not exist", "Give the path of an existing file"],
    )
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused.check(
        "retrain: training file empty",
        BEFORE,
        lambda: retrain(empty),
        says=["training_file ('empty.csv') is empty", "header row"],
    )
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes((DATA / "customers_retrain.csv").read_text("utf-8").encode("cp932"))
    refused.check(
        "retrain: training file in Shift-JIS",
        BEFORE,
        lambda: retrain(sjis),
        says=["training_file ('sjis.csv') is not UTF-8", "iconv -f SHIFT_JIS -t UTF-8"],
    )
    # Retraining trains too: the same row checks as a first upload (the model's mode is unknown
    # before any request, so 20 rows is the floor; 20-99 rows only warn).
    header_only = Path(csv_file(tmp_path / "retrain_header_only.csv", customers_rows(0)))
    refused.check(
        "retrain: training file header only (no data rows)",
        BEFORE,
        lambda: retrain(header_only),
        says=["training_file ('retrain_header_only.csv') has a header but no data rows", "100 to 1,000,000 rows"],
    )
    eval_header_only = csv_file(tmp_path / "retrain_eval_header_only.csv", customers_rows(0))
    refused.check(
        "retrain: evaluation file header only (no data rows)",
        BEFORE,
        lambda: PredictionOneRetrainModelOperator(
            task_id="r", model_id=999, training_file=str(TRAIN_CSV), evaluation_file=eval_header_only
        ).execute(fake_context()),
        says=["evaluation_file ('retrain_eval_header_only.csv') has a header but no data rows"],
    )


def test_templated_target_column_is_refused_before_training(
    refused: Refusals, predictionone_conn: str, p1_hook: Any
) -> None:
    op = rendered(train(target_column="{{ params.target }}"), target="")
    refused.check(
        "train: target_column template renders to ''",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["target_column (tc) is not set", "Set it to the header of the column to predict"],
    )
    epid = p1_hook.upload_training_data(TRAIN_CSV, str(COLUMN_INFO), check_data=False)
    refused.emulator.reset_request_counts()  # the upload above is the test's set-up
    op = rendered(train(external_process_id=epid, target_column="{{ params.target }}"), target="プレミアム購買")
    refused.check(
        "train: target_column template renders to a column not in the data",
        FIRST,
        lambda: op.execute(fake_context()),
        says=["target_column (tc) = 'プレミアム購買'", "did you mean 'プレミアム購入'", "Use the header text exactly"],
        via="Train Data Set Info; Train is not sent",
    )
    op = rendered(train(external_process_id=epid, target_column="{{ params.target }}"), target=None)
    refused.check(
        "train: target_column template renders to 'None'",
        FIRST,
        lambda: op.execute(fake_context()),
        says=["target_column (tc) = 'None'", "not found in the training data header", "Use the header text exactly"],
        via="Train Data Set Info; Train is not sent",
    )
    assert refused.emulator.request_count("POST", "/models") == 0


def test_too_few_rows_for_the_training_mode_are_refused_before_train(
    refused: Refusals, predictionone_conn: str, p1_hook: Any, tmp_path: Path
) -> None:
    # 20-99 rows are enough only in time-series mode, which the upload does not know: it uploads
    # them with a warning, and training refuses them after Train Data Set Info, before Train.
    fifty = Path(csv_file(tmp_path / "fifty.csv", customers_rows(50)))
    epid = p1_hook.upload_training_data(fifty, str(COLUMN_INFO), check_data=False)
    refused.emulator.reset_request_counts()  # the upload above is the test's set-up
    refused.check(
        "train: 50 data rows without time_series (100 needed)",
        FIRST,
        lambda: train(external_process_id=epid).execute(fake_context()),
        says=["The training data has 50 rows", "at least 100 rows"],
        via="Train Data Set Info; Train is not sent",
    )
    assert refused.emulator.request_count("POST", "/models") == 0


def test_train_id_inputs(refused: Refusals, predictionone_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    missing_xcom = rendered(train(external_process_id="{{ ti.xcom_pull(task_ids='upload') }}"))
    empty_param = rendered(train(external_process_id="{{ params.epid }}"), epid="")
    for op in (missing_xcom, empty_param):
        refused.check(
            f"train: external_process_id renders to {op.external_process_id!r}",
            BEFORE,
            lambda op=op: op.execute(fake_context()),
            says=[f"external_process_id={op.external_process_id!r} is empty", "upload.output", TEMPLATE_NOTE],
        )
    # The service may still be processing the uploads (spec 7.5): Train Data Set Info is asked
    # again on the hook's settling policy; without its waits here (same number of attempts).
    monkeypatch.setattr(training_hook, "SETTLING", dataclasses.replace(training_hook.SETTLING, backoff_seconds=0.0))
    refused.check(
        "train: unknown external_process_id",
        FIRST,
        lambda: train(external_process_id="0b7c1d0e-unknown").execute(fake_context()),
        error=UndocumentedApiError,
        says=["Train Data Set Info", "Unknown external_process_id '0b7c1d0e-unknown'"],
        via="Train Data Set Info; asked 5 times over ~22 s, spec 7.5",
    )
    assert refused.emulator.request_count("GET", "/data-sets/column-info") == 1 + training_hook.SETTLING.max_retries


def test_sensor_id_inputs(refused: Refusals, predictionone_conn: str) -> None:
    sensor = rendered(
        PredictionOneTrainingSensor(task_id="s", external_process_id="{{ ti.xcom_pull(task_ids='train') }}")
    )
    refused.check(
        "training sensor: external_process_id renders to 'None'",
        BEFORE,
        lambda: sensor.poke(fake_context()),
        error=ValueError,
        says=["external_process_id='None'", "is empty", TEMPLATE_NOTE],
    )
    retrain_sensor = PredictionOneRetrainSensor(task_id="s", retrain_job_id="j", model_id="abc")
    refused.check(
        "retrain sensor: model_id='abc'",
        BEFORE,
        lambda: retrain_sensor.poke(fake_context()),
        error=ValueError,
        says=["model_id='abc' is not a whole number", "Pass the numeric model_id"],
    )


def test_deploy_inputs(refused: Refusals, predictionone_conn: str) -> None:
    bad_cidr = [{"source": "10.0.0.300/24", "order": "allow", "priority": 0}]
    refused.check(
        "deploy: rule with a bad CIDR",
        PARSE,
        lambda: PredictionOneDeployModelOperator(task_id="d", model_id=1, rules=bad_cidr),
        says=["rules[0] has source='10.0.0.300/24'", "not an IP range in CIDR notation", "'203.0.113.0/24'"],
    )
    refused.check(
        "deploy: rule with order 'permit'",
        PARSE,
        lambda: PredictionOneDeployModelOperator(
            task_id="d", model_id=1, rules=[{"source": "10.0.0.0/8", "order": "permit", "priority": 0}]
        ),
        says=["rules[0] has order='permit'", "'allow' or 'deny'"],
    )
    op = rendered(PredictionOneDeployModelOperator(task_id="d", model_id=1, rules="{{ params.rules }}"), rules=bad_cidr)
    refused.check(
        "deploy: templated rules render to a bad CIDR",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["rules[0] has source='10.0.0.300/24'", "CIDR notation"],
    )
    op = rendered(PredictionOneDeployModelOperator(task_id="d", model_id="{{ params.model_id }}"), model_id=None)
    refused.check(
        "deploy: model_id template renders to 'None'",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["model_id='None' is empty", TEMPLATE_NOTE],
    )
    refused.check(
        "deploy: if_exists='replace'",
        PARSE,
        lambda: PredictionOneDeployModelOperator(task_id="d", model_id=1, if_exists="replace"),
        says=["if_exists='replace'", "'reuse'", "'create'"],
    )


def test_unknown_ids_of_deployed_things(
    refused: Refusals, predictionone_conn: str, deployed_model: int, tmp_path: Path
) -> None:
    refused.emulator.reset_request_counts()  # the fixture created a model and a prediction API
    refused.check(
        "switch: unknown retrain_job_id",
        FIRST,
        lambda: PredictionOneSwitchModelOperator(
            task_id="s", model_id=deployed_model, retrain_job_id="no-such-job"
        ).execute(fake_context()),
        error=RetrainJobNotFoundError,
        says=["/retrain_jobs/no-such-job", "Not found retrain job.", "Check the retrain_job_id"],
        via="Retrain Status Check",
    )
    op = rendered(
        PredictionOneSwitchModelOperator(
            task_id="s",
            model_id=deployed_model,
            retrain_job_id="{{ ti.xcom_pull(task_ids='retrain_model', key='retrain_job_id') }}",
        )
    )
    refused.check(
        "switch: retrain_job_id renders to 'None'",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["retrain_job_id='None' is empty", "key 'retrain_job_id'", TEMPLATE_NOTE],
    )
    out = tmp_path / "out.csv"
    refused.check(
        "batch predict: unknown classifier_id",
        FIRST,
        lambda: PredictionOneBatchPredictOperator(
            task_id="p", classifier_id="no-such-api", input_file=str(DATA / "customers_score.csv"), output_file=str(out)
        ).execute(fake_context()),
        says=["classifier_id='no-such-api': no such prediction API", "Check the classifier_id"],
        via="Get Classifier",
    )
    refused.check(
        "update prediction API: unknown classifier_id",
        FIRST,
        lambda: PredictionOneUpdatePredictionApiOperator(
            task_id="u", classifier_id="no-such-api", active=False
        ).execute(fake_context()),
        error=PredictionApiNotFoundError,
        says=["no prediction API 'no-such-api'", "Check the classifier_id"],
        via="Get Classifier",
    )
    refused.check(
        "delete prediction API: unknown classifier_id",
        FIRST,
        lambda: PredictionOneDeletePredictionApiOperator(task_id="x", classifier_id="no-such-api").execute(
            fake_context()
        ),
        error=PredictionApiNotFoundError,
        says=["no prediction API 'no-such-api'", "Check the classifier_id"],
        via="Get Classifier",
    )
    assert not out.exists()


def test_unknown_ids_of_jobs_models_and_data_sets(refused: Refusals, predictionone_conn: str) -> None:
    refused.check(
        "training sensor: unknown external_process_id",
        FIRST,
        lambda: PredictionOneTrainingSensor(task_id="s", external_process_id="no-such-job").poke(fake_context()),
        error=UndocumentedApiError,
        says=["Train Status Check", "Unknown external_process_id 'no-such-job'"],
        via="Train Status Check",
    )
    refused.check(
        "delete model: unknown model_id",
        FIRST,
        lambda: PredictionOneDeleteModelOperator(task_id="x", model_id=999).execute(fake_context()),
        error=UnknownIdError,
        says=["model_id=999", "Get Model does not list it", "Nothing was deleted", "Check the model_id"],
        via="Get Model; no DELETE is sent",
    )
    refused.check(
        "delete data set: unknown data_set_id",
        FIRST,
        lambda: PredictionOneDeleteDataSetOperator(task_id="x", data_set_id=999).execute(fake_context()),
        error=UnknownIdError,
        says=["data_set_id=999", "Get Data Set does not list it", "Nothing was deleted", "Check the data_set_id"],
        via="Get Data Set; no DELETE is sent",
    )


def test_retrain_sensor_of_an_unknown_job(refused: Refusals, predictionone_conn: str, deployed_model: int) -> None:
    refused.emulator.reset_request_counts()  # the fixture created a model and a prediction API
    refused.check(
        "retrain sensor: unknown retrain_job_id",
        FIRST,
        lambda: PredictionOneRetrainSensor(task_id="s", retrain_job_id="no-such-job", model_id=deployed_model).poke(
            fake_context()
        ),
        error=RetrainJobNotFoundError,
        says=["/retrain_jobs/no-such-job", "Not found retrain job.", "Check the retrain_job_id"],
        via="Retrain Status Check",
    )


def test_deploy_of_an_unknown_model_is_refused_by_create_classifier(refused: Refusals, predictionone_conn: str) -> None:
    # Checking that the model exists first would cost a train key and a walk through every model;
    # Create Classifier refuses an unknown model itself and creates nothing.
    refused.check(
        "deploy: unknown model_id",
        FIRST,
        lambda: PredictionOneDeployModelOperator(task_id="d", model_id=999).execute(fake_context()),
        error=ModelDeletedError,
        says=[
            "Create Classifier (POST /classifiers, model_id=999)",
            "This model may be deleted.",
            "Check the model_id",
        ],
        refused_call="POST /classifiers",
        via="Create Classifier refuses it; nothing is created",
    )
    assert refused.emulator.app.classifiers == {}


# --------------------------------------------------------------------------------------------
# Batch prediction options
# --------------------------------------------------------------------------------------------


def batch(**kwargs: Any) -> PredictionOneBatchPredictOperator:
    options = {
        "task_id": "p",
        "classifier_id": "c1",
        "input_file": str(DATA / "customers_score.csv"),
        "output_file": "/tmp/predictionone-bad-input-out.csv",
    } | kwargs
    return PredictionOneBatchPredictOperator(**options)


BATCH_OPTION_CASES = [
    ("batch predict: concurrency=0", {"concurrency": 0}, ["concurrency=0", "from 1 to 256"]),
    ("batch predict: concurrency=300", {"concurrency": 300}, ["concurrency=300", "from 1 to 256"]),
    ("batch predict: concurrency='8'", {"concurrency": "8"}, ["concurrency='8'", "whole number from 1 to 256"]),
    ("batch predict: concurrency=2.5", {"concurrency": 2.5}, ["concurrency=2.5", "whole number"]),
    (
        "batch predict: requests_per_second=0",
        {"requests_per_second": 0},
        ["requests_per_second=0", "positive number", "None for no limit"],
    ),
    (
        "batch predict: max_rejected_fraction=5",
        {"max_rejected_fraction": 5},
        ["max_rejected_fraction=5", "from 0.0 to 1.0", "0.05 = 5%"],
    ),
    ("batch predict: progress_interval=-1", {"progress_interval": -1}, ["progress_interval=-1", "positive number"]),
    (
        "batch predict: max_consecutive_errors=0",
        {"max_consecutive_errors": 0},
        ["max_consecutive_errors=0", "whole number of rows, 1 or more", "default 10"],
    ),
]


@pytest.mark.parametrize(("case", "options", "says"), BATCH_OPTION_CASES, ids=[c[0] for c in BATCH_OPTION_CASES])
def test_batch_options_fail_when_the_dag_is_parsed(
    refused: Refusals, case: str, options: dict[str, Any], says: list[str]
) -> None:
    refused.check(case, PARSE, lambda: batch(**options), says=says)


def test_batch_files_are_checked_before_any_request(refused: Refusals, predictionone_conn: str, tmp_path: Path) -> None:
    missing = tmp_path / "score.csv"
    refused.check(
        "batch predict: input_file missing",
        BEFORE,
        lambda: batch(input_file=str(missing), output_file=str(tmp_path / "o.csv")).execute(fake_context()),
        says=[f"input_file='{missing}' does not exist"],
    )
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused.check(
        "batch predict: input_file empty",
        BEFORE,
        lambda: batch(input_file=str(empty), output_file=str(tmp_path / "o.csv")).execute(fake_context()),
        says=["input_file ('empty.csv') is empty", "header row"],
    )
    sjis = tmp_path / "score_sjis.csv"
    sjis.write_bytes((DATA / "customers_score.csv").read_text("utf-8").encode("cp932"))
    refused.check(
        "batch predict: input_file in Shift-JIS",
        BEFORE,
        lambda: batch(input_file=str(sjis), output_file=str(tmp_path / "o.csv")).execute(fake_context()),
        says=["input_file ('score_sjis.csv') is not UTF-8", "iconv -f SHIFT_JIS -t UTF-8"],
    )
    refused.check(
        "batch predict: pivot_column not in the input",
        BEFORE,
        lambda: batch(pivot_column="顧客番号", output_file=str(tmp_path / "o.csv")).execute(fake_context()),
        says=["pivot_column='顧客番号' is not a column of input_file"],
    )
    same = str(DATA / "customers_score.csv")
    refused.check(
        "batch predict: output_file is the input file",
        BEFORE,
        lambda: batch(output_file=same).execute(fake_context()),
        says=[f"output_file='{same}' is the input file", "another path"],
    )
    op = rendered(batch(classifier_id="{{ ti.xcom_pull(task_ids='deploy_model', key='classifier_id') }}"))
    refused.check(
        "batch predict: classifier_id renders to 'None'",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["classifier_id='None' is empty", "key 'classifier_id'", TEMPLATE_NOTE],
    )


def test_batch_input_without_a_model_column_stops_after_the_first_rows(
    refused: Refusals, predictionone_conn: str, deployed_model: int, p1_client: Any, tmp_path: Path
) -> None:
    """No documented call lists a model's columns, so the service's first answers tell: the batch
    stops after HEADER_PROBE_ROWS rows refused 'Invalid request' instead of sending every row."""
    classifier = wait_until(
        lambda: next((c for c in p1_client.list_classifiers() if c.model_id == deployed_model and c.is_ready), None)
    )
    scoring = tmp_path / "score_no_gender.csv"
    rows = list(csv.reader(write_customers_csv(tmp_path / "s.csv", 60, with_target=False).open(encoding="utf-8")))
    scoring.write_text("".join(",".join([*row[:1], *row[2:]]) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out.csv"
    refused.emulator.reset_request_counts()  # the fixture trained and deployed a model
    refused.check(
        "batch predict: input_file lacks a column of the model",
        FIRST,
        lambda: batch(classifier_id=classifier.classifier_id, input_file=str(scoring), output_file=str(out)).execute(
            fake_context()
        ),
        says=[
            "refused the first 3 rows of input_file ('score_no_gender.csv'; rows 1, 2, 3) with 'Invalid request'",
            "the header is the likely cause",
            "Its columns are ['年齢', '年収', '地域']",
        ],
        refused_call="POST inference",
        via="Inference: 3 rows refused 'Invalid request', no more are sent",
    )
    assert refused.emulator.request_count("POST", "inference") == HEADER_PROBE_ROWS == 3
    assert not out.exists()


def test_promotion_gate_inputs(refused: Refusals, predictionone_conn: str) -> None:
    def switch(**gate: Any) -> PredictionOneSwitchModelOperator:
        options = {"metric": "auc", "evaluation_file": str(DATA / "customers_eval.csv")} | gate
        return PredictionOneSwitchModelOperator(task_id="s", model_id=1, retrain_job_id="j", **options)

    refused.check(
        "switch: metric='gini'",
        PARSE,
        lambda: switch(metric="gini"),
        says=["metric='gini' is not a metric the promotion gate knows", "auc", "rmse", "metric=None"],
    )
    refused.check(
        "switch: min_improvement=-0.01",
        PARSE,
        lambda: switch(min_improvement=-0.01),
        says=["min_improvement=-0.01 is not a number >= 0", "0 = at least as good"],
    )
    refused.check(
        "switch: min_improvement='a lot'",
        PARSE,
        lambda: switch(min_improvement="a lot"),
        says=["min_improvement='a lot' is not a number >= 0"],
    )
    refused.check(
        "switch: on_worse='rollback'",
        PARSE,
        lambda: switch(on_worse="rollback"),
        says=["on_worse='rollback' is not a policy", "'keep'", "'fail'"],
    )
    refused.check(
        "switch: max_rows=0",
        PARSE,
        lambda: switch(max_rows=0),
        says=["max_rows=0 is not a whole number >= 1", "one Inference request each"],
    )
    refused.check(
        "switch: metric without evaluation_file",
        PARSE,
        lambda: switch(evaluation_file=None),
        says=["evaluation_file=None is empty, and metric='auc' needs it", "metric=None"],
    )
    op = rendered(switch(metric="{{ params.metric }}"), metric="AUROC")
    refused.check(
        "switch: metric renders to 'AUROC'",
        BEFORE,
        lambda: op.execute(fake_context()),
        says=["metric='AUROC' is not a metric the promotion gate knows"],
    )
