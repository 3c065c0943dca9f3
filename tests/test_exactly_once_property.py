"""The exactly-once property (issue 9): random interleavings of sends, client timeouts, late
landings, lost answers, crashes between send and record, and restarts, against the real paper
exchange, never put a level above its target at ANY moment, and never place a second order for a
level whose first one may still land.

A sampler thread reads the exchange's book every few milliseconds during the whole example
(tests/support/sampler.py), so an over-fill that a later pass trims away still fails.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperclob import PaperExchange
from reconciler.clob.client import ClobClient
from reconciler.clob.types import OrderResult, PostArgs
from reconciler.engine.reconcile import Reconciler
from reconciler.lifecycle import UNRESOLVED_STATUSES
from reconciler.model import Side
from tests.support.engine import CHAIN_ID, TOKEN_A, Harness, level, make_harness, set_faults
from tests.support.sampler import BookSampler

D = Decimal
TIMEOUT = 0.25  # the client gives up after this (seconds)
HOLD_MS = 600  # a held POST lands this long after it was received: after the client gave up
SPEC = {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]}
TARGET = {(TOKEN_A, Side.BUY, D("0.45")): D("10"), (TOKEN_A, Side.BUY, D("0.44")): D("10")}
EXAMPLES = itertools.count()


class Crash(BaseException):
    """The process dies here (nothing in the engine catches a BaseException)."""


class DiesWhileHeld:
    """My client, except that a post is sent from another connection and the "process" dies
    as soon as the exchange holds it: between send and record, while the POST is inside."""

    def __init__(self, client: ClobClient, paper: PaperExchange) -> None:
        self._client = client
        self._paper = paper
        # The request outlives the process that sent it: its own connection, a long timeout.
        self._sender = ClobClient(client.host, chain_id=CHAIN_ID, wallet=client.wallet,
                                  creds=client.creds, timeout=30)

    def post_orders(self, orders: Sequence[PostArgs]) -> list[OrderResult]:
        holds = self._paper.exchange.holds
        before = holds.received
        done = threading.Event()

        def send() -> None:
            try:
                self._sender.post_orders(orders)
            except Exception:  # noqa: S110 (the process that would read it is dead)
                pass
            finally:
                done.set()

        threading.Thread(target=send, daemon=True).start()
        holds.wait(received=before + 1, timeout=10)  # held (or, without a hold, answered)
        if holds.received == before:
            done.wait(10)
        raise Crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


STEPS = st.sampled_from(["tick", "held", "held_twice", "lost", "crash", "land", "restart"])


def run_step(step: str, h: Harness, reconciler: Reconciler) -> Reconciler:
    """One step of an interleaving; returns the reconciler in force after it (a crash or a
    restart makes a new one on the same state file)."""
    if step == "held":
        set_faults(h, hold_next=1, hold_ms=HOLD_MS, paths=["/orders"])
    elif step == "held_twice":  # the post, and the re-send after it
        set_faults(h, hold_next=2, hold_ms=HOLD_MS, paths=["/orders"])
    elif step == "lost":
        set_faults(h, lose_response_next=1, paths=["/orders"])
    elif step == "land":
        assert h.paper.exchange.holds.wait(holding=0)
        return reconciler
    elif step == "restart":
        return fresh(h, restart=True)
    elif step == "crash":
        set_faults(h, hold_next=1, hold_ms=HOLD_MS, paths=["/orders"])
        dying = h.new_reconciler(client=DiesWhileHeld(h.impatient_client(TIMEOUT), h.paper))
        with contextlib.suppress(Crash):
            dying.tick()
        return fresh(h, restart=True)
    reconciler.tick()
    return reconciler


def fresh(h: Harness, *, restart: bool = False) -> Reconciler:
    client = h.impatient_client(TIMEOUT)
    return h.restart(client=client) if restart else h.new_reconciler(client=client)


def all_orders_of(h: Harness) -> list[Any]:
    address = h.me.wallet.address.lower()
    with h.paper.exchange.lock:
        return [o for o in h.paper.exchange.engine.orders.values() if o.address == address]


@settings(max_examples=12, deadline=None,
          # Each example starts its own exchange and state file under tmp_path.
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEPS, min_size=2, max_size=6))
def test_random_interleavings_never_put_a_level_above_its_target(
    tmp_path: Path, paper_factory: Callable[..., PaperExchange], steps: list[str]
) -> None:
    paper = paper_factory(clock=time.time, page_size=7)
    h = make_harness(tmp_path / f"example-{next(EXAMPLES)}", paper, paper.url)
    try:
        h.write_spec(SPEC)
        reconciler = fresh(h)
        with BookSampler(paper, h.me.wallet.address) as book:
            for step in steps:
                reconciler = run_step(step, h, reconciler)
                book.sample()
            # Then no more faults: every held POST lands, and the passes converge.
            h.paper.exchange.faults.reset()
            assert paper.exchange.holds.wait(holding=0)
            for _ in range(6):
                reconciler.tick()
                if h.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10"),
                                          (Side.BUY, D("0.44")): D("10")} and not (
                    h.store.orders(statuses=UNRESOLVED_STATUSES)
                ):
                    break
        assert book.over(TARGET) == {}, (steps, book.size)
        assert all(count <= 1 for count in book.orders.values()), (steps, book.orders)
        assert h.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10"),
                                      (Side.BUY, D("0.44")): D("10")}, steps
        # Exactly once: one order per level was ever accepted by the exchange.
        assert len(all_orders_of(h)) == 2, (steps, [o.price for o in all_orders_of(h)])
        assert h.store.orders(statuses=UNRESOLVED_STATUSES) == []
        assert h.store.open_journal_entries() == [], steps
    finally:
        h.store.close()
