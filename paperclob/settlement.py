"""Asynchronous settlement of matched trades (clob-v2-wire.md 2.8, 2.12; clob-v1-wire.md 7.3).

A trade is MATCHED when the engine makes it, MINED `delay` seconds later, CONFIRMED another
`delay` seconds after that (`--settle-delay`, default 1 s per step, on the exchange clock). A
trade chosen to fail (`POST /_admin/settlement {"fail": [trade ids]}` or `{"fail_next": N}`)
goes MATCHED -> RETRYING -> FAILED on the same steps instead. Statuses are computed from the
clock when read, so nothing runs in the background; `apply_due` (run by the exchange's lazy
housekeeping before every request) takes back a failed fill as soon as it is due.

`transaction_hash` is `""` until the trade is MINED, and stays `""` on a failing trade.

What a FAILED fill does is not stated in the reference; the paper exchange's choice:

* balances move back: the buyer gets its collateral back and gives the shares back, the seller
  the reverse (a balance may go negative if the shares were sold on meanwhile);
* every order of the trade loses the failed size from its `size_matched`; an order still resting
  rests that size again (and reserves for it); an order off the book (filled, killed or
  cancelled) stays off it, and its status becomes CANCELED if nothing of it remains matched;
* each order's owner gets an ORDER_FILL_FAILED (8) notification: the order payload with
  `matched_size` = the failed size, `remaining_size` after the reversal, the trade id, and
  `transaction_hash` `""`; the trade itself reads FAILED with its original `size`.
"""

from __future__ import annotations

from paperclob import errors
from paperclob.book import CANCELED, LIVE, MATCHED, Order, cost_units
from paperclob.engine import MatchingEngine, Trade
from paperclob.notify import ORDER_FILL_FAILED, order_payload

MATCHED_S, MINED_S, CONFIRMED_S = "MATCHED", "MINED", "CONFIRMED"
RETRYING_S, FAILED_S = "RETRYING", "FAILED"
TERMINAL = (CONFIRMED_S, FAILED_S)


class Settlement:
    """When each trade settles, which ones fail, and taking failed fills back."""

    def __init__(self, engine: MatchingEngine, *, delay_s: float) -> None:
        self.engine = engine
        self.delay_s = delay_s
        self.fail_next = 0
        self._pending_failures: list[Trade] = []
        self._seen = 0  # trades already offered to `fail_next`

    # --- status ---------------------------------------------------------------------------

    def status(self, trade: Trade, now: float) -> str:
        """The trade's status at `now` (plain names; the REST prefix is the renderer's)."""
        elapsed = now - trade.matched_at
        if elapsed < self.delay_s and self.delay_s > 0:
            return MATCHED_S
        if elapsed < 2 * self.delay_s:
            return RETRYING_S if trade.fail else MINED_S
        return FAILED_S if trade.fail else CONFIRMED_S

    def last_update(self, trade: Trade, now: float) -> int:
        if self.delay_s <= 0:
            return trade.match_time
        steps = min(2, int((now - trade.matched_at) // self.delay_s))
        return int(trade.matched_at + steps * self.delay_s)

    def visible_hash(self, trade: Trade, now: float) -> str:
        return trade.transaction_hash if self.status(trade, now) in (MINED_S, CONFIRMED_S) else ""

    # --- choosing failures ----------------------------------------------------------------

    def note_new_trades(self) -> None:
        """Mark new trades for failure while `fail_next` lasts (call after every submit)."""
        trades = list(self.engine.trades.values())
        for trade in trades[self._seen :]:
            if self.fail_next > 0:
                self.fail_next -= 1
                self._mark(trade)
        self._seen = len(trades)

    def fail(self, trade_id: str, now: float) -> None:
        trade = self.engine.trades.get(trade_id)
        if trade is None:
            raise errors.ApiError(404, f"unknown trade {trade_id}")
        if self.status(trade, now) in TERMINAL:
            raise errors.ApiError(400, f"trade {trade_id} is already {self.status(trade, now)}")
        self._mark(trade)

    def _mark(self, trade: Trade) -> None:
        if not trade.fail:
            trade.fail = True
            self._pending_failures.append(trade)

    # --- taking failed fills back ---------------------------------------------------------

    def apply_due(self, now: float) -> int:
        """Reverse every chosen trade whose FAILED time has come; returns how many."""
        due = [t for t in self._pending_failures if self.status(t, now) == FAILED_S]
        for trade in due:
            self._pending_failures.remove(trade)
            self._reverse(trade, int(now))
        return len(due)

    def _reverse(self, trade: Trade, now: int) -> None:
        engine, taker = self.engine, trade.taker
        engine.events.catch_up(trade)  # the stream says FAILED before the orders shrink
        for fill in trade.makers:
            maker = fill.order
            cost = cost_units(fill.units, maker.price)
            buyer, seller = (taker, maker) if taker.is_buy else (maker, taker)
            buying, selling = engine.account(buyer.maker), engine.account(seller.maker)
            buying.collateral += cost
            buying.add_shares(taker.token_id, -fill.units)
            selling.add_shares(taker.token_id, fill.units)
            selling.collateral -= cost
            taker.matched -= fill.units
            maker.matched -= fill.units
            self._after_reversal(maker)
            self._notify(maker, trade, fill.units, now)
        self._after_reversal(taker)
        self._notify(taker, trade, trade.size, now)
        trade.reversed = True
        for order in dict.fromkeys([*(f.order for f in trade.makers), taker]):
            engine.events.order(order, "UPDATE")

    def _after_reversal(self, order: Order) -> None:
        if order.status == LIVE:
            self.engine.update_reservation(order)  # it rests the failed size again
        elif order.status == MATCHED and order.matched <= 0:
            order.status = CANCELED

    def _notify(self, order: Order, trade: Trade, units: int, now: int) -> None:
        self.engine.notifications.add(
            kind=ORDER_FILL_FAILED,
            owner=order.owner,
            address=order.address,
            payload=order_payload(order, matched=units, trade_id=trade.trade_id),
            now=now,
        )
