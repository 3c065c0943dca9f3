"""The matching engine: price-time priority, partial fills, FOK/FAK, GTD expiry, balances.

A verified order arrives as an `Order` plus how it trades:

* share-based (limit orders, and every SELL): it wants `remaining` shares at `limit` or better;
* budget-based (FOK/FAK BUY, the exchange's "market buy"): it spends up to `budget` collateral
  units on the asks priced at or below `limit`, best first.

Fills happen at the *maker's* price, in 6-decimal units: a fill of `u` share units at price `p`
moves `floor(u x p)` collateral units from buyer to seller (`book.cost_units`), so money is
conserved to the unit. A market buy takes `floor(budget left / p)` shares from each level.
Each level a taker trades with makes one `Trade`; both sides get an ORDER_FILL notification.
Balances move at the match; settlement (MATCHED -> MINED -> CONFIRMED, or RETRYING -> FAILED,
which reverses the fill) is `settlement.Settlement`'s.
What rests reserves its remaining cost (bids: collateral, asks: shares) on the maker's account.

Not thread-safe on purpose: the `Exchange` serialises every call under one lock.
"""

from __future__ import annotations

import hashlib
import heapq
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from paperclob import errors
from paperclob.book import CANCELED, LIVE, MATCHED, Order, OrderBook, cost_units, shares_for
from paperclob.notify import ORDER_CANCELLATION, ORDER_FILL, fmt_units, order_payload
from paperclob.state import Account, NotificationBox
from reconciler.model import Side


@dataclass(frozen=True)
class MakerFill:
    order: Order
    units: int


@dataclass
class Trade:
    trade_id: str
    taker: Order
    price: Decimal
    match_time: int
    transaction_hash: str
    makers: list[MakerFill] = field(default_factory=list)
    matched_at: float = 0.0  # exact exchange time of the match (settlement counts from it)
    fail: bool = False  # chosen to fail settlement (RETRYING -> FAILED)
    reversed: bool = False  # the failed fill has been taken back

    @property
    def size(self) -> int:
        return sum(f.units for f in self.makers)


class EngineEvents:
    """What the engine tells the stream (stream.StreamHub); this default tells no one."""

    def submitted(self, execution: Execution) -> None:
        """An order was accepted (matched, rested or killed)."""

    def order(self, order: Order, kind: str) -> None:
        """An order changed: kind is UPDATE (its matched size) or CANCELLATION."""

    def catch_up(self, trade: Trade) -> None:
        """A trade's settlement status may have moved (before a failed fill is taken back)."""


@dataclass
class Execution:
    """What happened to a submitted order."""

    order: Order
    trades: list[Trade]
    making: int  # units the taker gave (collateral for a buy, shares for a sell)
    taking: int  # units it received


