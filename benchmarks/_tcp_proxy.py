"""Child process of ``waits.py``: a counting TCP proxy in front of the emulator.

One listening port per client under test (``--listeners shared,unshared,poke``); each forwards
byte for byte to the emulator and counts the TCP connections it accepted, the HTTP requests
sent through it and the Get API Key requests among them (request lines are plain text: the
emulator speaks HTTP/1.1 without TLS).

Prints ``{"ports": {name: port}}`` once listening; command ``stats`` on stdin prints
``{name: {"connections": n, "open": n, "peak_open": n, "requests": n, "api_key": n}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from urllib.parse import urlsplit

REQUEST_MARK = b" HTTP/1.1\r\n"
API_KEY_MARK = b"/v1/external/api-key"


class Counter:
    def __init__(self) -> None:
        self.connections = 0
        self.open = 0
        self.peak_open = 0
        self.requests = 0
        self.api_key = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: Counter | None) -> None:
    tail = b""
    try:
        while data := await reader.read(65536):
            if counter is not None:
                window = tail + data
                # marks wholly inside ``tail`` were counted with the previous read
                counter.requests += window.count(REQUEST_MARK) - tail.count(REQUEST_MARK)
                counter.api_key += window.count(API_KEY_MARK) - tail.count(API_KEY_MARK)
                tail = window[-(len(API_KEY_MARK) - 1) :]
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def handler(counter: Counter, host: str, port: int):
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        counter.connections += 1
        counter.open += 1
        counter.peak_open = max(counter.peak_open, counter.open)
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            counter.open -= 1
            return
        try:
            await asyncio.gather(pipe(client_reader, server_writer, counter), pipe(server_reader, client_writer, None))
        finally:
            counter.open -= 1

    return handle


async def main_async(upstream: str, names: list[str]) -> None:
    parts = urlsplit(upstream)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counters = {name: Counter() for name in names}
    ports = {}
    servers = []
    for name in names:
        server = await asyncio.start_server(handler(counters[name], host, port), "127.0.0.1", 0, backlog=4096)
        servers.append(server)
        ports[name] = server.sockets[0].getsockname()[1]
    print(json.dumps({"ports": ports}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"stats":
            print(json.dumps({name: c.as_dict() for name, c in counters.items()}), flush=True)
        elif line.strip() == b"quit":
            break
    for server in servers:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="the emulator's URL")
    parser.add_argument("--listeners", default="shared,unshared,poke")
    args = parser.parse_args()
    asyncio.run(main_async(args.upstream, [n for n in args.listeners.split(",") if n]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
