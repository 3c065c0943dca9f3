"""Loop helpers: backoff, rate-limited failure logs, watchdog health, debouncing, logs, metrics."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import urllib.request
from pathlib import Path

import pytest

from reconciler.cli.logs import RedactingFilter, configure_logging, journal_attached
from reconciler.cli.settings import LogFormat
from reconciler.daemon.metrics import Metrics, make_metrics_server
from reconciler.daemon.support import (
    Debouncer,
    FailureLog,
    Health,
    LoopBackoff,
    git_commit_of,
)
from tests.support.accounts import new_key
from tests.support.clock import ManualClock


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_backoff_doubles_caps_and_resets() -> None:
    backoff = LoopBackoff(base_seconds=1.0, cap_seconds=10.0)
    assert [backoff.after_failure() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.after_success() == 6
    assert backoff.after_failure() == 1.0


def test_backoff_never_waits_longer_than_the_interval_but_retry_after_holds() -> None:
    backoff = LoopBackoff(base_seconds=1.0, cap_seconds=300.0, interval_seconds=10.0)
    assert [backoff.after_failure() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.after_failure(retry_after=60) == 60  # the exchange's wait is not cut short


def test_backoff_honours_retry_after_exactly() -> None:
    backoff = LoopBackoff(base_seconds=1.0, cap_seconds=10.0)
    assert backoff.after_failure(retry_after=7.5) == 7.5
    assert backoff.failures == 1
    assert backoff.after_failure(retry_after=0) == 2.0


def test_failure_log_is_rate_limited_and_says_recovered(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(1000.0)  # moved by hand: time is an input, not a wait
    flog = FailureLog(logger=logging.getLogger("t.flog"), every_seconds=60, clock=clock)
    caplog.set_level(logging.INFO, logger="t.flog")
    assert flog.failure("boom", delay=1)
    for _ in range(50):
        clock.now += 1
        assert not flog.failure("boom", delay=2)
    clock.now += 10
    assert flog.failure("boom", delay=4)
    assert flog.success()
    assert not flog.success()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith("tick failed: boom")
    assert "52 failures" in messages[1] and "50 not logged" in messages[1]
    assert messages[2] == "recovered after 52 failed ticks over 60 s"


def test_health_for_watchdog() -> None:
    clock = ManualClock(1000.0)
    health = Health(clock=clock)
    assert not health.healthy(watchdog_seconds=30)  # not before the first success
    health.tick_started_now()
    health.tick_finished(ok=True)
    assert health.healthy(watchdog_seconds=30)
    clock.now += 3600  # idle between ticks is healthy
    assert health.healthy(watchdog_seconds=30)
    health.tick_started_now()
    health.tick_finished(ok=False)
    clock.now += 20
    assert health.healthy(watchdog_seconds=30)  # failing, but not for long
    health.tick_started_now()
    health.tick_finished(ok=False)
    clock.now += 11
    assert not health.healthy(watchdog_seconds=30)  # failing for 31 s
    health.tick_started_now()
    health.tick_finished(ok=True)
    assert health.healthy(watchdog_seconds=30)
    health.tick_started_now()
    clock.now += 31
    assert not health.healthy(watchdog_seconds=30)  # a tick hung


def test_health_counts_a_tick_that_keeps_making_progress_as_alive() -> None:
    clock = ManualClock(1000.0)
    health = Health(clock=clock)
    health.tick_started_now()
    health.tick_finished(ok=True)
    health.progress()  # outside a tick: nothing to keep alive
    health.tick_started_now()
    clock.now += 25
    health.progress()  # a request ended at 25 s
    clock.now += 29
    assert health.healthy(watchdog_seconds=30)  # 54 s into the tick, 29 s since progress
    health.progress(ahead_seconds=40)  # a pacing wait of 40 s starts
    clock.now += 69
    assert health.healthy(watchdog_seconds=30)  # 29 s after the wait's end
    clock.now += 2
    assert not health.healthy(watchdog_seconds=30)  # 31 s without a sign of life: hung
    health.tick_finished(ok=True)
    assert health.healthy(watchdog_seconds=30)


def test_debouncer_fires_once_after_a_burst() -> None:
    fired: list[int] = []
    done = threading.Event()

    def callback() -> None:
        fired.append(1)
        done.set()

    debouncer = Debouncer(quiet_seconds=0.05, callback=callback)
    debouncer.start()
    try:
        for _ in range(20):
            debouncer.poke()
        assert done.wait(timeout=10)
        # A second burst gives a second call.
        done.clear()
        debouncer.poke()
        assert done.wait(timeout=10)
    finally:
        debouncer.stop()
    assert fired == [1, 1]


def test_debouncer_waits_for_quiet_with_a_manual_clock() -> None:
    clock = ManualClock(1000.0)
    calls: list[float] = []
    debouncer = Debouncer(quiet_seconds=0.15, callback=lambda: calls.append(clock.now), clock=clock)
    debouncer.poke()
    # The thread is not started: call the loop's one decision directly, with time moved by hand.
    clock.now += 0.2
    assert debouncer._wait_for_quiet() is True  # noqa: SLF001 (the loop's one decision)
    debouncer.stop()
    assert debouncer._wait_for_quiet() is False  # noqa: SLF001


def test_git_commit_of(tmp_path: Path) -> None:
    assert git_commit_of(tmp_path) is None
    repo = Path(__file__).resolve().parents[1]
    commit = git_commit_of(repo)
    assert commit is not None and len(commit) == 40


def test_json_logs_carry_extras_and_scrub_secrets() -> None:
    stream = io.StringIO()
    secret = "super-secret-passphrase-123"
    configure_logging(log_format=LogFormat.JSON, secrets=[secret], stream=stream)
    logger = logging.getLogger("reconciler.test")
    logger.info("tick done", extra={"posted": 3})
    logger.error("leaked %s here", secret)
    try:
        raise RuntimeError(f"exception with {secret}")
    except RuntimeError:
        logger.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "tick done" and lines[0]["posted"] == 3
    assert lines[0]["level"] == "info"
    assert lines[1]["msg"] == "leaked *** here"
    assert "RuntimeError" in lines[2]["exc"]
    assert secret not in stream.getvalue()


def test_logs_scrub_a_private_key_without_its_0x() -> None:
    key = new_key()
    stream = io.StringIO()
    handler = configure_logging(log_format=LogFormat.TEXT, secrets=[key], stream=stream)
    try:
        logging.getLogger("reconciler.test").error("eth said: bad key %s", key[2:])
    finally:
        logging.getLogger().removeHandler(handler)
    assert "bad key ***" in stream.getvalue()
    assert key[2:] not in stream.getvalue()


def test_text_logs_and_journal_detection(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(log_format=LogFormat.AUTO, stream=stream, env={})
    logging.getLogger("reconciler.test").warning("hello %s", "there")
    assert "WARNING hello there" in stream.getvalue()
    with open(tmp_path / "f", "w") as real:
        info = os.fstat(real.fileno())
        assert journal_attached({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}, real)
        assert not journal_attached({"JOURNAL_STREAM": "1:2"}, real)
        assert not journal_attached({}, real)


def test_redacting_filter_ignores_short_strings() -> None:
    record = logging.makeLogRecord({"msg": "a b c", "args": None})
    assert RedactingFilter(["a"]).filter(record)
    assert record.getMessage() == "a b c"


def test_metrics_render_and_serve() -> None:
    metrics = Metrics()
    metrics.inc("reconciler_ticks_total", outcome="success")
    metrics.inc("reconciler_ticks_total", outcome="success")
    metrics.inc("reconciler_actions_total", 15, kind="post")
    metrics.set("reconciler_last_success_timestamp_seconds", 1700000000.25)
    text = metrics.render()
    assert 'reconciler_ticks_total{outcome="success"} 2' in text
    assert 'reconciler_actions_total{kind="post"} 15' in text
    assert "reconciler_last_success_timestamp_seconds 1700000000.25" in text
    assert "# TYPE reconciler_drift gauge" in text
    server = make_metrics_server(metrics, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert 'reconciler_ticks_total{outcome="success"} 2' in reply.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert server.server_address[0] == "127.0.0.1"
