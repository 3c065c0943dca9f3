"""WebSocket on the REST port: the HTTP handler accepts the Upgrade, then the socket speaks
RFC 6455 through `websockets`' sans-I/O `ServerProtocol` (framing, masking, ping/pong, the
closing handshake, UTF-8 checks are all the library's; nothing here parses a frame by hand).

`http.server` has already read the request line and the headers when the handler sees the
Upgrade, so they are handed to the protocol as bytes again (`raw_request`). Nothing else can be
waiting in the handler's buffer: a client must wait for the server's handshake answer before it
sends a frame (RFC 6455 4.1).

`Session` is one accepted connection. The handler's thread reads (`run`); a writer thread of the
session sends what `send_text` queued, each message not before its due time, so a delayed
message lets later ones pass it (the fault switch uses that for out-of-order delivery). `drop()`
cuts the TCP connection without a close frame, as a network failure would (the client sees
code 1006).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger("paperclob.ws")
# websockets logs frames at DEBUG; a user channel's first frame holds the API secret.
_WIRE_LOG = logging.getLogger("paperclob.ws.wire")
_WIRE_LOG.setLevel(logging.WARNING)

MAX_MESSAGE_BYTES = 1 << 20
RECV_CHUNK = 1 << 16


def raw_request(request_line: str, headers: list[tuple[str, str]]) -> bytes:
    """The opening handshake request as it came on the wire (request line and headers)."""
    lines = [request_line.rstrip("\r\n")] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Session:
    """One WebSocket connection (see the module docstring)."""

    def __init__(self, sock: socket.socket, protocol: ServerProtocol, path: str) -> None:
        self.sock = sock
        self.path = path
        self._protocol = protocol
        self._lock = threading.Lock()  # the protocol object and socket writes
        self._ready = threading.Condition()  # the outbox
        self._outbox: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._done = False
        self.sent = 0

    @classmethod
    def accept(cls, sock: socket.socket, raw: bytes, path: str) -> Session | None:
        """Complete the opening handshake; None (after answering with the refusal) when the
        request is not a valid WebSocket upgrade."""
        protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES, logger=_WIRE_LOG)
        protocol.receive_data(raw)
        events = protocol.events_received()
        request = events[0] if events else None
        if not isinstance(request, Request):
            response = protocol.reject(400, "not a WebSocket request\n")
        else:
            response = protocol.accept(request)
        protocol.send_response(response)
        session = cls(sock, protocol, path)
        session._flush()
        return session if response.status_code == 101 else None

    # --- sending ------------------------------------------------------------------------------

    def send_text(self, text: str, *, delay_s: float = 0.0) -> None:
        """Queue a text message; it leaves after `delay_s` seconds (never blocks the caller)."""
        with self._ready:
            if self._done:
                return
            heapq.heappush(self._outbox, (time.monotonic() + delay_s, next(self._order), text))
            self._ready.notify()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (the reader ends when the client answers)."""
        with self._lock:
            if self._protocol.state is State.OPEN:
                self._protocol.send_close(code, reason)
        self._flush()

    def drop(self) -> None:
        """Cut the connection without a close frame."""
        self._stop_writer()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    @property
    def open(self) -> bool:
        return not self._done and self._protocol.state is State.OPEN

    # --- the connection's life ----------------------------------------------------------------

    def run(self, on_text: Callable[[Session, str], None]) -> None:
        """Read until the connection ends, handing every text message to `on_text` (in this
        thread). An exception from `on_text` closes the connection with 1011."""
        writer = threading.Thread(target=self._write_loop, name="paperclob-ws-writer",
                                  daemon=True)
        writer.start()
        parts: list[bytes] = []
        try:
            while True:
                try:
                    data = self.sock.recv(RECV_CHUNK)
                except OSError:
                    data = b""
                with self._lock:
                    if data:
                        self._protocol.receive_data(data)
                    else:
                        self._protocol.receive_eof()
                    events = self._protocol.events_received()
                self._flush()
                for frame in events:
                    if not isinstance(frame, Frame):
                        continue
                    if frame.opcode in (Opcode.TEXT, Opcode.CONT) and (
                        frame.opcode is Opcode.TEXT or parts
                    ):
                        parts.append(bytes(frame.data))
                        if frame.fin:
                            text, parts = b"".join(parts).decode("utf-8", "replace"), []
                            self._deliver(on_text, text)
                if not data or self._protocol.state is State.CLOSED:
                    return
        finally:
            self._stop_writer()
            writer.join(timeout=2)
            with contextlib.suppress(OSError):
                self.sock.close()

    def _deliver(self, on_text: Callable[[Session, str], None], text: str) -> None:
        try:
            on_text(self, text)
        except Exception:
            log.exception("stream handler failed on %s", self.path)
            self.close(1011, "internal error")

    def _write_loop(self) -> None:
        while True:
            with self._ready:
                while not self._done and (
                    not self._outbox or self._outbox[0][0] > time.monotonic()
                ):
                    wait = self._outbox[0][0] - time.monotonic() if self._outbox else None
                    self._ready.wait(timeout=wait)
                if self._done:
                    return
                _, _, text = heapq.heappop(self._outbox)
            with self._lock:
                if self._protocol.state is not State.OPEN:
                    continue
                self._protocol.send_text(text.encode("utf-8"))
            self._flush()
            self.sent += 1

    def _stop_writer(self) -> None:
        with self._ready:
            self._done = True
            self._outbox.clear()
            self._ready.notify_all()

    def _flush(self) -> None:
        with self._lock:
            chunks = self._protocol.data_to_send()
            try:
                for chunk in chunks:
                    if chunk:
                        self.sock.sendall(chunk)
                    else:  # the protocol says: half-close the TCP connection
                        self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the reader sees the connection end and finishes


__all__ = ["Session", "raw_request"]
