"""Blocking clients of the exchange's WebSocket channels (clob-v2-wire.md 2.14), on `websockets`.

`StreamConnection` is one socket to one channel: `connect()` opens it and sends the subscribe
frame, `receive(timeout)` returns the events of the next frame (or `[]` when the timeout passes
first), `close()` ends it. The caller's thread blocks in `receive`; this module starts no thread
of its own and owns no timer (only the daemon does, DESIGN "Import rules"). `websockets.sync`
reads the socket in a thread of its own; that is the library's business.

What the channel asks of a client, done inside `receive`:
- keep-alive: the text frame `PING` every 10 s (`PING_EVERY_S`); the server answers `PONG`;
- a read deadline: nothing heard (not even a PONG) for `READ_DEADLINE_S` means the link is dead
  (the unified SDK's stale threshold, 30 s): `TransportError`, like a close;
- strict parsing (`stream_types.parse_frame`): a garbled frame is a `ProtocolError`, and the
  connection is closed with it, so nothing after a frame we could not read is trusted either.

Reconnecting is the caller's loop: `ReconnectBackoff` gives the jittered waits between tries.

URLs (2.1, 2.14): the production REST host `https://clob.polymarket.com` streams from
`wss://ws-subscriptions-clob.polymarket.com/ws/{user,market}`; any other host from its own
address with `ws`/`wss` for `http`/`https` and `/ws/{channel}` (the paper exchange serves both
on its REST port). `--ws-url` names the base (ending in `/ws`) instead. The reference gives no
stream host for `clob-staging`; set it with `--ws-url`.

The subscribe frame of the user channel carries the API secret and passphrase (that is how the
channel authenticates). They never reach a log: `websockets` logs frames only at DEBUG, on the
logger passed to it here, which is pinned at WARNING; and every error text is scrubbed of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import websockets.sync.client
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from reconciler.clob.auth import ApiCreds
from reconciler.clob.errors import ProtocolError, TransportError
from reconciler.clob.redact import Redactor, scrub_then_cut
from reconciler.clob.stream_types import MARKET, USER, StreamEvent, parse_frame

PING_EVERY_S = 10.0
READ_DEADLINE_S = 30.0
OPEN_TIMEOUT_S = 10.0
MAX_FRAME_BYTES = 4 * 1024 * 1024
PRODUCTION_REST_HOST = "clob.polymarket.com"
PRODUCTION_WS_BASE = "wss://ws-subscriptions-clob.polymarket.com/ws"
PING, PONG = "PING", "PONG"
MAX_ERROR_TEXT = 300

# Frames are logged by websockets at DEBUG; the user channel's first frame holds the API secret.
_WIRE_LOG = logging.getLogger("reconciler.clob.ws.wire")
_WIRE_LOG.setLevel(logging.WARNING)


def ws_base_url(host: str, override: str | None = None) -> str:
    """The base URL of the stream (without the channel): `override`, or derived from `host`."""
    if override:
        parts = urlsplit(override)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError("--ws-url must be a ws:// or wss:// URL, e.g. "
                             f"{PRODUCTION_WS_BASE}")
        return override.rstrip("/")
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"cannot derive a stream URL from host {host!r}; set --ws-url")
    if parts.hostname == PRODUCTION_REST_HOST:
        return PRODUCTION_WS_BASE
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws"


def channel_url(base: str, channel: str) -> str:
    if channel not in (USER, MARKET):
        raise ValueError(f"unknown channel {channel!r}")
    return f"{base.rstrip('/')}/{channel}"


def user_subscription(creds: ApiCreds, markets: Sequence[str] | None = None) -> dict[str, Any]:
    """The user channel's first frame: the API credentials, and optionally the markets
    (condition ids) to hear about; without them, every market of the key."""
    frame: dict[str, Any] = {
        "auth": {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase},
        "type": USER,
    }
    if markets is not None:
        frame["markets"] = list(markets)
    return frame


def market_subscription(asset_ids: Iterable[str]) -> dict[str, Any]:
    return {"assets_ids": sorted(asset_ids), "type": MARKET, "custom_feature_enabled": False}


def market_update(operation: str, asset_ids: Iterable[str]) -> dict[str, Any]:
    """A later frame changing the market channel's tokens without reconnecting (2.14)."""
    if operation not in ("subscribe", "unsubscribe"):
        raise ValueError(f"unknown operation {operation!r}")
    frame: dict[str, Any] = {"operation": operation, "assets_ids": sorted(asset_ids)}
    if operation == "subscribe":
        frame["custom_feature_enabled"] = False
    return frame


class ReconnectBackoff:
    """Waits between reconnects: doubling from `base_s` up to `cap_s`, each drawn in [d/2, d]
    ("equal jitter": many clients that lost the same server do not come back in step, and no
    wait is ever near zero). `reset()` once a connection has proved itself."""

    def __init__(self, *, base_s: float = 0.5, cap_s: float = 30.0,
                 rng: random.Random | None = None) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError("need 0 < base_s <= cap_s")
        self.base_s, self.cap_s = base_s, cap_s
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempts = 0


