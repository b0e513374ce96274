"""Test data and a manual-style client for the emulator tests (imported by tests and conftest).

The client below is written the way a user who only read the Prediction One manual would write
one: plain ``requests`` calls on the documented paths, the ``x-api-key`` header, raw-byte PUTs
to the upload URLs, polling the status endpoints.
"""

from __future__ import annotations

import base64
import csv
import io
import random
import time
import zipfile
from typing import Any

import requests

from airflow_provider_predictionone.emulator import Emulator

HEADER = ["年齢", "性別", "年収", "地域", "登録日", "会員ID", "購入"]
COLUMN_TYPES = ["float", "string", "float", "string", "date", "string", "string"]
REGRESSION_HEADER = ["面積", "築年数", "駅距離", "区", "価格"]
REGRESSION_TYPES = ["float", "float", "float", "string", "float"]
MULTI_HEADER = ["x1", "x2", "色", "種類"]
MULTI_TYPES = ["float", "float", "string", "string"]


def purchase_rows(n: int, seed: int = 1, start_id: int = 0) -> list[list[Any]]:
    """Rows of HEADER with a learnable binary target 購入 (はい/いいえ)."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        age = rnd.randint(18, 80)
        sex = rnd.choice(["男", "女"])
        income = round(rnd.gauss(500, 150), 1)
        region = rnd.choice(["東京", "大阪", "名古屋", "福岡"])
        date = f"2023-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        score = (age - 48) / 8 + (income - 500) / 90 + (0.8 if sex == "女" else -0.8) + rnd.gauss(0, 0.6)
        rows.append([age, sex, income, region, date, f"ID{start_id + i:06d}", "はい" if score > 0 else "いいえ"])
    return rows


def regression_rows(n: int, seed: int = 3) -> list[list[Any]]:
    """Rows of REGRESSION_HEADER; 価格 is linear in the inputs plus noise."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        area = round(rnd.uniform(20, 120), 1)
        age = rnd.randint(0, 40)
        distance = round(rnd.uniform(1, 25), 1)
        ward = rnd.choice(["港区", "渋谷区", "足立区"])
        bonus = {"港区": 900, "渋谷区": 600, "足立区": 0}[ward]
        price = 50 * area - 30 * age - 40 * distance + bonus + rnd.gauss(0, 120)
        rows.append([area, age, distance, ward, round(price, 1)])
    return rows


