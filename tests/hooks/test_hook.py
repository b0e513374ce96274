"""The hook: connection parsing, masking, test_connection, and provider discovery."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from airflow_provider_predictionone.api import calls
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.hooks.predictionone import ConnectionSettings, PredictionOneHook


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "predictionone_default", **fields: object) -> None:
    payload = {"conn_type": "predictionone"} | fields
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))


def test_constructor_does_no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise AssertionError("connection looked up in the constructor")

    monkeypatch.setattr(PredictionOneHook, "get_connection", classmethod(boom))
    hook = PredictionOneHook("anything")
    assert hook.predictionone_conn_id == "anything"


def test_settings_from_connection_with_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        host="127.0.0.1",
        port=8765,
        password=" s3cret ",
        extra={"timeout": "120", "connect_timeout": 5, "retries": 2, "retry_delay": 0.5, "verify_ssl": "false"},
    )
    settings = PredictionOneHook().settings
    assert settings.host == "http://127.0.0.1:8765"
    assert (settings.read_timeout, settings.connect_timeout, settings.retries, settings.retry_delay) == (120, 5, 2, 0.5)
    assert settings.verify is False and settings.secret_key == "s3cret"
    assert "s3cret" not in repr(settings)


def test_host_defaults_and_schemes(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="k")
    assert PredictionOneHook().settings.host == "https://developer-api.predictionone.sony.biz"
    set_conn(monkeypatch, password="k", host="developer-api.easy-predictive-analytics.sony.com")
    assert PredictionOneHook().settings.host == "https://developer-api.easy-predictive-analytics.sony.com"
    set_conn(monkeypatch, password="k", extra={"extra__predictionone__retries": "1"})
    assert PredictionOneHook().settings.retries == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "no secret key"),
        ({"password": "k", "extra": {"timeout": "soon"}}, "timeout='soon' is not a number"),
        ({"password": "k", "extra": {"retries": -1}}, "retries=-1 must be at least 0"),
        ({"password": "k", "extra": {"verify_ssl": "maybe"}}, "verify_ssl='maybe' must be true or false"),
    ],
)
def test_bad_connections_are_explained(monkeypatch: pytest.MonkeyPatch, fields: dict, message: str) -> None:
    set_conn(monkeypatch, **fields)
    with pytest.raises(PredictionOneConfigError, match=message):
        PredictionOneHook().settings  # noqa: B018


def test_plain_http_to_remote_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="k", host="http://developer-api.predictionone.sony.biz")
    ok, message = PredictionOneHook().test_connection()
    assert not ok and "plain http://" in message


def test_secret_key_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    try:  # newer Airflow 3
        from airflow.sdk._shared.secrets_masker.secrets_masker import redact
    except ImportError:
        try:  # Airflow 3.0
            from airflow.sdk.execution_time.secrets_masker import redact
        except ImportError:  # Airflow 2.x
            from airflow.utils.log.secrets_masker import redact

    set_conn(monkeypatch, password="very-secret-key-123", host="http://127.0.0.1:9")
    PredictionOneHook().get_conn()
    assert "very-secret-key-123" not in str(redact("key=very-secret-key-123"))


def test_connection_settings_reject_missing_password() -> None:
    class Conn:
        conn_id = "x"
        password = None
        host = None
        port = None
        extra_dejson: ClassVar[dict] = {}

    with pytest.raises(PredictionOneConfigError, match=r"Secret key \(password\) field"):
        ConnectionSettings.from_connection(Conn())


def test_provider_is_discovered_by_airflow() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-predictionone" in manager.providers
    hook_info = manager.hooks["predictionone"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_predictionone.hooks.predictionone.PredictionOneHook"
    assert hook_info.connection_id_attribute_name == "predictionone_conn_id"


def test_connection_form_is_read_by_airflow() -> None:
    """Airflow 3.2+ reads the form from the provider info; older versions call the hook's methods."""
    import airflow
    from airflow.providers_manager import ProvidersManager
    from packaging.version import Version

    if Version(airflow.__version__).release < (3, 2):
        try:  # before 3.2, ProvidersManager reads a hook's form only when wtforms is importable
            import wtforms  # noqa: F401
        except ImportError:
            pytest.skip(
                "this Airflow reads connection forms from hooks only with wtforms installed (the FAB provider); "
                "without it no provider's form fields load (apache/airflow#55841)"
            )
    manager = ProvidersManager()
    behaviour = manager.field_behaviours["predictionone"]
    assert "login" in behaviour["hidden_fields"] and behaviour["relabeling"]["password"] == "Secret key"
    widgets = manager.connection_form_widgets
    assert "extra__predictionone__timeout" in widgets and "extra__predictionone__verify_ssl" in widgets


