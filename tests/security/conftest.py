"""Fixtures of the secrets suite: a distinctive secret key, and the places a secret could leak to.

The emulator and the Airflow connection of these tests use :data:`SECRET_KEY` (``secret_key`` is
overridden here), a value that appears nowhere else, so a substring search is meaningful. The
keys derived from it are read from the emulator's state after the runs: every API key it issued
(``emulator.app.keys``) and every prediction API's inference key (``emulator.app.classifiers``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import sample_deployed_model  # noqa: F401  (fixture)
from tests.triggers.job_fixtures import p1_client, p1_hook  # noqa: F401  (fixtures)

SECRET_KEY = f"P1SECRET-{uuid.uuid4().hex}-do-not-leak"


@pytest.fixture
def secret_key() -> str:
    """The secret key of the emulator and of ``predictionone_default`` in this suite."""
    return SECRET_KEY


@dataclass
class Secrets:
    """The values that must never leak, by kind (``secret key``, ``train API key``, ...)."""

    values: dict[str, str] = field(default_factory=dict)  # value -> kind

    def add(self, kind: str, value: str | None) -> None:
        if value:
            assert len(value) >= 16, f"{kind} is too short for a meaningful substring search"
            self.values[value] = kind

    def kinds(self) -> set[str]:
        return set(self.values.values())

    def leaks(self, surfaces: dict[str, str]) -> list[str]:
        """Where a secret appears: ``"<surface>: <kind> in …context…"`` (the secret itself redacted)."""
        found = []
        for surface, text in surfaces.items():
            for value, kind in self.values.items():
                at = text.find(value)
                if at >= 0:
                    context = text[max(at - 80, 0) : at + len(value) + 80].replace(value, f"<{kind}>")
                    found.append(f"{surface}: {kind} in …{context}…")
        return found


def emulator_secrets(emulator: Any, secret_key: str) -> Secrets:
    """The secret key, every API key the emulator issued and every inference key it holds."""
    secrets = Secrets()
    secrets.add("secret key", secret_key)
    app = emulator.app
    with app.lock:
        for key, record in app.keys.items():
            secrets.add(f"{record.credential_type} API key", key)
        for classifier in app.classifiers.values():
            secrets.add("inference key (classifier api_key)", classifier.api_key)
        # Not keys, but bearer capabilities all the same: whoever has an upload URL can overwrite the
        # data, whoever has a result URL can download the model's results.
        for token in app.uploads:
            secrets.add("upload URL token", token)
        for token in app.downloads:
            secrets.add("result URL token", token)
    return secrets


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)  # compressed serialized DAGs
        return raw.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def database_rows() -> Iterator[tuple[str, str]]:
    """``(table, row text)`` of every row of every table of the test metadata database."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url.startswith("sqlite:///"), url
    with sqlite3.connect(url[len("sqlite:///") :]) as con:
        tables = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                yield table, " | ".join(_text(value) for value in row)


def files_text(folder: Path, skip: Iterable[Path] = ()) -> str:
    """The text of every file below ``folder`` (task log files), except ``skip``."""
    skipped = {p.resolve() for p in skip}
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.resolve() not in skipped and not path.name.startswith("airflow.db"):
            parts.append(f"== {path}\n{_text(path.read_bytes())}")
    return "\n".join(parts)
