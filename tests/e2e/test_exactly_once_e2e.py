"""Exactly once across a SIGKILL (issue 9): `reconciler run` is killed between send and record
while the paper exchange HOLDS its POST, then restarted. Both are real processes; the book is
sampled over HTTP the whole time, so a duplicate that a later pass trims away still fails.

The restart may meet the order still held (its lookup finds nothing, and it re-sends the very
same signed order: placed, and the held copy is refused as a duplicate when it lands) or
already landed (its lookup finds it): the holds below cover both.
"""

from __future__ import annotations

import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.model import Side
from tests.support.processes import (
    history_of,
    open_stack,
    paper_admin,
    spec,
    wait_until,
    write_yaml,
)
from tests.support.sampler import HttpBookSampler

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
LEVELS = {A: [("BUY", "0.45", "10"), ("BUY", "0.44", "20")]}
TARGET = {(A, Side.BUY, Decimal("0.45")): Decimal("10"), (A, Side.BUY, Decimal("0.44")): Decimal("20")}


@pytest.mark.parametrize(("hold_ms", "restart_after_landing"), [(4000, False), (1200, True)],
                         ids=["restart-while-held", "restart-after-landing"])
def test_a_sigkill_while_the_exchange_holds_the_post_leaves_one_order_per_level(
    tmp_path: Path, hold_ms: int, restart_after_landing: bool
) -> None:
    with open_stack(tmp_path) as stack:
        write_yaml(stack.desired / "book.yaml", spec(LEVELS))
        paper_admin(stack.paper.url, "faults",
                    {"hold_next": 1, "hold_ms": hold_ms, "paths": ["/orders"]})
        observer = stack.observer()
        with HttpBookSampler(observer.open_orders) as book:
            first = stack.start_daemon("--interval", "1")
            wait_until(lambda: paper_admin(stack.paper.url, "faults")["received"] == 1,
                       what="the post to be held inside the exchange")
            first.stop(signal.SIGKILL)  # between send and record: the POST is still inside
            held_at_kill = paper_admin(stack.paper.url, "faults")["holding"]
            if restart_after_landing:
                wait_until(lambda: paper_admin(stack.paper.url, "faults")["released"] == 1,
                           what="the held post to land")
            second = stack.start_daemon("--interval", "1", "--log-level", "DEBUG")
            wait_until(lambda: paper_admin(stack.paper.url, "faults")["released"] == 1,
                       what="the held post to land")
            landed = time.time()
            wait_until(lambda: observer.book() == {
                (t, s, p): z for (t, s, p), z in TARGET.items()
            }, what="the book to be the target")
            # Two more passes after the landing: nothing changes any more.
            wait_until(lambda: _ticks_after(second, landed) >= 2, what="two passes after it")
        assert held_at_kill == 1
        assert book.over(TARGET) == {}, f"over target during the run: {book.size}"
        assert set(book.orders.values()) == {1}, book.orders  # one order per level, always
        assert second.stop() == 0
        shown = history_of(stack.state)
        assert "(no answer)" not in shown, shown
        posts = [line for line in shown.splitlines() if " post " in line]
        assert len(posts) == 2, shown
        # Each post is closed with its fate first: placed by the re-send, by an earlier send
        # (a duplicate), or found live by the lookup; then what was lost (the kill).
        fates = ("resolved  placed by the re-send (was: ", "resolved  placed by an earlier send",
                 "resolved  live (was: ")
        assert all(any(fate in line for fate in fates) for line in posts), shown


def _ticks_after(daemon, moment: float) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for r in daemon.records()
               if str(r.get("msg", "")).startswith(("tick:", "first tick done"))
               and float(r.get("tick_started", 0)) >= moment)
