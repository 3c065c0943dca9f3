"""What the stream's events mean for the daemon: which pass comes next, and what it covers.

The rules, in one place (DESIGN "Real time"; clob-v2-wire.md 2.14):
- an order of ours changed (UPDATE: a fill; CANCELLATION: it left the book), or a trade of ours
  was MATCHED (a fill) or FAILED (the fill did not happen): a targeted pass over the tokens it
  concerns, with the trade handed to the engine first so the fill is counted, or taken back
  (invariant 12). MINED, CONFIRMED and RETRYING trades are handed over without a pass: they
  change what is recorded, not what should rest. A PLACEMENT is the answer to a post the engine
  has recorded already: no pass (a stranger's order on a managed token is the sweep's);
- `tick_size_change`: that market's info is stale; read it again and re-plan the token;
- `book` and the other market events: noted (the stream is alive), nothing else;
- a gap: the stream has no sequence numbers, so a gap is what the events themselves betray
  (`GapDetector`): an order's `size_matched` going down (unless a FAILED trade of that order
  came first: a failed fill is taken back, 2.12), an event for an order after its
  CANCELLATION, a trade status going backwards or coming after a final one, a trade first seen
  past MATCHED although it was matched after this connection opened (its MATCHED was missed),
  an UPDATE or CANCELLATION of an order created after the connection opened whose PLACEMENT
  never came. Each asks for a sweep at once; a false alarm costs one ordinary sweep.
  A disconnect, a reconnect and a garbled frame ask for a sweep too (stream.py).

`PassQueue` collects the work between passes: the tokens, trades and stale markets of targeted
work, and sweep requests. A sweep covers every token, so pending targeted work folds into it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from reconciler.clob import (
    BookEvent,
    OrderEvent,
    OrderEventType,
    OtherMarketEvent,
    StreamEvent,
    TickSizeChange,
    Trade,
    TradeEvent,
    TradeStatus,
)

#: Trade statuses that change what should rest: a fill, or a fill taken back.
PASS_STATUSES = frozenset({TradeStatus.MATCHED, TradeStatus.FAILED})
_RANK = {TradeStatus.MATCHED: 0, TradeStatus.MATCHED_NOT_BROADCASTED: 0, TradeStatus.MINED: 1,
         TradeStatus.RETRYING: 1, TradeStatus.CONFIRMED: 2, TradeStatus.FAILED: 2}
#: Exchange and local clocks differ; an order or trade this close to the connection's start
#: may predate it.
CLOCK_SLACK_MS = 2_000
REMEMBERED = 10_000  # orders and trades a detector remembers (oldest forgotten first)


@dataclass(frozen=True)
class Work:
    """What one event asks for: tokens to pass over, trades to record, markets to re-read,
    or a sweep (with its reason)."""

    tokens: frozenset[str] = frozenset()
    trades: tuple[Trade, ...] = ()
    refresh: frozenset[str] = frozenset()
    sweep: str = ""


@dataclass(frozen=True)
class Batch:
    """What the next pass covers (PassQueue.take)."""

    sweep: bool = False
    reasons: tuple[str, ...] = ()
    tokens: frozenset[str] = frozenset()
    trades: tuple[Trade, ...] = ()
    refresh: frozenset[str] = frozenset()

    @property
    def needs_pass(self) -> bool:
        return self.sweep or bool(self.tokens)

    @property
    def empty(self) -> bool:
        return not (self.needs_pass or self.trades or self.refresh)

    def as_work(self) -> Work:
        """The batch as work again (to be put back in the queue)."""
        return Work(tokens=self.tokens, trades=self.trades, refresh=self.refresh,
                    sweep="; ".join(self.reasons))


class PassQueue:
    """Work gathered between passes; thread-safe (the stream threads add, the tick takes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self._trades: list[Trade] = []
        self._refresh: set[str] = set()
        self._reasons: list[str] = []

    def add(self, work: Work) -> None:
        with self._lock:
            self._tokens |= work.tokens
            self._trades += work.trades
            self._refresh |= work.refresh
            if work.sweep and work.sweep not in self._reasons:
                self._reasons.append(work.sweep)

    def sweep(self, reason: str) -> None:
        self.add(Work(sweep=reason))

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._tokens or self._trades or self._refresh or self._reasons)

    @property
    def wants_pass(self) -> bool:
        with self._lock:
            return bool(self._tokens or self._reasons)

    def take(self, *, sweep_due: bool) -> Batch:
        """Everything pending, as one batch; a sweep when one was asked for or is due."""
        with self._lock:
            reasons = tuple(self._reasons) or (("interval",) if sweep_due else ())
            batch = Batch(sweep=bool(reasons), reasons=reasons, tokens=frozenset(self._tokens),
                          trades=tuple(self._trades), refresh=frozenset(self._refresh))
            self._tokens, self._trades, self._refresh, self._reasons = set(), [], set(), []
        return batch


