"""The hook: connection parsing, masking, test_connection, and provider discovery."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_predictionone.api import settings as settings_module
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.retry import RetryPolicy
from airflow_provider_predictionone.hooks.connection import client_settings
from airflow_provider_predictionone.hooks.predictionone import PredictionOneHook


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
    assert settings.service_url == "http://127.0.0.1:8765"
    assert settings.base_url == "http://127.0.0.1:8765/v1/external"
    assert (settings.read_timeout, settings.connect_timeout) == (120, 5)
    assert (settings.retry.max_retries, settings.retry.backoff_seconds) == (2, 0.5)
    assert settings.verify is False and settings.secret_key == "s3cret"
    assert "s3cret" not in repr(settings)


def test_host_defaults_and_schemes(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="k")
    assert PredictionOneHook().settings.service_url == "https://developer-api.predictionone.sony.biz"
    set_conn(monkeypatch, password="k", host="developer-api.easy-predictive-analytics.sony.com")
    assert PredictionOneHook().settings.service_url == "https://developer-api.easy-predictive-analytics.sony.com"
    set_conn(monkeypatch, password="k", extra={"extra__predictionone__retries": "1"})
    assert PredictionOneHook().settings.retry.max_retries == 1


def test_a_retry_policy_given_to_the_hook_replaces_the_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="k", extra={"retries": 4, "retry_delay": 2})
    policy = RetryPolicy(max_retries=0, backoff_seconds=0.01)
    assert PredictionOneHook(retry=policy).settings.retry == policy
    assert PredictionOneHook().settings.retry.max_retries == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [("{retries: 1", "Extra field is not valid JSON"), ("[1, 2]", "Extra field is JSON but not an object")],
)
def test_an_extra_that_is_not_a_json_object_is_refused_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, extra: str, message: str
) -> None:
    """Airflow would read it as empty and every setting in it would silently fall back to its default.
    (Airflow 3.0 and 3.1 refuse such a connection themselves, as if it did not exist: the hook then
    reads the environment variable to say why, in the same words.)"""
    set_conn(monkeypatch, "p1_broken", password="k", extra=extra)
    expected = f"Connection 'p1_broken': its {message}"
    with pytest.raises(PredictionOneConfigError, match=expected):
        PredictionOneHook("p1_broken").settings  # noqa: B018

    async def async_conn() -> None:
        await PredictionOneHook("p1_broken").get_async_conn()

    with pytest.raises(PredictionOneConfigError, match=expected):
        asyncio.run(async_conn())


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

    with pytest.raises(
        PredictionOneConfigError, match=r"Connection 'x' has no secret key.*Secret key \(password\) field"
    ):
        client_settings(Conn(), {})


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


# What the API server answers the UI's `GET /ui/connections/hook_meta` with, in a fresh interpreter as
# in the server (the answer is built once per process, with stand-ins for wtforms when FAB is missing).
_HOOK_META = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}["predictionone"]
print(json.dumps({
    "password": meta.standard_fields.password.title,
    "login_hidden": meta.standard_fields.login.hidden,
    "extra": {name: param["schema"] for name, param in (meta.extra_fields or {}).items()},
}))
"""


