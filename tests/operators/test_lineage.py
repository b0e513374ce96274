"""OpenLineage facets of the operators (read from rendered arguments and pushed ids)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.operators import (
    PredictionOneBatchPredictOperator,
    PredictionOneRetrainModelOperator,
    PredictionOneTrainModelOperator,
    PredictionOneUploadDataOperator,
)
from airflow_provider_predictionone.operators.lineage import file_ref, service_namespace
from tests.task_context import FakeTaskInstance

pytest.importorskip("airflow.providers.openlineage.extractors")


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def ti_with(task_id: str, **xcoms: Any) -> FakeTaskInstance:
    ti = FakeTaskInstance(task_id)
    ti.xcoms.update(xcoms)
    return ti


def test_file_and_service_references(tmp_path: Path) -> None:
    assert file_ref(tmp_path / "a.csv") == ("file", str(tmp_path / "a.csv"))
    assert file_ref("relative.csv") == ("file", os.path.abspath("relative.csv"))
    assert file_ref("s3://bucket/data/a.csv") == ("s3://bucket", "data/a.csv")
    assert file_ref("file:///tmp/x.csv") == ("file", "/tmp/x.csv")
    assert file_ref(None) is None and file_ref("") is None
    assert service_namespace("https://developer-api.predictionone.sony.biz/v1/external") == (
        "predictionone://developer-api.predictionone.sony.biz"
    )


def test_upload_train_retrain_and_predict_lineage(predictionone_conn: str, emulator: Any, tmp_path: Path) -> None:
    ns = service_namespace(emulator.url)
    upload = PredictionOneUploadDataOperator(
        task_id="upload", training_file="/data/train.csv", column_info={"a": "float"}, evaluation_file="/data/e.csv"
    )
    lineage = upload.get_openlineage_facets_on_complete(ti_with("upload", external_process_id="p-1"))
    assert names(lineage.inputs) == [("file", "/data/train.csv"), ("file", "/data/e.csv")]
    assert names(lineage.outputs) == [(ns, "datasets/p-1")]

    train = PredictionOneTrainModelOperator(
        task_id="train", external_process_id="p-1", target_column="y", prediction_type="regression"
    )
    lineage = train.get_openlineage_facets_on_complete(ti_with("train", model_id=7))
    assert names(lineage.inputs) == [(ns, "datasets/p-1")] and names(lineage.outputs) == [(ns, "models/7")]

    retrain = PredictionOneRetrainModelOperator(task_id="retrain", model_id=7, training_file="/data/new.csv")
    lineage = retrain.get_openlineage_facets_on_complete(ti_with("retrain", model_id=8))
    assert names(lineage.inputs) == [("file", "/data/new.csv"), (ns, "models/7")]
    assert names(lineage.outputs) == [(ns, "models/8")]

    predict = PredictionOneBatchPredictOperator(
        task_id="predict", classifier_id="c", input_file="/data/score.csv", output_file="/out/p.csv"
    )
    lineage = predict.get_openlineage_facets_on_complete(ti_with("predict", return_value={"model_id": 8}))
    assert names(lineage.inputs) == [("file", "/data/score.csv"), (ns, "models/8")]
    assert names(lineage.outputs) == [("file", "/out/p.csv"), ("file", "/out/p.csv.rejects.csv")]
