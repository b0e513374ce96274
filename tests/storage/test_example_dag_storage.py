"""An example DAG end to end with its data and results in an object store (``memory://``).

``dag.test()`` runs the tasks in this process, so they see the same in-memory filesystem.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.dags.test_example_dags import EXAMPLES, load_dag
from tests.storage.conftest import storage_path


def test_deploy_predict_dag_runs_with_its_data_in_memory(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch, memory_data: str, memory_root: str
) -> None:
    output_url = f"{memory_root}/out/predictions.csv"
    monkeypatch.setenv("PREDICTIONONE_CHECK_INTERVAL", "0.2")
    monkeypatch.setenv("PREDICTIONONE_DATA_URL", memory_data)
    monkeypatch.setenv("PREDICTIONONE_OUTPUT_URL", output_url)
    dag = load_dag("predictionone_deploy_predict")
    result_url = f"{memory_root}/out/result.zip"
    dag_run, results, states = run_dag(dag, {"result_path": result_url})
    assert str(dag_run.state) == "success", states
    summary = results["report"]
    with (EXAMPLES / "data" / "customers_score.csv").open(encoding="utf-8") as handle:
        input_rows = sum(1 for _ in csv.reader(handle)) - 1
    table = list(csv.reader(io.StringIO(storage_path(output_url).read_text(encoding="utf-8"), newline="")))
    assert summary["output_file"] == output_url and summary["rows_predicted"] == input_rows == len(table) - 1
    assert [int(row[0]) for row in table[1:]] == list(range(1, input_rows + 1))
    assert results["train_model"]["result_path"] == result_url and storage_path(result_url).exists()
    assert "api_key" not in json.dumps(results)
