"""The operators with their files in object storage, against the emulator."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.operators import (
    PredictionOneRetrainModelOperator,
    PredictionOneUploadDataOperator,
)
from tests.operators.test_operators import train_op
from tests.storage.conftest import DATA, put, storage_path
from tests.task_context import fake_context
from tests.triggers.job_fixtures import write_customers_csv


def upload_op(**kwargs: Any) -> PredictionOneUploadDataOperator:
    return PredictionOneUploadDataOperator(task_id="upload", **kwargs)


def test_upload_and_train_with_files_and_result_in_memory(
    predictionone_conn: str, memory_data: str, memory_root: str
) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    epid = upload_op(
        training_file=f"{memory_data}/customers_train.csv",
        column_info=f"{memory_data}/column_info.csv",
        evaluation_file=ObjectStoragePath(f"{memory_data}/customers_eval.csv"),
        target_column="プレミアム購入",
    ).execute(fake_context())
    result_url = f"{memory_root}/results/model.zip"
    summary = train_op(epid, deferrable=False, result_path=result_url).execute(fake_context())
    assert summary["result_path"] == result_url and "metrics.csv" in summary["result_files"]
    with zipfile.ZipFile(io.BytesIO(storage_path(result_url).read_bytes())) as archive:
        assert "metrics.csv" in archive.namelist()


def test_upload_from_file_urls(predictionone_conn: str, tmp_path: Path) -> None:
    epid = upload_op(
        training_file=f"file://{DATA}/customers_train.csv", column_info=f"file://{DATA}/column_info.csv"
    ).execute(fake_context())
    assert epid


def test_a_missing_object_fails_clearly_before_any_request(
    predictionone_conn: str, memory_data: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_request(*_: object, **__: object) -> None:
        raise AssertionError("a request was sent")

    monkeypatch.setattr("requests.Session.send", no_request)
    missing = f"{memory_data}/nope.csv"
    with pytest.raises(PredictionOneConfigError, match=rf"training_file='{missing}' does not exist"):
        upload_op(training_file=missing, column_info=f"{memory_data}/column_info.csv").execute(fake_context())
    with pytest.raises(PredictionOneConfigError, match=rf"column_info='{missing}' does not exist"):
        upload_op(training_file=f"{memory_data}/customers_train.csv", column_info=missing).execute(fake_context())
    retrain = PredictionOneRetrainModelOperator(task_id="retrain", model_id=1, training_file=missing)
    with pytest.raises(PredictionOneConfigError, match=rf"training_file='{missing}' does not exist"):
        retrain.execute(fake_context())


def test_retrain_from_memory_keeps_its_result_in_memory(
    predictionone_conn: str, deployed_model: int, memory_root: str, tmp_path: Path
) -> None:
    training = put(f"{memory_root}/retrain/train.csv", write_customers_csv(tmp_path / "t.csv", seed=11))
    evaluation = put(f"{memory_root}/retrain/eval.csv", write_customers_csv(tmp_path / "e.csv", rows=80, seed=12))
    result_url = f"{memory_root}/retrain/result.zip"
    summary = PredictionOneRetrainModelOperator(
        task_id="retrain",
        model_id=deployed_model,
        training_file=str(training),
        evaluation_file=str(evaluation),
        result_path=result_url,
        check_interval=0.1,
        deferrable=False,
    ).execute(fake_context())
    assert summary["status"] == "job_finished" and summary["model_id"] != deployed_model
    assert summary["result_path"] == result_url and storage_path(result_url).stat().st_size > 0