class MatchingEngine:
    def __init__(
        self,
        *,
        notifications: NotificationBox,
        initial_collateral: int,
        initial_shares: int,
    ) -> None:
        self.notifications = notifications
        self.initial_collateral = initial_collateral
        self.initial_shares = initial_shares
        self.books: dict[str, OrderBook] = {}
        self.orders: dict[str, Order] = {}
        self.open_by_address: dict[str, dict[str, Order]] = {}
        self.trades: dict[str, Trade] = {}
        self.trades_by_address: dict[str, list[Trade]] = {}
        self.accounts: dict[str, Account] = {}
        self.last_trade: dict[str, tuple[Decimal, Side]] = {}
        self._expiries: list[tuple[int, int, str]] = []
        self._seq = 0
        self.now_exact = 0.0  # set by the exchange before each submit (trade.matched_at)
        self.events = EngineEvents()  # the stream hub, once the exchange has one

    # --- accounts and lookups -------------------------------------------------------------

    def account(self, address: str) -> Account:
        key = address.lower()
        account = self.accounts.get(key)
        if account is None:
            account = Account(key, self.initial_collateral, self.initial_shares)
            self.accounts[key] = account
        return account

    def book(self, token_id: str) -> OrderBook:
        book = self.books.get(token_id)
        if book is None:
            book = self.books[token_id] = OrderBook(token_id)
        return book

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def open_orders(self, address: str) -> list[Order]:
        return list(self.open_by_address.get(address.lower(), {}).values())

    # --- submitting -----------------------------------------------------------------------

    def submit(
        self,
        order: Order,
        *,
        limit: Decimal,
        budget: int | None,
        post_only: bool,
        now: int,
    ) -> Execution:
        """Match `order`, then rest what is left (GTC/GTD) or kill it (FOK/FAK).

        Every refusal (post-only crossing, balance, FOK not fillable, FAK without a match) is
        raised before anything changes, so a rejected order leaves no trace.
        """
        book = self.book(order.token_id)
        crosses = book.crosses(side=order.side, limit=limit)
        if post_only and crosses:
            raise errors.OrderRejected(errors.POST_ONLY_CROSSES)
        self._check_funds(order)
        if order.order_type == "FOK" and not self._fillable(order, book, limit, budget):
            raise errors.OrderRejected(errors.FOK_NOT_FILLED)
        if order.order_type == "FAK" and not crosses:
            raise errors.OrderRejected(errors.FAK_NO_MATCH)
        self.orders[order.order_id] = order
        execution = self._match(order, book, limit=limit, budget=budget, now=now)
        if order.order_type in ("GTC", "GTD") and order.remaining > 0:
            self._rest(order, book)
        else:
            order.status = MATCHED if order.matched > 0 else CANCELED
        self.events.submitted(execution)
        return execution

    def _check_funds(self, order: Order) -> None:
        account = self.account(order.maker)
        free = account.free_collateral() if order.is_buy else account.free_shares(order.token_id)
        if order.maker_amount > free:
            raise errors.OrderRejected(errors.NOT_ENOUGH_BALANCE)

    def _fillable(self, order: Order, book: OrderBook, limit: Decimal, budget: int | None) -> bool:
        units_left, budget_left = order.remaining, budget
        for level in book.opposite_levels(side=order.side, limit=limit):
            for maker in level.values():
                if budget_left is None:
                    units_left -= maker.remaining
                    if units_left <= 0:
                        return True
                    continue
                wanted = shares_for(budget_left, maker.price)
                if wanted <= maker.remaining:
                    return True  # the budget runs out inside this order: filled in full
                budget_left -= cost_units(maker.remaining, maker.price)
        return False

    def _match(
        self, order: Order, book: OrderBook, *, limit: Decimal, budget: int | None, now: int
    ) -> Execution:
        trades: list[Trade] = []
        spent = received = 0
        done = False
        for level in list(book.opposite_levels(side=order.side, limit=limit)):
            trade: Trade | None = None
            for maker in list(level.values()):
                units = self._fill_units(order, maker, budget=budget, spent=spent)
                if units <= 0:
                    done = True
                    break
                cost = self._settle(taker=order, maker=maker, units=units)
                if order.is_buy:
                    spent, received = spent + cost, received + units
                else:
                    spent, received = spent + units, received + cost
                if trade is None:
                    trade = self._new_trade(order, maker.price, now)
                    trades.append(trade)
                trade.makers.append(MakerFill(maker, units))
                budget_limited = maker.remaining > 0
                self._after_maker_fill(maker, book, trade, units, now)
                if order.remaining <= 0 or (budget is not None and budget_limited):
                    done = True  # filled, or the budget ran out inside this maker's order
                    break
            if trade is not None:
                self._notify_fill(order, trade, trade.size, now=now)
            if done:
                break
        return Execution(order=order, trades=trades, making=spent, taking=received)

    @staticmethod
    def _fill_units(order: Order, maker: Order, *, budget: int | None, spent: int) -> int:
        if budget is None:
            return min(order.remaining, maker.remaining)
        units = min(maker.remaining, shares_for(budget - spent, maker.price))
        return units if cost_units(units, maker.price) > 0 else 0  # no free dust

    def _settle(self, *, taker: Order, maker: Order, units: int) -> int:
        """Move collateral and shares for one fill at the maker's price; returns the cost."""
        cost = cost_units(units, maker.price)
        buyer, seller = (taker, maker) if taker.is_buy else (maker, taker)
        buying, selling = self.account(buyer.maker), self.account(seller.maker)
        buying.collateral -= cost
        buying.add_shares(taker.token_id, units)
        selling.add_shares(taker.token_id, -units)
        selling.collateral += cost
        taker.matched += units
        maker.matched += units
        self.update_reservation(maker)
        return cost

    def _after_maker_fill(
        self, maker: Order, book: OrderBook, trade: Trade, units: int, now: int
    ) -> None:
        maker.trade_ids.append(trade.trade_id)
        if maker.remaining <= 0:
            maker.status = MATCHED
            book.side_of(maker).remove(maker)
            self.open_by_address.get(maker.address, {}).pop(maker.order_id, None)
        self._index_trade(trade, maker.address)
        self._notify_fill(maker, trade, units, now=now)

    def _new_trade(self, taker: Order, price: Decimal, now: int) -> Trade:
        trade_id = str(uuid.uuid4())
        tx_hash = "0x" + hashlib.sha256(f"paperclob:tx:{trade_id}".encode()).hexdigest()
        trade = Trade(trade_id, taker, price, now, tx_hash, matched_at=self.now_exact or now)
        self.trades[trade_id] = trade
        self.last_trade[taker.token_id] = (price, taker.side)
        taker.trade_ids.append(trade_id)
        self._index_trade(trade, taker.address)
        return trade

    def _index_trade(self, trade: Trade, address: str) -> None:
        mine = self.trades_by_address.setdefault(address, [])
        if not mine or mine[-1] is not trade:
            mine.append(trade)

    def _rest(self, order: Order, book: OrderBook) -> None:
        order.status = LIVE
        book.side_of(order).add(order)
        self.open_by_address.setdefault(order.address, {})[order.order_id] = order
        self.update_reservation(order)
        if order.order_type == "GTD" and order.expiration:
            heapq.heappush(self._expiries, (order.expiration, order.seq, order.order_id))

    def update_reservation(self, order: Order) -> None:
        """Make what `order` holds back match what it can still spend while it rests."""
        if order.status != LIVE or order.remaining <= 0:
            wanted = 0
        elif order.is_buy:
            wanted = cost_units(order.remaining, order.price)
        else:
            wanted = order.remaining
        delta = wanted - order.reserved
        if delta:
            self.account(order.maker).reserve(
                token_id=order.token_id, is_buy=order.is_buy, delta=delta
            )
            order.reserved = wanted

    # --- cancelling and expiring ----------------------------------------------------------

    def cancel(self, order: Order, *, reason: str, now: int) -> bool:
        """Take a live order off the book and release what it reserved."""
        if order.status != LIVE:
            return False
        self.book(order.token_id).side_of(order).remove(order)
        self.open_by_address.get(order.address, {}).pop(order.order_id, None)
        order.status = CANCELED
        self.update_reservation(order)
        self.notifications.add(
            kind=ORDER_CANCELLATION,
            owner=order.owner,
            address=order.address,
            payload=order_payload(order),
            now=now,
        )
        order.cancel_reason = reason
        self.events.order(order, "CANCELLATION")
        return True

    def expire_due(self, *, effective_now: int, now: int) -> int:
        """Cancel GTD orders whose expiration is at or before `effective_now`."""
        expired = 0
        while self._expiries and self._expiries[0][0] <= effective_now:
            _, _, order_id = heapq.heappop(self._expiries)
            order = self.orders.get(order_id)
            if order is not None and self.cancel(order, reason="expired", now=now):
                expired += 1
        return expired

    # --- notifications --------------------------------------------------------------------

    def _notify_fill(self, order: Order, trade: Trade, units: int, *, now: int) -> None:
        payload = order_payload(
            order,
            matched=units,
            trade_id=trade.trade_id,
            transaction_hash=trade.transaction_hash,
        )
        self.notifications.add(
            kind=ORDER_FILL, owner=order.owner, address=order.address, payload=payload, now=now
        )


__all__ = ["EngineEvents", "Execution", "MakerFill", "MatchingEngine", "Trade", "fmt_units"]
