"""Review tests of the daemon loop's rate-limit wait (invariant 8), with a scripted ticker and
the real scheduler (the helpers of tests/test_daemon.py).

The existing test of "a change does not cut the wait short" pokes while the tick is still in
flight, which goes through the dirty flag; a change that arrives after the rate-limited tick
has finished goes through `request_tick`'s own path, tested here.
"""

from __future__ import annotations

import time
from pathlib import Path

from reconciler.daemon.daemon import Daemon
from tests.test_daemon import WAIT, Result, Running, ScriptedTicker, make_daemon


def _idle_after(daemon: Daemon, ticks: int) -> bool:
    """Wait (bounded) until `ticks` ticks ran and the scheduler listener has finished."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with daemon._lock:  # noqa: SLF001 (the loop's own state, read under its lock)
            if daemon.ticks_run >= ticks and not daemon._running:  # noqa: SLF001
                return True
        time.sleep(0.01)
    return False


def test_a_change_after_a_rate_limited_tick_still_waits_for_retry_after(tmp_path: Path) -> None:
    ticker = ScriptedTicker([Result(success=False, error="429", retry_after=0.5)])
    daemon = make_daemon(ticker, tmp_path / "desired", backoff_base_seconds=0.001)
    with Running(daemon):
        assert ticker.wait_for(1)
        assert _idle_after(daemon, 1)
        daemon.request_tick()  # a file change, after the 429 answer was handled
        assert ticker.wait_for(2)
    assert ticker.times[1] - ticker.times[0] >= 0.5


def test_a_change_after_a_successful_tick_runs_at_once(tmp_path: Path) -> None:
    """The other side (so the test above can fail): without a rate limit, a change is not
    held back by the hour-long interval."""
    ticker = ScriptedTicker([Result()])
    daemon = make_daemon(ticker, tmp_path / "desired")
    with Running(daemon):
        assert ticker.wait_for(1)
        assert _idle_after(daemon, 1)
        daemon.request_tick()
        assert ticker.wait_for(2)
