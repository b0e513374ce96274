"""Retries, timeouts and error bodies, against a scripted HTTP server on loopback."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import CredentialType
from airflow_provider_predictionone.api.errors import (
    ConfigurationFileNotFoundError,
    InvalidCredentialsError,
    PredictionOneAPIError,
    PredictionOneConfigError,
    PredictionOneTransportError,
    PredictionOneUploadError,
    ServerError,
)
from airflow_provider_predictionone.api.keys import ApiKeyCache
from airflow_provider_predictionone.api.models import ApiKey
from airflow_provider_predictionone.api.retry import RetryPolicy, parse_retry_after
from airflow_provider_predictionone.api.settings import normalize_base_url
from airflow_provider_predictionone.api.sources import UploadSource
from tests.api.scripted_server import Reply, free_port, scripted_server
from tests.clients import async_client, sync_client

FAST = RetryPolicy(max_retries=3, backoff_seconds=0.01, max_backoff_seconds=0.05)
STATUS_OK = Reply(body=json.dumps({"status": "running"}).encode())


def seeded_cache() -> ApiKeyCache:
    cache = ApiKeyCache()
    far = datetime.now(timezone.utc) + timedelta(hours=1)
    for kind in (CredentialType.TRAIN, CredentialType.DEPLOY):
        cache.put(kind, None, ApiKey("cached-key", far.isoformat(), far))
    return cache


def make_client(url: str, **kwargs: object) -> PredictionOneClient:
    options = {"host": url, "retry": FAST, "key_cache": seeded_cache(), "read_timeout": 2.0} | kwargs
    return sync_client("secret", **options)


def test_get_retried_on_503_then_succeeds_honouring_retry_after() -> None:
    busy = Reply(503, b"busy", {"Retry-After": "0"})
    with scripted_server([busy, busy, STATUS_OK]) as server, make_client(server.url) as client:
        assert client.train_status("p1").status == "running"
    assert server.count("GET", "/v1/external/models/results") == 3


def test_get_retried_on_429_and_dropped_connection() -> None:
    replies = [Reply(429, b"{}", {"Retry-After": "0"}), Reply(drop=True), STATUS_OK]
    with scripted_server(replies) as server, make_client(server.url) as client:
        assert client.train_status("p1").status == "running"
    assert server.count("GET") == 3


def test_get_gives_up_after_max_retries_with_the_status_in_the_message() -> None:
    with scripted_server([Reply(502, b"<html><h1>Bad Gateway</h1></html>", {"Content-Type": "text/html"})]) as server:
        with make_client(server.url) as client, pytest.raises(ServerError) as info:
            client.train_status("p1")
    assert server.count("GET") == FAST.max_retries + 1
    text = str(info.value)
    assert "HTTP 502" in text and "Bad Gateway" in text and "Train Status Check" in text


def test_read_timeout_on_get_is_retried() -> None:
    with scripted_server([Reply(delay=1.0), STATUS_OK]) as server, make_client(server.url, read_timeout=0.3) as client:
        assert client.train_status("p1").status == "running"
    assert server.count("GET") == 2


def test_create_model_is_not_repeated_after_a_500_or_a_read_timeout() -> None:
    with scripted_server([Reply(500, b"oops")]) as server, make_client(server.url) as client:
        with pytest.raises(ServerError):
            client.create_model("p1", "m", {"tc": "y", "tt": "regression"})
    assert server.count("POST") == 1
    with scripted_server([Reply(delay=1.0)]) as server, make_client(server.url, read_timeout=0.3) as client:
        with pytest.raises(PredictionOneTransportError, match="may have reached the service"):
            client.create_model("p1", "m", {"tc": "y", "tt": "regression"})
    assert server.count("POST") == 1


def test_create_model_is_repeated_after_429_and_503() -> None:
    replies = [Reply(429, b"{}", {"Retry-After": "0"}), Reply(503, b""), Reply(body=b'{"external_process_id": "p9"}')]
    with scripted_server(replies) as server, make_client(server.url) as client:
        assert client.create_model("p1", "m", {"tc": "y", "tt": "regression"}) == "p9"
    assert server.count("POST") == 3


def test_connection_refused_is_retried_then_reported() -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PredictionOneTransportError, match="Gave up after 4 attempts"):
        client.create_model("p1", "m", {})  # never reached the server: safe to retry even a POST


def test_documented_error_with_5xx_code_is_not_retried() -> None:
    body = json.dumps(
        {
            "code": "5001000201",
            "error": "PREDA_EXTERNAL_INTERNAL_SERVER_ERROR",
            "message": "Not found configuration_file.",
        }
    ).encode()
    with scripted_server([Reply(500, body)]) as server, make_client(server.url) as client:
        with pytest.raises(ConfigurationFileNotFoundError) as info:
            client.retrain_status(1, "job")  # retrain key is fetched first from the same server
    # one Get API Key call (answered with the same 500) and no retry storm
    assert server.count("GET") == 1
    assert info.value.code == "5001000201"


def test_unknown_json_error_and_empty_body_give_clear_errors() -> None:
    with scripted_server([Reply(400, b"")]) as server, make_client(server.url) as client:
        with pytest.raises(PredictionOneAPIError, match="HTTP 400.*empty response body"):
            client.train_status("p1")
    with scripted_server([Reply(400, b'{"message": "something new"}')]) as server, make_client(server.url) as client:
        with pytest.raises(PredictionOneAPIError, match="something new"):
            client.train_status("p1")
        assert server.count("GET") == 1


def test_invalid_credentials_refresh_the_key_once() -> None:
    invalid = Reply(400, json.dumps({"code": "4001000204", "message": "Inactive_credential."}).encode())
    new_key = Reply(body=json.dumps({"api_key": "fresh", "end_date": "2099-01-01T00:00:00Z"}).encode())
    with scripted_server([invalid, new_key, STATUS_OK]) as server, make_client(server.url) as client:
        assert client.train_status("p1").status == "running"
        assert client.key_requests == 1
        assert server.seen[-1].headers["x-api-key"] == "fresh"
    # refreshed once only: a second refusal is raised
    with scripted_server([invalid, new_key, invalid]) as server, make_client(server.url) as client:
        with pytest.raises(InvalidCredentialsError, match="Settings screen"):
            client.train_status("p1")
        assert server.count("GET", "/v1/external/api-key") == 1


def test_upload_streams_with_content_length_and_retries_from_the_start(tmp_path) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "data.csv"
    path.write_bytes(payload)
    with (
        scripted_server([Reply(500, b""), Reply(drop=True), Reply(200, b"")]) as server,
        make_client(server.url) as client,
    ):
        client.upload(
            server.url + "/upload/x", UploadSource.of(path, param="training_file"), label="t", chunk_size=65536
        )
    puts = [s for s in server.seen if s.method == "PUT"]
    assert len(puts) == 3
    assert puts[-1].body == payload and puts[-1].headers["Content-Length"] == str(len(payload))
    assert "x-api-key" not in {k.lower() for k in puts[-1].headers}


def test_upload_from_a_file_object_keeps_it_open(tmp_path) -> None:
    stream = io.BytesIO(b"a,b\n1,2\n")
    with scripted_server([Reply(503, b""), Reply(200, b"")]) as server, make_client(server.url) as client:
        client.upload(server.url + "/u", UploadSource.of(stream, param="training_file"), label="t")
    assert server.seen[-1].body == b"a,b\n1,2\n" and not stream.closed


def test_upload_rejected_url_fails_without_retry() -> None:
    with (
        scripted_server([Reply(403, b"<Error>Request has expired</Error>")]) as server,
        make_client(server.url) as client,
    ):
        with pytest.raises(PredictionOneUploadError, match="expired or been used up"):
            client.upload(server.url + "/u", UploadSource.of(io.BytesIO(b"x"), param="f"), label="training file")
    assert server.count("PUT") == 1


def test_async_client_runs_the_same_plan() -> None:
    async def run(url: str) -> str:
        async with async_client("secret", host=url, retry=FAST, key_cache=seeded_cache()) as client:
            return (await client.train_status("p1")).status

    with scripted_server([Reply(503, b""), Reply(drop=True), STATUS_OK]) as server:
        assert asyncio.run(run(server.url)) == "running"
    assert server.count("GET") == 3


def test_async_connection_refused_gives_transport_error() -> None:
    async def run() -> None:
        async with async_client("secret", host=f"http://127.0.0.1:{free_port()}", retry=FAST) as client:
            await client.train_status("p1")

    with pytest.raises(PredictionOneTransportError):
        asyncio.run(run())


def test_retry_after_parsing_and_policy_delays() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    policy = RetryPolicy(backoff_seconds=1, max_backoff_seconds=5, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.delay(1, "120") == 5  # capped
    with pytest.raises(PredictionOneConfigError):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "https://developer-api.predictionone.sony.biz/v1/external"),
        ("", "https://developer-api.predictionone.sony.biz/v1/external"),
        (
            "developer-api.easy-predictive-analytics.sony.com",
            "https://developer-api.easy-predictive-analytics.sony.com/v1/external",
        ),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/v1/external"),
        ("http://localhost:8765/v1/external/", "http://localhost:8765/v1/external"),
        ("http://[::1]:8765", "http://[::1]:8765/v1/external"),
    ],
)
def test_base_url(host: str | None, expected: str) -> None:
    assert normalize_base_url(host) == expected


@pytest.mark.parametrize("host", ["http://developer-api.predictionone.sony.biz", "http://10.0.0.5:8765", "ftp://x"])
def test_plain_http_to_a_remote_host_is_refused(host: str) -> None:
    with pytest.raises(PredictionOneConfigError, match="host"):
        sync_client("secret", host=host)


def test_empty_secret_and_bad_timeouts_are_refused_before_any_request() -> None:
    with pytest.raises(PredictionOneConfigError, match="password"):
        sync_client("  ")
    with pytest.raises(PredictionOneConfigError, match="read_timeout"):
        sync_client("s", read_timeout=0)


def test_retrain_key_needs_a_model_id_before_any_request() -> None:
    with scripted_server([STATUS_OK]) as server, make_client(server.url) as client:
        with pytest.raises(PredictionOneConfigError, match="model_id"):
            client.get_api_key("retrain")
        with pytest.raises(PredictionOneConfigError, match="model_id"):
            client.retrain_status(None, "job")  # type: ignore[arg-type]
    assert server.seen == []


def test_secrets_are_reported_to_the_masker_and_kept_out_of_reprs() -> None:
    seen: list[str] = []
    new_key = Reply(body=json.dumps({"api_key": "derived-key", "end_date": "2099-01-01T00:00:00Z"}).encode())
    with scripted_server([new_key, STATUS_OK]) as server:
        client = sync_client("the-secret", host=server.url, retry=FAST, on_secret=seen.append)
        client.train_status("p1")
    assert seen == ["the-secret", "derived-key"]
    issued = ApiKey.from_json({"api_key": "derived-key", "end_date": "2099-01-01"})
    assert "derived-key" not in repr(issued)


@pytest.mark.parametrize(
    ("code", "message", "expected", "status"),
    [
        ("4001000204", "invalid_api_key.", "InvalidCredentialsError", 400),
        ("4001000204", "Inactive_credential.", "InvalidCredentialsError", 400),
        ("4001000204", "Not_found_credential.", "InvalidCredentialsError", 400),
        ("4001000204", "This user may be deleted.", "UserDeletedError", 400),
        ("4001000204", "This model may be deleted.", "ModelDeletedError", 400),
        ("4001000204", "Model id is required.", "ModelIdRequiredError", 400),
        ("4001000204", "This job may be deleted.", "RetrainJobDeletedError", 400),
        ("4001000204", "Not found retrain job.", "RetrainJobNotFoundError", 400),
        ("4001000204", "Not found classifier.", "ClassifierNotFoundError", 400),
        ("4001000204", "Retrain job is not finished.", "RetrainJobNotFinishedError", 400),
        ("5001000201", "Not found configuration_file.", "ConfigurationFileNotFoundError", 500),
        ("4001030101", "Not found classifier in classifiers table", "InferenceClassifierNotFoundError", 400),
        ("4001030104", "Invalid request", "InferenceBadRequestError", 400),
        ("4031030201", "Invalid API key", "InferenceInvalidApiKeyError", 403),
        ("4031030201", "Invalid classifier id", "InferenceInvalidClassifierIdError", 403),
        ("4031030201", "Not allowed source ip", "InferenceIpNotAllowedError", 403),
        ("5031030101", "status is not running (status: stopped)", "PredictionApiNotRunningError", 503),
    ],
)
def test_every_documented_message_has_its_own_exception(code: str, message: str, expected: str, status: int) -> None:
    import pickle

    from airflow_provider_predictionone.api import errors

    body = json.dumps({"code": code, "error": "X", "message": message}).encode()
    error = errors.error_from_response("Some Call (GET /x)", status, body)
    assert type(error).__name__ == expected
    assert (error.code, error.message, error.status_code) == (code, message, status)
    text = str(error)
    assert message in text and f"HTTP {status}" in text and error.hint in text
    assert not RetryPolicy().should_retry_status(error, idempotent=True)  # answers, not glitches
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error) and str(clone) == text
