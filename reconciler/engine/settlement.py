"""Fills are facts only once settled (DESIGN invariant 12; clob-v2-wire.md 2.8, 2.12).

A matched trade settles asynchronously: MATCHED -> MINED -> CONFIRMED, or RETRYING -> FAILED.
A FAILED trade did not happen, so the fill it brought must not stay counted: a `replenish:
false` level that "filled" through it would count as done and never be posted again. The engine
learns of a failed fill in two ways, and both take it back through the one store call
(`Store.reverse_fill`), once per (order, trade):
- notification 8 ORDER_FILL_FAILED (ledger.record_notification);
- the trade itself, read back from `GET /data/trades` while it is not final (here).

Which trades are read back: those of the orders whose fills changed in a pass (the store says
which), until every trade of theirs is CONFIRMED or FAILED. That is one read of the account's
trades per pass while anything is watched (`after` = the earliest posting time of a watched
order, at most an hour back, less a minute for clock skew), and none otherwise: a quiet account
costs nothing. The read also records each trade's fill under its trade id (a fill learnt from a
matched size alone has none), so a later failure takes back exactly that fill. After a restart,
the orders with fills recorded in the last hour are watched again.

A trades answer that cannot be read (a protocol error, as for notifications) records nothing
and is logged; the pass goes on, and the next one reads again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from reconciler.clob import ClobError, RateLimited, Trade, TradeStatus
from reconciler.store import Store

log = logging.getLogger(__name__)

CLOCK_SLACK_S = 60  # trades are matched by the exchange's clock, orders stamped by ours
RESTORE_WINDOW_S = 3600
MAX_EMPTY_READS = 3  # reads that show no trade of a watched order before it is let go


class TradeReader(Protocol):
    def get_trades(self, *, after: int | None = None) -> list[Trade]: ...


@dataclass
class _Watched:
    since_s: int  # no trade of the order can be older than this (when we posted it)
    empty_reads: int = 0


class SettlementWatch:
    """The orders whose trades are read back until final (see the module docstring)."""

    def __init__(self) -> None:
        self._orders: dict[str, _Watched] = {}
        self._restored = False

    @property
    def watched(self) -> set[str]:
        return set(self._orders)

    def watch(self, order_ids: Iterable[str], *, store: Store, now: float) -> None:
        """Follow these orders' trades. Their trades are looked for from when each was posted,
        but no further back than RESTORE_WINDOW_S: an order resting for weeks on a busy account
        must not page through weeks of trades every pass (an older failure still arrives as
        notification 8)."""
        floor = int(now) - RESTORE_WINDOW_S
        for order_id in order_ids:
            if order_id in self._orders:
                continue
            order = store.order(order_id)
            if order is not None:
                self._orders[order_id] = _Watched(since_s=max(order.posted_at_ms // 1000, floor))

    def record(self, trades: Sequence[Trade], *, store: Store, now: float) -> None:
        """Record trades that came another way (the user stream) exactly as a read of them
        would be recorded, and follow the orders of those still settling over REST too: the
        stream may miss the final status, the REST read does not."""
        settling = self._record(trades, store=store, now=now)
        self.watch([o for o, pending in settling.items() if pending], store=store, now=now)

    def check(self, *, client: TradeReader, store: Store, now: float) -> None:
        """Read the trades of the watched orders once; record their fills; take back the failed
        ones; stop watching orders whose trades are all final. A failed read is logged and
        tried again next pass (a rate limit is raised: the pass stops)."""
        if not self._restored:
            self._restored = True
            since_ms = int((now - RESTORE_WINDOW_S) * 1000)
            self.watch(store.orders_with_fills_since(since_ms), store=store, now=now)
        if not self._orders:
            return
        after = min(w.since_s for w in self._orders.values()) - CLOCK_SLACK_S
        try:
            trades = client.get_trades(after=max(after, 0))
        except RateLimited:
            raise
        except ClobError as exc:
            log.warning("could not read trades to follow their settlement (%s); next pass", exc)
            return
        pending = self._record(trades, store=store, now=now)
        for order_id in list(self._orders):
            seen = pending.get(order_id)
            if seen is None:  # no trade of it in the read (yet)
                self._orders[order_id].empty_reads += 1
                if self._orders[order_id].empty_reads >= MAX_EMPTY_READS:
                    del self._orders[order_id]
            elif not seen:  # every trade of it is final
                del self._orders[order_id]

    def _record(self, trades: Sequence[Trade], *, store: Store, now: float) -> dict[str, bool]:
        """Record every part of a trade that is one of our orders; returns order id -> whether
        one of its trades is still settling."""
        settling: dict[str, bool] = {}
        at_ms = int(now * 1000)
        with store.atomic():
            for trade in trades:
                for order_id, size, price in _our_parts(trade, store):
                    status = trade.status
                    settling[order_id] = settling.get(order_id, False) or not status.is_final
                    if status is TradeStatus.FAILED:
                        lowered = store.reverse_fill(
                            order_id=order_id, trade_id=trade.id, size=size, price=price,
                            at_ms=at_ms,
                        )
                        if lowered is not None:
                            log.warning(
                                "order %s: trade %s FAILED to settle (%s); %s taken back, the "
                                "level is served again", order_id, trade.id,
                                trade.error or "no reason given", lowered,
                            )
                    else:
                        store.add_fill(
                            order_id=order_id, fill_id=trade.id, size=size, price=price,
                            at_ms=at_ms,
                        )
        return settling


def _our_parts(trade: Trade, store: Store) -> Iterator[tuple[str, Decimal, Decimal]]:
    """(order id, size, price) of each of our orders in `trade`: the taker's is the trade's
    size, a maker's its matched amount."""
    parts: Mapping[str, tuple[Decimal, Decimal]] = {
        trade.taker_order_id: (trade.size, trade.price),
        **{m.order_id: (m.matched_amount, m.price) for m in trade.maker_orders},
    }
    for order_id, (size, price) in parts.items():
        if order_id and store.order(order_id) is not None:
            yield order_id, size, price


__all__ = ["SettlementWatch", "TradeReader"]
