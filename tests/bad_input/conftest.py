"""Shared machinery of the bad-input suite.

``refused.check(case, when, action, ...)`` runs ``action`` and asserts that it raises a clear error
(the message contains every given fragment: typically the parameter, the value and the fix) at
the stage ``when`` says, and that nothing was created on the emulator:

* ``PARSE`` — raised while the operator is constructed, i.e. when the DAG file is parsed;
* ``BEFORE`` — raised in ``execute`` before any request;
* ``FIRST`` — the service refuses the first request, which creates nothing.

For ``PARSE`` and ``BEFORE`` the action runs with outgoing connections forbidden (``socket.connect``
raises) and the emulator must have seen no request at all; for ``FIRST`` no creating call may
have reached it (see :data:`CREATING_CALLS`).

The table in ``docs/bad-input.md`` is checked against the run: every case that ran must have its
row there, with the message of this run (``<tmp>`` stands for the test's folder). After changing a
message, regenerate the table with ``BAD_INPUT_DOC_UPDATE=1 pytest tests/bad_input`` (rows of
cases that did not run, e.g. the chmod case skipped as root, are kept). ``BAD_INPUT_REPORT=<file>``
also writes the records as JSON lines.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from tests.triggers.job_fixtures import customers_csv, deployed_model, p1_client, p1_hook, start_training  # noqa: F401

PARSE = "parse time"
BEFORE = "before any request"
FIRST = "first request"

CREATING_CALLS: tuple[tuple[str, str], ...] = (
    ("GET", "/data-sets/upload-url"),  # issues upload slots / an external_process_id
    ("PUT", "upload"),  # stores data (a retrain upload starts a job)
    ("POST", "/models"),  # starts training
    ("GET", "/retrain_jobs/upload_url"),  # creates a retraining job
    ("POST", "/classifiers"),  # creates a prediction API
    ("PATCH", "/classifiers/{classifier_id}"),
    ("DELETE", "/classifiers/{classifier_id}"),
    ("PUT", "/retrain_jobs/{retrain_job_id}/update_model"),
    ("DELETE", "/models/{model_id}"),
    ("DELETE", "/data-sets/{data_set_id}"),
    ("POST", "inference"),
)
"""Calls that create or change something on the service (or use up trial requests)."""

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "dags_examples" / "data"
DOC = ROOT / "docs" / "bad-input.md"
TABLE_HEADER = "| # | Input | Detected | Error the user sees |\n|---|---|---|---|\n"
_ROW = re.compile(r"^\| \d+ \| (?P<case>.+?) \| (?P<when>.+?) \| `(?P<error>\w+)`: (?P<message>.*) \|$")


@dataclass
class Refusal:
    case: str
    when: str
    error: str
    message: str


@dataclass
class Refusals:
    """Runs bad-input cases against one emulator and records their messages."""

    emulator: Any
    tmp_path: Path
    records: list[Refusal] = field(default_factory=list)

    def creating_calls(self) -> dict[str, int]:
        counts = {f"{m} {r}": self.emulator.request_count(m, r) for m, r in CREATING_CALLS}
        return {call: n for call, n in counts.items() if n}

    def total_requests(self) -> int:
        return sum(self.emulator.request_counts().values())

    def check(
        self,
        case: str,
        when: str,
        action: Callable[[], Any],
        *,
        says: tuple[str, ...] | list[str],
        error: type[BaseException] = PredictionOneConfigError,
        refused_call: str | None = None,
        via: str | None = None,
    ) -> str:
        """Run ``action``; it must raise ``error`` whose text contains every fragment of ``says``.

        ``refused_call`` (``FIRST`` only): the one creating call that may have been sent because the
        service itself refuses the input there (the test checks that nothing was created).
        ``via``: which request refused it, for the table.
        """
        assert when in (PARSE, BEFORE, FIRST)
        before = self.total_requests()
        if when == FIRST:
            with pytest.raises(error) as info:
                action()
        else:
            with mock.patch.object(socket.socket, "connect", side_effect=AssertionError("network used")):
                with pytest.raises(error) as info:
                    action()
        text = str(info.value)
        missing = [fragment for fragment in says if fragment not in text]
        assert not missing, f"{case}: the message lacks {missing}: {text}"
        if when == FIRST:
            assert self.total_requests() > before, f"{case}: expected the service to refuse a request"
            created = {call: n for call, n in self.creating_calls().items() if call != refused_call}
            assert created == {}, f"{case}: something was created: {created}"
        else:
            assert self.total_requests() == before, f"{case}: requests were sent: {self.emulator.request_counts()}"
        stage = f"{when} ({via})" if via else when
        self.records.append(Refusal(case, stage, type(info.value).__name__, self._portable(text)))
        return text

    def _portable(self, text: str) -> str:
        text = text.replace(str(self.tmp_path), "<tmp>").replace(self.emulator.url, "<emulator>")
        return text.replace(f"{ROOT}/", "")


_ALL: list[Refusal] = []


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def table_rows(records: list[Refusal]) -> list[str]:
    return [f"| {n} | {r.case} | {r.when} | `{r.error}`: {_cell(r.message)} |" for n, r in enumerate(records, start=1)]


def documented() -> dict[str, Refusal]:
    """The rows of the table in ``docs/bad-input.md``, by case."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            message = match["message"].replace("<br>", "\n").replace("\\|", "|")
            rows[match["case"]] = Refusal(match["case"], match["when"], match["error"], message)
    return rows


def update_doc(records: list[Refusal]) -> None:
    """Rewrite the table: this run's rows, then the documented rows of cases that did not run."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(TABLE_HEADER)
    end = text.index("\n\n", start)
    ran = {r.case for r in records}
    kept = [r for case, r in documented().items() if case not in ran]
    DOC.write_text(text[:start] + TABLE_HEADER + "\n".join(table_rows(records + kept)) + text[end:], encoding="utf-8")


def _as_documented(record: Refusal) -> Refusal:
    """The table shows the newest Airflow; Airflow 2's operator metaclass raises a missing keyword
    argument as ``AirflowException`` (same message) where Airflow 3 raises ``TypeError``."""
    from airflow_provider_predictionone.compat import AIRFLOW_V3

    if not AIRFLOW_V3 and record.error == "AirflowException" and record.message.startswith("missing keyword argument"):
        return Refusal(record.case, record.when, "TypeError", record.message)
    return record


@pytest.fixture(scope="session")
def _report() -> Iterator[list[Refusal]]:
    yield _ALL
    target = os.environ.get("BAD_INPUT_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            for record in _ALL:
                handle.write(json.dumps(record.__dict__, ensure_ascii=False) + "\n")
    if os.environ.get("BAD_INPUT_DOC_UPDATE"):
        update_doc(_ALL)
        return
    rows = documented()
    stale = [r.case for r in _ALL if rows.get(r.case) not in (r, _as_documented(r))]
    if stale:
        pytest.fail(
            f"docs/bad-input.md does not show these cases as they behave now: {stale}. "
            "Regenerate the table with BAD_INPUT_DOC_UPDATE=1 pytest tests/bad_input",
            pytrace=False,
        )


@pytest.fixture
def refused(emulator: Any, tmp_path: Path, _report: list[Refusal]) -> Iterator[Refusals]:
    refusals = Refusals(emulator, tmp_path)
    yield refusals
    _report.extend(refusals.records)
