"""Construct every operator, sensor and trigger of the provider, as a DAG file would, and count
the network connections and connection lookups that made (each is refused).

Run by ``parse_cost.py`` (its construction table) and by
``tests/benchmarks_smoke/test_parse_time.py`` (which asserts the counts are zero). Prints one
line: ``CONSTRUCT_RESULT {"built": [class names], "models_at_parse": bool, "connect": n,
"get_connection": n, "aget_connection": n}``.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from typing import Any

MARK = "CONSTRUCT_RESULT "
calls = {"connect": 0, "get_connection": 0, "aget_connection": 0}


def refuse(kind: str) -> Any:
    def fail(*_args: object, **_kwargs: object) -> None:
        calls[kind] += 1
        raise AssertionError(f"{kind} while constructing an operator, sensor or trigger")

    return fail


def main() -> int:
    socket.socket.connect = refuse("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse("connect")  # type: ignore[method-assign]
    from airflow.providers.common.compat import connection as common_connection
    from airflow.providers.common.compat.sdk import BaseHook

    # On the hook's base class, so that the provider's hook is not imported here (models_at_parse
    # tells whether constructing the operators imports it, with the API's data classes).
    BaseHook.get_connection = classmethod(refuse("get_connection"))  # type: ignore[assignment,method-assign]
    BaseHook.aget_connection = classmethod(refuse("aget_connection"))  # type: ignore[attr-defined]
    # The hook's async lookup (get_async_conn) goes through common-compat.
    common_connection.get_async_connection = refuse("aget_connection")  # type: ignore[assignment]

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

    rules = [{"source": "203.0.113.0/24", "order": "allow", "priority": 0}]
    built: list[Any] = [
        PredictionOneDeployModelOperator(task_id="d", model_id=1, rules=rules, deferrable=True),
        PredictionOneUpdatePredictionApiOperator(task_id="up", classifier_id="c", rules=rules, active=True),
        PredictionOneDeletePredictionApiOperator(task_id="da", classifier_id="c"),
        PredictionOneDeleteModelOperator(task_id="dm", model_id=1),
        PredictionOneDeleteDataSetOperator(task_id="dd", data_set_id=1),
        PredictionOneBatchPredictOperator(task_id="b", classifier_id="c", input_file="in.csv", output_file="out.csv"),
    ]
    models_at_parse = "airflow_provider_predictionone.api.models" in sys.modules
    from airflow_provider_predictionone.triggers import PredictionOneClassifierTrigger, PredictionOneJobTrigger

    built += [
        PredictionOneUploadDataOperator(task_id="u", training_file="t.csv", column_info={"a": "float", "b": "string"}),
        PredictionOneTrainModelOperator(
            task_id="t",
            external_process_id="x",
            target_column="b",
            prediction_type="binary_classification",
            positive_value="1",
        ),
        PredictionOneTrainModelOperator(
            task_id="t2",
            external_process_id="x",
            target_column="b",
            prediction_type="binary_classification",
            positive_value="1",
            deferrable=True,
        ),
        PredictionOneRetrainModelOperator(task_id="r", model_id=1, training_file="t.csv"),
        PredictionOneSwitchModelOperator(task_id="s", model_id=1, retrain_job_id="j"),
        PredictionOneTrainingSensor(task_id="ts", external_process_id="x"),
        PredictionOneRetrainSensor(task_id="rs", retrain_job_id="j", model_id=1, deferrable=True),
        PredictionOneJobTrigger(
            kind="train", job_id="x", predictionone_conn_id="c", poll_interval=30, end_time=time.time() + 60
        ),
        PredictionOneClassifierTrigger(
            classifier_id="c", predictionone_conn_id="c", target="running", poll_interval=30, end_time=None
        ),
    ]
    for item in built:
        if hasattr(item, "serialize"):
            item.serialize()
    result = {"built": [type(b).__name__ for b in built], "models_at_parse": models_at_parse, **calls}
    print(MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
