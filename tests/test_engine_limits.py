"""Limits and pacing in the engine (clob-v2-wire.md 2.2, 2.13): a plan's cancels go through the
client's splitting (at most min(1000, cancel burst) ids per DELETE /orders) and pacing, a call
failing part way records what it did, and only what depends on the rest waits.

Every test runs against the paper exchange on 127.0.0.1 enforcing the Standard tier (cancel
burst 120, 80/s; order burst 60, 40/s), with a session that can lose an answer.
"""

from __future__ import annotations

import logging
import math
import re
from decimal import Decimal

import pytest

from reconciler.cli.settings import Settings
from reconciler.cli.wiring import Connection, cancel_managed_orders
from reconciler.lifecycle import OrderStatus
from reconciler.model import ShutdownOutcome, Side, TickOutcome
from reconciler.planner import LEFTOVER_LIVE
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, level
from tests.support.exchange import LossySession

TOKEN_D = "98765432109876543210987654321098765432109876543210987654321098765432109876"
STANDARD_CANCEL_BURST = 120


def _many_levels(buys: int, sells: int) -> list[dict[str, str]]:
    return [level("BUY", f"0.{i:02d}", "5") for i in range(1, buys + 1)] + [
        level("SELL", f"0.{i:02d}", "5") for i in range(51, 51 + sells)
    ]


def _rest_128_orders(h: Harness) -> list[str]:
    """98 orders on A and 30 on B, posted by the engine (so they are ours); their ids."""
    h.write_spec({TOKEN_A: _many_levels(49, 49), TOKEN_B: _many_levels(15, 15)})
    first = h.reconciler.tick()
    assert first.outcome is TickOutcome.OK, first.run_summary
    assert len(first.applied.posted) == 128 if first.applied else False
    session = h.me.session
    assert isinstance(session, LossySession)
    session.reset()
    return list(first.applied.posted)


def _move_everything(h: Harness) -> None:
    """A and B's levels go (128 cancels); A and B get one new level each, D three: 5 posts."""
    h.write_spec({
        TOKEN_A: [level("BUY", "0.50", "5")],
        TOKEN_B: [level("BUY", "0.40", "5")],
        TOKEN_D: [level("BUY", "0.30", "5"), level("BUY", "0.31", "5"), level("BUY", "0.32", "5")],
    })


def _session(h: Harness) -> LossySession:
    assert isinstance(h.me.session, LossySession)
    return h.me.session


