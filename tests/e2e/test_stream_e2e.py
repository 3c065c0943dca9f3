"""The stream end to end: `reconciler run` and `python -m paperclob` as processes on 127.0.0.1,
the daemon listening to the paper exchange's /ws/user and /ws/market. A second account sells
into the daemon's bid and the level is served again, three ways: with the stream up (a
targeted pass does it); with the stream cut in the middle of the fill (a sweep does it); with a
FAILED settlement (the fill is given back and the level served again). The interval is five
minutes and every wait at most 30 s, so no level here is served again by the interval's sweep.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconciler.model import Side
from reconciler.store import Store
from tests.support.processes import (
    DEADLINE,
    REPO,
    DaemonProcess,
    Stack,
    open_stack,
    paper_admin,
    spec,
    wait_until,
    write_yaml,
)

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
LEVEL = (A, Side.BUY, Decimal("0.40"))
INTERVAL = "300"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with open_stack(tmp_path) as made:
        yield made


def runs(stack: Stack) -> list[dict[str, Any]]:
    with Store.open(stack.state, read_only=True) as store:
        return store.recent_runs(200)


def posted_by(stack: Stack, order_ids: set[str]) -> Any:
    """The scope of the finished pass that posted these orders: its tokens, or None (a sweep)."""
    with Store.open(stack.state, read_only=True) as store:
        posts = [e for e in store.history(500) if e["order_id"] in order_ids and e["run_id"]]
    (run_id,) = {e["run_id"] for e in posts}
    run = wait_until(lambda: next((r for r in runs(stack) if r["id"] == run_id
                                   and r["summary"] is not None), None), what="the pass's end")
    return run["summary"].get("scope")


def start(stack: Stack, *, replenish: bool) -> tuple[DaemonProcess, set[str]]:
    """The daemon on one bid level, its stream up, and the sweeps its connections asked for
    done; the level's order ids."""
    write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", "0.40", "10")]},
                                                 replenish=replenish))
    daemon = stack.start_daemon("--interval", INTERVAL, stream=True)
    observer = stack.observer()
    wait_until(lambda: observer.book() == {LEVEL: Decimal(10)}, what="the level resting")
    connected = max(float(daemon.wait_for_log(f"{channel} stream connected")["ts"])
                    for channel in ("user", "market"))
    wait_until(lambda: any(r["summary"] is not None and r["started_ms"] > connected * 1000
                           for r in runs(stack)), what="the sweep after the connections")
    return daemon, {o.order_id for o in observer.open_orders(A)}


def served_again(stack: Stack, before: set[str]) -> set[str]:
    observer = stack.observer()

    def again() -> set[str]:
        orders = observer.open_orders(A)
        ids = {o.order_id for o in orders}
        rests = sum((o.remaining for o in orders), Decimal(0)) == 10
        return ids if rests and ids - before else set()

    return wait_until(again, what="the level served again")


def sell_into_the_bid(stack: Stack) -> None:
    answer = stack.counterparty().client.create_and_post_order(A, Side.SELL, "0.40", "10")
    assert answer.ok, answer


def status_of(stack: Stack) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PRIVATE_KEY", "NOTIFY_SOCKET")}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--state", str(stack.state)],
        capture_output=True, text=True, timeout=DEADLINE, cwd=REPO, env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_with_the_stream_up_a_targeted_pass_serves_the_level_again(stack: Stack) -> None:
    _, before = start(stack, replenish=True)
    sell_into_the_bid(stack)
    now = served_again(stack, before)
    assert posted_by(stack, now) == [A]
    line = next(x for x in status_of(stack).splitlines() if x.startswith("stream:"))
    assert "market connected, user connected" in line and "reconnects 0" in line


def test_with_the_stream_cut_mid_fill_a_sweep_serves_the_level_again(stack: Stack) -> None:
    daemon, before = start(stack, replenish=True)
    # In place of the fill's first event, the user connection is cut: the fill is never told.
    paper_admin(stack.paper.url, "stream",
                {"rules": [{"action": "cut", "event_type": "order", "match": "UPDATE"}]})
    sell_into_the_bid(stack)
    now = served_again(stack, before)
    assert posted_by(stack, now) is None  # a sweep, minutes before the interval's
    daemon.wait_for_log("user stream lost")
    daemon.wait_for_log("sweep: user stream lost")
    wait_until(lambda: "reconnects 1" in status_of(stack), what="status to show the reconnect")


def test_a_failed_settlement_gives_the_fill_back_and_serves_the_level_again(
    stack: Stack,
) -> None:
    paper_admin(stack.paper.url, "settlement", {"delay_s": 0.5, "fail_next": 1})
    daemon, before = start(stack, replenish=False)  # a filled level is done ...
    sell_into_the_bid(stack)
    daemon.wait_for_log("FAILED to settle")  # ... until its trade FAILED
    now = served_again(stack, before)
    assert posted_by(stack, now) == [A]
    with Store.open(stack.state, read_only=True) as store:
        assert [s.filled for k, s in store.level_states().items() if k.token_id == A] == [0]
