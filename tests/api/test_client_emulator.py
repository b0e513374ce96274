"""The API client against the local emulator over real HTTP: every endpoint and documented error.

Moving data files (checks, uploads, the retrain archive, result downloads) is the hook's part of the
flow; here the hook runs on the same emulator so that every endpoint is reached."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.client import PredictionOneClient
from airflow_provider_predictionone.api.contract import ColumnType, JobState
from airflow_provider_predictionone.api.datafiles import build_column_info, parse_column_info
from airflow_provider_predictionone.api.errors import (
    ClassifierNotFoundError,
    InferenceBadRequestError,
    InferenceInvalidApiKeyError,
    InferenceIpNotAllowedError,
    InvalidCredentialsError,
    ModelDeletedError,
    PredictionApiNotRunningError,
    PredictionOneConfigError,
    RetrainJobNotFinishedError,
    RetrainJobNotFoundError,
    UserDeletedError,
)
from airflow_provider_predictionone.api.models import ALLOW_ALL, IpRule
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.api.sources import UploadSource
from tests.clients import async_client, emulator_hook, sync_client

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
TRAIN = DATA / "customers_train.csv"
EVAL = DATA / "customers_eval.csv"
RETRAIN = DATA / "customers_retrain.csv"
SCORE = DATA / "customers_score.csv"
COLUMN_INFO = DATA / "column_info.csv"
CONFIG = {"tc": "プレミアム購入", "tt": "binary_classification", "tv": "はい"}


@pytest.fixture
def client(emulator: Any, secret_key: str) -> Iterator[PredictionOneClient]:
    with sync_client(secret_key, host=emulator.url, retry=RetryPolicy(max_retries=2, backoff_seconds=0.01)) as client:
        yield client


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, emulator: Any, secret_key: str) -> Any:
    """The hook on the same emulator: it checks and uploads data files and downloads results."""
    return emulator_hook(monkeypatch, emulator, secret_key)


def wait_train(client: PredictionOneClient, epid: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = client.train_status(epid)
        if status.state.is_terminal or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def wait_retrain(client: PredictionOneClient, model_id: int, job_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = client.retrain_status(model_id, job_id)
        if status.state.is_terminal or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def wait_classifier(client: PredictionOneClient, classifier_id: str, ready: bool = True, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = client.get_classifier(classifier_id)
        assert found is not None
        if (found.is_ready if ready else found.is_stopped) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def trained(client: PredictionOneClient, hook: Any) -> dict[str, Any]:
    upload_id = hook.upload_training_data(TRAIN, COLUMN_INFO, EVAL, check_data=False)
    job = client.create_model(upload_id, "client-test-model", CONFIG)
    status = wait_train(client, job)
    assert status.state is JobState.SUCCEEDED, status
    model = client.find_model_by_name("client-test-model")
    assert model is not None
    return {"epid": job, "status": status, "model": model}


@pytest.fixture
def deployed(client: PredictionOneClient, trained: dict[str, Any]) -> dict[str, Any]:
    created = client.create_classifier(trained["model"].model_id, ALLOW_ALL)
    classifier = wait_classifier(client, created.classifier_id)
    return {"created": created, "classifier": classifier, **trained}


def test_train_flow_end_to_end(client: PredictionOneClient, hook: Any, trained: dict[str, Any], tmp_path: Path) -> None:
    info = client.data_set_info(trained["epid"])
    assert info.row_count == 2000
    assert info.raw_column_names[-1] == "プレミアム購入"
    assert info.column("年齢") is not None and info.column("年齢").data_count > 0
    result = hook.download_result(trained["status"].result_url, tmp_path / "result.zip")
    assert (tmp_path / "result.zip").exists()
    assert (
        client.download(trained["status"].result_url, label="result archive") == (tmp_path / "result.zip").read_bytes()
    )
    assert 0.5 < float(result.metrics["accuracy"]) <= 1.0
    assert trained["model"].config.get("tc") == "プレミアム購入"


def test_api_keys_are_cached_per_credential_and_refreshed_after_expiry(
    client: PredictionOneClient, emulator: Any
) -> None:
    client.list_models()
    client.list_data_sets()
    client.list_classifiers()
    assert emulator.request_count("GET", "/api-key") == 2  # train + deploy, once each
    emulator.expire_api_keys()
    client.list_models()  # refused as inactive, re-issued once, then answered
    assert emulator.request_count("GET", "/api-key") == 3
    assert client.key_requests == 3


def test_key_near_its_end_date_is_refreshed_before_use(emulator: Any, secret_key: str) -> None:
    emulator.set_key_lifetime(1.0)
    client = sync_client(secret_key, host=emulator.url)
    client.list_models()
    time.sleep(1.1)
    client.list_models()
    assert emulator.request_count("GET", "/api-key") == 2
    # nothing was refused: the key was renewed from its end_date, not after an error
    assert client.key_requests == 2


def test_wrong_secret_key(emulator: Any) -> None:
    client = sync_client("not-the-secret", host=emulator.url, retry=RetryPolicy(max_retries=0))
    with pytest.raises(InvalidCredentialsError) as info:
        client.list_models()
    assert info.value.message == "invalid_api_key." and info.value.code == "4001000204"
    assert info.value.status_code == 400 and "Settings screen" in str(info.value)


def test_deleted_user(client: PredictionOneClient, emulator: Any, secret_key: str) -> None:
    emulator.delete_user(secret_key)
    with pytest.raises(UserDeletedError, match="This user may be deleted"):
        client.list_models()


def test_pagination_goes_through_metadata_total(client: PredictionOneClient, hook: Any) -> None:
    for index in range(3):
        upload_id = hook.upload_training_data(TRAIN, COLUMN_INFO, check_data=False)
        client.create_model(upload_id, f"paged-{index}", CONFIG)
    assert len(list(client.iter_models(page_size=2))) == 3
    page = client.list_models(offset=2, limit=2)
    assert page.metadata.total == 3 and len(page.models) == 1


def test_delete_model_and_data_set(client: PredictionOneClient, trained: dict[str, Any]) -> None:
    data_sets = list(client.iter_data_sets())
    assert data_sets and data_sets[0].data_count == 2000
    client.delete_data_set(data_sets[0].data_set_id)
    assert list(client.iter_data_sets()) == []
    client.delete_model(trained["model"].model_id)
    assert client.find_model_by_name("client-test-model") is None
    with pytest.raises(ModelDeletedError):
        client.get_api_key("retrain", trained["model"].model_id)


def test_bad_files_fail_before_any_request(hook: Any, emulator: Any, tmp_path: Path) -> None:
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("年齢,購入\n1,はい\n".encode("shift_jis"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(PredictionOneConfigError, match="not UTF-8"):
        hook.upload_training_data(sjis, {"年齢": "float", "購入": "string"})
    with pytest.raises(PredictionOneConfigError, match="is empty"):
        hook.upload_training_data(empty, {"a": "float"})
    with pytest.raises(PredictionOneConfigError, match="does not exist"):
        hook.upload_training_data(tmp_path / "missing.csv", COLUMN_INFO)
    with pytest.raises(PredictionOneConfigError, match=r"no type for column\(s\) \['問い合わせ内容'\]"):
        columns = parse_column_info(COLUMN_INFO.read_bytes())
        del columns["問い合わせ内容"]
        hook.upload_training_data(TRAIN, columns)
    with pytest.raises(PredictionOneConfigError, match="not a column type"):
        hook.upload_training_data(TRAIN, {name: "integer" for name in parse_column_info(COLUMN_INFO.read_bytes())})
    assert emulator.request_count("GET", "/api-key") == 0
    assert emulator.request_count("GET", "/data-sets/upload-url") == 0


def test_column_info_from_a_mapping_is_utf8_with_bom_in_header_order() -> None:
    payload = build_column_info({"年齢": "float", "名前": ColumnType.STRING})
    assert payload.startswith(b"\xef\xbb\xbf") and payload.decode("utf-8-sig").splitlines() == [
        "column_name,column_type",
        "年齢,float",
        "名前,string",
    ]


def test_streaming_upload_larger_than_the_chunk_size(client: PredictionOneClient, tmp_path: Path) -> None:
    """The client's upload streams a file of many chunks; the service reads every row of it."""
    big = tmp_path / "big.csv"
    with TRAIN.open(encoding="utf-8") as source, big.open("w", encoding="utf-8", newline="") as out:
        rows = list(csv.reader(source))
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(rows[0])
        for _ in range(20):
            writer.writerows(rows[1:])
    assert big.stat().st_size > 4 * 65536
    urls = client.train_upload_urls()
    training = UploadSource.of(big, param="training_file")
    client.upload(urls.learn_data_set_upload_url, training, label="training file", chunk_size=65536)
    client.upload(urls.column_info_upload_url, UploadSource.of(COLUMN_INFO, param="column_info"), label="column info")
    assert client.data_set_info(urls.external_process_id).row_count == 40000


