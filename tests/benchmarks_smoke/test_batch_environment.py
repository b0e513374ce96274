"""A batch reads the ``requests`` environment settings once per URL, with the same result as per
request, and leaves the session as it was; the benchmark's inference sink answers validly (what
``benchmarks/batch_predict.py`` measures)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_predictionone.api.batch import environment_resolved_once, predict_csv
from airflow_provider_predictionone.api.client import PredictionOneClient

ROOT = Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:9/v1/groups/g/classifiers/c/inference"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of ``requests.Session.merge_environment_settings`` (the real one runs)."""
    calls: list[str] = []
    original = requests.Session.merge_environment_settings

    def merge(self: requests.Session, url: Any, *args: Any) -> Any:
        calls.append(url)
        return original(self, url, *args)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", merge)
    return calls


def test_settings_are_resolved_once_per_url_and_the_session_is_restored(
    counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = PredictionOneClient("secret", host="http://127.0.0.1:9")
    expected = client.session.merge_environment_settings(URL, {}, None, True, None)
    assert expected["proxies"].get("http") == "http://proxy.invalid:3128"
    counted.clear()
    with environment_resolved_once(client):
        first = client.session.merge_environment_settings(URL, {}, None, True, None)
        first["proxies"]["http"] = "changed by a caller"
        second = client.session.merge_environment_settings(URL, {}, None, True, None)
        other = client.session.merge_environment_settings("http://127.0.0.1:9/other", {}, None, True, None)
    assert second == expected  # the same answer, and each caller gets its own copy
    assert other["proxies"].get("http") == "http://proxy.invalid:3128"
    assert counted == [URL, "http://127.0.0.1:9/other"]
    assert "merge_environment_settings" not in vars(client.session)
    client.session.merge_environment_settings(URL, {}, None, True, None)
    assert len(counted) == 3  # per request again after the block


def test_sessions_without_trust_env_and_other_clients_are_left_alone(counted: list[str]) -> None:
    session = requests.Session()
    session.trust_env = False
    client = PredictionOneClient("secret", host="http://127.0.0.1:9", session=session)
    with environment_resolved_once(client):
        assert "merge_environment_settings" not in vars(session)
    with environment_resolved_once(object()):
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    """``benchmarks/_sink.py --inference`` in its own process; yields its Inference URL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_sink.py"), "--inference"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["url"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_batch_against_the_sink_predicts_every_row_and_resolves_the_environment_once(
    sink: str, counted: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "score.csv"
    source.write_text("age,income,region\n" + "".join(f"{20 + i},{500 + i},tokyo\n" for i in range(40)))
    with PredictionOneClient("secret", host="http://127.0.0.1:9") as client:
        result = predict_csv(client, sink, "key", source, tmp_path / "out.csv", concurrency=4)
        assert "merge_environment_settings" not in vars(client.session)
    assert (result.rows_total, result.rows_predicted, result.rows_rejected) == (40, 40, 0)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "input_row,buy,Probability_yes" and len(lines) == 41
    assert counted == [sink]  # once for 40 requests
