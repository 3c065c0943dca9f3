"""The daemon and the paper exchange as real processes: converge, follow edits, stay safe.

Every change is made the way a user makes it (an editor's save), every observation is made on
the exchange itself, and every request the daemon sends is counted by a proxy in between.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.model import Side
from tests.support.accounts import new_key
from tests.support.processes import (
    DEADLINE,
    REPO,
    Account,
    DaemonProcess,
    NotifyListener,
    PaperProcess,
    Stack,
    spec,
    wait_until,
    write_yaml,
)

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
B = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
D = Decimal
BUY, SELL = Side.BUY, Side.SELL


def book_of(levels: dict[str, list[tuple[str, str, str]]]) -> dict[tuple[str, Side, D], D]:
    return {(t, Side(s), D(p)): D(z) for t, rows in levels.items() for s, p, z in rows}


def ticks_started_after(daemon: DaemonProcess, moment: float) -> int:
    """Ticks that started after `moment` (unix time) and finished (their log line says so)."""
    return sum(1 for r in daemon.records()
               if str(r.get("msg", "")).startswith(("tick:", "first tick done"))
               and float(r.get("tick_started", 0)) >= moment)


def next_tick(stack: Stack, daemon: DaemonProcess) -> None:
    """Bring a tick forward the way a user would (save a file) and wait for it to finish."""
    moment = time.time()
    path = stack.desired / "book.yaml"
    write_yaml(path, path.read_text())
    wait_until(lambda: ticks_started_after(daemon, moment) > 0, what="a tick")


def converge_to(stack: Stack, levels: dict[str, list[tuple[str, str, str]]],
                **options: object) -> list[tuple[str, str]]:
    """Save a new desired state; wait until the exchange shows it; return the order writes."""
    observer = stack.observer()
    mark = stack.proxy.mark()
    write_yaml(stack.desired / "book.yaml", spec(levels, **options))  # type: ignore[arg-type]
    wanted = book_of(levels)
    wait_until(lambda: observer.book() == wanted, what=f"the book to be {wanted}")
    return stack.proxy.order_writes_since(mark)


def status_of(stack: Stack) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--state", str(stack.state)],
        capture_output=True, text=True, timeout=DEADLINE, cwd=REPO, env=_clean_env(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PRIVATE_KEY", "NOTIFY_SOCKET")}


def test_converge_follow_edits_refuse_bad_input_and_stop_cleanly(
    stack: Stack, tmp_path: Path
) -> None:
    notify = NotifyListener(tmp_path / "notify.sock")
    first = {A: [("BUY", "0.45", "10"), ("BUY", "0.44", "20"), ("SELL", "0.55", "10")]}
    write_yaml(stack.desired / "book.yaml", spec(first))
    daemon = stack.start_daemon(
        "--interval", "60", "--log-level", "DEBUG", "--stop-timeout", "10",
        env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "2000000"},
    )
    observer = stack.observer()

    # Converge from nothing: one batch post, READY=1 once it succeeded, watchdog pings.
    wait_until(lambda: observer.book() == book_of(first), what="first converge")
    assert stack.proxy.order_writes_since(0) == [("POST", "/orders")]
    wait_until(lambda: notify.messages.count("WATCHDOG=1") >= 2, what="watchdog pings")
    assert notify.messages[0].startswith("READY=1\nSTATUS=ok")

    # Edits, each with the minimum of write requests.
    moved = {A: [("BUY", "0.46", "10"), ("BUY", "0.44", "20"), ("SELL", "0.55", "10")]}
    assert converge_to(stack, moved) == [("DELETE", "/orders"), ("POST", "/orders")]
    grown = {A: [("BUY", "0.46", "10"), ("BUY", "0.44", "30"), ("SELL", "0.55", "10")]}
    assert converge_to(stack, grown) == [("POST", "/orders")]
    added = {A: grown[A] + [("BUY", "0.40", "15")]}
    assert converge_to(stack, added) == [("POST", "/orders")]
    removed = {A: [("BUY", "0.46", "10"), ("BUY", "0.44", "30"), ("BUY", "0.40", "15")]}
    assert converge_to(stack, removed) == [("DELETE", "/orders")]
    two_tokens = {**removed, B: [("BUY", "0.30", "12"), ("SELL", "0.70", "8")]}
    assert converge_to(stack, two_tokens) == [("POST", "/orders")]
    assert converge_to(stack, removed) == [("DELETE", "/orders")]

    # A tick with nothing to do writes nothing.
    mark = stack.proxy.mark()
    next_tick(stack, daemon)
    assert stack.proxy.order_writes_since(mark) == []
    assert stack.proxy.count_since(mark, "GET", "/data/orders") == 1

    # A manual order on a managed token is left alone (unmanaged: ignore).
    manual = observer.client.create_and_post_order(A, BUY, "0.31", "5", post_only=True)
    assert manual.success, manual.error_msg
    mark = stack.proxy.mark()
    next_tick(stack, daemon)
    assert stack.proxy.order_writes_since(mark) == []
    assert manual.order_id in {o.order_id for o in observer.open_orders(A)}
    observer.client.cancel_order(manual.order_id)
    with_manual_gone = observer.book()

    # Broken YAML changes nothing; status (another process, beside the daemon) shows where.
    mark = stack.proxy.mark()
    write_yaml(stack.desired / "book.yaml", spec(removed).replace("size: 30", "size: -30"))
    wait_until(lambda: any("desired state:" in str(r.get("msg")) for r in daemon.records()),
               what="the spec error in the log")
    next_tick(stack, daemon)
    assert stack.proxy.order_writes_since(mark) == []
    assert observer.book() == with_manual_gone
    shown = status_of(stack)
    assert "INVALID" in shown and "book.yaml:" in shown
    assert f"running (pid {daemon.pid})" in shown

    # An empty desired state is refused: nothing is cancelled.
    write_yaml(stack.desired / "book.yaml", "version: 1\ntokens: []\n")
    wait_until(lambda: any("refused" in str(r.get("msg")) for r in daemon.records()),
               what="the refusal")
    (stack.desired / "book.yaml").unlink()
    next_len = len(daemon.records())
    wait_until(lambda: len(daemon.records()) > next_len, what="a pass over the empty dir")
    assert stack.proxy.order_writes_since(mark) == []
    assert observer.book() == with_manual_gone

    # Back to a valid file: the daemon converges again (no restart needed).
    assert converge_to(stack, moved) == [("DELETE", "/orders"), ("POST", "/orders")]

    # A second daemon on the same state file is refused, naming the file and the holder.
    second = stack.start_daemon("--interval", "60")
    assert second.wait() == 1
    refusal = "\n".join(second.lines)
    assert str(stack.state) in refusal and f"pid {daemon.pid}" in refusal

    # Secrets: not in argv, not in the logs; checked in the database after the stop.
    cmdline = Path(f"/proc/{daemon.pid}/cmdline").read_bytes().decode()
    creds = observer.client.creds
    assert creds is not None
    secrets = [stack.key, stack.key[2:], creds.secret, creds.passphrase]
    for secret in secrets:
        assert secret not in cmdline
        assert secret not in "\n".join(daemon.lines)

    # SIGTERM: a clean stop, exit 0, within the stop timeout; the orders stay (leave).
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM, timeout=15) == 0
    assert time.monotonic() - started < 15
    assert any("stopped after" in str(r.get("msg")) for r in daemon.records())
    assert observer.book() == book_of(moved)
    for path in stack.state.parent.iterdir():
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path.name
    notify.close()


def test_save_to_resting_latency(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """From an editor's save to the order resting on the exchange (DESIGN: p50 < 300 ms)."""
    write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", "0.20", "10")]}))
    # Straight to the exchange: the proxy would add its own hop to the figure.
    daemon = DaemonProcess(host=stack.paper.url, key=stack.key, desired=stack.desired,
                           state=stack.state, extra_args=("--interval", "60"))
    stack.daemons.append(daemon)
    observer = stack.observer()
    wait_until(lambda: observer.book() == book_of({A: [("BUY", "0.20", "10")]}),
               what="first converge")
    daemon.wait_for_log("first tick done")
    samples = []
    for i in range(20):
        price = f"0.{21 + i:02d}"
        saved = time.monotonic()
        write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", price, "10")]}))
        wait_until(lambda p=price: (A, BUY, D(p)) in observer.book(A), every=0.002,
                   what=f"the order at {price}")
        samples.append(time.monotonic() - saved)
    p50, worst = statistics.median(samples), max(samples)
    with capsys.disabled():
        print(f"\nsave -> resting on paper exchange: p50 {p50 * 1000:.0f} ms, "
              f"p90 {statistics.quantiles(samples, n=10)[-1] * 1000:.0f} ms, "
              f"max {worst * 1000:.0f} ms over {len(samples)} saves (debounce 150 ms)")
    assert p50 < 1.0  # a sanity bound only; the measured figure is reported, not asserted


