"""One reconcile pass against the real paper exchange and a real state file."""

from __future__ import annotations

from decimal import Decimal

from reconciler.model import Side
from tests.test_reconcile_kit import TOKEN_A, TOKEN_B, Harness, harness, level, paper

__all__ = ["harness", "paper"]


def test_converges_from_nothing_then_a_second_tick_sends_no_write(harness: Harness) -> None:
    harness.write_spec(
        {
            TOKEN_A: [
                level("BUY", "0.45", "10"),
                level("BUY", "0.44", "25"),
                level("SELL", "0.55", "10"),
            ],
            TOKEN_B: [level("BUY", "0.30", "20")],
        }
    )
    first = harness.reconciler.tick()
    assert first.success, first.error
    assert first.outcome == "ok"
    assert harness.resting(TOKEN_A) == {
        (Side.BUY, Decimal("0.45")): Decimal("10"),
        (Side.BUY, Decimal("0.44")): Decimal("25"),
        (Side.SELL, Decimal("0.55")): Decimal("10"),
    }
    assert harness.resting(TOKEN_B) == {(Side.BUY, Decimal("0.3")): Decimal("20")}
    # Exactly one batch post for 4 orders, no cancel.
    assert harness.me.session.order_writes() == [("POST", "/orders")]
    harness.me.session.reset()
    second = harness.reconciler.tick()
    assert second.success and second.outcome == "noop", second.summary
    assert harness.me.session.writes() == []
