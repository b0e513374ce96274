"""Uploads are verified: the server's S3-style ETag (hex MD5 of what it received) must match the
MD5 of what was sent, computed while streaming; a mismatch is retried from the start, then fails
naming the file and both checksums. No MD5-shaped ETag: nothing to compare, the upload passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_predictionone.api.errors import PredictionOneUploadError, UploadIntegrityError
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.sources import UploadSource
from airflow_provider_predictionone.api.transfer import UploadReceipt, received_md5
from tests.api.scripted_server import Reply, scripted_server
from tests.clients import sync_client

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
FAST = RetryPolicy(max_retries=2, backoff_seconds=0.01)
TIMEOUT = (5.0, 10.0)
WRONG = '"0123456789abcdef0123456789abcdef"'
TRANSFER_LOGGER = "airflow_provider_predictionone.api.transfer"


def payload_file(tmp_path: Path, size: int = 300_000) -> tuple[Path, str]:
    path = tmp_path / "顧客データ.csv"
    data = (b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(size // 8)))[:size]
    path.write_bytes(data)
    return path, hashlib.md5(data).hexdigest()


def put(url: str, source: UploadSource, *, retry: RetryPolicy = FAST, **kwargs: Any) -> UploadReceipt:
    """Upload ``source`` to ``url`` with the sync client (the secret key is never sent to an upload URL)."""
    connect, read = TIMEOUT
    with sync_client(
        "upload-test-secret-key", host="http://127.0.0.1", retry=retry, connect_timeout=connect, read_timeout=read
    ) as client:
        return client.upload(url, source, label="training file", chunk_size=65536, **kwargs)


def test_etag_parsing() -> None:
    digest = "9e107d9d372bb6826bd81d3542a419d6"
    assert received_md5(f'"{digest}"') == digest
    assert received_md5(digest.upper()) == digest
    for not_md5 in (None, "", f'"{digest}-2"', f'W/"{digest}"', '"abc"', f'"{digest}0"'):
        assert received_md5(not_md5) is None, not_md5


def test_the_emulator_answers_the_md5_of_what_it_received(emulator: Any, secret_key: str, tmp_path: Path) -> None:
    path, digest = payload_file(tmp_path)
    with sync_client(secret_key, host=emulator.url) as client:
        url = client.train_upload_urls().learn_data_set_upload_url
    receipt = put(url, UploadSource.of(path, param="training_file"))
    assert receipt == UploadReceipt(size=path.stat().st_size, md5=digest, etag=f'"{digest}"', verified=True)
    answer = requests.put(url, data=b"abc", timeout=TIMEOUT)  # a re-upload overwrites: 200, empty body, ETag
    assert (answer.status_code, answer.content) == (200, b"")
    assert answer.headers["ETag"] == f'"{hashlib.md5(b"abc").hexdigest()}"'


@pytest.fixture
def hook(p1_hook: Any) -> Any:
    """A hook on the emulator whose logger is set up before the test runs: Airflow configures logging
    when a hook first logs, which would drop the log capture of a running test."""
    p1_hook.log  # noqa: B018
    return p1_hook


def test_every_upload_of_the_train_and_retrain_flows_is_verified(hook: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=TRANSFER_LOGGER)
    training, column_info, evaluation = (
        DATA / "customers_train.csv",
        DATA / "column_info.csv",
        DATA / "customers_eval.csv",
    )
    hook.upload_training_data(training, column_info, evaluation, check_data=False)
    uploaded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Uploaded")]
    assert len(uploaded) == 3 and all("the server confirmed its MD5" in m for m in uploaded), uploaded

    client = hook.get_conn()
    job = client.create_model(
        hook.upload_training_data(training, column_info, check_data=False),
        "integrity",
        {"tc": "プレミアム購入", "tt": "binary_classification", "tv": "はい"},
    )
    from tests.triggers.job_fixtures import wait_for_training

    wait_for_training(client, job)
    model = client.find_model_by_name("integrity")
    assert model is not None
    caplog.clear()
    hook.start_retraining(model.model_id, DATA / "customers_retrain.csv", evaluation)
    assert any("retraining archive" in r.getMessage() and "confirmed its MD5" in r.getMessage() for r in caplog.records)


def test_a_corrupted_upload_is_retried_from_the_start_then_fails_naming_both_checksums(tmp_path: Path) -> None:
    path, digest = payload_file(tmp_path)
    opened = 0
    source = UploadSource.of(path, param="training_file")
    real_open = source.open

    def counting_open() -> Any:
        nonlocal opened
        opened += 1
        return real_open()

    source.open = counting_open  # type: ignore[method-assign]
    with scripted_server([Reply(200, b"", headers={"ETag": WRONG})]) as server:
        with pytest.raises(PredictionOneUploadError) as info:
            put(server.url + "/upload/t", source)
    assert isinstance(info.value, UploadIntegrityError)
    text = str(info.value)
    assert "training file '顧客データ.csv' was not received intact" in text
    assert f"MD5 {digest}" in text and "MD5 0123456789abcdef0123456789abcdef" in text
    assert "after 3 attempts" in text and "retried safely" in text
    puts = [s for s in server.seen if s.method == "PUT"]
    assert len(puts) == 3 and all(s.body == path.read_bytes() for s in puts)  # each retry from the start
    assert opened == 3  # one read of the file per attempt: the MD5 is computed while sending


def test_a_corrupted_attempt_followed_by_a_good_one_succeeds(tmp_path: Path) -> None:
    path, digest = payload_file(tmp_path)
    good = Reply(200, b"", headers={"ETag": f'"{digest}"'})
    with scripted_server([Reply(200, b"", headers={"ETag": WRONG}), good]) as server:
        receipt = put(server.url + "/u", UploadSource.of(path, param="training_file"))
    assert receipt.verified and receipt.md5 == digest and server.count("PUT") == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"ETag": '"d41d8cd98f00b204e9800998ecf8427e-2"'}, {"ETag": 'W/"d41d8cd98f00b204e9800998ecf8427e"'}],
    ids=["no ETag", "multipart ETag", "weak ETag"],
)
def test_without_an_md5_etag_there_is_nothing_to_compare(tmp_path: Path, headers: dict[str, str]) -> None:
    path, digest = payload_file(tmp_path)
    with scripted_server([Reply(200, b"", headers=headers)]) as server:
        receipt = put(server.url + "/u", UploadSource.of(path, param="training_file"))
    assert not receipt.verified and receipt.md5 == digest and server.count("PUT") == 1


def test_verification_can_be_switched_off(tmp_path: Path) -> None:
    path, _digest = payload_file(tmp_path)
    with scripted_server([Reply(200, b"", headers={"ETag": WRONG})]) as server:
        receipt = put(server.url + "/u", UploadSource.of(path, param="training_file"), verify_checksum=False)
    assert not receipt.verified and server.count("PUT") == 1


def test_a_mismatch_before_a_refusal_is_reported_with_it() -> None:
    # A retrain upload URL takes one upload: after a corrupted first attempt the retry is refused.
    refusal = Reply(409, json.dumps({"message": "The retraining data of this job has already been uploaded."}).encode())
    with scripted_server([Reply(200, b"", headers={"ETag": WRONG}), refusal]) as server:
        with pytest.raises(PredictionOneUploadError) as info:
            put(server.url + "/u", UploadSource.of(io.BytesIO(b"a,b\n1,2\n"), param="training_file"))
    text = str(info.value)
    assert "already been uploaded" in text and "An earlier attempt was not received intact" in text
    assert "0123456789abcdef0123456789abcdef" in text


def test_a_file_that_changes_while_it_is_sent_is_not_taken_as_received() -> None:
    stream = io.BytesIO(b"a,b\n1,2\n")
    source = UploadSource.of(stream, param="training_file")
    stream.seek(0, io.SEEK_END)
    stream.write(b"3,4\n")  # grows after its size was taken
    # The server answers as if all is well (no ETag to compare): only the byte count shows the change.
    with scripted_server([Reply(200, b"", headers={})]) as server:
        with pytest.raises(UploadIntegrityError) as info:
            put(server.url + "/u", source, retry=RetryPolicy(max_retries=0))
    problem = str(info.value)
    assert "12 bytes were read from it but 8 were announced" in problem
    assert "changed while it was being uploaded" in problem
    assert server.count("PUT") == 1
