"""Orders and the per-token order book (price levels, FIFO inside a level).

Sizes are integer share units (6 decimals); a price is an exact `Decimal` on the market's grid.
A level is a dict keyed by order id, which keeps insertion (time) order and removes in O(1); the
sorted price list of each side is kept with `bisect`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from reconciler.model import Side

LIVE = "LIVE"
MATCHED = "MATCHED"
CANCELED = "CANCELED"


def cost_units(shares: int, price: Decimal) -> int:
    """Collateral units that `shares` share units cost at `price`, rounded down to the unit.

    Fills are in 6-decimal units (1 unit = 0.000001 share or pUSD), as the exchange's own
    answers show (`"takingAmount": "8.19672", "makingAmount": "4.999999"`, clob-v1-wire.md 6.3).
    On chain the side derived from the order's ratio is rounded down; the same integer leaves
    the buyer and reaches the seller, so money is conserved to the unit.
    """
    numerator, denominator = price.as_integer_ratio()
    return shares * numerator // denominator


def shares_for(collateral: int, price: Decimal) -> int:
    """The most share units `collateral` units buy at `price` (rounded down)."""
    numerator, denominator = price.as_integer_ratio()
    return collateral * denominator // numerator


@dataclass(eq=False)
class Order:
    """An accepted order and its progress. Mutated only under the exchange lock."""

    order_id: str
    owner: str  # API key that placed it
    address: str  # lowercase signer address bound to that key
    maker: str  # funder address, as signed
    token_id: str
    condition_id: str
    outcome: str
    side: Side
    price: Decimal
    original: int  # share units (for a market buy: the shares its amounts ask for)
    order_type: str
    expiration: int
    created_at: int
    maker_amount: int
    taker_amount: int
    signature_type: int
    seq: int
    profile: str = "v2"  # protocol the order was signed for (v1 or v2)
    matched: int = 0
    status: str = LIVE
    reserved: int = 0  # collateral (bid) or share (ask) units held back while it rests
    trade_ids: list[str] = field(default_factory=list)
    cancel_reason: str = ""  # why it left the book unfilled (in-process inspection only)

    @property
    def remaining(self) -> int:
        return self.original - self.matched

    @property
    def is_buy(self) -> bool:
        return self.side is Side.BUY


class BookSide:
    """One side of a book: price -> {order id: order}, prices sorted ascending."""

    def __init__(self) -> None:
        self.levels: dict[Decimal, dict[str, Order]] = {}
        self.prices: list[Decimal] = []

    def add(self, order: Order) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = {}
            bisect.insort(self.prices, order.price)
        level[order.order_id] = order

    def remove(self, order: Order) -> None:
        level = self.levels.get(order.price)
        if level is None or level.pop(order.order_id, None) is None:
            return
        if not level:
            del self.levels[order.price]
            self.prices.pop(bisect.bisect_left(self.prices, order.price))

    def best_first(self, *, highest: bool) -> Iterator[Decimal]:
        """Prices from the best one (a snapshot, so the caller may empty levels as it goes)."""
        return iter(list(reversed(self.prices)) if highest else list(self.prices))

    def aggregated(self) -> list[tuple[Decimal, int]]:
        """(price, total remaining units) ascending by price."""
        return [(p, sum(o.remaining for o in self.levels[p].values())) for p in self.prices]


class OrderBook:
    """Bids and asks of one token."""

    def __init__(self, token_id: str) -> None:
        self.token_id = token_id
        self.bids = BookSide()
        self.asks = BookSide()

    def side_of(self, order: Order) -> BookSide:
        return self.bids if order.is_buy else self.asks

    def best_bid(self) -> Decimal | None:
        return self.bids.prices[-1] if self.bids.prices else None

    def best_ask(self) -> Decimal | None:
        return self.asks.prices[0] if self.asks.prices else None

    def crosses(self, *, side: Side, limit: Decimal) -> bool:
        """Would an order on `side` at `limit` trade with what rests now?"""
        if side is Side.BUY:
            best = self.best_ask()
            return best is not None and best <= limit
        best = self.best_bid()
        return best is not None and best >= limit

    def opposite_levels(self, *, side: Side, limit: Decimal) -> Iterator[dict[str, Order]]:
        """Levels a taker on `side` with price `limit` can trade with, best first."""
        if side is Side.BUY:
            for price in self.asks.best_first(highest=False):
                if price > limit:
                    return
                level = self.asks.levels.get(price)
                if level:
                    yield level
        else:
            for price in self.bids.best_first(highest=True):
                if price < limit:
                    return
                level = self.bids.levels.get(price)
                if level:
                    yield level
