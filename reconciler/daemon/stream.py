"""The stream listener: the threads that hold the WebSocket channels open for the daemon.

One thread per channel (`user`, and `market` while any token is declared) drives a blocking
`clob.StreamConnection`: connect, read with a short timeout, close. What each event asks for
(stream_work.py) goes on the daemon's `PassQueue`, and `wake()` brings the next pass forward;
the passes themselves run in the daemon's tick job, one at a time, never here. So the engine and
the state file stay single-threaded, and nothing changes when the stream is down: the sweep
runs every interval as it always did.

Resync: every (re)connect asks for a sweep at once (events may have been missed while no
connection was open), and so does every loss of the connection (a close, a read deadline, a
failed send) and every garbled frame, which is a protocol error (invariant 9): the connection
is dropped, nothing of that frame is used, and the REST sweep finds out what really happened.
Reconnects wait a jittered backoff (clob.ReconnectBackoff) that is reset only once a
connection has lived `stable_after_s`, so a server that accepts and drops at once is not
hammered, nor is the REST API with a sweep per attempt.

`StreamState` is what `status` and the metrics show: per channel, connected or not and since
when; the time of the last event; reconnects; events read; sweeps the stream asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.clob import (
    ClobError,
    ProtocolError,
    ReconnectBackoff,
    StreamConnection,
    Trade,
    market_update,
)
from reconciler.daemon.metrics import Metrics, record_tick_result
from reconciler.daemon.stream_work import Batch, GapDetector, PassQueue, route
from reconciler.engine import StateFileChanged, TickResult

log = logging.getLogger("reconciler.daemon.stream")

RECEIVE_S = 0.25  # how long one read waits before the thread looks at its stop flag again
STABLE_AFTER_S = 30.0


class StreamState:
    """The stream's state for `status` and the metrics; thread-safe."""

    def __init__(self, channels: tuple[str, ...], clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._since: dict[str, float | None] = {c: None for c in channels}
        self.last_event_at: float | None = None
        self.reconnects = 0
        self.events = 0
        self.resyncs = 0
        self.protocol_errors = 0
        self.last_error = ""

    def opened(self, channel: str, *, again: bool) -> None:
        with self._lock:
            self._since[channel] = self._clock()
            self.reconnects += 1 if again else 0

    def closed(self, channel: str, error: str) -> None:
        with self._lock:
            self._since[channel] = None
            self.last_error = error

    def heard(self, events: int) -> None:
        with self._lock:
            self.last_event_at = self._clock()
            self.events += events

    def resync(self, *, garbled: bool = False) -> None:
        with self._lock:
            self.resyncs += 1
            self.protocol_errors += 1 if garbled else 0

    def connected(self, channel: str) -> bool:
        with self._lock:
            return self._since.get(channel) is not None

    def snapshot(self) -> dict[str, Any]:
        """Plain values, for a run's summary (`status`) and the metrics."""
        with self._lock:
            return {
                "channels": {c: {"connected": s is not None, "since": s}
                             for c, s in self._since.items()},
                "last_event_at": self.last_event_at,
                "reconnects": self.reconnects,
                "events": self.events,
                "resyncs": self.resyncs,
                "protocol_errors": self.protocol_errors,
                "last_error": self.last_error,
            }


@dataclass(frozen=True)
class StreamOpeners:
    """How to open each channel: `user()`; `market(tokens)`, None for no market channel."""

    user: Callable[[], StreamConnection]
    market: Callable[[frozenset[str]], StreamConnection] | None = None


class StreamListener:
    """The channel threads (module docstring). `managed()` gives the declared tokens (read by
    the threads: it must be cheap and thread-safe); `wake()` brings the next pass forward."""

    def __init__(
        self,
        *,
        openers: StreamOpeners,
        managed: Callable[[], frozenset[str]],
        work: PassQueue,
        wake: Callable[[], None],
        state: StreamState,
        backoff: Callable[[], ReconnectBackoff] = ReconnectBackoff,
        stable_after_s: float = STABLE_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._openers = openers
        self._managed = managed
        self._work = work
        self._wake = wake
        self.state = state
        self._backoff = backoff
        self._stable_after_s = stable_after_s
        self._clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        channels = ["user"] + (["market"] if self._openers.market is not None else [])
        for channel in channels:
            thread = threading.Thread(target=self._run, args=(channel,),
                                      name=f"stream-{channel}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    # --- one channel --------------------------------------------------------------------------

    def _run(self, channel: str) -> None:
        backoff = self._backoff()
        opened_before = False
        while not self._stop.is_set():
            connection = self._open(channel)
            if connection is None:  # the market channel with no token to listen to (yet)
                self._stop.wait(RECEIVE_S)
                continue
            try:
                connection.connect()
            except ClobError as exc:
                self.state.closed(channel, str(exc))
                log.warning("%s stream: %s; retrying", channel, exc)
                self._stop.wait(backoff.next_delay())
                continue
            self.state.opened(channel, again=opened_before)
            opened_before = True
            # Events may have been missed while no connection was open: a sweep now.
            self._ask_sweep(f"{channel} stream connected")
            log.info("%s stream connected (%s)", channel, connection.url)
            error = self._listen(channel, connection, backoff)
            connection.close()
            self.state.closed(channel, error)
            if self._stop.is_set():
                return
            self._ask_sweep(f"{channel} stream lost: {error}")
            self._stop.wait(backoff.next_delay())

    def _open(self, channel: str) -> StreamConnection | None:
        if channel == "user":
            return self._openers.user()
        tokens = self._managed()
        if not tokens or self._openers.market is None:
            return None
        return self._openers.market(tokens)

    def _listen(self, channel: str, connection: StreamConnection,
                backoff: ReconnectBackoff) -> str:
        """Read until the connection fails or the listener stops; returns why it ended."""
        opened = self._clock()
        gaps = GapDetector(opened_ms=int(opened * 1000))
        subscribed = self._managed() if channel == "market" else frozenset()
        try:
            while not self._stop.is_set():
                events = connection.receive(timeout=RECEIVE_S)
                if self._clock() - opened >= self._stable_after_s:
                    backoff.reset()
                if channel == "market":
                    subscribed = self._follow_tokens(connection, subscribed)
                if events:
                    self.state.heard(len(events))
                    self._handle(events, gaps)
        except ProtocolError as exc:
            self.state.resync(garbled=True)
            log.error("%s stream sent a frame that cannot be trusted (%s); dropping the "
                      "connection and sweeping over REST", channel, exc)
            return f"protocol error: {exc}"
        except ClobError as exc:
            log.warning("%s stream lost: %s; sweeping and reconnecting", channel, exc)
            return str(exc)
        return "stopped"

    def _handle(self, events: list[Any], gaps: GapDetector) -> None:
        managed = self._managed()
        wake = False
        for event in events:
            gap = gaps.check(event)
            if gap:
                log.warning("stream: %s; sweeping", gap)
                self.state.resync()
                self._work.sweep(gap)
                wake = True
            work = route(event, managed=managed)
            if work.tokens or work.trades or work.refresh:
                self._work.add(work)
                wake = True
        if wake:
            self._wake()

    def _follow_tokens(self, connection: StreamConnection,
                       subscribed: frozenset[str]) -> frozenset[str]:
        """Subscribe to newly declared tokens and drop removed ones, without reconnecting."""
        wanted = self._managed()
        if wanted == subscribed or not wanted:
            return subscribed
        if wanted - subscribed:
            connection.send(market_update("subscribe", wanted - subscribed))
        if subscribed - wanted:
            connection.send(market_update("unsubscribe", subscribed - wanted))
        connection.subscription = {**connection.subscription, "assets_ids": sorted(wanted)}
        return wanted

    def _ask_sweep(self, reason: str) -> None:
        self.state.resync()
        self._work.sweep(reason)
        self._wake()


class StreamTicker(Protocol):
    """What the daemon needs of the engine to act on the stream (`engine.Reconciler`)."""

    def tick(self, tokens: Iterable[str] | None = None) -> TickResult: ...

    def learn_trades(self, trades: Sequence[Trade]) -> None: ...

    def forget_markets(self, token_ids: Iterable[str]) -> None: ...


@dataclass(frozen=True)
class StreamSetup:
    """What `reconciler run` hands the daemon to listen: how to open the channels, the tokens
    declared (thread-safe), and the state that `status` and the metrics show."""

    openers: StreamOpeners
    managed: Callable[[], frozenset[str]]
    state: StreamState


class StreamPasses:
    """The daemon's side of the stream: the work queue, when the next sweep is due, and how a
    batch of work becomes a pass. Used under the daemon's rule that passes never overlap."""

    def __init__(self, setup: StreamSetup, *, ticker: Any, wake: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.work = PassQueue()
        self.state = setup.state
        self._ticker: StreamTicker = ticker
        self._clock = clock
        self.next_sweep_at = 0.0  # on `clock`; 0: the first pass is a sweep
        self.listener = StreamListener(openers=setup.openers, managed=setup.managed,
                                       work=self.work, wake=wake, state=setup.state)

    def take(self) -> Batch:
        return self.work.take(sweep_due=self._clock() >= self.next_sweep_at)

    def run(self, batch: Batch) -> TickResult | None:
        """Hand the batch's trades and stale markets to the engine, then run its pass (None
        when it needs none: trades that change nothing that should rest)."""
        if batch.trades:
            self._ticker.learn_trades(batch.trades)
        if batch.refresh:
            self._ticker.forget_markets(batch.refresh)
        if not batch.needs_pass:
            return None
        if batch.sweep:
            if batch.reasons != ("interval",):
                log.info("sweep: %s", "; ".join(batch.reasons))
            return self._ticker.tick()
        return self._ticker.tick(tokens=batch.tokens)

    def sweep(self, batch: Batch) -> TickResult:
        result = self.run(batch)
        assert result is not None  # a sweep always runs a pass
        return result

    def targeted(self, batch: Batch, metrics: Metrics) -> TickResult | None:
        """Run a batch that needs no sweep, and count it. A crash is a failed pass (the state
        file changing under the daemon is not: it propagates)."""
        started = self._clock()
        try:
            result = self.run(batch)
        except StateFileChanged:
            raise
        except Exception as exc:
            log.exception("targeted pass raised")
            result = TickResult.crashed(f"{type(exc).__name__}: {exc}")
        if result is None:
            return None
        metrics.inc("reconciler_targeted_passes_total",
                    outcome="success" if result.success else "failure")
        metrics.set("reconciler_targeted_pass_duration_seconds",
                    round(self._clock() - started, 6))
        if result.success:
            record_tick_result(metrics, result)
            if result.posted or result.cancelled:
                log.info("targeted pass: %s", result.status_line)
        return result

    def swept(self, delay: float) -> None:
        """A sweep ran (or a failure set the wait): the next one is due in `delay` seconds."""
        self.next_sweep_at = self._clock() + delay

    def delay(self, *, not_before: float = 0.0) -> float:
        """Seconds until the next pass: now when work waits, else when the sweep is due; never
        before `not_before` (on `clock`: a wait the exchange asked for)."""
        now = self._clock()
        due = 0.0 if self.work.pending else self.next_sweep_at - now
        return max(due, not_before - now, 0.0)


__all__ = ["StreamListener", "StreamOpeners", "StreamPasses", "StreamSetup", "StreamState",
           "StreamTicker"]
