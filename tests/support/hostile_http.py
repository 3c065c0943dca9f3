"""A hostile HTTP server on 127.0.0.1 for the client's boundary tests.

It answers whatever a test scripts, byte for byte, including what the paper exchange never
sends: a body trickled one byte at a time, headers trickled, an endless body, a redirect, a
429 with the 2026 rate-limit headers, a trading-mode refusal. Every request is recorded
(method, path, headers, body) before it is answered. Every loop in here is bounded and stops by
itself (a trickle ends, an endless body stops after `max_bytes` or on a closed socket), and
`release` ends any wait at teardown.

(Kept here rather than in a conftest: tests/support/ is where shared helpers go. This package
has no __init__ on purpose, to stay out of the way of the helpers being added beside it.)
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One scripted answer. `body` is JSON-encoded unless `raw` is given."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    trickle_body: float = 0.0  # seconds between body bytes
    trickle_headers: float = 0.0  # seconds between header lines
    endless: bool = False  # a chunked body that goes on until `max_bytes` or a closed socket
    max_bytes: int = 64 * 1024 * 1024
    declared_length: int | None = None  # a Content-Length to claim instead of the real one


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class HostileServer:
    def __init__(self, default: Callable[[Seen], Answer] | None = None) -> None:
        self.script: queue.Queue[Answer] = queue.Queue()
        self.seen: list[Seen] = []
        self.sent_bytes = 0
        self.release = threading.Event()
        self.default = default or (lambda seen: Answer())
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers), body)
                outer.seen.append(seen)
                answer = outer.script.get_nowait() if not outer.script.empty() else outer.default(seen)
                with contextlib.suppress(OSError):  # the client gave up, as several tests want
                    outer._answer(self, answer)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def push(self, *answers: Answer) -> None:
        for answer in answers:
            self.script.put(answer)

    def _write(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(data)
        handler.wfile.flush()
        self.sent_bytes += len(data)

    def _answer(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        lines = [f"HTTP/1.1 {answer.status} X\r\n".encode()]
        headers = {"Content-Type": "application/json", **answer.headers}
        if answer.endless:
            headers["Transfer-Encoding"] = "chunked"
        else:
            length = answer.declared_length if answer.declared_length is not None else len(payload)
            headers["Content-Length"] = str(length)
        lines += [f"{k}: {v}\r\n".encode() for k, v in headers.items()]
        lines.append(b"\r\n")
        for line in lines:
            self._write(handler, line)
            if answer.trickle_headers and self.release.wait(answer.trickle_headers):
                return
        if answer.endless:
            chunk = b"x" * 65536
            while self.sent_bytes < answer.max_bytes and not self.release.is_set():
                self._write(handler, b"%x\r\n%s\r\n" % (len(chunk), chunk))
            return
        if answer.trickle_body:
            for i in range(len(payload)):
                self._write(handler, payload[i : i + 1])
                if self.release.wait(answer.trickle_body):
                    return
            return
        self._write(handler, payload)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextmanager
def hostile(default: Callable[[Seen], Answer] | None = None) -> Iterator[HostileServer]:
    with HostileServer(default) as server:
        yield server


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


class FakeTime:
    """An injected clock and sleep: sleeping moves the clock, nothing waits for real."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
