"""Result downloads over real HTTP (retries, Retry-After, the errors they end with) and what each
error's text tells the user to do."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import dataclass, field

import pytest

from airflow_provider_predictionone.api import calls
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
    error_from_response,
)
from airflow_provider_predictionone.api.retry import RetryPolicy
from tests.api.scripted_server import Reply, free_port, scripted_server


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


def client_for(url: str, retry: RetryPolicy) -> PredictionOneClient:
    return PredictionOneClient("secret", host=url, retry=retry, connect_timeout=2.0, read_timeout=2.0)


def test_download_retry_honours_retry_after() -> None:
    policy = RecordingPolicy(max_retries=3, backoff_seconds=0.01, max_backoff_seconds=0.05)
    busy = Reply(503, b"busy", {"Retry-After": "0"})
    limited = Reply(429, b"{}", {"Retry-After": "0.01"})
    with scripted_server([busy, limited, ZIP]) as server, client_for(server.url, policy) as client:
        result = client.download_result(server.url + "/result.zip")
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
    assert policy.hints == [None]  # no answer, no Retry-After


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
def test_result_that_is_not_a_zip_is_an_unexpected_response(body: bytes, tmp_path) -> None:
    policy = RetryPolicy(max_retries=0)
    with scripted_server([Reply(200, body, {"Content-Type": "text/html"})]) as server:
        with client_for(server.url, policy) as client:
            with pytest.raises(ResultArchiveError) as in_memory:
                client.download_result(server.url + "/result.zip")
            with pytest.raises(ResultArchiveError) as kept:
                client.download_result(server.url + "/result.zip", tmp_path / "result.zip")
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


def credential_error(operation: str, message: str) -> InvalidCredentialsError:
    body = json.dumps({"code": "4001000204", "error": "PREDA_EXTERNAL_BAD_REQUEST", "message": message}).encode()
    error = error_from_response(operation, 400, body)
    assert isinstance(error, InvalidCredentialsError)
    return error


@pytest.mark.parametrize("message", sorted(c.CREDENTIAL_MESSAGES))
def test_refused_secret_key_says_to_replace_it(message: str) -> None:
    for credential, model_id in ((c.CredentialType.TRAIN, None), (c.CredentialType.RETRAIN, 7)):
        text = str(credential_error(calls.get_api_key(credential, model_id).operation, message))
        assert "secret key was not accepted" in text and "Settings screen" in text
        assert "If this was Get API Key" not in text


def test_retrain_key_of_another_model_points_at_the_model_id_not_the_secret_key() -> None:
    for call in (calls.retrain_status(7, "job-1"), calls.switch_model(7, "job-1")):
        error = credential_error(call.operation, c.MSG_NOT_FOUND_CREDENTIAL)
        text = str(error)
        assert "bound to one model_id" in text and "Pass the model_id" in text
        assert "secret key" not in text
        assert error.hint in text and str(pickle.loads(pickle.dumps(error))) == text


def test_refused_derived_key_says_it_was_reissued_once() -> None:
    text = str(credential_error(calls.list_models(0, 10).operation, c.MSG_INACTIVE_CREDENTIAL))
    assert "even after it was re-issued once" in text and "Re-run the task" in text


def test_deleted_user_and_generic_inference_errors_say_what_to_do() -> None:
    body = json.dumps({"code": "4001000204", "message": c.MSG_USER_DELETED}).encode()
    deleted = error_from_response(calls.list_models(0, 10).operation, 400, body)
    assert isinstance(deleted, UserDeletedError)
    assert "Sign in to the Prediction One web app" in str(deleted) and "Secret key (password)" in str(deleted)
    rejected = error_from_response("Inference (POST <prediction API url>)", 400, b"<html>nope</html>", inference=True)
    assert type(rejected) is InferenceError
    text = str(rejected)
    assert "Check the prediction API URL and key" in text and "one CSV header plus one data row" in text
