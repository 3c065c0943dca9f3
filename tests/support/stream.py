"""For the stream tests: a raw WebSocket client (websockets' own, no code of ours) that reads
JSON messages with bounded waits, and the admin calls of the paper exchange's stream."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from reconciler.clob.auth import ApiCreds

WAIT_S = 5.0  # the longest any test waits for a message that must come


def ws_url(http_url: str, channel: str) -> str:
    return http_url.replace("http://", "ws://") + f"/ws/{channel}"


class RawStream:
    """One connection, read as JSON (PONG and other text kept as strings)."""

    def __init__(self, url: str) -> None:
        self.socket = websockets.sync.client.connect(url, open_timeout=WAIT_S, ping_interval=None)
        self.seen: list[Any] = []

    @classmethod
    def user(cls, http_url: str, creds: ApiCreds, **extra: Any) -> RawStream:
        stream = cls(ws_url(http_url, "user"))
        stream.send({"auth": {"apiKey": creds.api_key, "secret": creds.secret,
                              "passphrase": creds.passphrase}, "type": "user", **extra})
        return stream

    @classmethod
    def market(cls, http_url: str, assets: list[str]) -> RawStream:
        stream = cls(ws_url(http_url, "market"))
        stream.send({"assets_ids": assets, "type": "market", "custom_feature_enabled": False})
        return stream

    def send(self, frame: Any) -> None:
        self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    def next(self, timeout: float = WAIT_S) -> Any:
        """The next message (JSON decoded when it is JSON); TimeoutError when none comes."""
        raw = self.socket.recv(timeout=timeout)
        try:
            message = json.loads(raw)
        except ValueError:
            message = raw
        self.seen.append(message)
        return message

    def events(self, count: int, *, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """The next `count` events (array frames flattened; PONGs skipped)."""
        found: list[dict[str, Any]] = []
        until = time.monotonic() + timeout
        while len(found) < count:
            message = self.next(timeout=max(until - time.monotonic(), 0.001))
            if isinstance(message, list):
                found.extend(message)
            elif isinstance(message, dict):
                found.append(message)
        return found

    def until(self, wanted: Callable[[dict[str, Any]], bool], *,
              timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Events up to and including the first one `wanted` accepts."""
        found: list[dict[str, Any]] = []
        until = time.monotonic() + timeout
        while not found or not wanted(found[-1]):
            found.extend(self.events(1, timeout=max(until - time.monotonic(), 0.001)))
        return found

    def quiet(self, seconds: float = 0.3) -> list[Any]:
        """Whatever arrives within `seconds` (for "nothing comes" checks)."""
        got: list[Any] = []
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            try:
                got.append(self.next(timeout=left))
            except TimeoutError:
                break
        return got

    def closed_with(self, timeout: float = WAIT_S) -> tuple[int | None, str]:
        """Read until the server closes; (code, reason), code None for no close frame."""
        until = time.monotonic() + timeout
        try:
            while time.monotonic() < until:
                self.next(timeout=max(until - time.monotonic(), 0.001))
        except ConnectionClosed as exc:
            frame = exc.rcvd
            return (frame.code, frame.reason) if frame else (None, "")
        raise AssertionError("the server did not close the connection")

    def close(self) -> None:
        self.socket.close()


def stream_admin(url: str, method: str = "POST", **body: Any) -> dict[str, Any]:
    answer = requests.request(method, url + "/_admin/stream", json=body or None, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(condition: Callable[[], bool], *, timeout: float = WAIT_S) -> None:
    """Poll `condition` until it holds (bounded)."""
    until = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > until:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.01)


class ScriptedServer:
    """A WebSocket server on 127.0.0.1 that runs `script(connection)` for each client (for
    what the paper exchange never does: garbled frames, silence). Use as a context manager."""

    def __init__(self, script: Callable[[Any], None]) -> None:
        import threading

        import websockets.sync.server

        self.first_frames: list[str] = []

        def handler(connection: Any) -> None:
            try:
                self.first_frames.append(str(connection.recv(timeout=WAIT_S)))
                script(connection)
            except (ConnectionClosed, TimeoutError):
                pass

        # Its own frame log stays out of the tests' log capture: only the client's is checked.
        quiet = logging.getLogger("tests.scripted_server")
        quiet.setLevel(logging.WARNING)
        self._server = websockets.sync.server.serve(handler, "127.0.0.1", 0,
                                                    ping_interval=None, logger=quiet)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
