"""Property: however fills are learned (notifications, repeated, out of order, and cumulative
figures from order reads, possibly stale), the level's fill count never exceeds what really
filled, and equals it once the exchange's cumulative figure is seen."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import LevelGeneration, LevelKey, OrderType, Post, Side
from reconciler.store.store import Store

TOKEN = "1234567890123456789012345678901234567890"
KEY = LevelKey(TOKEN, Side.BUY, Decimal("0.45"))

trade_sizes = st.lists(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50"), places=2),
    min_size=1,
    max_size=8,
)


@st.composite
def learning_sequences(draw: st.DrawFn) -> tuple[list[Decimal], list[tuple[str, int]]]:
    """Trades happen in order; after trade i has happened we may learn of any trade <= i by
    notification (possibly again), or a cumulative figure as of any trade <= i (stale or not)."""
    sizes = draw(trade_sizes)
    events: list[tuple[str, int]] = []
    for happened in range(len(sizes)):
        events.append(("happen", happened))
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            kind = draw(st.sampled_from(["notify", "observe"]))
            events.append((kind, draw(st.integers(min_value=0, max_value=happened))))
    return sizes, events


@settings(max_examples=60, deadline=None)
@given(learning_sequences())
def test_fill_count_is_a_lower_bound_that_converges(
    seq: tuple[list[Decimal], list[tuple[str, int]]],
) -> None:
    sizes, events = seq
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s.db")
        store.record_generations([LevelGeneration(key=KEY, spec_digest="d", generation=1)])
        store.add_order_intent(
            order_id="0x1",
            post=Post(
                key=KEY,
                size=sum(sizes, Decimal(0)),
                order_type=OrderType.GTC,
                post_only=True,
                expires_at=0,
                generation=1,
                neg_risk=False,
                tick_size=Decimal("0.01"),
            ),
            revision=None,
            run_id=None,
        )
        happened = 0
        for kind, i in events:
            if kind == "happen":
                happened = i + 1
            elif kind == "notify":
                store.add_fill(
                    order_id="0x1", fill_id=f"t{i}", size=sizes[i], price=KEY.price, at_ms=i
                )
            else:
                store.observe_matched("0x1", sum(sizes[: i + 1], Decimal(0)))
            truth = sum(sizes[:happened], Decimal(0))
            assert store.level_states()[KEY].filled <= truth
        total = sum(sizes, Decimal(0))
        store.observe_matched("0x1", total)
        assert store.level_states()[KEY].filled == total
        order = store.order("0x1")
        assert order is not None and order.size_matched == total
        store.close()