def test_fills_with_and_without_replenish(stack: Stack) -> None:
    write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", "0.45", "10")]}))
    write_yaml(stack.desired / "mm.yaml", spec({B: [("BUY", "0.40", "10")]}, replenish=True))
    daemon = stack.start_daemon("--interval", "60", "--log-level", "DEBUG")
    observer = stack.observer()
    both = {(A, BUY, D("0.45")): D(10), (B, BUY, D("0.40")): D(10)}
    wait_until(lambda: observer.book() == both, what="first converge")
    first_b = observer.open_orders(B)[0].order_id

    seller = stack.counterparty()
    for token, price in ((A, "0.45"), (B, "0.40")):
        result = seller.client.create_and_post_order(token, SELL, price, "10")
        assert result.success and result.status == "matched", result
    assert observer.book() == {}

    # The fills reach the daemon; replenish: true posts the level again, false does not.
    next_tick(stack, daemon)
    wait_until(lambda: observer.book(B) == {(B, BUY, D("0.40")): D(10)}, what="B re-posted")
    assert observer.open_orders(B)[0].order_id != first_b
    next_tick(stack, daemon)
    assert observer.book(A) == {}


def test_restart_after_a_kill_mid_post_makes_no_duplicate(stack: Stack) -> None:
    levels = {A: [("BUY", "0.45", "10"), ("BUY", "0.44", "20")]}
    write_yaml(stack.desired / "book.yaml", spec(levels))
    killed: list[int] = []

    def kill_on_first_post(method: str, path: str) -> None:
        # The exchange has placed the orders; the daemon never hears back.
        if (method, path) == ("POST", "/orders") and not killed:
            killed.append(first.pid)
            os.kill(first.pid, signal.SIGKILL)

    stack.proxy.after_forward = kill_on_first_post
    first = stack.start_daemon("--interval", "60")
    assert first.wait() == -signal.SIGKILL
    stack.proxy.after_forward = None
    observer = stack.observer()
    placed = {o.order_id for o in observer.open_orders()}
    assert len(placed) == 2  # the post went through before the kill

    mark = stack.proxy.mark()
    second = stack.start_daemon("--interval", "60")
    second.wait_for_log("first tick done")
    assert observer.book() == book_of(levels)
    assert {o.order_id for o in observer.open_orders()} == placed  # the same two, no duplicate
    assert stack.proxy.order_writes_since(mark) == []
    # The unanswered intents were resolved by asking the exchange for each order hash.
    lookups = {p for m, p in stack.proxy.since(mark) if p.startswith("/data/order/")}
    assert lookups == {f"/data/order/{order_id}" for order_id in placed}
    assert second.stop() == 0


