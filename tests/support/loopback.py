"""A scripted HTTP/1.1 server on 127.0.0.1 for the client's transport tests.

This is not a second fake exchange: it answers whatever each test scripts (a status, a header, a
closed connection, a delay), so the client's handling of HTTP itself can be checked. The
`server` and `client` fixtures (tests/conftest.py) start one per test.
"""

from __future__ import annotations

import base64
import json
import queue
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.clob.auth import ApiCreds

FIXED_NOW = 1_700_000_000.0


@dataclass
class Scripted:
    """One scripted answer: a status and JSON body, or `close` (drop the connection unanswered),
    or `delay` seconds before answering."""

    status: int = 200
    body: object = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LoopbackServer:
    """A scripted HTTP/1.1 server on an ephemeral 127.0.0.1 port."""

    def __init__(self) -> None:
        self.script: queue.Queue[Scripted] = queue.Queue()
        self.seen: list[Seen] = []
        self.release = threading.Event()  # ends any scripted delay early at teardown
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                answer = outer.script.get_nowait() if not outer.script.empty() else Scripted()
                if answer.delay:
                    outer.release.wait(answer.delay)
                if answer.close:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def push(self, *answers: Scripted) -> None:
        for answer in answers:
            self.script.put(answer)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def make_creds() -> ApiCreds:
    secret = base64.urlsafe_b64encode(bytes(range(32))).decode()
    return ApiCreds(
        api_key="11111111-2222-3333-4444-555555555555", secret=secret, passphrase="p" * 64
    )