def test_the_airflow_3_ui_gets_the_connection_form() -> None:
    """The form the Airflow 3 UI shows: from the provider info on 3.2+ (typed fields with defaults);
    on 3.1 from the hook's methods, which the API server reads without the FAB provider (its wtforms
    stand-ins turn every non-boolean field into a text field, without a default)."""
    import subprocess
    import sys

    import airflow
    from packaging.version import Version

    from airflow_provider_predictionone.connection_form import EXTRA_FIELDS

    version = Version(airflow.__version__)
    if version.major < 3:
        pytest.skip("Airflow 2 has the Flask UI: it reads the hook's wtforms fields (test above)")
    if version.release < (3, 1):
        pytest.skip("Airflow 3.0's API server reads a hook's form fields only with the FAB provider installed")
    done = subprocess.run([sys.executable, "-c", _HOOK_META], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads(done.stdout.strip().splitlines()[-1])
    assert meta["password"] == "Secret key" and meta["login_hidden"] is True
    extra = meta["extra"]
    assert extra.keys() == EXTRA_FIELDS.keys()
    assert {name: schema["title"] for name, schema in extra.items()} == {
        name: spec["label"] for name, spec in EXTRA_FIELDS.items()
    }
    assert extra["verify_ssl"]["type"] == ["boolean", "null"]
    if version.release >= (3, 2):  # declared as data: the schema as connection_form.py gives it
        assert extra["retries"]["type"] == ["integer", "null"] and extra["retries"]["default"] == 5
        assert extra["timeout"]["minimum"] == EXTRA_FIELDS["timeout"]["schema"]["minimum"]
    else:
        assert extra["retries"]["type"] == ["string", "null"]


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
    from tests.api.scripted_server import free_port

    extra = {"retries": 5, "connect_timeout": 10, "timeout": 60, "retry_delay": 0.01}
    set_conn(monkeypatch, host=f"http://127.0.0.1:{free_port()}", password="k", extra=extra)
    hook = PredictionOneHook()
    probe = hook.settings.probe()
    assert probe.retry.max_retries == settings_module.PROBE_RETRIES == 1
    assert probe.connect_timeout == settings_module.PROBE_CONNECT_TIMEOUT < 10
    assert probe.read_timeout == settings_module.PROBE_READ_TIMEOUT < 60
    assert probe.base_url == hook.settings.base_url and probe.secret_key == hook.settings.secret_key
    assert hook.settings.retry.max_retries == 5  # tasks keep the full policy

    with caplog.at_level("WARNING", logger="airflow_provider_predictionone.api.client"):
        ok, message = hook.test_connection()  # nothing listens on the port: refused
    assert not ok and "Gave up after 2 attempts" in message
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 1 and "retry 1/1" in retries[0]


def test_probe_keeps_a_connections_shorter_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="k", extra={"retries": 0, "connect_timeout": 0.5, "timeout": 2})
    probe = PredictionOneHook().settings.probe()
    assert (probe.retry.max_retries, probe.connect_timeout, probe.read_timeout) == (0, 0.5, 2)


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
    set_conn(monkeypatch, host=emulator.url, password=secret_key, extra={"retries": 3, "timeout": 42})
    sync_settings = PredictionOneHook().settings

    async def run() -> tuple[int, object]:
        async with await PredictionOneHook().get_async_conn() as client:
            return len(await client.list_classifiers()), client.settings

    count, async_settings = asyncio.run(run())
    assert count == 0
    # The async lookup reads the same connection and extras as the synchronous one.
    assert async_settings == sync_settings
    assert async_settings.retry.max_retries == 3 and async_settings.read_timeout == 42


def test_async_clients_share_one_pool_unless_asked_not_to(
    monkeypatch: pytest.MonkeyPatch, emulator, secret_key: str
) -> None:
    set_conn(monkeypatch, host=emulator.url, password=secret_key)

    async def run() -> tuple[bool, bool]:
        hook = PredictionOneHook()
        async with await hook.get_async_conn() as first, await hook.get_async_conn() as second:
            async with await hook.get_async_conn(shared=False) as own:
                await first.list_classifiers()
                await second.list_classifiers()
                await own.list_classifiers()
                return first.transport is second.transport, own.transport is first.transport

    assert asyncio.run(run()) == (True, False)
    assert emulator.request_count("GET", "/api-key") == 2  # one deploy key for the shared clients, one for the own


def test_async_lookup_of_a_missing_connection_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_P1_NOWHERE", raising=False)

    async def run() -> None:
        await PredictionOneHook("p1_nowhere").get_async_conn()

    with pytest.raises(PredictionOneConfigError, match="p1_nowhere"):
        asyncio.run(run())
    with pytest.raises(PredictionOneConfigError, match="p1_nowhere"):
        PredictionOneHook("p1_nowhere").settings  # noqa: B018
