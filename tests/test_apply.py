"""apply_plan against the real paper exchange: journal before request, cancels before posts,
batches, rejections, unknown outcomes and their bookkeeping in the state file; and the edges
where a step half-fails in one pass (a refused cancel while the caps are tight, a 429 part way,
a GTD whose lifetime ran short before it was sent).

Against the real paper exchange and a real state file (tests/support/engine.py). Where the
paper exchange has no switch for a fault (a cancel the exchange refuses while the order stays
live), a thin wrapper around the real client answers that one call; everything else is real.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from reconciler.clob.client import ClobClient
from reconciler.clob.types import CancelResult
from reconciler.engine.apply import ApplyResult
from reconciler.model import (
    GTD_MIN_LIFETIME_SECONDS,
    Cancel,
    CancelReason,
    LevelGeneration,
    LevelKey,
    OrderType,
    Plan,
    Side,
)
from reconciler.store.store import OrderStatus
from tests.support.engine import (
    TOKEN_A,
    TOKEN_B,
    Harness,
    apply_to,
    buy_notional,
    level,
    make_post,
    new_account,
    set_faults,
)

D = Decimal


post = make_post


def run(h: Harness, plan: Plan) -> ApplyResult:
    return apply_to(h, plan, run_id=1)


def committed_rows(h: Harness, sql: str) -> list[tuple[Any, ...]]:
    """Rows as another process would see them: only what is committed."""
    conn = sqlite3.connect(h.store.path)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def test_intents_are_committed_before_the_post_request_is_sent(harness: Harness) -> None:
    seen_at_send: list[set[str]] = []
    real = harness.me.session.request

    def spy(method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        if method == "POST" and str(url).endswith("/orders"):
            rows = committed_rows(harness, "SELECT order_id, status FROM orders")
            assert all(status == "intent" for _, status in rows)
            seen_at_send.append({oid for oid, _ in rows})
        return real(method, url, *args, **kwargs)

    harness.me.session.request = spy  # type: ignore[method-assign]
    gen = LevelGeneration(key=LevelKey(TOKEN_A, Side.BUY, D("0.45")), spec_digest="d", generation=1)
    result = run(harness, Plan(posts=(post("0.45"), post("0.44")), generations=(gen,)))
    assert len(result.posted) == 2
    assert seen_at_send == [set(result.posted)]
    journal = committed_rows(harness, "SELECT kind, order_id, outcome FROM journal ORDER BY id")
    assert [(k, o) for k, _, o in journal] == [("post", "ok"), ("post", "ok")]
    # The generation was recorded with the intents.
    assert list(harness.store.level_states()) == [gen.key]


def test_cancels_go_first_in_one_batch_then_posts(harness: Harness) -> None:
    placed = run(harness, Plan(posts=(post("0.45"), post("0.44"), post("0.43"))))
    assert len(placed.posted) == 3
    harness.me.session.reset()
    cancels = tuple(
        Cancel(
            order_id=o.order_id, key=o.key, remaining=o.remaining, reason=CancelReason.LEVEL_REMOVED
        )
        for o in harness.open_orders(TOKEN_A)
        if o.price != D("0.45")
    )
    result = run(harness, Plan(cancels=cancels, posts=(post("0.40"),)))
    assert harness.me.session.order_writes() == [("DELETE", "/orders"), ("POST", "/orders")]
    assert sorted(result.cancelled) == sorted(c.order_id for c in cancels)
    for c in cancels:
        assert harness.store.order(c.order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_not_canceled_because_filled_is_looked_up_once_and_counted(harness: Harness) -> None:
    key = LevelKey(TOKEN_A, Side.BUY, D("0.45"))
    run(harness, Plan(posts=(post("0.45"),), generations=(LevelGeneration(key, "d", 1),)))
    (order,) = harness.open_orders(TOKEN_A)
    other = new_account(harness.url)
    assert other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.45", "10").ok
    harness.me.session.reset()
    cancel = Cancel(order.order_id, key, order.remaining, CancelReason.LEVEL_REMOVED)
    result = run(harness, Plan(cancels=(cancel,)))
    assert result.cancelled == []
    assert order.order_id in result.not_cancelled
    lookups = [p for _, p in harness.me.session.sent if p.startswith("/data/order/")]
    assert lookups == [f"/data/order/{order.order_id}"]
    stored = harness.store.order(order.order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert harness.store.level_states()[key].filled == D("10")
    kinds = [(e["kind"], e["outcome"]) for e in reversed(harness.store.history(10))]
    assert ("cancel", "not_canceled") in kinds and ("lookup", "ok") in kinds


def test_a_rejected_post_keeps_the_exchange_message_and_is_not_retried(harness: Harness) -> None:
    other = new_account(harness.url)
    assert other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.40", "10").ok
    harness.me.session.reset()
    result = run(harness, Plan(posts=(post("0.45"), post("0.30", token=TOKEN_B))))
    assert len(result.rejected) == 1 and result.rejected[0].token_id == TOKEN_A
    assert "cross" in result.rejected[0].message
    assert result.failed_tokens == {TOKEN_A}
    assert len(result.posted) == 1
    assert harness.me.session.order_writes() == [("POST", "/orders")]
    rejected = harness.store.order(result.rejected[0].order_id)
    assert rejected is not None and rejected.status is OrderStatus.REJECTED
    assert rejected.error == result.rejected[0].message
    # Rejected orders are not inventory: the planner does not count them as resting.
    assert rejected.order_id not in {o.order_id for o in harness.store.inventory()}


def test_an_order_that_cannot_be_built_is_rejected_without_a_request(harness: Harness) -> None:
    bad = post("0.455")  # off the 0.01 tick
    result = run(harness, Plan(posts=(bad,)))
    assert harness.me.session.sent == []
    assert len(result.rejected) == 1 and result.rejected[0].order_id == ""
    assert harness.store.orders() == []
    assert harness.store.history(1)[0]["outcome"] == "rejected"


def test_a_failed_cancel_batch_posts_nothing(harness: Harness) -> None:
    run(harness, Plan(posts=(post("0.45"),)))
    (order,) = harness.open_orders(TOKEN_A)
    with harness.paper.exchange.lock:
        harness.paper.exchange.faults.update({"error_5xx_next": 1, "paths": ["/orders"]})
    harness.me.session.reset()
    cancel = Cancel(order.order_id, order.key, order.remaining, CancelReason.OVERSIZED)
    result = run(harness, Plan(cancels=(cancel,), posts=(post("0.44"),)))
    assert harness.me.session.order_writes() == [("DELETE", "/orders")]
    assert result.error and len(result.void) == 1
    assert harness.store.order(result.void[0]).status is OrderStatus.VOID  # type: ignore[union-attr]
    assert [e["outcome"] for e in harness.store.history(10) if e["kind"] == "cancel"] == ["unknown"]


def test_an_unreachable_exchange_voids_posts_it_never_received(harness: Harness) -> None:
    harness.paper.stop()
    result = run(harness, Plan(posts=tuple(post(f"0.{p}") for p in range(20, 40))))
    assert result.error and "TransportError" in result.error
    assert result.unknown == [] and len(result.void) == 20
    assert {o.status for o in harness.store.orders()} == {OrderStatus.VOID}
    assert harness.store.open_journal_entries() == []


def test_a_lost_batch_is_unknown_and_later_batches_are_not_sent(harness: Harness) -> None:
    with harness.paper.exchange.lock:
        harness.paper.exchange.faults.update({"lose_response_next": 1})
    posts = tuple(post(f"0.{p}", "5") for p in range(20, 40))
    result = run(harness, Plan(posts=posts))
    assert len(result.unknown) == 15 and len(result.void) == 5
    assert harness.me.session.order_writes() == [("POST", "/orders")]
    statuses = [o.status for o in harness.store.orders()]
    assert statuses.count(OrderStatus.UNKNOWN) == 15 and statuses.count(OrderStatus.VOID) == 5


# --- a step that half-fails in one pass ----------------------------------------------------------


class RefusingCancels:
    """The real client, except that DELETE /orders refuses `refuse` (the order stays live), as
    the exchange does for an order it is matching at that moment."""

    def __init__(self, client: ClobClient, refuse: set[str]) -> None:
        self._client = client
        self.refuse = refuse

    def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        wanted = [oid for oid in order_ids if oid not in self.refuse]
        done = self._client.cancel_orders(wanted) if wanted else CancelResult()
        refused = {oid: "order is being matched" for oid in order_ids if oid in self.refuse}
        return CancelResult(canceled=done.canceled, not_canceled={**done.not_canceled, **refused})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_total_cap_holds_when_a_cancelled_buy_of_another_token_stays_live(
    harness: Harness,
) -> None:
    """The plan frees total-cap room by cancelling a buy on A and spends it on B. If the cancel
    is refused and A's order still rests, B's buy must not go out: together they would break
    max_total_buy_notional (invariant 5)."""
    limits = {"max_total_buy_notional": "60"}
    harness.write_spec({TOKEN_A: [level("BUY", "0.50", "100")]}, limits=limits)
    assert harness.reconciler.tick().success
    (resting_a,) = harness.open_orders(TOKEN_A)
    # The trader moves the bid from A to B; the exchange refuses to cancel A's order.
    harness.write_spec(
        {TOKEN_A: [], TOKEN_B: [level("BUY", "0.50", "100")]},
        limits=limits,
    )
    client = RefusingCancels(harness.me.client, refuse={resting_a.order_id})
    reconciler = harness.new_reconciler(client=client)
    result = reconciler.tick()
    assert result.plan is not None
    assert [c.order_id for c in result.plan.cancels] == [resting_a.order_id]
    assert [p.key.token_id for p in result.plan.posts] == [TOKEN_B]  # the room was reused
    assert harness.open_orders(TOKEN_A) == [resting_a]
    assert buy_notional(harness) <= D("60"), harness.resting()
    # Once the cancel goes through, B gets its bid.
    client.refuse.clear()
    for _ in range(3):
        reconciler.tick()
    assert harness.resting() == {(Side.BUY, D("0.5")): D("100")}
    assert harness.open_orders(TOKEN_B) and not harness.open_orders(TOKEN_A)


def test_a_refused_sell_cancel_blocks_only_its_own_token(harness: Harness) -> None:
    """Blocking is not wider than needed: a stuck cancel on A does not stop B's posts when
    no total buy cap is involved (one failing market does not stall the others)."""
    with harness.paper.exchange.lock:
        harness.paper.exchange.fund(harness.me.wallet.address, token_id=TOKEN_A, shares="50")
    harness.write_spec({TOKEN_A: [level("SELL", "0.70", "10")]})
    assert harness.reconciler.tick().success
    (resting_a,) = harness.open_orders(TOKEN_A)
    harness.write_spec({TOKEN_A: [], TOKEN_B: [level("BUY", "0.30", "10")]})
    client = RefusingCancels(harness.me.client, refuse={resting_a.order_id})
    reconciler = harness.new_reconciler(client=client)
    result = reconciler.tick()
    assert result.applied is not None and resting_a.order_id in result.applied.still_live
    assert harness.resting(TOKEN_B) == {(Side.BUY, D("0.3")): D("10")}


def test_no_lookup_or_post_follows_a_429_on_a_lookup_after_cancel(harness: Harness) -> None:
    """Two cancels the exchange did not carry out are looked up by hash. The first lookup is
    answered 429: the pass must send nothing more (not the second lookup, not the posts) and
    report the wait (invariant 8)."""
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]})
    assert harness.reconciler.tick().success
    first, second = sorted(harness.open_orders(TOKEN_A), key=lambda o: o.order_id)
    # Someone cancels both by hand: our cancels will come back "not canceled".
    assert set(harness.me.client.cancel_orders([first.order_id, second.order_id]).canceled) == {
        first.order_id,
        second.order_id,
    }
    cancels = tuple(
        Cancel(o.order_id, o.key, o.remaining, CancelReason.LEVEL_REMOVED) for o in (first, second)
    )
    post = make_post("0.3", token=TOKEN_B)
    set_faults(
        harness,
        throttle_next=1,
        retry_after_s=9,
        paths=[f"/data/order/{first.order_id}", f"/data/order/{second.order_id}"],
    )
    harness.me.session.reset()
    result = apply_to(harness, Plan(cancels=cancels, posts=(post,)))
    sent = harness.me.session.sent
    lookups = [p for m, p in sent if m == "GET" and p.startswith("/data/order/")]
    assert lookups == [f"/data/order/{first.order_id}"], sent
    assert ("POST", "/orders") not in sent
    assert result.retry_after == 9
    assert harness.resting(TOKEN_B) == {}
    (void,) = [o for o in harness.store.orders() if o.key.token_id == TOKEN_B]
    assert void.status is OrderStatus.VOID  # never sent, so certainly not resting


def test_a_gtd_is_not_sent_with_less_than_the_minimum_lifetime_left(harness: Harness) -> None:
    """The planner checks a GTD's lifetime at planning time; reads, cancels and lookups run
    before the post is sent. An order whose expiry is now closer than 180 s must not be sent
    (it would rest for less than the exchange's minimum), and is certainly not placed."""
    expires_at = int(time.time()) + GTD_MIN_LIFETIME_SECONDS - 2  # planned 2+ s ago
    post = make_post("0.45", order_type=OrderType.GTD, expires_at=expires_at)
    result = apply_to(harness, Plan(posts=(post,)))
    assert harness.resting() == {}
    assert ("POST", "/orders") not in harness.me.session.sent
    assert len(result.void) == 1 and not result.posted
    (order,) = harness.store.orders()
    assert order.status is OrderStatus.VOID


def test_a_gtd_with_enough_lifetime_is_sent(harness: Harness) -> None:
    """The lifetime check lets a GTD with room to spare through (the test above can fail)."""
    expires_at = int(time.time()) + GTD_MIN_LIFETIME_SECONDS + 600
    post = make_post("0.45", order_type=OrderType.GTD, expires_at=expires_at)
    result = apply_to(harness, Plan(posts=(post,)))
    assert result.posted and harness.resting() == {(Side.BUY, D("0.45")): D("10")}


def test_token_cap_holds_when_a_cancelled_buy_of_the_same_token_stays_live(
    harness: Harness,
) -> None:
    """The bid moves from 0.50 to 0.49 under a token cap of 60: 50 + 49 would break it, so the
    new bid waits while the exchange refuses to cancel the old one (no total cap here)."""
    options = {TOKEN_A: {"max_buy_notional": "60"}}
    harness.write_spec({TOKEN_A: [level("BUY", "0.50", "100")]}, token_options=options)
    assert harness.reconciler.tick().success
    (old,) = harness.open_orders(TOKEN_A)
    harness.write_spec({TOKEN_A: [level("BUY", "0.49", "100")]}, token_options=options)
    client = RefusingCancels(harness.me.client, refuse={old.order_id})
    reconciler = harness.new_reconciler(client=client)
    result = reconciler.tick()
    assert result.plan is not None and [p.key.price for p in result.plan.posts] == [D("0.49")]
    assert buy_notional(harness) <= D("60"), harness.resting()
    client.refuse.clear()
    for _ in range(3):
        reconciler.tick()
    assert harness.resting() == {(Side.BUY, D("0.49")): D("100")}


def test_a_429_on_the_first_post_batch_sends_no_later_batch(harness: Harness) -> None:
    """20 posts are two batches; the first is answered 429: the second is not sent (void), and
    the wait is reported (invariant 8)."""
    harness.write_spec({TOKEN_A: [level("BUY", f"0.{p}", "5") for p in range(20, 40)]})
    set_faults(harness, throttle_next=1, retry_after_s=4, paths=["/orders"])
    harness.me.session.reset()
    result = harness.reconciler.tick()
    assert harness.me.session.order_writes() == [("POST", "/orders")]
    assert result.outcome == "rate_limited" and result.retry_after == 4
    assert harness.resting() == {}
    assert {o.status for o in harness.store.orders()} == {OrderStatus.VOID}
    assert len(harness.store.orders()) == 20