def test_on_shutdown_cancel_cancels_our_orders_only(stack: Stack) -> None:
    write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", "0.45", "10")]}))
    daemon = stack.start_daemon("--interval", "60", "--on-shutdown", "cancel")
    observer = stack.observer()
    wait_until(lambda: observer.book() == {(A, BUY, D("0.45")): D(10)}, what="converge")
    manual = observer.client.create_and_post_order(A, BUY, "0.30", "5", post_only=True)
    assert manual.success
    assert daemon.stop(signal.SIGTERM) == 0
    assert [o.order_id for o in observer.open_orders()] == [manual.order_id]
    assert any("on_shutdown: cancelled 1 of 1" in str(r.get("msg")) for r in daemon.records())


def test_make_run_demo_on_the_repository_examples(tmp_path: Path) -> None:
    """`make run` twice, on a fresh copy of desired/: exit 0, the orders printed."""
    desired = tmp_path / "desired"
    desired.mkdir()
    for path in (REPO / "desired").glob("*.y*ml"):
        (desired / path.name).write_bytes(path.read_bytes())
    argv = [sys.executable, "-m", "reconciler", "run", "--paper", "--desired", str(desired),
            "--state", str(tmp_path / "state" / "demo.db"), "--once-and-show"]
    for _ in range(2):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE * 2,
                              cwd=tmp_path, env=_clean_env())
        assert done.returncode == 0, done.stderr
        table = done.stdout.split("== open orders on the exchange ==")[1]
        assert table.count(" BUY ") + table.count(" SELL ") >= 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_heartbeats_keep_orders_alive_and_metrics_are_served(tmp_path: Path) -> None:
    """With --heartbeat the exchange's dead-man switch is armed: alive while the daemon runs,
    and every order of the key is cancelled once the heartbeats stop (what --help warns)."""
    paper = PaperProcess("--heartbeat-timeout", "1.5")
    desired = tmp_path / "desired"
    desired.mkdir()
    write_yaml(desired / "book.yaml", spec({A: [("BUY", "0.45", "10")]}))
    key, port = new_key(), free_port()
    daemon = DaemonProcess(host=paper.url, key=key, desired=desired, state=tmp_path / "s.db",
                           extra_args=("--interval", "60", "--heartbeat",
                                       "--heartbeat-interval", "0.3", "--metrics-port", str(port)))
    try:
        observer = Account.connect(paper.url, key)
        wait_until(lambda: observer.book() == {(A, BUY, D("0.45")): D(10)}, what="converge")
        beats_then = time.monotonic()
        # Several heartbeat timeouts pass: the orders stay because the heartbeats go on.
        wait_until(lambda: time.monotonic() - beats_then > 3.5, every=0.5, what="3.5 s")
        assert observer.book() == {(A, BUY, D("0.45")): D(10)}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=DEADLINE) as r:
            metrics = r.read().decode()
        assert 'reconciler_ticks_total{outcome="success"} 1' in metrics
        assert 'reconciler_actions_total{kind="posted"} 1' in metrics
        assert daemon.stop(signal.SIGTERM) == 0
        assert any("heartbeats stopped" in str(r.get("msg")) for r in daemon.records())
        wait_until(lambda: observer.book() == {}, what="the exchange's cancel-all")
    finally:
        daemon.stop()
        paper.stop()