def test_test_connection_against_the_emulator(monkeypatch: pytest.MonkeyPatch, emulator, secret_key: str) -> None:
    set_conn(monkeypatch, host=emulator.url, password=secret_key)
    ok, message = PredictionOneHook().test_connection()
    assert ok, message
    assert "valid until 20" in message and emulator.url in message
    set_conn(monkeypatch, host=emulator.url, password="wrong-secret", extra={"retries": 0})
    ok, message = PredictionOneHook().test_connection()
    assert not ok and "invalid_api_key." in message and "wrong-secret" not in message


def test_test_connection_reports_an_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.scripted_server import free_port

    set_conn(monkeypatch, host=f"http://127.0.0.1:{free_port()}", password="k", extra={"retries": 0})
    ok, message = PredictionOneHook().test_connection()
    assert not ok and "Get API Key" in message


def test_test_connection_probes_with_one_retry_and_short_timeouts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Test button must not wait through the connection's 5 retries and 10 s connect timeouts."""
    from airflow_provider_predictionone.hooks import predictionone as hook_module
    from tests.api.scripted_server import free_port

    extra = {"retries": 5, "connect_timeout": 10, "timeout": 60, "retry_delay": 0.01}
    set_conn(monkeypatch, host=f"http://127.0.0.1:{free_port()}", password="k", extra=extra)
    hook = PredictionOneHook()
    probe = hook.settings.probe_options()
    assert probe["retry"].max_retries == hook_module.PROBE_RETRIES == 1
    assert probe["connect_timeout"] == hook_module.PROBE_CONNECT_TIMEOUT < 10
    assert probe["read_timeout"] == hook_module.PROBE_READ_TIMEOUT < 60
    assert hook.settings.client_options()["retry"].max_retries == 5  # tasks keep the full policy

    with caplog.at_level("WARNING", logger="airflow_provider_predictionone.api.client"):
        ok, message = hook.test_connection()  # nothing listens on the port: refused
    assert not ok and "Gave up after 2 attempts" in message
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 1 and "retry 1/1" in retries[0]


def test_probe_keeps_a_connections_shorter_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="k", extra={"retries": 0, "connect_timeout": 0.5, "timeout": 2})
    probe = PredictionOneHook().settings.probe_options()
    assert (probe["retry"].max_retries, probe["connect_timeout"], probe["read_timeout"]) == (0, 0.5, 2)


def test_form_and_hook_agree_on_the_smallest_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_predictionone.connection_form import EXTRA_FIELDS, MIN_TIMEOUT_SECONDS

    for name in ("timeout", "connect_timeout"):
        assert EXTRA_FIELDS[name]["schema"]["minimum"] == MIN_TIMEOUT_SECONDS
        set_conn(monkeypatch, password="k", extra={name: MIN_TIMEOUT_SECONDS})
        PredictionOneHook().settings  # noqa: B018  (the form's minimum is accepted)
        set_conn(monkeypatch, password="k", extra={name: MIN_TIMEOUT_SECONDS / 2})
        with pytest.raises(PredictionOneConfigError, match=f"{name}=.* must be at least {MIN_TIMEOUT_SECONDS}"):
            PredictionOneHook().settings  # noqa: B018


def test_async_client_from_the_connection(monkeypatch: pytest.MonkeyPatch, emulator, secret_key: str) -> None:
    import asyncio

    set_conn(monkeypatch, host=emulator.url, password=secret_key)

    async def run() -> int:
        async with await PredictionOneHook().get_async_conn() as client:
            return len(await client.call(calls.list_classifiers()))

    assert asyncio.run(run()) == 0
