"""Inference (spec 4.14): one row predicted by a running prediction API, on its own URL.

The request carries the prediction API's own key (not a management API key) and comes from an
address its IP rules allow; the answer holds the prediction CSV and, on request, the reasons.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import io
from dataclasses import dataclass
from typing import Any

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.api.contract import ClassifierStatus
from airflow_provider_predictionone.emulator.baseline.models import ROW_NUMBER_COLUMN, BaselineModel, format_number
from airflow_provider_predictionone.emulator.resources.rules import source_ip_allowed
from airflow_provider_predictionone.emulator.state import STOPPED_STATUSES, Store
from airflow_provider_predictionone.emulator.web import ApiError, Request, Response, json_response


class Inference:
    """Serves the prediction APIs of every user of ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def inference(self, request: Request) -> Response:
        """``POST <classifier url>`` (spec 4.14): predict one row."""
        with self.store.lock:
            c = self.store.classifiers.get(request.params["classifier_id"])
            if c is None or c.user.deleted:
                raise ApiError(contract.INFERENCE_CLASSIFIER_NOT_FOUND)
            if c.user.group_id != request.params["group_id"]:
                raise ApiError(contract.INFERENCE_INVALID_CLASSIFIER_ID)
            if not hmac.compare_digest((request.api_key or "").encode(), c.api_key.encode()):
                raise ApiError(contract.INFERENCE_INVALID_API_KEY)
            if not source_ip_allowed(request.client_ip, c.rules):
                raise ApiError(contract.INFERENCE_IP_NOT_ALLOWED)
            c.tick()
            if c.status != ClassifierStatus.RUNNING.value:
                shown = ClassifierStatus.STOPPED.value if c.status in STOPPED_STATUSES else c.status
                raise ApiError(contract.inference_not_running(shown))
            model, version = c.trained, str(c.version)
        inputs = _parse_inference_inputs(request)
        return json_response({"version": version, "outputs": _predict_outputs(model, inputs)})


_INFERENCE_INPUT_TYPES = {
    contract.INFERENCE_INPUT_CSV: "csv",
    contract.INFERENCE_FLAG_REASONS: "boolean",
    contract.INFERENCE_FLAG_INPUT_DATA: "boolean",
    contract.INFERENCE_FLAG_NO_CLASS: "boolean",
    contract.INFERENCE_FLAG_NO_ROW_NUMBER: "boolean",
    contract.INFERENCE_PIVOT_COLUMN: "string",
}
_INFERENCE_REQUIRED = (
    contract.INFERENCE_INPUT_CSV,
    contract.INFERENCE_FLAG_REASONS,
    contract.INFERENCE_FLAG_INPUT_DATA,
    contract.INFERENCE_FLAG_NO_CLASS,
)


@dataclass
class InferenceInputs:
    """A validated Inference request."""

    header: list[str]
    row: list[str]
    reasons: bool
    input_data: bool
    no_class: bool
    no_row_number: bool
    pivot: str | None


def _invalid() -> ApiError:
    return ApiError(contract.INFERENCE_BAD_REQUEST)


def _parse_inference_inputs(request: Request) -> InferenceInputs:
    try:
        body = request.json()
    except ValueError:
        raise _invalid() from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise _invalid()
    items: dict[str, Any] = {}
    for item in body["inputs"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "data" not in item:
            raise _invalid()
        name = item["name"]
        expected = _INFERENCE_INPUT_TYPES.get(name)
        if expected is None:
            continue  # undocumented inputs are ignored
        if name in items or item.get("type") != expected:
            raise _invalid()
        value = item["data"]
        if expected == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise _invalid()
        elif not isinstance(value, str):
            raise _invalid()
        items[name] = value
    if any(name not in items for name in _INFERENCE_REQUIRED):
        raise _invalid()
    try:
        raw = base64.b64decode("".join(items[contract.INFERENCE_INPUT_CSV].split()), validate=True)
        text = raw.decode("utf-8-sig")
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row and any(cell for cell in row)]
    except (binascii.Error, ValueError, csv.Error):
        raise _invalid() from None
    if len(rows) != 2:
        raise _invalid()
    header, row = [h.strip() for h in rows[0]], rows[1]
    if len(header) != len(row) or len(set(header)) != len(header):
        raise _invalid()
    pivot = items.get(contract.INFERENCE_PIVOT_COLUMN) or None
    if pivot is not None and pivot not in header:
        raise _invalid()
    return InferenceInputs(
        header=header,
        row=row,
        reasons=items[contract.INFERENCE_FLAG_REASONS],
        input_data=items[contract.INFERENCE_FLAG_INPUT_DATA],
        no_class=items[contract.INFERENCE_FLAG_NO_CLASS],
        no_row_number=items.get(contract.INFERENCE_FLAG_NO_ROW_NUMBER, False),
        pivot=pivot,
    )


def _csv_base64(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return base64.b64encode(buffer.getvalue().encode("utf-8")).decode("ascii")


def _predict_outputs(model: BaselineModel, inputs: InferenceInputs) -> list[dict[str, str]]:
    values = dict(zip(inputs.header, inputs.row, strict=False))
    if any(name not in values for name in model.required_columns):
        raise _invalid()
    prediction = model.predict_mapping(values)
    columns: list[str] = []
    cells: list[str] = []
    if inputs.pivot:
        columns.append(inputs.pivot)
        cells.append(values[inputs.pivot])
    if not inputs.no_row_number:
        columns.append(ROW_NUMBER_COLUMN)
        cells.append("1")
    if inputs.input_data:
        for name, value in zip(inputs.header, inputs.row, strict=False):
            if name != inputs.pivot:
                columns.append(name)
                cells.append(value)
    with_label = not inputs.no_class
    columns.extend(model.prediction_columns(with_label=with_label))
    cells.extend(model.prediction_values(prediction, with_label=with_label))
    outputs = [{"name": contract.OUTPUT_PREDICTION, "data": _csv_base64([columns, cells])}]
    if inputs.reasons:
        reasons = sorted(prediction.contributions, key=lambda item: -abs(item[2]))
        rows = [["column", "value", "contribution"]]
        rows.extend([name, value, format_number(score)] for name, value, score in reasons)
        outputs.append({"name": contract.OUTPUT_REASONS, "data": _csv_base64(rows)})
    return outputs