@dataclass
class GapDetector:
    """What one connection's events betray of a missed or out-of-order event (module
    docstring). `opened_ms`: when the connection opened, unix ms on our clock."""

    opened_ms: int
    _matched: OrderedDict[str, Any] = field(default_factory=OrderedDict)  # order -> size
    _placed: set[str] = field(default_factory=set)
    _cancelled: set[str] = field(default_factory=set)
    _failed: set[str] = field(default_factory=set)  # orders a FAILED trade may shrink
    _trades: OrderedDict[str, TradeStatus] = field(default_factory=OrderedDict)

    def check(self, event: StreamEvent) -> str:
        """"" when nothing looks missed, else why a sweep is needed."""
        if isinstance(event, OrderEvent):
            return self._order(event)
        if isinstance(event, TradeEvent):
            return self._trade(event.trade)
        return ""

    def _order(self, event: OrderEvent) -> str:
        order_id = event.order_id
        if order_id in self._cancelled:
            return f"an event for order {order_id} after its cancellation"
        last = self._matched.get(order_id)
        self._remember(self._matched, order_id, event.size_matched)
        if event.kind is OrderEventType.PLACEMENT:
            self._placed.add(order_id)
        elif order_id not in self._placed and \
                event.created_at * 1000 > self.opened_ms + CLOCK_SLACK_MS:
            return f"order {order_id} changed, but its placement never came"
        if event.kind is OrderEventType.CANCELLATION:
            self._cancelled.add(order_id)
        if last is not None and event.size_matched < last and order_id not in self._failed:
            return f"order {order_id}: size_matched went down ({last} -> {event.size_matched})"
        self._failed.discard(order_id)
        return ""

    def _trade(self, trade: Trade) -> str:
        if trade.status is TradeStatus.FAILED:
            if len(self._failed) > REMEMBERED:
                self._failed.clear()
            self._failed |= {trade.taker_order_id, *(m.order_id for m in trade.maker_orders)}
        last = self._trades.get(trade.id)
        self._remember(self._trades, trade.id, trade.status)
        if last is None:
            matched_ms = trade.match_time * 1000
            if _RANK[trade.status] > 0 and matched_ms > self.opened_ms + CLOCK_SLACK_MS:
                return f"trade {trade.id} first seen {trade.status}: its MATCHED never came"
            return ""
        if last.is_final:
            return f"trade {trade.id}: {trade.status} after the final {last}"
        if _RANK[trade.status] < _RANK[last]:
            return f"trade {trade.id}: {trade.status} after {last} (out of order)"
        return ""

    @staticmethod
    def _remember(memory: OrderedDict[str, Any], key: str, value: Any) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > REMEMBERED:
            memory.popitem(last=False)


def route(event: StreamEvent, *, managed: Collection[str]) -> Work:
    """The work one event asks for (module docstring); `managed`: the tokens declared."""
    mine = frozenset(t for t in event.token_ids if t in managed)
    if isinstance(event, OrderEvent):
        wanted = event.kind is not OrderEventType.PLACEMENT
        return Work(tokens=mine if wanted else frozenset())
    if isinstance(event, TradeEvent):
        status = event.trade.status
        return Work(tokens=mine if status in PASS_STATUSES else frozenset(),
                    trades=(event.trade,))
    if isinstance(event, TickSizeChange):
        return Work(tokens=mine, refresh=frozenset({event.asset_id}))
    if isinstance(event, BookEvent | OtherMarketEvent):
        return Work()
    raise TypeError(f"not a stream event: {type(event).__name__}")  # pragma: no cover


def merge(works: Iterable[Work]) -> Work:
    tokens: set[str] = set()
    trades: list[Trade] = []
    refresh: set[str] = set()
    sweep = ""
    for work in works:
        tokens |= work.tokens
        trades += work.trades
        refresh |= work.refresh
        sweep = sweep or work.sweep
    return Work(frozenset(tokens), tuple(trades), frozenset(refresh), sweep)


__all__ = ["Batch", "GapDetector", "PassQueue", "Work", "merge", "route"]
