"""The clients read the environment settings (``*_PROXY`` / ``NO_PROXY``, and for ``requests``
``REQUESTS_CA_BUNDLE``) once per origin, with the same effect as the libraries reading them per
request; the benchmark's inference sink answers validly (what ``benchmarks/batch_predict.py``
measures)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_predictionone.api.aclient import AsyncPredictionOneClient
from airflow_provider_predictionone.api.batch import predict_csv
from airflow_provider_predictionone.api.errors import PredictionOneTransportError
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.settings import ClientSettings
from tests.api.scripted_server import Reply, free_port, scripted_server
from tests.clients import sync_client

ROOT = Path(__file__).resolve().parents[2]
KEY = Reply(body=json.dumps({"api_key": "derived-key", "end_date": "2099-01-01T00:00:00Z"}).encode())
NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture
def proxy_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL whose proxies ``requests`` looked up in the environment (the real lookup runs),
    whether the client asks itself or ``requests`` does it per request."""
    calls: list[str] = []
    original = requests.utils.get_environ_proxies

    def lookup(url: str, no_proxy: Any = None) -> Any:
        calls.append(url)
        return original(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.utils, "get_environ_proxies", lookup)
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", lookup)
    return calls


@pytest.fixture
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_is_used_and_read_once_per_origin(
    clean_proxy_environment: pytest.MonkeyPatch, proxy_reads: list[str]
) -> None:
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens: only the proxy can answer
    with scripted_server([KEY]) as proxy:
        clean_proxy_environment.setenv("HTTP_PROXY", proxy.url)
        with sync_client("secret", host=host, retry=NO_RETRY) as client:
            client.get_api_key("train")
            clean_proxy_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # read already
            client.get_api_key("deploy")
        # requests sends the absolute URL to a proxy
        assert [seen.path.split("?")[0] for seen in proxy.seen] == [f"{host}/v1/external/api-key"] * 2
    assert len(proxy_reads) == 1 and proxy_reads[0].startswith(host)


def test_no_proxy_from_the_environment_is_honoured(
    clean_proxy_environment: pytest.MonkeyPatch, proxy_reads: list[str]
) -> None:
    clean_proxy_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # a dead proxy
    clean_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    with scripted_server([KEY]) as server, sync_client("secret", host=server.url, retry=NO_RETRY) as client:
        client.get_api_key("train")
        client.get_api_key("train")
        assert [seen.path.split("?")[0] for seen in server.seen] == ["/v1/external/api-key"] * 2  # direct
    assert len(proxy_reads) == 1


def test_a_ca_bundle_from_the_environment_is_used_as_requests_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """``REQUESTS_CA_BUNDLE`` applies when the connection verifies TLS with the default bundle; a
    connection's own CA bundle, or verification turned off, wins over it."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/env-ca.pem")
    host = f"https://127.0.0.1:{free_port()}"
    expected = {True: "env-ca.pem", "/nonexistent/connection-ca.pem": "connection-ca.pem"}
    for verify, bundle in expected.items():
        with sync_client("secret", host=host, retry=NO_RETRY, verify=verify) as client:
            with pytest.raises(OSError, match=f"invalid path: /nonexistent/{bundle}"):
                client.get_api_key("train")
    with sync_client("secret", host=host, retry=NO_RETRY, verify=False) as client:
        with pytest.raises(PredictionOneTransportError, match="ConnectionError"):  # no bundle needed
            client.get_api_key("train")


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


@pytest.fixture
def async_proxy_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time the async transport read the proxy settings from the environment."""
    calls: list[str] = []
    original = urllib.request.getproxies_environment

    def lookup() -> Any:
        calls.append("read")
        return original()

    monkeypatch.setattr(urllib.request, "getproxies_environment", lookup)
    return calls


def test_a_batch_against_the_sink_predicts_every_row_and_reads_the_environment_once(
    sink: str, async_proxy_reads: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "score.csv"
    source.write_text("age,income,region\n" + "".join(f"{20 + i},{500 + i},tokyo\n" for i in range(40)))
    with sync_client("secret", host="http://127.0.0.1:9") as client:
        result = predict_csv(client, sink, "key", source, tmp_path / "out.csv", concurrency=4)
    assert (result.rows_total, result.rows_predicted, result.rows_rejected) == (40, 40, 0)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "input_row,buy,Probability_yes" and len(lines) == 41
    assert async_proxy_reads == ["read"]  # once for 40 requests


def test_the_async_transport_uses_the_environment_proxy_and_honours_no_proxy(
    clean_proxy_environment: pytest.MonkeyPatch, async_proxy_reads: list[str]
) -> None:
    """What the triggers and batch prediction send with (aiohttp) honours ``HTTP_PROXY`` and
    ``NO_PROXY`` as the sync client (requests) does, reading them once per origin."""
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens: only the proxy can answer

    async def twice(client: Any) -> None:
        async with client:
            await client.get_api_key("train")
            await client.get_api_key("deploy")

    with scripted_server([KEY]) as proxy:
        clean_proxy_environment.setenv("HTTP_PROXY", proxy.url)
        asyncio.run(twice(AsyncPredictionOneClient(ClientSettings(secret_key="secret", host=host, retry=NO_RETRY))))
        assert [seen.path.split("?")[0] for seen in proxy.seen] == [f"{host}/v1/external/api-key"] * 2
    assert async_proxy_reads == ["read"]
    clean_proxy_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # a dead proxy
    clean_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    with scripted_server([KEY]) as server:
        settings = ClientSettings(secret_key="secret", host=server.url, retry=NO_RETRY)
        asyncio.run(twice(AsyncPredictionOneClient(settings)))
        assert [seen.path.split("?")[0] for seen in server.seen] == ["/v1/external/api-key"] * 2  # direct
