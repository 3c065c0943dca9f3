"""Small parts of the daemon loop, each testable on its own with an injected clock.

- `LoopBackoff`: how long the whole loop waits after failed ticks (exponential, capped; the
  daemon caps it at its interval), or exactly what the exchange asked for after a rate-limit
  answer.
- `FailureLog`: rate-limited error logs during a failure streak and one "recovered" line after
  it (litestream's replica monitor does the same), so an outage is a few lines, not thousands.
- `Health`: whether the systemd watchdog should still be pinged (and the exchange heartbeats
  sent): yes while ticks succeed, no once they have failed (or one has hung) for longer than the
  watchdog interval, so systemd restarts a daemon that is alive but not doing its job. A tick
  that keeps making requests (a pass pacing thousands of cancels) is not hung: the client
  reports each request and pacing wait to `Health.progress`, from the tick's own thread.
- `Debouncer`: calls back once after a quiet period following the last poke, so an editor's
  save (write a temp file, rename it over the original) brings ONE tick forward, after the
  complete file is in place.
- `git_commit_of`: the commit of a desired directory that is a git checkout, for the revision log.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Clock = Callable[[], float]


@dataclass
class LoopBackoff:
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    failures: int = 0
    # The daemon's interval: a failure never waits longer than a success would, or the backoff
    # outlasts the outage (the first good tick must come within one interval of recovery).
    interval_seconds: float | None = None

    def after_failure(self, *, retry_after: float | None = None) -> float:
        """Count a failure; return the delay before the next tick."""
        self.failures += 1
        if retry_after is not None and retry_after > 0:
            # The exchange said how long: waiting less breaks its limit, waiting more is wasted.
            return min(float(retry_after), self.cap_seconds * 4)
        cap = self.cap_seconds if self.interval_seconds is None else min(
            self.cap_seconds, self.interval_seconds
        )
        return min(cap, self.base_seconds * 2 ** min(self.failures - 1, 30))

    def after_success(self) -> int:
        """Reset; return how many failures the streak had."""
        streak, self.failures = self.failures, 0
        return streak


class FailureLog:
    """Log the first failure, then at most one line per `every_seconds`; one line on recovery."""

    def __init__(
        self, *, logger: logging.Logger, every_seconds: float = 60.0, clock: Clock = time.monotonic
    ) -> None:
        self._log = logger
        self._every = every_seconds
        self._clock = clock
        self._streak = 0
        self._started: float | None = None
        self._last_logged: float | None = None
        self._suppressed = 0

    def failure(self, message: str, *, delay: float) -> bool:
        """Record a failed tick; True when a line was written."""
        now = self._clock()
        self._streak += 1
        if self._started is None:
            self._started = now
        due = self._last_logged is None or now - self._last_logged >= self._every
        if not due:
            self._suppressed += 1
            return False
        if self._streak == 1:
            self._log.error("tick failed: %s (next try in %.1f s)", message, delay)
        else:
            self._log.error(
                "tick still failing: %s (%d failures in %.0f s, %d not logged; next try in %.1f s)",
                message, self._streak, now - self._started, self._suppressed, delay,
            )
        self._last_logged, self._suppressed = now, 0
        return True

    def success(self) -> bool:
        """Record a successful tick; True when it ended a streak (and a line was written)."""
        if self._streak == 0:
            return False
        elapsed = self._clock() - (self._started or self._clock())
        self._log.warning("recovered after %d failed ticks over %.0f s", self._streak, elapsed)
        self._streak, self._started, self._last_logged, self._suppressed = 0, None, None, 0
        return True


class Health:
    """Tick health for the systemd watchdog and the exchange heartbeats. Times come from the
    injected clock.

    A tick counts as hung once it has made no progress for longer than the grace asked for: no
    request ended, and no pacing wait was under way (`progress`). Only progress reported from
    the thread running the tick counts, so the heartbeat pulse's own requests (another thread,
    the same client) never keep a hung tick looking alive."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.ever_succeeded = False
        self.failing_since: float | None = None
        self.tick_started: float | None = None
        self.busy_until: float | None = None  # the tick's last progress (later in a wait)
        self._tick_thread: int | None = None

    def tick_started_now(self) -> None:
        with self._lock:
            self.tick_started = self._clock()
            self.busy_until = None
            self._tick_thread = threading.get_ident()

    def progress(self, ahead_seconds: float = 0.0) -> None:
        """The tick made progress: a request ended (0), or a pacing wait of `ahead_seconds`
        starts now. Ignored outside a tick and from any other thread."""
        with self._lock:
            if self.tick_started is None or threading.get_ident() != self._tick_thread:
                return
            until = self._clock() + max(0.0, ahead_seconds)
            self.busy_until = until if self.busy_until is None else max(self.busy_until, until)

    def tick_finished(self, *, ok: bool) -> None:
        with self._lock:
            now, self.tick_started = self._clock(), None
            self.busy_until, self._tick_thread = None, None
            if ok:
                self.ever_succeeded, self.failing_since = True, None
            elif self.failing_since is None:
                self.failing_since = now

    def healthy(self, *, watchdog_seconds: float) -> bool:
        with self._lock:
            now = self._clock()
            if not self.ever_succeeded:
                return False
            if self.failing_since is not None and now - self.failing_since > watchdog_seconds:
                return False
            if self.tick_started is None:
                return True
            last_sign_of_life = max(self.tick_started, self.busy_until or self.tick_started)
            return now - last_sign_of_life <= watchdog_seconds


class Debouncer:
    """Run `callback` once, `quiet_seconds` after the last `poke()`; in its own thread."""

    def __init__(
        self, *, quiet_seconds: float, callback: Callable[[], None], clock: Clock = time.monotonic
    ) -> None:
        self._quiet = quiet_seconds
        self._callback = callback
        self._clock = clock
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="debounce", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def pending(self) -> bool:
        """A change was seen and its quiet period has not ended yet."""
        with self._cond:
            return self._deadline is not None and not self._stopped

    def poke(self) -> None:
        with self._cond:
            self._deadline = self._clock() + self._quiet
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while self._wait_for_quiet():
            try:
                self._callback()
            except Exception:  # a failing callback must not kill the watcher
                logging.getLogger(__name__).exception("debounced callback failed")

    def _wait_for_quiet(self) -> bool:
        with self._cond:
            while self._deadline is None and not self._stopped:
                self._cond.wait()
            while not self._stopped:
                remaining = (self._deadline or 0.0) - self._clock()
                if remaining <= 0:
                    self._deadline = None
                    return True
                self._cond.wait(remaining)
            return False


def git_commit_of(directory: Path) -> str | None:
    """HEAD of the git checkout holding `directory`, or None when it is not one."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 40 else None
