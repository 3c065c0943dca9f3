"""Order amounts in 6-decimal base units, computed exactly in Decimal.

A signed order carries no price: it carries makerAmount and takerAmount (base units, 10**6 per
share or per pUSD), and the exchange reads the price back from their ratio. This module turns
(side, price, size) into those two integers the way the official SDK does, but in exact decimal
arithmetic instead of binary floats:

* limit order: shares = size floored to 2 dp; notional = shares x price (exact: at most the tick's
  `amount` digits, since price has `price` digits and shares 2). BUY gives notional, takes shares;
  SELL gives shares, takes notional.
* market order: BUY `amount` is pUSD to spend (floored to 2 dp) and the shares taken are
  amount / price floored to the tick's `amount` digits, but never more than 4 (below); SELL
  `amount` is shares (floored to 2 dp) and the pUSD taken is shares x price. V2 rounds a market
  price DOWN to the price digits.

Where the SDK's floats go wrong we differ on purpose, and tests name every such case:
* its floors are float floors: `floor(2.03 * 100)` is 202 in binary floating point, so the SDK
  turns $2.03 into 2.02 (market BUY $2.03 @ 0.58: SDK maker 2020000, we send 2030000), and a V2
  market price 0.58 into 0.57;
* at very large sizes (millions of shares) float noise in the product exceeds what its "snap"
  step absorbs and an amount comes out one base unit low.
* the exchange refuses a market BUY whose taker amount has more than 4 decimals, whatever the
  tick ("the market buy orders maker amount supports a max accuracy of 2 decimals, taker amount
  a max of 4 decimals", clob-v1-wire.md 5.4). The SDK floors to the tick's amount digits (5 or 6
  on ticks finer than 0.01), which the reference names a known client bug: its order is refused.
  We floor to 4 there, valid under both rules, at most 0.0001 share less for the same spend.
Its snap (round up at `amount + 4` digits, then floor at `amount`) never changes an exact value
here: a market BUY quotient is a*10**k / b with b < 10**4 (the price in ticks), so it is never
within 10**-4 units below a boundary without being on it. An exact floor is therefore the SDK's
intended result.

Prices must lie on the tick grid and in [tick, 1 - tick]; we refuse anything else with a message
that names the nearest valid prices, rather than silently rounding a price somebody typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from reconciler.clob.numbers import exact_decimal
from reconciler.model import OrderType, Side

BASE_UNITS = Decimal(10) ** 6
#: The exchange's limit on a market BUY's taker amount (shares), independent of the tick.
MARKET_BUY_TAKER_DIGITS = 4
_SIZE_STEP = Decimal("0.01")


class InvalidOrderError(ValueError):
    """The order cannot be built as asked (price off the grid, nothing to trade, ...)."""


class NoMatchError(InvalidOrderError):
    """A market order cannot be priced from the book (empty, or too thin for FOK)."""


@dataclass(frozen=True)
class RoundConfig:
    price: int  # decimal digits of a price
    size: int  # decimal digits of a size (shares, or pUSD for a market BUY)
    amount: int  # decimal digits of a notional (price digits + size digits)


ROUNDING: dict[Decimal, RoundConfig] = {
    Decimal("0.1"): RoundConfig(price=1, size=2, amount=3),
    Decimal("0.01"): RoundConfig(price=2, size=2, amount=4),
    Decimal("0.001"): RoundConfig(price=3, size=2, amount=5),
    Decimal("0.0001"): RoundConfig(price=4, size=2, amount=6),
    Decimal("0.005"): RoundConfig(price=3, size=2, amount=5),
    Decimal("0.0025"): RoundConfig(price=4, size=2, amount=6),
}


def _decimal(value: object, *, what: str) -> Decimal:
    # Floats are refused outright: by the time a float arrives the damage is done.
    return exact_decimal(value, what, invalid=InvalidOrderError)


def round_config(tick: Decimal) -> RoundConfig:
    try:
        return ROUNDING[_decimal(tick, what="tick size")]
    except KeyError:
        valid = ", ".join(str(t) for t in ROUNDING)
        raise InvalidOrderError(f"unknown tick size {tick}; valid tick sizes: {valid}") from None


def _floor_to(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)


def _base_units(value: Decimal) -> int:
    units = value * BASE_UNITS
    if units != units.to_integral_value():
        # Cannot happen for amounts of <= 6 digits; guard the invariant rather than round.
        raise InvalidOrderError(f"{value} has more than 6 decimals")
    return int(units)


# --- prices -------------------------------------------------------------------------------------


def check_price(price: Decimal, tick: Decimal) -> None:
    """Raise InvalidOrderError unless `price` is on the tick grid and within [tick, 1 - tick]."""
    price = _decimal(price, what="price")
    tick = _decimal(tick, what="tick size")
    round_config(tick)
    low, high = tick, Decimal(1) - tick
    if price < low or price > high:
        nearest = low if price < low else high
        raise InvalidOrderError(
            f"price {price} is outside [{low}, {high}] for tick size {tick}; "
            f"the nearest valid price is {nearest}"
        )
    if price % tick != 0:
        below = (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        above = (price / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        options = [p for p in (below, above) if low <= p <= high]
        hint = " or ".join(str(p.normalize()) for p in options)
        raise InvalidOrderError(
            f"price {price} is not a multiple of the tick size {tick}; use {hint}"
        )


# --- amounts ------------------------------------------------------------------------------------


def _positive(value: Decimal, *, what: str, original: Decimal) -> Decimal:
    if value <= 0:
        raise InvalidOrderError(
            f"{what} {original} rounds down to {value}: nothing to trade (minimum 0.01)"
        )
    return value


def limit_amounts(side: Side, price: Decimal, size: Decimal, tick: Decimal) -> tuple[int, int]:
    """(maker_amount, taker_amount) in base units for a limit order of `size` shares."""
    cfg = round_config(tick)
    check_price(price, tick)
    price = _decimal(price, what="price")
    size = _decimal(size, what="size")
    shares = _positive(_floor_to(size, cfg.size), what="size", original=size)
    notional = _floor_to(shares * price, cfg.amount)
    if Side(side) is Side.BUY:
        return _base_units(notional), _base_units(shares)
    return _base_units(shares), _base_units(notional)


def market_amounts(
    side: Side, amount: Decimal, price: Decimal, tick: Decimal
) -> tuple[int, int]:
    """(maker_amount, taker_amount) for a market order: BUY `amount` is pUSD to spend, SELL
    `amount` is shares to sell; `price` is the worst price accepted."""
    cfg = round_config(tick)
    check_price(price, tick)
    price = _floor_to(_decimal(price, what="price"), cfg.price)  # V2: market price rounds down
    amount = _decimal(amount, what="amount")
    given = _positive(_floor_to(amount, cfg.size), what="amount", original=amount)
    if Side(side) is Side.BUY:
        shares = _floor_to(given / price, min(cfg.amount, MARKET_BUY_TAKER_DIGITS))
        return _base_units(given), _base_units(shares)
    return _base_units(given), _base_units(_floor_to(given * price, cfg.amount))


# --- market price from the book -----------------------------------------------------------------


def _level(level: Any) -> tuple[Decimal, Decimal]:
    if isinstance(level, dict):
        price, size = level["price"], level["size"]
    elif isinstance(level, Sequence) and not isinstance(level, str):
        price, size = level[0], level[1]
    else:
        price, size = level.price, level.size
    return _decimal(price, what="book price"), _decimal(size, what="book size")


def market_price_from_book(
    side: Side, amount: Decimal, book_levels: Iterable[Any], order_type: OrderType
) -> Decimal:
    """The worst price a market order of `amount` must accept to fill, walking the book.

    `book_levels` is the side the order takes from (asks for a BUY, bids for a SELL) in the
    exchange's order: best level LAST. BUY accumulates notional (price x size) against the pUSD
    `amount`; SELL accumulates shares. If the book is too thin: FOK raises NoMatchError, FAK
    takes the worst level (the first element), as the official SDK does.
    """
    order_type = OrderType(order_type)
    if order_type not in (OrderType.FOK, OrderType.FAK):
        raise InvalidOrderError(f"market orders are FOK or FAK, not {order_type.value}")
    amount = _decimal(amount, what="amount")
    levels = [_level(level) for level in book_levels]
    if not levels:
        raise NoMatchError("no match: the book side is empty")
    total = Decimal(0)
    for price, size in reversed(levels):
        total += size * price if Side(side) is Side.BUY else size
        if total >= amount:
            return price
    if order_type is OrderType.FOK:
        unit = "pUSD" if Side(side) is Side.BUY else "shares"
        raise NoMatchError(
            f"no match: the whole book offers {total} {unit}, less than the {amount} asked (FOK)"
        )
    return levels[0][0]
