"""Child process of ``upload.py`` and ``batch_predict.py``: an HTTP server that costs (almost) nothing.

It reads every request body into a reused buffer and throws it away, then answers: an empty
``200`` (``upload.py``: what a receiver costs at its cheapest, no disk, against which the
emulator's upload handler is compared), or with ``--inference`` one fixed, valid Inference
response whatever the body (``batch_predict.py``: the ceiling of a batch client, against which
the emulator's inference handler is compared). One thread per connection, keep-alive. Prints
``{"url": ..., "pid": ...}`` once listening; with ``--inference`` the URL has the emulator's
Inference shape (any path is answered the same).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
import threading

BUFFER = 1024 * 1024
PREDICTION = "buy,Probability_yes\nyes,0.5\n"
_INFERENCE_BODY = json.dumps(
    {
        "version": "1",
        "outputs": [{"name": "prediction_valid.csv", "data": base64.b64encode(PREDICTION.encode()).decode()}],
    }
).encode()
INFERENCE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_INFERENCE_BODY)).encode()
    + b"\r\n\r\n"
    + _INFERENCE_BODY
)
EMPTY_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def handle(connection: socket.socket, response: bytes) -> None:
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = connection.makefile("rb", buffering=BUFFER)
    view = memoryview(bytearray(BUFFER))
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
            connection.sendall(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inference", action="store_true", help="answer a fixed Inference response")
    args = parser.parse_args()
    server = socket.create_server(("127.0.0.1", 0), backlog=256)
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    if args.inference:
        url += "/v1/groups/sink/classifiers/sink/inference"
    print(json.dumps({"url": url, "pid": os.getpid()}), flush=True)
    response = INFERENCE_RESPONSE if args.inference else EMPTY_RESPONSE
    while True:
        connection, _ = server.accept()
        threading.Thread(target=handle, args=(connection, response), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
