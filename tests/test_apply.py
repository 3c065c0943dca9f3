"""apply_plan against the real paper exchange: journal before request, cancels before posts,
batches, rejections, unknown outcomes and their bookkeeping in the state file."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from reconciler.engine.apply import ApplyResult
from reconciler.model import (
    Cancel,
    CancelReason,
    LevelGeneration,
    LevelKey,
    Plan,
    Side,
)
from reconciler.store.store import OrderStatus
from tests.test_reconcile_kit import (
    TOKEN_A,
    TOKEN_B,
    Harness,
    apply_to,
    harness,
    make_post,
    new_account,
    paper,
)

__all__ = ["harness", "paper"]

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
