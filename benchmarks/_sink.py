"""Child process of ``upload.py``: an HTTP server that reads PUT bodies and throws them away.

It shows what a receiver costs at its cheapest (no disk, a reused buffer): the ceiling against
which the emulator's upload handler is compared. Prints ``{"url": ...}`` once listening.
"""

from __future__ import annotations

import json
import socket
import sys
import threading

BUFFER = 1024 * 1024


def handle(connection: socket.socket) -> None:
    stream = connection.makefile("rb", buffering=BUFFER)
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    with connection, stream:
        while True:
            line = stream.readline(65537)
            if not line:
                return
            length = 0
            while True:
                header = stream.readline(65537)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
                elif name.strip().lower() == b"expect" and b"100" in value:
                    connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            while length > 0:
                got = stream.readinto(view[: min(length, BUFFER)])
                if not got:
                    return
                length -= got
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def main() -> int:
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(json.dumps({"url": f"http://127.0.0.1:{server.getsockname()[1]}"}), flush=True)
    while True:
        connection, _ = server.accept()
        threading.Thread(target=handle, args=(connection,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
