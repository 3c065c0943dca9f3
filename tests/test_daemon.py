"""The daemon loop with a scripted ticker: schedule, watcher, backoff, systemd, stop.

The ticker here is a small scripted object with `.tick()` (the daemon's whole contract); the
scheduler, the file watcher, the notify socket and the signals are all real. Waits are bounded
by events with generous timeouts, never asserted as durations.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reconciler.daemon.daemon import Daemon, DaemonOptions
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.sdnotify import SystemdNotifier
from reconciler.engine import TickResult
from reconciler.model import TickOutcome
from tests.support.daemon import (
    WAIT,
    Result,
    Running,
    ScriptedTicker,
    make_daemon,
    save_like_an_editor,
)


def test_first_tick_runs_at_once_then_waits_for_the_interval(tmp_path: Path) -> None:
    ticker = ScriptedTicker()
    with Running(make_daemon(ticker, tmp_path / "desired")):
        assert ticker.wait_for(1)
        assert not ticker.wait_for(2, timeout=0.5)  # interval is an hour: no second tick


def test_interval_ticks_repeat(tmp_path: Path) -> None:
    ticker = ScriptedTicker()
    with Running(make_daemon(ticker, tmp_path / "desired", interval_seconds=0.05)):
        assert ticker.wait_for(4)


def test_a_save_brings_one_tick_forward(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    ticker = ScriptedTicker()
    with Running(make_daemon(ticker, desired, debounce_seconds=0.15)):
        assert ticker.wait_for(1)
        for size in range(5):  # a burst of saves is one tick, after the burst
            save_like_an_editor(desired / "a.yaml", f"size: {size}\n")
        assert ticker.wait_for(2)
        assert not ticker.wait_for(3, timeout=0.6)
        assert len(ticker.times) == 2


def test_reads_and_editor_litter_do_not_tick(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "a.yaml").write_text("x: 1\n")
    # Each tick reads the file, as the reconciler does: that must not wake the watcher.
    ticker = ScriptedTicker(on_tick=lambda _: (desired / "a.yaml").read_text())
    with Running(make_daemon(ticker, desired)):
        assert ticker.wait_for(1)
        (desired / ".a.yaml.swp").write_text("swap")
        (desired / "notes.txt").write_text("not yaml")
        assert not ticker.wait_for(2, timeout=0.6)


def test_a_change_during_a_tick_runs_another_tick(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    entered, release = threading.Event(), threading.Event()

    def slow_second_tick(index: int) -> None:
        if index == 1:
            entered.set()
            release.wait(WAIT)

    ticker = ScriptedTicker(on_tick=slow_second_tick)
    daemon = make_daemon(ticker, desired)
    with Running(daemon):
        assert ticker.wait_for(1)
        daemon.request_tick()
        assert entered.wait(WAIT)
        daemon.request_tick()  # arrives while tick 2 is in flight
        release.set()
        assert ticker.wait_for(3)


def test_failures_back_off_log_once_and_recover(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon.daemon")
    script = [Result(success=False, error="exchange down")] * 3
    ticker = ScriptedTicker(script)
    metrics = Metrics()
    daemon = Daemon(ticker=ticker, desired_dir=tmp_path,
                    options=DaemonOptions(interval_seconds=3600, backoff_base_seconds=0.01,
                                          error_log_every_seconds=3600),
                    metrics=metrics)
    with Running(daemon):
        assert ticker.wait_for(4)
    gaps = [b - a for a, b in zip(ticker.times, ticker.times[1:], strict=False)]
    assert gaps[1] >= 0.02 and gaps[2] >= 0.04  # 0.01, 0.02, 0.04: exponential
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "exchange down" in errors[0]
    assert any("recovered after 3 failed ticks" in r.getMessage() for r in caplog.records)
    assert metrics.value("reconciler_ticks_total", outcome="failure") == 3
    assert metrics.value("reconciler_ticks_total", outcome="success") == 1
    assert metrics.value("reconciler_errors_total") == 3


def test_rate_limit_waits_as_told_even_when_files_change(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    ticker = ScriptedTicker([Result(success=False, error="429", retry_after=0.5)])
    daemon = make_daemon(ticker, desired, backoff_base_seconds=0.001)
    with Running(daemon):
        assert ticker.wait_for(1)
        daemon.request_tick()  # a change must not cut the exchange's wait short
        assert ticker.wait_for(2)
    assert ticker.times[1] - ticker.times[0] >= 0.5


def test_a_restricted_tick_is_a_success_that_comes_back_when_the_exchange_said(
    tmp_path: Path,
) -> None:
    # Trading disabled or a restart (engine/modes.py): nothing could be sent, the loop is
    # healthy (watchdog and heartbeats go on), and the next pass waits exactly as told, not
    # the interval (an hour here) and not less, even when a file changes meanwhile.
    restricted = TickResult(outcome=TickOutcome.RESTRICTED, retry_after=0.5)
    ticker = ScriptedTicker([restricted])
    daemon = make_daemon(ticker, tmp_path / "desired")
    with Running(daemon):
        assert ticker.wait_for(1)
        assert _idle_after(daemon, 1)
        assert daemon.health.healthy(watchdog_seconds=60)
        daemon.request_tick()
        assert ticker.wait_for(2)
    assert ticker.times[1] - ticker.times[0] >= 0.5


# The exchange's wait (invariant 8) holds against file changes: a change that arrives while the
# rate-limited tick is still in flight goes through the dirty flag (the test above); one that
# arrives after it has finished goes through `request_tick`'s own path (the tests below).


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


def test_a_raising_tick_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    calls: list[int] = []

    def explode_first(index: int) -> None:
        calls.append(index)
        if len(calls) == 1:
            raise RuntimeError("bug")

    ticker = ScriptedTicker(on_tick=explode_first)
    daemon = make_daemon(ticker, tmp_path / "d", backoff_base_seconds=0.01)
    with Running(daemon):
        assert ticker.wait_for(1)
    assert calls[:2] == [0, 0]  # the crashed tick recorded nothing; the next one ran
    assert daemon.last_result.success


def test_ready_status_and_watchdog(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    ticker = ScriptedTicker([Result(success=False, error="first fails")])
    daemon = Daemon(ticker=ticker, desired_dir=tmp_path,
                    options=DaemonOptions(interval_seconds=3600, backoff_base_seconds=0.01),
                    notifier=SystemdNotifier(env=env))
    with Running(daemon):
        messages = [sock.recv(512).decode() for _ in range(5)]
    assert messages[0].startswith("STATUS=failing (1x): first fails")
    assert messages[1] == f"READY=1\nSTATUS={Result().status_line}"  # only after a success
    assert messages[2] == "WATCHDOG=1"
    assert messages[3:] == ["WATCHDOG=1", "WATCHDOG=1"]  # the pulse keeps pinging while healthy


def test_no_watchdog_ping_while_failing_past_the_interval(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}
    fail = Result(success=False, error="down", retry_after=3600)
    ticker = ScriptedTicker([Result(), fail])
    daemon = Daemon(ticker=ticker, desired_dir=tmp_path,
                    options=DaemonOptions(interval_seconds=0.01), notifier=SystemdNotifier(env=env))
    with Running(daemon):
        assert ticker.wait_for(2)
        deadline = time.monotonic() + 2.5  # watchdog 1 s: pings must stop after it
        seen: list[tuple[float, str]] = []
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                seen.append((time.monotonic(), sock.recv(512).decode()))
    failed_at = ticker.times[1]
    assert any(m == "WATCHDOG=1" for _, m in seen)  # it did ping while healthy
    late_pings = [t for t, m in seen if m == "WATCHDOG=1" and t > failed_at + 1.3]
    assert late_pings == []


def test_stop_waits_for_the_tick_in_flight_and_runs_shutdown_hook(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow(index: int) -> None:
        entered.set()
        release.wait(WAIT)
        finished.append("tick")

    def hook() -> str:
        finished.append("hook")
        return "cancelled 2 orders"

    daemon = Daemon(ticker=ScriptedTicker(on_tick=slow), desired_dir=tmp_path,
                    options=DaemonOptions(interval_seconds=3600), on_shutdown=hook)
    running = Running(daemon)
    running.thread.start()
    assert entered.wait(WAIT)
    daemon.stop("test")
    time.sleep(0.1)
    assert finished == []  # still waiting for the tick
    release.set()
    running.thread.join(WAIT)
    assert finished == ["tick", "hook"]
    assert running.exit_code == 0


def test_a_tick_hung_past_the_stop_timeout_skips_the_cancel_sweep(tmp_path: Path) -> None:
    """A sweep while the hung tick may still post would race it: skip it, exit non-zero."""
    entered, release = threading.Event(), threading.Event()
    hooked: list[str] = []

    def hang(index: int) -> None:
        entered.set()
        release.wait(WAIT)

    def hook() -> str:
        hooked.append("hook")
        return "cancelled"

    daemon = Daemon(ticker=ScriptedTicker(on_tick=hang), desired_dir=tmp_path,
                    options=DaemonOptions(interval_seconds=3600, stop_timeout_seconds=0.2),
                    on_shutdown=hook)
    running = Running(daemon)
    running.thread.start()
    try:
        assert entered.wait(WAIT)
        daemon.stop("test")
        running.thread.join(WAIT)
        assert not running.thread.is_alive()
        assert hooked == []
        assert running.exit_code == 1
    finally:
        release.set()


def test_once_mode_exits_after_first_success_and_fails_after_limit(tmp_path: Path) -> None:
    ticker = ScriptedTicker([Result(success=False, error="x")])
    daemon = Daemon(ticker=ticker, desired_dir=tmp_path,
                    options=DaemonOptions(exit_after_first_success=True, max_failures=5,
                                          backoff_base_seconds=0.01))
    assert daemon.run(install_signals=False) == 0
    assert len(ticker.times) == 2
    never = ScriptedTicker([Result(success=False, error="x")] * 10)
    daemon = Daemon(ticker=never, desired_dir=tmp_path,
                    options=DaemonOptions(exit_after_first_success=True, max_failures=3,
                                          backoff_base_seconds=0.01))
    assert daemon.run(install_signals=False) == 1
    assert len(never.times) == 3


def test_heartbeats_chain_ids_and_start_after_first_success(tmp_path: Path) -> None:
    beats: list[str] = []
    done = threading.Event()

    def heartbeat(previous: str) -> str:
        beats.append(previous)
        if len(beats) >= 3:
            done.set()
        return f"hb-{len(beats)}"

    ticker = ScriptedTicker()
    daemon = Daemon(ticker=ticker, desired_dir=tmp_path,
                    options=DaemonOptions(heartbeat_seconds=0.05), heartbeat=heartbeat)
    with Running(daemon):
        assert done.wait(WAIT)
    assert beats[:3] == ["", "hb-1", "hb-2"]


def test_no_heartbeat_without_a_healthy_loop(tmp_path: Path) -> None:
    beats: list[str] = []
    ticker = ScriptedTicker([Result(success=False, error="x", retry_after=3600)])
    daemon = Daemon(ticker=ticker, desired_dir=tmp_path,
                    options=DaemonOptions(heartbeat_seconds=0.05),
                    heartbeat=lambda prev: beats.append(prev) or "")  # type: ignore[func-returns-value]
    with Running(daemon):
        assert ticker.wait_for(1)
        time.sleep(0.3)
    assert beats == []


SIGTERM_SCRIPT = textwrap.dedent("""
    import logging, sys, time
    from pathlib import Path
    from reconciler.daemon.daemon import Daemon, DaemonOptions
    from reconciler.engine import TickResult
    from reconciler.model import TickOutcome

    class T:
        def tick(self):
            print("tick", flush=True)
            time.sleep(0.3)  # a request in flight when the signal arrives
            print("tick done", flush=True)
            return TickResult(outcome=TickOutcome.OK)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    code = Daemon(ticker=T(), desired_dir=Path(sys.argv[1]),
                  options=DaemonOptions(interval_seconds=0.01)).run()
    print("exit", code, flush=True)
    sys.exit(code)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_after_the_tick_in_flight(tmp_path: Path, signum: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "tick"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    lines = out.splitlines()
    assert lines[0] == "tick done"
    assert f"stopping: received {signal.Signals(signum).name}" in err
    assert lines[-1] == "exit 0"


def test_a_scheduled_tick_waits_while_files_are_changing_but_not_forever(tmp_path: Path) -> None:
    """A git pull writes file after file: a timer tick must not read them half-way."""
    from reconciler.daemon.daemon import MAX_DEFERRED_TICKS

    ticker = ScriptedTicker()
    daemon = make_daemon(ticker, tmp_path / "desired", debounce_seconds=60.0)
    daemon._debouncer.poke()  # a change seen; its quiet period runs for a minute
    for _ in range(MAX_DEFERRED_TICKS):
        daemon._tick_job()
    assert ticker.times == []  # deferred: the debouncer will ask for the tick
    daemon._tick_job()
    assert len(ticker.times) == 1  # a file that never stops changing does not starve the loop
    daemon._debouncer.stop()
    daemon._tick_job()
    assert len(ticker.times) == 2  # nothing pending: timer ticks run at once
