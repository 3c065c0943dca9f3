"""`reconciler suspend` against a running daemon (a real process behind a counting proxy): it
stops posting within one tick (told at once with SIGHUP), keeps reading, holds across a restart,
and `resume` brings the book back; `suspend --cancel` has the daemon cancel our orders once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from reconciler.cli.main import main
from tests.support.processes import DaemonProcess, Stack, spec, wait_until, write_yaml

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
WRITES = {("POST", "/order"), ("POST", "/orders"), ("DELETE", "/order"), ("DELETE", "/orders"),
          ("DELETE", "/cancel-all"), ("DELETE", "/cancel-market-orders")}


@pytest.fixture
def cli_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The CLI in this process, on the daemon's account and state file; returns the path flags."""
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOB_HOST", stack.proxy.url)
    monkeypatch.setenv("PRIVATE_KEY", stack.key)
    yield ["--state", str(stack.state), "--desired", str(stack.desired)]


def writes_since(stack: Stack, mark: int) -> list[tuple[str, str]]:
    return [r for r in stack.proxy.since(mark) if r in WRITES]


def ticks_after(daemon: DaemonProcess, moment: float) -> int:
    return sum(1 for r in daemon.records()
               if str(r.get("msg", "")).startswith(("tick:", "first tick done"))
               and float(r.get("tick_started", 0)) >= moment)


def tick_now(stack: Stack, daemon: DaemonProcess) -> None:
    """A save brings a tick forward; wait until one started after it has finished."""
    moment = time.time()
    path = stack.desired / "book.yaml"
    write_yaml(path, path.read_text())
    wait_until(lambda: ticks_after(daemon, moment) >= 1, what="a tick after the save")


def test_suspend_holds_across_a_restart_and_resume_brings_the_book_back(
    stack: Stack, cli_env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    levels = [("BUY", "0.45", "10"), ("BUY", "0.44", "10")]
    write_yaml(stack.desired / "book.yaml", spec({A: levels}))
    daemon = stack.start_daemon("--interval", "86400", "--log-level", "DEBUG")
    daemon.wait_for_log("first tick done")
    observer = stack.observer()
    assert len(observer.open_orders(A)) == 2

    assert main(["suspend", "--reason", "drill", *cli_env]) == 0
    out = capsys.readouterr().out
    assert f"the daemon (pid {daemon.pid}) was told now (SIGHUP)" in out
    daemon.wait_for_log("nothing is posted or cancelled until `reconciler resume`")
    mark = stack.proxy.mark()
    # A change that would post and cancel, and an order gone behind its back: nothing is done.
    write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", "0.40", "10")]}))
    gone = observer.open_orders(A)[0].order_id
    observer.client.cancel_orders([gone])
    tick_now(stack, daemon)
    tick_now(stack, daemon)
    assert writes_since(stack, mark) == []
    assert any(path.startswith("/data/orders") for _, path in stack.proxy.since(mark))  # reads
    assert len(observer.open_orders(A)) == 1

    assert daemon.stop() == 0
    restarted = stack.start_daemon("--interval", "86400", "--log-level", "DEBUG")
    first = restarted.wait_for_log("first tick done")
    assert "suspended by " in first["msg"] and "(drill)" in first["msg"]
    tick_now(stack, restarted)
    assert writes_since(stack, mark) == []
    assert len(observer.open_orders(A)) == 1

    assert main(["resume", *cli_env]) == 0
    assert f"the daemon (pid {restarted.pid}) reconciles again now" in capsys.readouterr().out
    restarted.wait_for_log("resumed: reconciling again")
    wait_until(lambda: {o.price for o in observer.open_orders(A)} == {Decimal("0.40")},
               what="the book of the new spec")


def test_suspend_cancel_has_the_running_daemon_cancel_our_orders_once(
    stack: Stack, cli_env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    write_yaml(stack.desired / "book.yaml",
               spec({A: [("BUY", "0.45", "10"), ("BUY", "0.44", "10")]}))
    daemon = stack.start_daemon("--interval", "86400", "--log-level", "DEBUG")
    daemon.wait_for_log("first tick done")
    mark = stack.proxy.mark()
    assert main(["suspend", "--cancel", *cli_env]) == 0
    out = capsys.readouterr().out
    assert "the daemon cancelled 2 of 2 of our orders" in out
    observer = stack.observer()
    assert observer.open_orders(A) == []
    tick_now(stack, daemon)
    assert writes_since(stack, mark) == [("DELETE", "/orders")]  # once, in one batch
    assert daemon.proc.poll() is None
    assert daemon.stop(signal.SIGTERM) == 0
