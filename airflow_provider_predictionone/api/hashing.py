"""Hashing what is transferred while it is transferred, in reused buffers.

Used on both sides of an upload: by the client's upload body reader (:mod:`.files`, the MD5 of
the bytes sent) and by the emulator's upload handler (the MD5 behind its ``ETag``). Standard
library only.
"""

from __future__ import annotations

import queue
import threading
from typing import Any


class OrderedHasher:
    """Feed pieces of a few reused buffers to a :mod:`hashlib` object, in order.

    The caller takes a buffer with :meth:`acquire`, fills it (a socket's ``recv_into``, a file's
    ``readinto``), uses the piece (sends or writes it) and hands it over with :meth:`submit`. With
    ``threaded=True`` a helper thread hashes the pieces while the caller moves on to the next
    one: ``hashlib``, socket I/O and file writes all release the GIL, so the MD5 (~1.3 ms of CPU
    per MiB) overlaps the transfer instead of adding to it (see ``docs/benchmarks.md``). A buffer
    is handed out again only once its previous piece is hashed, and buffers are handed out in
    the order they were submitted. With ``threaded=False`` every piece is hashed in
    :meth:`submit` (small transfers: a thread is not worth it).

    :param digest: a :mod:`hashlib` object, updated in place.
    :param buffers: how many buffers to rotate (2 is enough when a piece is used before the next
        :meth:`acquire`).
    :param size: bytes per buffer.
    :param threaded: hash on a helper thread.
    :param name: the helper thread's name.
    """

    def __init__(self, digest: Any, *, buffers: int, size: int, threaded: bool, name: str = "upload-md5") -> None:
        self.digest = digest
        self._views = [memoryview(bytearray(max(1, size))) for _ in range(buffers)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(buffers):
            self._free.put(index)
        self._todo: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._failed: list[BaseException] = []
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._hash_in_order, name=name, daemon=True)
            self._thread.start()

    def acquire(self) -> tuple[int, memoryview]:
        """A free buffer ``(index, view)``; waits until its previous piece is hashed."""
        index = self._free.get()
        return index, self._views[index]

    def submit(self, index: int, length: int) -> None:
        """Hash the first ``length`` bytes of buffer ``index`` (it is free again afterwards)."""
        if self._thread is None:
            self.digest.update(self._views[index][:length])
            self._free.put(index)
        else:
            self._todo.put((index, length))

    def finish(self) -> Any:
        """Wait for every submitted piece and return the digest; re-raises a hashing failure."""
        self.close()
        if self._failed:
            raise self._failed[0]
        return self.digest

    def close(self) -> None:
        """Stop the helper thread once it has hashed what was submitted (idempotent)."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None

    def _hash_in_order(self) -> None:
        while (item := self._todo.get()) is not None:
            if not self._failed:
                try:
                    self.digest.update(self._views[item[0]][: item[1]])
                except BaseException as exc:  # pragma: no cover - re-raised by finish()
                    self._failed.append(exc)
            self._free.put(item[0])
