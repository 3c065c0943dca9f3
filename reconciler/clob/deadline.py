"""One total deadline per request, enforced at the socket, and a cap on what is read.

`requests`' timeout is per socket operation: a server that sends one byte a second never trips
it, and a request could hang a tick for minutes. Here every read and write of a connection made
through `DeadlineAdapter` first sets the socket's timeout to the time left before the deadline
of the request in progress (held in a context variable), and fails at once when none is left.
That covers the status line, the headers and the body alike, over plain HTTP and TLS.

`read_capped` reads a body in chunks and stops as soon as it passes the cap, so an endless or
huge answer costs at most the cap in memory.
"""

from __future__ import annotations

import contextvars
import io
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "reconciler_clob_deadline", default=None
)
CHUNK = 64 * 1024


class DeadlineExceeded(socket.timeout):
    """The request's total deadline passed (raised from a socket read or write)."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every socket operation inside this block must end within `seconds` from now."""
    until = time.monotonic() + seconds
    token = _DEADLINE.set(until)
    try:
        yield until
    finally:
        _DEADLINE.reset(token)


def _time_left(sock: Any) -> None:
    until = _DEADLINE.get()
    if until is None:
        return
    left = until - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the request's deadline passed")
    sock.settimeout(left)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        _time_left(self._sock)
        return int(self._sock.recv_into(buffer))

    def close(self) -> None:  # the socket belongs to the connection, not to this reader
        super().close()


class DeadlineSocket:
    """A socket whose every receive and send is bounded by the current request's deadline."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "r" in mode and "b" in mode:
            return io.BufferedReader(_DeadlineReader(self._sock))
        return self._sock.makefile(mode, *args, **kwargs)

    def recv_into(self, buffer: Any, *args: Any) -> int:
        _time_left(self._sock)
        return int(self._sock.recv_into(buffer, *args))

    def recv(self, size: int, *args: Any) -> bytes:
        _time_left(self._sock)
        return bytes(self._sock.recv(size, *args))

    def sendall(self, data: Any, *args: Any) -> None:
        _time_left(self._sock)
        self._sock.sendall(data, *args)

    def send(self, data: Any, *args: Any) -> int:
        _time_left(self._sock)
        return int(self._sock.send(data, *args))


class _DeadlineHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = DeadlineSocket(self.sock)  # type: ignore[assignment]


class _DeadlineHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = DeadlineSocket(self.sock)  # type: ignore[assignment]


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections honour `deadline()`; it never follows redirects itself
    (requests does that above the adapter, and the transport turns it off)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {  # type: ignore[attr-defined]
            "http": _DeadlineHTTPPool,
            "https": _DeadlineHTTPSPool,
        }


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


def read_capped(response: requests.Response, limit: int) -> bytes:
    """The whole (decoded) body, or `BodyTooLarge` as soon as it passes `limit` bytes."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        response.close()
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > limit:
            response.close()
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)