class StreamConnection:
    """One blocking connection to one channel (see the module docstring).

    `subscription` is the first frame; `secrets` are scrubbed from every error text. `clock` is
    monotonic seconds (the PING schedule and the read deadline); `connector` opens the socket
    (websockets' sync `connect`; tests may pass another).
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        subscription: dict[str, Any],
        secrets: Iterable[str] = (),
        ping_every_s: float = PING_EVERY_S,
        read_deadline_s: float = READ_DEADLINE_S,
        open_timeout_s: float = OPEN_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        connector: Callable[..., Any] = websockets.sync.client.connect,
    ) -> None:
        if channel not in (USER, MARKET):
            raise ValueError(f"unknown channel {channel!r}")
        if not 0 < ping_every_s < read_deadline_s:
            raise ValueError("need 0 < ping_every_s < read_deadline_s")
        self.url = url
        self.channel = channel
        self.subscription = subscription
        self.ping_every_s = ping_every_s
        self.read_deadline_s = read_deadline_s
        self.open_timeout_s = open_timeout_s
        self._clock = clock
        self._connector = connector
        self._redactor = Redactor(secrets)
        self._socket: Any = None
        self._next_ping = 0.0
        self._last_heard = 0.0
        self.frames = 0  # frames read on this connection, PONGs included
        self.pongs = 0

    @property
    def connected(self) -> bool:
        return self._socket is not None

    def connect(self) -> None:
        """Open the socket and send the subscribe frame; TransportError when that fails."""
        self.close()
        try:
            socket = self._connector(
                self.url,
                open_timeout=self.open_timeout_s,
                ping_interval=None,  # the channel's keep-alive is the text PING (2.14)
                close_timeout=1.0,
                max_size=MAX_FRAME_BYTES,
                logger=_WIRE_LOG,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise self._transport(f"could not open the {self.channel} stream at {self.url}: "
                                  f"{exc}") from None
        self._socket = socket
        now = self._clock()
        self._next_ping = now + self.ping_every_s
        self._last_heard = now
        self.frames = self.pongs = 0
        self.send(self.subscription)

    def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame (a later subscribe or unsubscribe); TransportError when the link is
        gone."""
        if self._socket is None:
            raise TransportError(f"the {self.channel} stream is not connected")
        text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        try:
            self._socket.send(text)
        except (ConnectionClosed, OSError) as exc:
            self.close()
            raise self._transport(f"the {self.channel} stream closed while sending: "
                                  f"{_closed_text(exc)}") from None

    def receive(self, timeout: float) -> list[StreamEvent]:
        """The events of the next frame that carries any, or [] when `timeout` seconds pass
        first. Sends PING when due. Raises TransportError when the link closes or goes quiet
        past the read deadline, ProtocolError for a frame that cannot be trusted; either way
        the connection is closed."""
        if self._socket is None:
            raise TransportError(f"the {self.channel} stream is not connected")
        until = self._clock() + max(timeout, 0.0)
        while True:
            now = self._clock()
            if now >= self._next_ping:
                self.send(PING)
                self._next_ping = now + self.ping_every_s
            if now - self._last_heard > self.read_deadline_s:
                self.close()
                raise TransportError(f"the {self.channel} stream went quiet: nothing heard for "
                                     f"{self.read_deadline_s:g} s (not even a PONG)")
            if now >= until:
                return []
            wait = min(until, self._next_ping, self._last_heard + self.read_deadline_s) - now
            message = self._recv(max(wait, 0.0))
            if message is None:
                if self._clock() >= until:
                    return []
                continue
            events = self._read(message)
            if events:
                return events

    def close(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            # Closing a broken socket must not mask why it broke.
            with contextlib.suppress(Exception):
                socket.close()

    # --- inside ------------------------------------------------------------------------------

    def _recv(self, wait: float) -> str | bytes | None:
        try:
            message: str | bytes = self._socket.recv(timeout=wait)
        except TimeoutError:
            return None
        except (ConnectionClosed, OSError) as exc:
            self.close()
            raise self._transport(f"the {self.channel} stream closed: "
                                  f"{_closed_text(exc)}") from None
        self._last_heard = self._clock()
        self.frames += 1
        return message

    def _read(self, message: str | bytes) -> list[StreamEvent]:
        if message == PONG:
            self.pongs += 1
            return []
        try:
            return parse_frame(message, self.channel)
        except ProtocolError as exc:
            self.close()
            raise ProtocolError(scrub_then_cut(self._redactor, str(exc), MAX_ERROR_TEXT)) from None

    def _transport(self, text: str) -> TransportError:
        return TransportError(scrub_then_cut(self._redactor, text, MAX_ERROR_TEXT))


def _closed_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is None:
            return "no close frame (code 1006)"
        return f"code {frame.code}" + (f", {frame.reason}" if frame.reason else "")
    return str(exc) or type(exc).__name__


def user_connection(base_url: str, creds: ApiCreds, *, markets: Sequence[str] | None = None,
                    **options: Any) -> StreamConnection:
    """A connection to the user channel, authenticated with `creds` in the first frame."""
    return StreamConnection(
        channel_url(base_url, USER), channel=USER,
        subscription=user_subscription(creds, markets),
        secrets=[creds.secret, creds.passphrase], **options,
    )


def market_connection(base_url: str, asset_ids: Iterable[str], **options: Any) -> StreamConnection:
    """A connection to the market channel for these tokens (`book`, `tick_size_change`)."""
    return StreamConnection(
        channel_url(base_url, MARKET), channel=MARKET,
        subscription=market_subscription(asset_ids), **options,
    )


__all__ = [
    "PING_EVERY_S",
    "READ_DEADLINE_S",
    "ReconnectBackoff",
    "StreamConnection",
    "channel_url",
    "market_connection",
    "market_subscription",
    "market_update",
    "user_connection",
    "user_subscription",
    "ws_base_url",
]
