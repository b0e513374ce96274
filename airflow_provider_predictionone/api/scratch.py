"""Working folders for files a task needs only while it runs (a retrain zip, a downloaded result, a
batch output on its way to object storage), and the clean-up of the ones a killed task left behind.

A task killed with SIGKILL runs no ``finally`` block, so its temporary folder stays in the worker's
temporary directory. Every folder made here is named ``predictionone-*`` and holds an owner record
(the host and the process id); each new one first removes the folders of this host whose process no
longer exists. So the next try of the task, or any later Prediction One task on the same worker,
cleans up what an earlier one left. A folder whose process id has been reused by another process is
left for a later sweep; folders of other hosts (a shared temporary directory) are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "predictionone-"
OWNER_FILE = ".owner.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def sweep(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the working folders under ``root`` (default: the temporary directory) that this host's
    dead processes left behind; returns what was removed."""
    base = Path(root or tempfile.gettempdir())
    host = socket.gethostname()
    removed: list[Path] = []
    for folder in base.glob(f"{PREFIX}*"):
        try:
            owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
            pid = int(owner["pid"])
            if owner.get("host") != host or pid == os.getpid() or _alive(pid):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a folder of ours, or one still being set up
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info("Removed %d working folder(s) left by killed Prediction One tasks: %s", len(removed), removed)
    return removed


def new_folder() -> Path:
    """A new working folder (after :func:`sweep`); the caller removes it with :func:`remove`."""
    sweep()
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    owner = {"host": socket.gethostname(), "pid": os.getpid()}
    (folder / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
    return folder


def remove(folder: Path) -> None:
    """Remove a working folder made by :func:`new_folder` (it may be gone already)."""
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def working_folder() -> Iterator[Path]:
    """A working folder for the ``with`` block, removed at its end."""
    folder = new_folder()
    try:
        yield folder
    finally:
        remove(folder)