def test_deploy_inference_and_stop(client: PredictionOneClient, hook: Any, deployed: dict[str, Any]) -> None:
    classifier = deployed["classifier"]
    created = deployed["created"]
    assert classifier.model_id == deployed["model"].model_id and classifier.url
    assert "api_key" not in repr(created) or created.api_key not in repr(created)
    header, row = SCORE.read_text(encoding="utf-8").splitlines()[:2]
    result = client.inference(classifier.url, created.api_key, f"{header}\n{row}\n", reasons=True, include_input=True)
    assert result.prediction_csv and result.reasons_csv
    table = list(csv.reader(result.prediction_csv.splitlines()))
    assert len(table) == 2 and "顧客ID" in table[0]
    with pytest.raises(InferenceInvalidApiKeyError):
        client.inference(classifier.url, "wrong-key", f"{header}\n{row}\n")
    with pytest.raises(InferenceBadRequestError):
        client.inference(classifier.url, created.api_key, f"{header}\n{row}\n{row}\n")
    # Only the rules change: the hook sends the other fields back as read (spec 7.8).
    hook.update_prediction_api(classifier.classifier_id, rules=[IpRule("127.0.0.0/8", "deny", 0)])
    wait_classifier(client, classifier.classifier_id)
    with pytest.raises(InferenceIpNotAllowedError):
        client.inference(classifier.url, created.api_key, f"{header}\n{row}\n")
    stopped = client.update_classifier(
        classifier.classifier_id, rules=list(ALLOW_ALL), active=False, is_editable=classifier.is_editable
    )
    assert stopped.classifier_id == classifier.classifier_id
    wait_classifier(client, classifier.classifier_id, ready=False)
    with pytest.raises(PredictionApiNotRunningError, match="status is not running"):
        client.inference(classifier.url, created.api_key, f"{header}\n{row}\n")
    client.delete_classifier(classifier.classifier_id)
    assert client.get_classifier(classifier.classifier_id) is None


