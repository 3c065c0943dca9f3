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
  "already running", and the job's trigger remembers the chosen time (see _ChosenTimeTrigger).
- A watchdog observer on the desired directory pokes a debouncer; after a quiet period (150 ms by
  default) the next tick is brought forward. An editor's save (temp file, rename) is one tick, and
  the tick re-reads every file itself: the watcher only says "look now". A change during a tick
  marks the loop dirty, and the tick that finishes runs again at once.
- systemd: READY=1 after the first successful tick, WATCHDOG=1 after every successful tick and
  on a timer while the loop is healthy (see `support.Health`), STATUS= a one-line summary.
- SIGTERM/SIGINT: stop taking new ticks, let the one in flight finish (bounded by the stop
  timeout), optionally cancel our managed orders (`on_shutdown: cancel`), exit 0.
- Optional exchange heartbeats (off by default): while the loop is healthy, post one every 5 s.
  The exchange cancels EVERY order of the API key when they stop for ~10 s.

The daemon knows nothing about orders: it drives anything whose `.tick()` returns an engine
`TickResult` (reconcile.Reconciler in production), and reads that result's fields.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from reconciler.daemon.metrics import (
    Metrics,
    make_metrics_server,
    record_stream_state,
    record_tick_result,
)
from reconciler.daemon.pulses import Pulses
from reconciler.daemon.sdnotify import SystemdNotifier
from reconciler.daemon.stream import StreamPasses, StreamSetup
from reconciler.daemon.stream_work import Batch
from reconciler.daemon.support import Debouncer, FailureLog, Health, LoopBackoff
from reconciler.daemon.watcher import DesiredWatcher
from reconciler.engine import TickResult

log = logging.getLogger("reconciler.daemon.daemon")

TICK_JOB = "tick"
#: A file that never stops changing must not starve the loop: tick anyway after this many.
MAX_DEFERRED_TICKS = 3


class Ticker(Protocol):
    def tick(self) -> TickResult: ...


class _ChosenTimeTrigger(BaseTrigger):
    """Fire when the daemon says; the interval is only the fallback while a tick runs.

    APScheduler asks a trigger for the next fire time right after submitting a run. A tick that
    finishes faster than that submission completes has its listener run first, inside the
    scheduler's loop, and the trigger's answer would overwrite the time the listener chose. So
    the chosen time lives here, and a choice made during the current run wins over the fallback.
    """

    def __init__(self, *, fallback_seconds: float) -> None:
        self._fallback = timedelta(seconds=fallback_seconds)
        self._chosen: datetime | None = None
        self._guard = threading.Lock()

    def choose(self, when: datetime) -> None:
        with self._guard:
            self._chosen = when

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        with self._guard:
            chosen = self._chosen
        if chosen is not None and (previous_fire_time is None or chosen > previous_fire_time):
            return chosen
        return now + self._fallback

    def __str__(self) -> str:
        return f"chosen-time (fallback {self._fallback})"


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


