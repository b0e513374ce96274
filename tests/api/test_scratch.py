"""Working folders: what a task killed with SIGKILL leaves behind is removed by the next one.

The killed process is real: a child Python process makes a working folder with a file in it (as a
retrain upload does with its zip) and is killed with SIGKILL before it can clean up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_predictionone.api import scratch

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from airflow_provider_predictionone.api import scratch
folder = scratch.new_folder()
(folder / "customers_retrain.zip").write_bytes(b"x" * 1024)
print(folder, flush=True)
time.sleep(600)
"""


def killed_task_folder(tmp_path: Path) -> Path:
    """A working folder whose process was killed with SIGKILL (its TMPDIR is ``tmp_path``)."""
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    folder = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert (folder / "customers_retrain.zip").exists()  # nothing cleaned up: it was killed
    return folder


def test_the_next_folder_removes_what_a_killed_task_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    left = killed_task_folder(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    with scratch.working_folder() as folder:
        assert folder.parent == tmp_path and folder.exists()
        assert not left.exists()
    assert not folder.exists()


def test_folders_of_live_processes_and_other_hosts_are_kept(tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        folders = {}
        for name, owner in {
            "live": {"host": socket.gethostname(), "pid": live.pid},
            "other-host": {"host": "another-worker", "pid": 2**22 + 7},
        }.items():
            folder = tmp_path / f"{scratch.PREFIX}{name}"
            folder.mkdir()
            (folder / scratch.OWNER_FILE).write_text(json.dumps(owner))
            folders[name] = folder
        unowned = tmp_path / f"{scratch.PREFIX}unowned"  # being set up, or not ours
        unowned.mkdir()
        assert scratch.sweep(tmp_path) == []
        assert all(folder.exists() for folder in [*folders.values(), unowned])
        live.kill()
        live.wait(timeout=30)  # reaped: its pid no longer exists
        assert scratch.sweep(tmp_path) == [folders["live"]]
        assert not folders["live"].exists() and folders["other-host"].exists() and unowned.exists()
    finally:
        live.kill()
