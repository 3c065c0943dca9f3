"""What the stream's events ask of the daemon (daemon/stream_work.py), as tables: which events
bring a targeted pass, which only hand a trade over, which betray a gap and ask for a sweep;
and how the queue folds work into the next pass."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from reconciler.clob import (
    BookEvent,
    OrderEvent,
    OrderEventType,
    OtherMarketEvent,
    TickSizeChange,
    Trade,
    TradeEvent,
    TradeStatus,
)
from reconciler.clob.types import MakerOrder
from reconciler.daemon.stream_work import GapDetector, PassQueue, Work, route
from reconciler.model import Side

MINE, OTHER = "111", "222"
OPENED_MS = 1_800_000_000_000
BEFORE_S, AFTER_S = OPENED_MS // 1000 - 60, OPENED_MS // 1000 + 60
ORDER = "0x" + "ab" * 32


def order(kind: str, matched: str = "0", *, order_id: str = ORDER, asset: str = MINE,
          created: int = AFTER_S) -> OrderEvent:
    return OrderEvent(order_id=order_id, owner="k", market="0xm", asset_id=asset, side=Side.BUY,
                      price=Decimal("0.4"), original_size=Decimal(10),
                      size_matched=Decimal(matched), kind=OrderEventType(kind),
                      timestamp_ms=OPENED_MS, created_at=created)


def trade(status: str, *, trade_id: str = "t1", asset: str = MINE, matched_s: int = AFTER_S,
          maker_asset: str = MINE) -> TradeEvent:
    maker = MakerOrder(order_id=ORDER, owner="k", maker_address="", matched_amount=Decimal(5),
                       price=Decimal("0.4"), asset_id=maker_asset, side=Side.BUY)
    return TradeEvent(Trade(id=trade_id, taker_order_id="0x" + "cd" * 32, market="0xm",
                            asset_id=asset, side=Side.SELL, size=Decimal(5),
                            price=Decimal("0.4"), status=TradeStatus(status),
                            match_time=matched_s, maker_orders=(maker,)), OPENED_MS)


@pytest.mark.parametrize(("event", "tokens", "trades", "refresh"), [
    (order("PLACEMENT"), set(), 0, set()),  # our own post's echo: nothing to do
    (order("UPDATE", "5"), {MINE}, 0, set()),
    (order("CANCELLATION"), {MINE}, 0, set()),
    (order("UPDATE", "5", asset=OTHER), set(), 0, set()),  # not a managed token
    (trade("MATCHED"), {MINE}, 1, set()),
    (trade("FAILED"), {MINE}, 1, set()),
    (trade("MINED"), set(), 1, set()),  # recorded, no pass: nothing should rest otherwise
    (trade("CONFIRMED"), set(), 1, set()),
    (trade("RETRYING"), set(), 1, set()),
    (trade("MATCHED", asset=OTHER), {MINE}, 1, set()),  # our maker order rests on MINE
    (TickSizeChange(MINE, "0xm", Decimal("0.01"), Decimal("0.001"), 0), {MINE}, 0, {MINE}),
    (BookEvent(MINE, "0xm", (), (), 0), set(), 0, set()),
    (OtherMarketEvent("price_change", "0xm"), set(), 0, set()),
])
def test_what_each_event_asks_for(event: Any, tokens: set[str], trades: int,
                                  refresh: set[str]) -> None:
    work = route(event, managed={MINE})
    assert (set(work.tokens), len(work.trades), set(work.refresh), work.sweep) == (
        tokens, trades, refresh, "")


GAPS = [
    ([order("PLACEMENT"), order("UPDATE", "6"), order("UPDATE", "3")], "size_matched went down"),
    ([order("PLACEMENT"), order("CANCELLATION", "6"), order("UPDATE", "6")],
     "after its cancellation"),
    ([order("UPDATE", "5")], "its placement never came"),
    ([trade("MINED")], "its MATCHED never came"),
    ([trade("MATCHED"), trade("MINED"), trade("MATCHED")], "out of order"),
    ([trade("MATCHED"), trade("CONFIRMED"), trade("MINED")], "after the final CONFIRMED"),
]


@pytest.mark.parametrize(("events", "says"), GAPS)
def test_a_gap_is_seen_in_the_events(events: list[Any], says: str) -> None:
    gaps = GapDetector(opened_ms=OPENED_MS)
    found = [gaps.check(e) for e in events]
    assert all(f == "" for f in found[:-1]) and says in found[-1]


@pytest.mark.parametrize("events", [
    [order("PLACEMENT"), order("UPDATE", "3"), order("UPDATE", "6"), order("CANCELLATION", "6")],
    [order("UPDATE", "5", created=BEFORE_S)],  # placed before this connection opened
    [trade("MINED", matched_s=BEFORE_S)],  # matched before this connection opened
    [trade("MATCHED"), trade("MINED"), trade("CONFIRMED")],
    [trade("MATCHED"), trade("RETRYING"), trade("MINED"), trade("CONFIRMED")],
    [trade("MATCHED"), trade("CONFIRMED")],  # a skipped MINED is no loss
    # A failed fill is taken back: the order's size_matched going down then is expected.
    [order("PLACEMENT"), order("UPDATE", "5"), trade("MATCHED"), trade("RETRYING"),
     trade("FAILED"), order("UPDATE", "0")],
])
def test_ordinary_streams_are_no_gap(events: list[Any]) -> None:
    gaps = GapDetector(opened_ms=OPENED_MS)
    assert [gaps.check(e) for e in events] == [""] * len(events)


def test_the_queue_folds_targeted_work_into_a_sweep() -> None:
    queue = PassQueue()
    assert queue.take(sweep_due=False).empty
    queue.add(Work(tokens=frozenset({MINE}), trades=(trade("MATCHED").trade,)))
    queue.add(Work(tokens=frozenset({OTHER}), refresh=frozenset({OTHER})))
    batch = queue.take(sweep_due=False)
    assert not batch.sweep and batch.tokens == {MINE, OTHER} and len(batch.trades) == 1
    assert batch.refresh == {OTHER} and not queue.pending
    queue.add(Work(tokens=frozenset({MINE})))
    queue.sweep("user stream lost")
    queue.sweep("user stream lost")
    swept = queue.take(sweep_due=False)
    assert swept.sweep and swept.reasons == ("user stream lost",)
    assert queue.take(sweep_due=True).reasons == ("interval",)
    queue.add(Work(trades=(trade("CONFIRMED").trade,)))
    only_trades = queue.take(sweep_due=False)
    assert not only_trades.needs_pass and not only_trades.empty