class Daemon:
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
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._trigger = _ChosenTimeTrigger(fallback_seconds=options.interval_seconds)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the fields below, never held across a tick
        self._running = False
        self._dirty = False
        self._next_delay = options.interval_seconds
        self._not_before = 0.0  # monotonic time before which a change may not start a tick
        self._ready_sent = False
        self._deferred = 0  # scheduled ticks put off in a row while files were changing
        self._exit_code = 0
        self._backoff = LoopBackoff(
            base_seconds=options.backoff_base_seconds, cap_seconds=options.backoff_cap_seconds,
            interval_seconds=options.interval_seconds,  # a failure never waits longer
        )
        self._failures = FailureLog(logger=log, every_seconds=options.error_log_every_seconds)
        self.health = Health()
        self.last_result: TickResult | None = None
        self.ticks_run = 0
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

    def run(self, *, install_signals: bool = True) -> int:
        """Start everything, wait for a stop (signal, `stop()`, or once-mode done), shut down."""
        previous = self._install_signals() if install_signals else {}
        try:
            self._start()
            while not self._stop.wait(timeout=1.0):
                pass
            return self._shutdown()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            log.info("stopping: %s", reason)
        self._stop.set()

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
        log.info(
            "starting: desired %s, tick every %.1f s, watching for changes",
            self._desired_dir, self._options.interval_seconds,
        )
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

    def _start_watcher(self) -> None:
        # It also watches the parent, to re-arm when the directory is removed and re-created
        # (and warns when it cannot watch); see watcher.py.
        watcher = DesiredWatcher(self._desired_dir, self._debouncer.poke)
        watcher.start()
        self._observer = watcher

    def _start_metrics(self) -> None:
        if self._metrics_port is None:
            return
        server = make_metrics_server(self._metrics, port=self._metrics_port)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self._metrics_server = server
        log.info("metrics on http://127.0.0.1:%d/metrics", server.server_address[1])

    def _shutdown(self) -> int:
        self._notifier.stopping(status="stopping")
        if self._stream is not None:
            self._stream.listener.stop()
        if self._observer is not None:
            self._observer.stop()
        self._debouncer.stop()
        self._scheduler.shutdown(wait=False)  # no new ticks; the one in flight goes on
        idle = self._wait_idle(timeout=self._options.stop_timeout_seconds)
        if not idle:
            log.error(
                "a tick was still running after %.0f s; exiting anyway (its journal entries "
                "are resolved on the next start)", self._options.stop_timeout_seconds,
            )
            self._exit_code = self._exit_code or 1
        if self._heartbeat is not None and self._options.heartbeat_seconds:
            log.warning("heartbeats stopped: the exchange will cancel this key's orders in ~10 s")
        if idle:
            self._run_shutdown_hook()
        elif self._on_shutdown is not None:
            # The hung tick may still post after a cancel sweep, and it holds the state file:
            # a sweep now would race it. Say so; the operator decides.
            log.error("on_shutdown cancel skipped: a tick is still running; cancel by hand with "
                      "`reconciler cancel` / `reconciler cancel-market` if needed")
        if self._observer is not None:
            self._observer.join(timeout=5)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        log.info("stopped after %d ticks (exit %d)", self.ticks_run, self._exit_code)
        return self._exit_code

    def _wait_idle(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.02)
        return False

    def _run_shutdown_hook(self) -> None:
        if self._on_shutdown is None:
            return
        try:
            log.info("on_shutdown: %s", self._on_shutdown())
        except Exception as exc:  # the stop must complete; the orders stay as they are
            log.error("on_shutdown failed, orders left as they are: %s", exc)
            self._exit_code = self._exit_code or 1

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stop.is_set():
            log.warning("%s again while stopping: still waiting for the tick in flight", name)
            return
        self.stop(f"received {name}")

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
                self._next_delay = self._stream_delay()  # woken for work a pass already did
                return
            if sweep:
                self._deferred = 0
                self._dirty = False
            self._running = True
        if not sweep:
            assert batch is not None
            wait = self._targeted_pass(batch)
            with self._lock:
                if wait:  # the exchange asked for a wait: no pass before it, stream or not
                    self._not_before = time.monotonic() + wait
                self._next_delay = self._stream_delay()
            return
        self.health.tick_started_now()
        started = time.monotonic()
        self._tick_wall_start = time.time()
        result = self._sweep(batch)
        elapsed = time.monotonic() - started
        self.ticks_run += 1
        self.last_result = result
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
                self._next_delay = self._stream_delay()

    def _sweep(self, batch: Batch | None) -> TickResult:
        try:
            if self._stream is None or batch is None:
                return self._ticker.tick()
            result = self._stream.run(batch)
            assert result is not None  # a sweep always runs a pass
            return result
        except Exception as exc:
            log.exception("tick raised")
            return TickResult.crashed(f"{type(exc).__name__}: {exc}")

    def _stream_delay(self) -> float:
        """Seconds to the next run with the stream on: its work or its sweep, not before a
        wait the exchange asked for. Callers hold self._lock."""
        assert self._stream is not None
        return max(self._stream.delay(), self._not_before - time.monotonic(), 0.0)

    def _targeted_pass(self, batch: Batch) -> float:
        """The stream's work that needs no sweep: a targeted pass, or trades to record.
        Returns the wait the exchange asked for (0 for none)."""
        assert self._stream is not None
        started = time.monotonic()
        try:
            result = self._stream.run(batch)
        except Exception as exc:
            log.exception("targeted pass raised")
            result = TickResult.crashed(f"{type(exc).__name__}: {exc}")
        if result is None:
            return 0.0
        self._metrics.inc("reconciler_targeted_passes_total",
                          outcome="success" if result.success else "failure")
        self._metrics.set("reconciler_targeted_pass_duration_seconds",
                          round(time.monotonic() - started, 6))
        self.last_result = result
        wait = float(result.retry_after or 0.0)
        if not result.success:  # what failed is the sweep's now, after the backoff
            self._stream.swept(self._after_failure(result))
            return wait
        record_tick_result(self._metrics, result)
        if result.posted or result.cancelled:
            log.info("targeted pass: %s", result.status_line)
        if wait:  # a trading mode in which nothing can be sent: wait as told
            self._stream.swept(wait)
        return wait

    def _after_success(self, result: TickResult) -> float:
        streak = self._backoff.after_success()
        if streak:
            self._failures.success()
        self._metrics.inc("reconciler_ticks_total", outcome="success")
        self._metrics.set("reconciler_last_success_timestamp_seconds", round(time.time(), 3))
        self._metrics.set("reconciler_consecutive_failures", 0)
        record_tick_result(self._metrics, result)
        line = result.status_line
        if not self._ready_sent:
            self._notifier.ready(status=line)
            self._ready_sent = True
            log.info("first tick done: %s", line, extra=self._tick_fields(result))
        else:
            self._notifier.status(line)
            changed = result.posted + result.cancelled
            # A tick that changed orders is worth a line; a quiet one is not (every 10 s). The
            # trading mode says its changes itself (engine/modes.py).
            log.log(logging.INFO if changed else logging.DEBUG, "tick: %s", line,
                    extra=self._tick_fields(result))
        self._notifier.watchdog()
        if self._options.exit_after_first_success:
            self.stop("converged once (--once-and-show)")
        if result.retry_after:  # a trading mode in which nothing can be sent: wait as told
            return max(0.0, float(result.retry_after))
        return self._options.interval_seconds

    def _tick_fields(self, result: TickResult) -> dict[str, Any]:
        """Structured fields of a tick's log line (JSON logs carry them as keys)."""
        return {
            "tick_started": round(self._tick_wall_start, 3),
            "tick_seconds": self._metrics.value("reconciler_tick_duration_seconds"),
            "outcome": result.outcome.value,
            "posted": result.posted,
            "cancelled": result.cancelled,
        }

    def _after_failure(self, result: TickResult) -> float:
        delay = self._backoff.after_failure(retry_after=result.retry_after)
        error = result.error or "unknown error"
        self._failures.failure(error, delay=delay)
        self._metrics.inc("reconciler_ticks_total", outcome="failure")
        self._metrics.inc("reconciler_errors_total")
        self._metrics.set("reconciler_consecutive_failures", self._backoff.failures)
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