def multi_rows(n: int, seed: int = 5) -> list[list[Any]]:
    """Rows of MULTI_HEADER with three classes 種類 = A/B/C."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        kind = rnd.choice(["A", "B", "C"])
        center = {"A": (0, 0), "B": (4, 0), "C": (2, 4)}[kind]
        colour = rnd.choice({"A": ["赤", "赤", "青"], "B": ["青", "青", "緑"], "C": ["緑", "緑", "赤"]}[kind])
        rows.append([round(center[0] + rnd.gauss(0, 1), 3), round(center[1] + rnd.gauss(0, 1), 3), colour, kind])
    return rows


def to_csv(header: list[str], rows: list[list[Any]], *, bom: bool = False, delimiter: str = ",") -> bytes:
    """UTF-8 CSV bytes (optionally with a BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")


def column_info(header: list[str], types: list[str]) -> bytes:
    """A column-info file as the manual's example builds it (UTF-8 with BOM)."""
    lines = ["column_name,column_type", *(f"{name},{kind}" for name, kind in zip(header, types, strict=True))]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def retrain_zip(train: bytes, evaluation: bytes | None = None) -> bytes:
    """A retrain upload: ``train_src/<csv>`` and optional ``eval_src/<csv>`` at the zip root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train_src/train.csv", train)
        if evaluation is not None:
            archive.writestr("eval_src/eval.csv", evaluation)
    return buffer.getvalue()


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


class ManualClient:
    """The Prediction One REST API called exactly as the manual shows."""

    def __init__(self, emulator: Emulator, secret_key: str, poll: float = 0.05) -> None:
        self.emulator = emulator
        self.base = emulator.url + "/v1/external"
        self.secret_key = secret_key
        self.poll = poll
        self.session = requests.Session()

    # -------- raw calls
    def call(self, method: str, path: str, key: str | None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["x-api-key"] = key
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, key: str | None, **kwargs: Any) -> Any:
        response = self.call(method, path, key, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    # -------- keys
    def api_key(self, credential_type: str, model_id: int | None = None, secret: str | None = None) -> str:
        params: dict[str, Any] = {"credential_type": credential_type}
        if model_id is not None:
            params["model_id"] = model_id
        body = self.ok("GET", "/api-key", secret or self.secret_key, params=params)
        return body["api_key"]

    # -------- train flow
    def upload_training_data(self, key: str, learn: bytes, info: bytes, evaluation: bytes | None = None) -> str:
        urls = self.ok("GET", "/data-sets/upload-url", key, params={"extension": "csv"})
        assert self.session.put(urls["learn_data_set_upload_url"], data=learn, timeout=30).status_code == 200
        assert self.session.put(urls["column_info_upload_url"], data=info, timeout=30).status_code == 200
        if evaluation is not None:
            assert self.session.put(urls["eval_data_set_upload_url"], data=evaluation, timeout=30).status_code == 200
        return urls["external_process_id"]

    def start_training(self, key: str, process_id: str, name: str, config: dict[str, Any]) -> str:
        body = self.ok("POST", "/models", key, json={"external_process_id": process_id, "name": name, "config": config})
        return body["external_process_id"]

    def wait_training(self, key: str, process_id: str, timeout: float = 30) -> tuple[dict[str, Any], list[str]]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.ok("GET", "/models/results", key, params={"external_process_id": process_id})
            if not seen or seen[-1] != status["status"]:
                seen.append(status["status"])
            if status["status"] in ("finished", "failed"):
                return status, seen
            time.sleep(self.poll)
        raise AssertionError(f"training did not finish: {seen}")

    def model_id_by_name(self, key: str, name: str) -> int:
        offset, found = 0, []
        while True:
            page = self.ok("GET", "/models", key, params={"offset": offset, "limit": 30})
            found += [m for m in page["models"] if m["name"] == name]
            offset += page["metadata"]["limit"]
            if offset >= page["metadata"]["total"]:
                break
        assert found, f"no model named {name}"
        return max(found, key=lambda m: m["created_date"])["model_id"]

    def train(
        self,
        name: str,
        learn: bytes,
        info: bytes,
        config: dict[str, Any],
        evaluation: bytes | None = None,
        key: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """The whole train flow; returns (model_id, final status)."""
        key = key or self.api_key("train")
        process_id = self.upload_training_data(key, learn, info, evaluation)
        process_id = self.start_training(key, process_id, name, config)
        status, _ = self.wait_training(key, process_id)
        assert status["status"] == "finished", status
        return self.model_id_by_name(key, name), status

    def download_zip(self, url: str) -> zipfile.ZipFile:
        response = self.session.get(url, timeout=30)
        assert response.status_code == 200
        return zipfile.ZipFile(io.BytesIO(response.content))

    # -------- deploy flow
    def classifier(self, key: str, classifier_id: str) -> dict[str, Any]:
        listing = self.ok("GET", "/classifiers", key)
        return next(c for c in listing["classifiers"] if c["classifier_id"] == classifier_id)

    def wait_classifier(self, key: str, classifier_id: str, wanted: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.classifier(key, classifier_id)
            if item["status"] == wanted:
                return item
            time.sleep(self.poll)
        raise AssertionError(f"classifier never reached {wanted}")

    def deploy(
        self, model_id: int, key: str | None = None, rules: list[dict[str, Any]] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Create a classifier and wait until it runs; returns (deploy key, classifier)."""
        key = key or self.api_key("deploy")
        rules = rules or [{"source": "0.0.0.0/0", "order": "allow", "priority": 0}]
        created = self.ok("POST", "/classifiers", key, json={"model_id": model_id, "rules": rules})
        return key, self.wait_classifier(key, created["classifier_id"], "running")

    def infer(
        self,
        url: str,
        api_key: str,
        header: list[str],
        row: list[Any],
        *,
        ar: bool = False,
        ad: bool = False,
        nc: bool = False,
        extra: list[dict[str, Any]] | None = None,
    ) -> requests.Response:
        pr = base64.b64encode(to_csv(header, [row])).decode("ascii")
        inputs = [
            {"name": "pr", "type": "csv", "data": pr},
            {"name": "ar", "type": "boolean", "data": ar},
            {"name": "ad", "type": "boolean", "data": ad},
            {"name": "nc", "type": "boolean", "data": nc},
            *(extra or []),
        ]
        return self.session.post(
            url,
            json={"inputs": inputs},
            timeout=30,
            headers={"x-api-key": api_key, "content-type": "application/json; charset=utf-8"},
        )


def outputs(response: requests.Response) -> dict[str, list[dict[str, str]]]:
    """Decode an Inference response's base64 CSV outputs."""
    assert response.status_code == 200, response.text
    return {o["name"]: read_csv(base64.b64decode(o["data"])) for o in response.json()["outputs"]}


def assert_error(response: requests.Response, message: str, code: str = "4001000204") -> None:
    """A documented error: JSON {code, error, message}, HTTP status = the code's first 3 digits."""
    body = response.json()
    assert body["message"] == message, body
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    assert response.status_code == int(code[:3]), response.status_code


BINARY_CONFIG = {"tc": "購入", "tt": "binary_classification", "tv": "はい", "cv": "2"}