def test_retrain_flow_with_zip_and_switch(
    client: PredictionOneClient, hook: Any, deployed: dict[str, Any], emulator: Any
) -> None:
    model_id = deployed["model"].model_id
    with pytest.raises(RetrainJobNotFoundError):
        client.retrain_status(model_id, "no-such-job")
    emulator.set_train_seconds(2.0)
    job_id = hook.start_retraining(model_id, RETRAIN, EVAL)  # a zip of training + evaluation data
    with pytest.raises(RetrainJobNotFinishedError, match="Wait until"):
        client.switch_model(model_id, job_id)
    status = wait_retrain(client, model_id, job_id)
    assert status.state is JobState.SUCCEEDED and status.model_id not in (None, model_id)
    assert "accuracy" in hook.download_result(status.download_url).metrics
    client.switch_model(model_id, job_id)
    classifier = wait_classifier(client, deployed["classifier"].classifier_id)
    assert classifier.model_id == status.model_id


def test_retrain_without_a_prediction_api_cannot_switch(
    client: PredictionOneClient, hook: Any, trained: dict[str, Any]
) -> None:
    model_id = trained["model"].model_id
    job_id = hook.start_retraining(model_id, RETRAIN)
    assert wait_retrain(client, model_id, job_id).state is JobState.SUCCEEDED
    with pytest.raises(ClassifierNotFoundError, match="Not found classifier"):
        client.switch_model(model_id, job_id)


def test_async_client_status_checks(
    client: PredictionOneClient, deployed: dict[str, Any], emulator: Any, secret_key: str
) -> None:
    async def run() -> tuple[Any, Any]:
        async with async_client(secret_key, host=emulator.url) as aclient:
            status = await aclient.train_status(deployed["epid"])
            emulator.expire_api_keys()
            classifier = await aclient.get_classifier(deployed["classifier"].classifier_id)
            return status, classifier

    status, classifier = asyncio.run(run())
    assert status.state is JobState.SUCCEEDED and classifier.is_ready


def test_update_and_async_get_classifier_report_the_inference_key(
    deployed: dict[str, Any], emulator: Any, secret_key: str
) -> None:
    """The prediction API's key in an Update Classifier answer, and in the Get Classifier answer a
    trigger reads, is handed to ``on_secret`` (the hook registers it with Airflow's masker)."""
    classifier_id, inference_key = deployed["classifier"].classifier_id, deployed["created"].api_key
    seen: list[str] = []
    with sync_client(secret_key, host=emulator.url, on_secret=seen.append) as fresh:
        # Every field given: no Get Classifier first, so only the update's answer can report the key.
        updated = fresh.update_classifier(classifier_id, rules=list(ALLOW_ALL), active=True, is_editable=True)
    assert updated.api_key == inference_key and inference_key in seen
    assert emulator.request_count("PATCH", "/classifiers/{classifier_id}") == 1

    async def read() -> Any:
        async with async_client(secret_key, host=emulator.url, on_secret=seen_async.append) as aclient:
            return await aclient.get_classifier(classifier_id)

    seen_async: list[str] = []
    assert asyncio.run(read()).api_key == inference_key
    assert inference_key in seen_async
