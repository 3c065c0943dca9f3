"""The daemon: the only place that owns threads, timers and signals.

The loop wakes on a timer or on a change, whichever comes first, and backs off on errors
(STYLE.md 5, after litestream's replica monitor):

- An APScheduler 3 `BackgroundScheduler` runs one job, `tick`, with max_instances=1 and
  coalesce=True, so ticks never overlap and missed runs collapse into one. After every tick a job
  listener sets the next run time: the interval after a success, an exponential backoff after a
  failure (never longer than the interval, so the first good tick after an outage comes within
  one interval of the exchange answering again), or exactly the exchange's Retry-After after a
  rate-limit answer. The listener runs
  after APScheduler has released the job's instance slot, so "run again now" is never dropped as
  "already running", and the job's trigger remembers the chosen time (see ChosenTimeTrigger).
- A watchdog observer on the desired directory pokes a debouncer; after a quiet period (150 ms by
  default) the next tick is brought forward. An editor's save (temp file, rename) is one tick, and
  the tick re-reads every file itself: the watcher only says "look now". A change during a tick
  marks the loop dirty, and the tick that finishes runs again at once.
- systemd: READY=1 after the first successful tick, WATCHDOG=1 after every successful tick and
  on a timer while the loop is healthy (see `support.Health`), STATUS= a one-line summary.
- The state file changed under the daemon (deleted, replaced, its WAL replaced: the engine
  raises `StateFileChanged`): stop taking ticks, one error line, exit 1 (invariant 10).
- SIGTERM/SIGINT: stop taking new ticks, let the one in flight finish (bounded by the stop
  timeout), optionally cancel our managed orders (`on_shutdown: cancel`), exit 0
  (`stopped_by` names the signal: `reconciler run` exits 130 after SIGINT, as `apply` does).
- SIGHUP: reload, never stop. The handler only sets a flag; the main loop then calls the
  `on_reload` hook (the CLI re-opens its log file, the ticker forgets its cached market info)
  and brings the next tick forward, which re-reads the desired files and the state file (a
  `reconciler suspend` written there is seen by that tick). Closing the terminal a foreground
  daemon runs in sends SIGHUP: it keeps running and keeps its orders as they are.
- Suspended (`reconciler suspend`, read by the ticker from the state file every tick): the
  daemon logs one WARNING when a tick reports it, and one line when it is resumed.
- Optional exchange heartbeats (off by default): while the loop is healthy, post one every 5 s.
  The exchange cancels EVERY order of the API key when they stop for ~10 s. A tick that runs
  long but keeps making requests (pacing thousands of cancels or posts) is healthy: the client
  reports its progress to `Daemon.health` (wired by the CLI: `client.on_progress`).

The daemon knows nothing about orders: it drives anything whose `.tick()` returns an engine
`TickResult` (reconcile.Reconciler in production), and reads that result's fields.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from reconciler.daemon.lifecycle import Lifecycle
from reconciler.daemon.metrics import (
    Metrics,
    record_failure,
    record_stream_state,
    record_success,
)
from reconciler.daemon.pulses import ChosenTimeTrigger, Pulses
from reconciler.daemon.sdnotify import SystemdNotifier
from reconciler.daemon.stream import StreamPasses, StreamSetup
from reconciler.daemon.stream_work import Batch
from reconciler.daemon.support import Debouncer, FailureLog, Health, LoopBackoff
from reconciler.daemon.ticklog import TickLog
from reconciler.engine import StateFileChanged, TickResult

log = logging.getLogger("reconciler.daemon.daemon")

TICK_JOB = "tick"
#: A file that never stops changing must not starve the loop: tick anyway after this many.
MAX_DEFERRED_TICKS = 3


class Ticker(Protocol):
    def tick(self) -> TickResult: ...


@dataclass(frozen=True)
class DaemonOptions:
    interval_seconds: float = 10.0
    debounce_seconds: float = 0.15
    stop_timeout_seconds: float = 20.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    error_log_every_seconds: float = 60.0
    heartbeat_seconds: float | None = None  # None: no exchange heartbeats (the default)
    exit_after_first_success: bool = False  # `run --once-and-show`: one converge, then stop
    max_failures: int | None = None  # stop (exit 1) after this many consecutive failures


class Daemon(Lifecycle):
    """Run ticks on a schedule and on changes until stopped. `run()` returns the exit code."""

    def __init__(
        self,
        *,
        ticker: Ticker,
        desired_dir: Path,
        options: DaemonOptions,
        notifier: SystemdNotifier | None = None,
        metrics: Metrics | None = None,
        metrics_port: int | None = None,
        on_shutdown: Callable[[], str] | None = None,
        heartbeat: Callable[[str], str] | None = None,
        on_reload: Callable[[], None] | None = None,
        stream: StreamSetup | None = None,
    ) -> None:
        self._ticker = ticker
        self._desired_dir = desired_dir
        self._options = options
        self._notifier = notifier or SystemdNotifier(env={})
        self._metrics = metrics or Metrics()
        self._metrics_port = metrics_port
        self._on_shutdown = on_shutdown
        self._heartbeat = heartbeat
        self._on_reload = on_reload
        self._wake = threading.Event()  # the main loop: a stop or a reload wants attention
        self._reload_pending = False
        self.stopped_by: str | None = None  # the signal that stopped the daemon, if one did
        self.reloads = 0
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._trigger = ChosenTimeTrigger(fallback_seconds=options.interval_seconds)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the fields below, never held across a tick
        self._running = False
        self._dirty = False
        self._next_delay = options.interval_seconds
        self._not_before = 0.0  # monotonic time before which a change may not start a tick
        self._ready_sent = False
        self._deferred = 0  # scheduled ticks put off in a row while files were changing
        self._exit_code = 0
        self._state_lost = False  # the state file changed under us: no shutdown sweep either
        self._backoff = LoopBackoff(
            base_seconds=options.backoff_base_seconds, cap_seconds=options.backoff_cap_seconds,
            interval_seconds=options.interval_seconds,  # a failure never waits longer
        )
        self._failures = FailureLog(logger=log, every_seconds=options.error_log_every_seconds)
        self.health = Health()
        self.last_result: TickResult | None = None
        self.ticks_run = 0
        self._tick_log = TickLog(log)
        self._tick_wall_start = 0.0
        self._pulses = Pulses(
            notifier=self._notifier, health=self.health, heartbeat=heartbeat,
            interval_seconds=options.interval_seconds,
            heartbeat_seconds=options.heartbeat_seconds, ready=lambda: self._ready_sent,
        )
        self._debouncer = Debouncer(
            quiet_seconds=options.debounce_seconds, callback=self.request_tick
        )
        self._observer: Any = None
        self._metrics_server: Any = None
        # The WebSocket channels (stream.py): events bring targeted passes forward; None: polling.
        self._stream = (StreamPasses(stream, ticker=ticker, wake=self.request_pass)
                        if stream is not None else None)

    # --- public -------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No pass is running and none is waiting to (the stream's work included)."""
        with self._lock:
            pending = self._stream is not None and self._stream.work.pending
            return not self._running and not pending

    def request_tick(self) -> None:
        """Bring the next tick forward (called by the watcher after the quiet period)."""
        with self._lock:
            if self._stream is not None:
                self._stream.work.sweep("desired files changed")
            if self._running:
                self._dirty = True  # the tick in flight may have read the old files
                return
            # A file change is new information, but not a reason to ignore a rate limit.
            delay = max(0.0, self._not_before - time.monotonic())
            self._reschedule(delay)

    def request_pass(self) -> None:
        """Bring the next pass forward for the stream's work (called by its threads); the pass
        running now looks at the queue when it ends (`_after_tick`)."""
        with self._lock:
            if not self._running and not self._stop.is_set():
                self._reschedule(max(0.0, self._not_before - time.monotonic()))

    # --- start and stop -----------------------------------------------------------------------

    def _start(self) -> None:
        log.info("starting: desired %s, tick every %.1f s, watching for changes",
                 self._desired_dir, self._options.interval_seconds)
        self._start_metrics()
        self._scheduler.add_listener(self._after_tick, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self._scheduler.add_job(
            self._tick_job, trigger=self._trigger, id=TICK_JOB, max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        self._pulses.add_jobs(self._scheduler)
        # Watch before the first tick: a save between the first read and the watch is not lost.
        self._debouncer.start()
        self._start_watcher()
        self._scheduler.start()
        if self._stream is not None:
            state = self._stream.state
            self._metrics.add_collector(lambda m: record_stream_state(m, state.snapshot()))
            self._stream.listener.start()

    # --- the tick -----------------------------------------------------------------------------

    def _tick_job(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            # With the stream, the queue says what this run covers (stream.py); without, or
            # when a sweep is asked for or due, it is a sweep, as it always was.
            batch = self._stream.take() if self._stream is not None else None
            sweep = batch is None or batch.sweep
            if sweep and self._debouncer.pending and self._deferred < MAX_DEFERRED_TICKS:
                # Files are changing right now (an editor's save, a git pull writing file after
                # file): reading them half-written could cancel a token that is only moving
                # between files. The debouncer ticks once they are quiet.
                self._deferred += 1
                self._next_delay = self._options.interval_seconds
                if self._stream is not None and batch is not None:
                    self._stream.work.add(batch.as_work())  # kept for the pass after the wait
                return
            if self._stream is not None and batch is not None and batch.empty:
                self._next_delay = self._stream.delay(not_before=self._not_before)  # woken for work a pass already did
                return
            if sweep:
                self._deferred = 0
                self._dirty = False
            self._running = True
        if not sweep:
            assert batch is not None and self._stream is not None
            wait = self._targeted_pass(batch)
            with self._lock:
                if wait:  # the exchange asked for a wait: no pass before it, stream or not
                    self._not_before = time.monotonic() + wait
                self._next_delay = self._stream.delay(not_before=self._not_before)
            return
        self.health.tick_started_now()
        started = time.monotonic()
        self._tick_wall_start = time.time()
        try:
            result = self._sweep(batch)
        except StateFileChanged as exc:
            self._state_file_changed(exc)
            return
        elapsed = time.monotonic() - started
        self.ticks_run += 1
        self.last_result = result
        self._tick_log.fills(result)
        ok = result.success
        self.health.tick_finished(ok=ok)
        self._metrics.set("reconciler_tick_duration_seconds", round(elapsed, 6))
        delay = self._after_success(result) if ok else self._after_failure(result)
        with self._lock:
            self._next_delay = delay
            # Only a wait the exchange asked for (a rate limit, a trading mode in which nothing
            # can be sent) holds back a tick a file change (or the stream) asks for.
            waits = bool(result.retry_after)
            self._not_before = time.monotonic() + delay if waits else 0.0
            if self._stream is not None:
                self._stream.swept(delay)
                self._next_delay = self._stream.delay(not_before=self._not_before)

    def _sweep(self, batch: Batch | None) -> TickResult:
        try:
            if self._stream is None or batch is None:
                return self._ticker.tick()
            return self._stream.sweep(batch)
        except StateFileChanged:
            raise
        except Exception as exc:
            log.exception("tick raised")
            return TickResult.crashed(f"{type(exc).__name__}: {exc}")

    def _targeted_pass(self, batch: Batch) -> float:
        """The stream's work that needs no sweep (stream.StreamPasses.targeted); returns the
        wait the exchange asked for (0 for none). A failed pass leaves its work to a sweep
        after the backoff."""
        assert self._stream is not None
        try:
            result = self._stream.targeted(batch, self._metrics)
        except StateFileChanged as exc:
            self._state_file_changed(exc)
            return 0.0
        if result is None:
            return 0.0
        self.last_result = result
        self._tick_log.fills(result)  # the fills the stream brought this pass for
        if not result.success:
            self._stream.swept(self._after_failure(result))
        elif result.retry_after:  # a trading mode in which nothing can be sent: wait as told
            self._stream.swept(float(result.retry_after))
        return float(result.retry_after or 0.0)

    def _state_file_changed(self, exc: StateFileChanged) -> None:
        """The state file is not the one opened (invariant 10): trading on it would be trading
        blind, so stop at once, with one line, and exit non-zero (systemd restarts the unit,
        and the new process opens whatever file is at the path on its own terms)."""
        log.error("stopped trading: %s; exiting (a restart holds every token whose open orders "
                  "the state file has no record of, until `reconciler adopt`)", exc)
        with self._lock:
            self._exit_code = 1
            self._state_lost = True
        self._notifier.status(f"stopped: {exc}")
        self.stop("the state file changed")

    def _after_success(self, result: TickResult) -> float:
        streak = self._backoff.after_success()
        if streak:
            self._failures.success()
        record_success(self._metrics, result)
        self._tick_log.suspension(result)
        self._tick_log.conditions(result)
        first = not self._ready_sent
        if first:
            self._notifier.ready(status=result.status_line)
            self._ready_sent = True
        else:
            self._notifier.status(result.status_line)
        self._tick_log.tick_line(result, first=first, started=self._tick_wall_start,
                                 seconds=self._metrics.value("reconciler_tick_duration_seconds"))
        self._notifier.watchdog()
        if self._options.exit_after_first_success:
            self.stop("converged once (--once-and-show)")
        if result.retry_after:  # a trading mode in which nothing can be sent: wait as told
            return max(0.0, float(result.retry_after))
        return self._options.interval_seconds

    def _after_failure(self, result: TickResult) -> float:
        delay = self._backoff.after_failure(retry_after=result.retry_after)
        error = result.error or "unknown error"
        self._failures.failure(error, delay=delay)
        record_failure(self._metrics, failures=self._backoff.failures)
        self._notifier.status(f"failing ({self._backoff.failures}x): {error}")
        limit = self._options.max_failures
        if limit is not None and self._backoff.failures >= limit:
            self._exit_code = 1
            self.stop(f"{self._backoff.failures} consecutive failed ticks")
        return delay

    def _after_tick(self, event: JobExecutionEvent) -> None:
        """Job listener: runs once APScheduler has freed the job's instance slot."""
        if event.job_id != TICK_JOB:
            return
        with self._lock:
            self._running = False
            delay = self._next_delay
            if self._stream is not None and self._stream.work.pending:
                delay = max(0.0, self._not_before - time.monotonic())
            if self._dirty:
                delay = max(0.0, self._not_before - time.monotonic())
                self._dirty = False
            if not self._stop.is_set():
                self._reschedule(delay)

    def _reschedule(self, delay: float) -> None:
        """Set the tick's next run; callers hold self._lock (APScheduler takes its own lock)."""
        when = datetime.now(UTC) + timedelta(seconds=delay)
        self._trigger.choose(when)
        try:
            self._scheduler.modify_job(TICK_JOB, next_run_time=when)
        except Exception as exc:  # the scheduler is shutting down; nothing left to schedule
            log.debug("not rescheduled: %s", exc)



__all__ = ["Daemon", "DaemonOptions", "Ticker", "TICK_JOB"]