def test_a_plan_with_more_cancels_than_the_burst_converges_without_a_429_and_posts_at_once(
    lossy_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = lossy_harness
    with caplog.at_level(logging.INFO, logger="reconciler.clob.ratelimit"):
        _rest_128_orders(h)
    # Posting 128 orders on Standard (burst 60) waited for the order bucket, and said so.
    assert any(
        re.fullmatch(r"pacing: POST /orders \(\d+ order tokens\) waits \d+\.\d\d s for the "
                     r"order bucket \(Standard tier\)", r.getMessage())
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    caplog.clear()
    _move_everything(h)
    with caplog.at_level(logging.INFO, logger="reconciler.clob.ratelimit"):
        result = h.reconciler.tick()

    assert result.outcome is TickOutcome.OK, result.run_summary
    session = _session(h)
    assert session.count("DELETE", "/orders") == math.ceil(128 / STANDARD_CANCEL_BURST)
    assert not [s for s in session.statuses if s[2] == 429]
    assert result.cancelled == 128 and result.posted == 5
    assert h.resting(TOKEN_A) == {(Side.BUY, Decimal("0.5")): 5}
    assert h.resting(TOKEN_B) == {(Side.BUY, Decimal("0.4")): 5}
    assert len(h.resting(TOKEN_D)) == 3
    # The second call found the bucket short of its 8 tokens: the wait is in the log.
    assert any(
        re.fullmatch(r"pacing: DELETE /orders \(8 cancel tokens\) waits \d+\.\d\d s for the "
                     r"cancel bucket \(Standard tier\)", r.getMessage())
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


def test_a_cancel_call_failing_part_way_records_what_it_did_and_holds_only_what_depends_on_it(
    lossy_harness: Harness,
) -> None:
    h = lossy_harness
    ours = _rest_128_orders(h)
    _move_everything(h)
    _session(h).lose_nth("DELETE", "/orders", 2)  # the second call runs; its answer is lost

    result = h.reconciler.tick()

    statuses = {oid: h.store.order(oid).status for oid in ours}  # type: ignore[union-attr]
    cancelled = [oid for oid, s in statuses.items() if s is OrderStatus.CANCELED]
    unknown = [oid for oid, s in statuses.items() if s is OrderStatus.LIVE]
    assert len(cancelled) == STANDARD_CANCEL_BURST and len(unknown) == 128 - STANDARD_CANCEL_BURST
    assert result.applied is not None
    assert set(result.applied.cancelled) == set(cancelled)
    assert all("outcome unknown" in result.applied.not_cancelled[oid] for oid in unknown)
    # Only the tokens of the cancels whose outcome is unknown hold their posts; the others' go.
    waiting = {h.store.order(oid).key.token_id for oid in unknown}  # type: ignore[union-attr]
    assert waiting and waiting <= {TOKEN_A, TOKEN_B}
    assert len(h.resting(TOKEN_D)) == 3
    new_level = {TOKEN_A: (Side.BUY, Decimal("0.5")), TOKEN_B: (Side.BUY, Decimal("0.4"))}
    for token, key in new_level.items():
        assert (key in h.resting(token)) is (token not in waiting), token
    held = h.store.orders(statuses=[OrderStatus.VOID])
    assert {o.key.token_id for o in held} == waiting
    assert all(o.error == LEFTOVER_LIVE for o in held)

    # The next pass learns that the lost call did cancel them, and posts what waited.
    again = h.reconciler.tick()
    assert again.success, again.run_summary
    assert h.resting(TOKEN_A) == {(Side.BUY, Decimal("0.5")): 5}
    assert h.resting(TOKEN_B) == {(Side.BUY, Decimal("0.4")): 5}
    assert len(h.resting(TOKEN_D)) == 3
    assert all(
        h.store.order(oid).status is OrderStatus.CANCELED for oid in ours  # type: ignore[union-attr]
    )


def test_a_cancel_chunk_never_sent_after_a_lost_answer_is_journaled_as_never_sent(
    lossy_harness: Harness,
) -> None:
    h = lossy_harness
    ours = _rest_128_orders(h)
    _move_everything(h)
    _session(h).lose_nth("DELETE", "/orders", 1)  # chunk 1 (120 ids): done, its answer lost

    result = h.reconciler.tick()

    assert _session(h).count("DELETE", "/orders") == 1  # chunk 2 (8 ids) never left
    rows = [e for e in h.store.history(500)
            if e["kind"] == "cancel" and e["run_id"] == result.run_id]
    outcomes = [str(e["outcome"]) for e in rows]
    assert len(rows) == 128
    assert outcomes.count("unknown") == STANDARD_CANCEL_BURST, outcomes  # sent, answer lost
    assert outcomes.count("void") == 128 - STANDARD_CANCEL_BURST, outcomes  # never sent
    assert result.applied is not None
    said = result.applied.not_cancelled
    assert sum("outcome unknown" in said[oid] for oid in ours) == STANDARD_CANCEL_BURST
    assert sum("never sent" in said[oid] for oid in ours) == 128 - STANDARD_CANCEL_BURST

    # The next pass learns what the lost call did, cancels the rest, and converges.
    again = h.reconciler.tick()
    assert again.success, again.run_summary
    assert h.resting(TOKEN_A) == {(Side.BUY, Decimal("0.5")): 5}
    assert h.resting(TOKEN_B) == {(Side.BUY, Decimal("0.4")): 5}
    assert all(
        h.store.order(oid).status is OrderStatus.CANCELED for oid in ours  # type: ignore[union-attr]
    )


def test_the_shutdown_sweep_cancels_in_chunks_and_records_a_failure_part_way(
    lossy_harness: Harness,
) -> None:
    h = lossy_harness
    _rest_128_orders(h)
    conn = Connection(settings=Settings(host=h.url), client=h.me.client, wallet=h.me.wallet,
                      builder=h.me.builder)
    _session(h).lose_nth("DELETE", "/orders", 2)

    text = cancel_managed_orders(conn=conn, store=h.store)

    assert text.startswith(f"cancelled {STANDARD_CANCEL_BURST} of 128 managed orders"), text
    run = h.store.recent_runs(1)[0]
    assert run["outcome"] == ShutdownOutcome.PARTIAL.value
    assert len(run["summary"]["not_cancelled"]) == 128 - STANDARD_CANCEL_BURST
    assert _session(h).count("DELETE", "/orders") == 2

    # Run again, it cancels what is left (the lost call's orders are gone already).
    again = cancel_managed_orders(conn=conn, store=h.store)
    assert h.open_orders() == []
    assert again.startswith("cancelled"), again
