"""Result downloads over real HTTP (retries, Retry-After, the errors they end with) and what each
error's text tells the user to do.

Downloads go through the client's ``download``; reading a result archive is the hook's
``download_result`` (on a connection to the scripted server)."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.errors import (
    DownloadRejectedError,
    InferenceError,
    InvalidCredentialsError,
    PredictionOneDownloadError,
    PredictionOneTransportError,
    PredictionOneUploadError,
    ResultArchiveError,
    UnexpectedResponseError,
    UserDeletedError,
)
from airflow_provider_predictionone.api.keys import ApiKeyCache
from airflow_provider_predictionone.api.models import ApiKey
from airflow_provider_predictionone.api.retry import RetryPolicy
from tests.api.scripted_server import Reply, free_port, scripted_server
from tests.clients import install_connection, sync_client


@dataclass(frozen=True)
class RecordingPolicy(RetryPolicy):
    """A retry policy that records the ``Retry-After`` value each delay was computed from."""

    hints: list[str | None] = field(default_factory=list, compare=False)

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        self.hints.append(retry_after)
        return super().delay(retry_number, retry_after)


def result_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metrics.csv", "metric,value\naccuracy,0.9\n")
    return buffer.getvalue()


ZIP = Reply(200, result_zip(), {"Content-Type": "application/zip"})


def client_for(url: str, retry: RetryPolicy, **options: object) -> PredictionOneClient:
    return sync_client("secret", host=url, retry=retry, connect_timeout=2.0, read_timeout=2.0, **options)


def hook_for(monkeypatch: pytest.MonkeyPatch, url: str, retry: RetryPolicy) -> Any:
    """A hook on a connection to ``url`` that retries with ``retry``."""
    from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook

    install_connection(monkeypatch, url, "secret", "predictionone_scripted", timeout=2.0, connect_timeout=2.0)
    return PredictionOneHook("predictionone_scripted", retry=retry)


def test_download_retry_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = RecordingPolicy(max_retries=3, backoff_seconds=0.01, max_backoff_seconds=0.05)
    busy = Reply(503, b"busy", {"Retry-After": "0"})
    limited = Reply(429, b"{}", {"Retry-After": "0.01"})
    with scripted_server([busy, limited, ZIP]) as server:
        result = hook_for(monkeypatch, server.url, policy).download_result(server.url + "/result.zip")
    assert result.metrics == {"accuracy": 0.9}
    assert policy.hints == ["0", "0.01"]  # each delay came from the answer's Retry-After
    assert server.count("GET", "/result.zip") == 3


def test_download_that_cannot_connect_raises_a_download_error_with_advice() -> None:
    policy = RecordingPolicy(max_retries=1, backoff_seconds=0.01, max_backoff_seconds=0.05)
    url = f"http://127.0.0.1:{free_port()}/result.zip"  # nothing listens: connection refused
    with client_for(url, policy) as client, pytest.raises(PredictionOneDownloadError) as info:
        client.download(url, label="result archive")
    error = info.value
    assert isinstance(error, PredictionOneTransportError) and not isinstance(error, PredictionOneUploadError)
    text = str(error)
    assert "result archive could not be downloaded" in text and "after 2 attempts" in text
    assert "ConnectionError" in text and "re-running the task" in text
    # no answer, no Retry-After (tenacity may also compute the delay after the last attempt, unused)
    assert policy.hints and set(policy.hints) == {None}


def test_refused_download_says_to_fetch_a_fresh_url() -> None:
    expired = Reply(403, b"<Error><Code>AccessDenied</Code>Request has expired</Error>", {})
    policy = RecordingPolicy(max_retries=3, backoff_seconds=0.01)
    with scripted_server([expired]) as server, client_for(server.url, policy) as client:
        with pytest.raises(DownloadRejectedError) as info:
            client.download(server.url + "/result.zip", label="result archive")
    assert server.count("GET") == 1  # an answer, not a glitch: not repeated
    text = str(info.value)
    assert "HTTP 403" in text and "Request has expired" in text and "re-run the task" in text
    assert type(pickle.loads(pickle.dumps(info.value))) is DownloadRejectedError


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Proxy login required</body></html>", b""],
    ids=["html-page", "empty"],
)
def test_result_that_is_not_a_zip_is_an_unexpected_response(
    body: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = RetryPolicy(max_retries=0)
    with scripted_server([Reply(200, body, {"Content-Type": "text/html"})]) as server:
        hook = hook_for(monkeypatch, server.url, policy)
        with pytest.raises(ResultArchiveError) as in_memory:
            hook.download_result(server.url + "/result.zip")
        with pytest.raises(ResultArchiveError) as kept:
            hook.download_result(server.url + "/result.zip", tmp_path / "result.zip")
    for error in (in_memory.value, kept.value):
        assert isinstance(error, UnexpectedResponseError)
        assert error.status_code == 200
        text = str(error)
        assert "not a readable zip file" in text and "Re-run the task" in text
        assert f"{len(body)} bytes" in text
        if body:
            assert "Proxy login required" in text and "proxy" in text
        assert isinstance(error.__cause__, zipfile.BadZipFile)  # kept as the cause


# -- what each error says to do ----------------------------------------------------------------


def credential_reply(message: str) -> Reply:
    body = json.dumps({"code": "4001000204", "error": "PREDA_EXTERNAL_BAD_REQUEST", "message": message}).encode()
    return Reply(400, body)


NEW_KEY = Reply(body=json.dumps({"api_key": "derived-key", "end_date": "2099-01-01T00:00:00Z"}).encode())


def refused(replies: list[Reply], call: Callable[[PredictionOneClient], object], **options: object) -> str:
    """The text of the :class:`InvalidCredentialsError` ``call`` ends with against ``replies``."""
    with scripted_server(replies) as server, client_for(server.url, RetryPolicy(max_retries=0), **options) as client:
        with pytest.raises(InvalidCredentialsError) as info:
            call(client)
    error = info.value
    text = str(error)
    assert error.hint in text and str(pickle.loads(pickle.dumps(error))) == text
    return text


@pytest.mark.parametrize("message", sorted(c.CREDENTIAL_MESSAGES))
def test_refused_secret_key_says_to_replace_it(message: str) -> None:
    calls: list[Callable[[PredictionOneClient], object]] = [
        lambda client: client.get_api_key("train"),
        lambda client: client.get_api_key("retrain", 7),
        lambda client: client.list_models(),  # its key is fetched first: that is where it fails
        lambda client: client.retrain_status(7, "job-1"),
    ]
    for call in calls:
        text = refused([credential_reply(message)], call)
        assert "secret key was not accepted" in text and "Settings screen" in text
        assert "If this was Get API Key" not in text


def test_retrain_key_of_another_model_points_at_the_model_id_not_the_secret_key() -> None:
    calls: list[Callable[[PredictionOneClient], object]] = [
        lambda client: client.retrain_status(7, "job-1"),
        lambda client: client.switch_model(7, "job-1"),
    ]
    wrong_model = credential_reply(c.MSG_NOT_FOUND_CREDENTIAL)
    for call in calls:  # the retrain key of model 7 is issued, refused for this job, re-issued, refused again
        text = refused([NEW_KEY, wrong_model, NEW_KEY, wrong_model], call)
        assert "bound to one model_id" in text and "Pass the model_id" in text
        assert "secret key" not in text


def test_refused_derived_key_says_it_was_reissued_once() -> None:
    far = datetime.now(timezone.utc) + timedelta(hours=1)
    cache = ApiKeyCache()
    cache.put(c.CredentialType.TRAIN, None, ApiKey("cached-key", far.isoformat(), far))
    inactive = credential_reply(c.MSG_INACTIVE_CREDENTIAL)
    text = refused([inactive, NEW_KEY, inactive], lambda client: client.list_models(0, 10), key_cache=cache)
    assert "even after it was re-issued once" in text and "Re-run the task" in text


def test_deleted_user_and_generic_inference_errors_say_what_to_do() -> None:
    body = json.dumps({"code": "4001000204", "message": c.MSG_USER_DELETED}).encode()
    with scripted_server([NEW_KEY, Reply(400, body)]) as server, client_for(server.url, RetryPolicy()) as client:
        with pytest.raises(UserDeletedError) as info:
            client.list_models(0, 10)
    deleted = info.value
    assert "Sign in to the Prediction One web app" in str(deleted) and "Secret key (password)" in str(deleted)
    page = Reply(400, b"<html>nope</html>", {"Content-Type": "text/html"})
    with scripted_server([page]) as server, client_for(server.url, RetryPolicy()) as client:
        with pytest.raises(InferenceError) as inference:
            client.inference(server.url + "/predict", "inference-key", "a,b\n1,2\n")
    rejected = inference.value
    assert type(rejected) is InferenceError
    text = str(rejected)
    assert "Check the prediction API URL and key" in text and "one CSV header plus one data row" in text
