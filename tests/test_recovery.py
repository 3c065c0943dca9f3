"""Recovery after an outage (issue 9): the loop's backoff never outlasts its interval, and an API
key the exchange no longer accepts is re-derived once; when that fails too, the daemon backs off
with a message that says what to do in CLI terms, and recovers on its own once it works again.

The daemon, the scheduler and the paper exchange are real; waits are bounded, never asserted.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import pytest

from reconciler.daemon.daemon import Daemon, DaemonOptions
from reconciler.engine import TickResult
from reconciler.model import TickOutcome
from tests.support.engine import TOKEN_A, Harness, level, set_faults

WAIT = 20.0


class Failing:
    """Fails `count` ticks (an exchange that does not answer), then succeeds."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.done = threading.Event()
        self.ticks = 0

    def tick(self) -> TickResult:
        self.ticks += 1
        if self.left > 0:
            self.left -= 1
            return TickResult(outcome=TickOutcome.ERROR, error="exchange down")
        self.done.set()
        return TickResult(outcome=TickOutcome.NOOP)


def run_until(daemon: Daemon, done: threading.Event) -> None:
    thread = threading.Thread(target=lambda: daemon.run(install_signals=False), daemon=True)
    thread.start()
    try:
        assert done.wait(WAIT)
    finally:
        daemon.stop()
        thread.join(WAIT)


def delays_logged(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The "next try in X s" of every failure the daemon logged."""
    return [float(m) for r in caplog.records
            for m in re.findall(r"next try in ([0-9.]+) s", r.getMessage())]


def test_the_backoff_never_waits_longer_than_the_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon.daemon")
    ticker = Failing(8)  # 0.05, 0.1, 0.2, 0.4 ... would reach 6.4 s uncapped
    options = DaemonOptions(interval_seconds=0.3, backoff_base_seconds=0.05,
                            backoff_cap_seconds=300, error_log_every_seconds=0)
    run_until(Daemon(ticker=ticker, desired_dir=tmp_path, options=options), ticker.done)
    delays = delays_logged(caplog)
    assert len(delays) == 8 and max(delays) <= 0.3, delays
    assert delays[-1] == 0.3  # capped at the interval, not at backoff_cap_seconds
    assert any("recovered after 8 failed ticks" in r.getMessage() for r in caplog.records)


def test_a_key_that_cannot_be_repaired_backs_off_says_what_to_do_and_recovers(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    _delete_api_key(h)  # every L2 call now answers 401
    # ... and deriving a key anew fails too, twice (the exchange's L1 routes answer 5xx).
    set_faults(h, error_5xx_next=2, paths=["/auth/derive-api-key", "/auth/api-key"])
    caplog.set_level(logging.INFO, logger="reconciler.daemon.daemon")
    done = threading.Event()

    class Watch:
        def tick(self) -> TickResult:
            result = h.reconciler.tick()
            if result.success:
                done.set()
            return result

    options = DaemonOptions(interval_seconds=0.5, backoff_base_seconds=0.05,
                            error_log_every_seconds=0)
    run_until(Daemon(ticker=Watch(), desired_dir=h.desired, options=options), done)
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures, "the failed ticks were not reported"
    first = failures[0]
    assert "refused the API key" in first and "reconciler keys list" in first
    assert "PRIVATE_KEY" in first and "--host" in first
    assert not re.search(r"\w+\(\)", first), first  # CLI terms: no Python method named
    assert all(d <= 0.5 for d in delays_logged(caplog))
    assert any("recovered after" in r.getMessage() for r in caplog.records)
    assert h.resting(TOKEN_A)  # once a key was derived again, the level was posted


def _delete_api_key(h: Harness) -> None:
    """The key is deleted on the exchange (as `reconciler keys delete` would)."""
    h.me.client.delete_api_key()
