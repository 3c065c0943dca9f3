"""Typed results of the CLOB client, and the parsers that build them from the exchange's JSON.

Every value is a frozen dataclass built once and valid from then on: money is `Decimal` (prices,
sizes, human-unit amounts) or `int` base units (balances, 6 decimals), sides are `model.Side`,
timestamps are ints. A parser that meets a shape it cannot trust raises `ProtocolError` instead of
guessing: a garbled open-orders page must abort a tick, never read as fewer orders (STYLE 6).

Open orders are returned as `model.OpenOrder`, the type the planner consumes; `OrderDetails`
(GET /data/order/{id}) is an `OpenOrder` with the extra fields that endpoint carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Generic, TypeVar

from reconciler.clob.errors import ProtocolError
from reconciler.clob.signing import SignedOrder
from reconciler.model import OpenOrder, OrderType, Side

T = TypeVar("T")

INITIAL_CURSOR = "MA=="
END_CURSOR = "LTE="


class AssetType(StrEnum):
    COLLATERAL = "COLLATERAL"
    CONDITIONAL = "CONDITIONAL"
    CONDITIONAL_V2 = "CONDITIONAL-V2"  # positions of Protocol-V2 (ExchangeV3) markets


@dataclass(frozen=True)
class PostArgs:
    """One entry of a batch post: a signed order, its type, and whether it may only rest."""

    order: SignedOrder
    order_type: OrderType = OrderType.GTC
    post_only: bool = False


@dataclass(frozen=True)
class OrderResult:
    """The exchange's answer for one posted order (POST /order, or one element of POST /orders)."""

    success: bool
    error_msg: str
    order_id: str
    status: str  # live | matched | delayed | unmatched | "" on failure
    making_amount: Decimal | None = None  # human units, None when nothing filled
    taking_amount: Decimal | None = None
    trade_ids: tuple[str, ...] = ()
    transaction_hashes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Placed (resting or matched): the exchange gave an order ID and no error text."""
        return self.success and not self.error_msg and bool(self.order_id)


@dataclass(frozen=True)
class CancelResult:
    """`{canceled: [...], not_canceled: {id: reason}}` from every cancel endpoint."""

    canceled: tuple[str, ...] = ()
    not_canceled: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderDetails(OpenOrder):
    """One order from GET /data/order/{id}, in any state (LIVE, MATCHED, CANCELED ...)."""

    associate_trades: tuple[str, ...] = ()
    outcome: str = ""


@dataclass(frozen=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class OrderBook:
    """GET /book. Levels keep the exchange's order: bids ascending, asks descending (best last)."""

    market: str
    asset_id: str
    timestamp: int  # unix ms
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    min_order_size: Decimal
    tick_size: Decimal
    neg_risk: bool
    last_trade_price: Decimal | None = None
    hash: str = ""

    @property
    def best_bid(self) -> Decimal | None:
        return max((level.price for level in self.bids), default=None)

    @property
    def best_ask(self) -> Decimal | None:
        return min((level.price for level in self.asks), default=None)


@dataclass(frozen=True)
class MakerOrder:
    order_id: str
    owner: str
    maker_address: str
    matched_amount: Decimal
    price: Decimal
    asset_id: str
    side: Side | None
    outcome: str = ""
    fee_rate_bps: int = 0


@dataclass(frozen=True)
class Trade:
    """One element of GET /data/trades."""

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: Side
    size: Decimal
    price: Decimal
    status: str  # MATCHED, MINED, CONFIRMED, RETRYING, FAILED
    match_time: int
    owner: str = ""
    maker_address: str = ""
    trader_side: str = ""  # TAKER | MAKER
    transaction_hash: str = ""
    outcome: str = ""
    bucket_index: int = 0
    fee_rate_bps: int = 0
    last_update: int = 0
    maker_orders: tuple[MakerOrder, ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paginated read."""

    items: tuple[T, ...]
    next_cursor: str
    limit: int | None = None
    count: int | None = None

    @property
    def is_last(self) -> bool:
        return self.next_cursor == END_CURSOR


@dataclass(frozen=True)
class BalanceAllowance:
    """GET /balance-allowance: balance and allowances in integer base units (6 decimals)."""

    balance: int
    allowances: Mapping[str, int] = field(default_factory=dict)

    @property
    def balance_decimal(self) -> Decimal:
        return Decimal(self.balance) / Decimal(1_000_000)


@dataclass(frozen=True)
class Notification:
    id: str
    type: int  # 1 order cancelled, 2 order filled, 4 market resolved
    owner: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HeartbeatResult:
    heartbeat_id: str
    status: str = ""


# --- parsing helpers -------------------------------------------------------------------------


def require_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object for {what}, got {type(data).__name__}")
    return data


def require_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError(f"expected a JSON array for {what}, got {type(data).__name__}")
    return data


def to_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ProtocolError(f"{what}: expected a decimal, got {value!r}")
    try:
        result = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ProtocolError(f"{what}: not a decimal: {value!r}") from None
    if not result.is_finite():
        raise ProtocolError(f"{what}: not a finite decimal: {value!r}")
    return result


def optional_decimal(value: Any, what: str) -> Decimal | None:
    return None if value is None or value == "" else to_decimal(value, what)


def to_int(value: Any, what: str, *, default: int | None = None) -> int:
    if (value is None or value == "") and default is not None:
        return default
    number = to_decimal(value, what)
    if number != number.to_integral_value():
        raise ProtocolError(f"{what}: expected an integer, got {value!r}")
    return int(number)


def to_side(value: Any, what: str) -> Side:
    try:
        return Side(str(value).upper())
    except ValueError:
        raise ProtocolError(f"{what}: expected BUY or SELL, got {value!r}") from None


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    return default if value is None else str(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def order_id_key(value: Any) -> str:
    """An order id in the one form we compare: order ids are 0x hex hashes, and hex is not
    case-sensitive, so an exchange that answered in upper case must not look like a stranger."""
    text = "" if value is None else str(value).strip()
    return text.lower() if text[:2] in ("0x", "0X") else text


def _order_id(data: Mapping[str, Any], key: str) -> str:
    return order_id_key(data.get(key))


# --- parsers ---------------------------------------------------------------------------------


def parse_order_result(data: Any) -> OrderResult:
    item = require_dict(data, "an order post result")
    return OrderResult(
        success=bool(item.get("success", False)),
        error_msg=_str(item, "errorMsg") or _str(item, "error"),
        order_id=_order_id(item, "orderID"),
        status=_str(item, "status"),
        making_amount=optional_decimal(item.get("makingAmount"), "makingAmount"),
        taking_amount=optional_decimal(item.get("takingAmount"), "takingAmount"),
        trade_ids=_strings(item.get("tradeIDs", item.get("tradeIds"))),
        transaction_hashes=_strings(item.get("transactionsHashes", item.get("transactionHashes"))),
    )


def parse_cancel_result(data: Any) -> CancelResult:
    if data is None:  # some deployments answer an empty body when nothing matched
        return CancelResult()
    item = require_dict(data, "a cancel result")
    not_canceled = item.get("not_canceled", item.get("notCanceled")) or {}
    return CancelResult(
        canceled=tuple(order_id_key(v) for v in _strings(item.get("canceled") or [])),
        not_canceled={
            order_id_key(k): str(v)
            for k, v in require_dict(not_canceled, "not_canceled").items()
        },
    )


def _order_type(item: Mapping[str, Any]) -> OrderType:
    raw = item.get("order_type", item.get("type"))
    if raw in (None, ""):
        return OrderType.GTC
    try:
        return OrderType(str(raw).upper())
    except ValueError:
        raise ProtocolError(f"order {item.get('id')!r}: unknown order_type {raw!r}") from None


def _open_order_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    order_id = _order_id(item, "id")
    if not order_id:
        raise ProtocolError("an order without an id")
    where = f"order {order_id}"
    return {
        "order_id": order_id,
        "token_id": _str(item, "asset_id"),
        "side": to_side(item.get("side"), f"{where} side"),
        "price": to_decimal(item.get("price"), f"{where} price"),
        "original_size": to_decimal(item.get("original_size"), f"{where} original_size"),
        "size_matched": to_decimal(item.get("size_matched", "0"), f"{where} size_matched"),
        "created_at": to_int(item.get("created_at"), f"{where} created_at", default=0),
        "order_type": _order_type(item),
        "expiration": to_int(item.get("expiration"), f"{where} expiration", default=0),
        "status": _str(item, "status", "LIVE").upper(),
        "owner": _str(item, "owner"),
        "maker_address": _str(item, "maker_address"),
        "market": _str(item, "market"),
    }


def parse_open_order(data: Any) -> OpenOrder:
    return OpenOrder(**_open_order_fields(require_dict(data, "an open order")))


def parse_order_details(data: Any) -> OrderDetails:
    item = require_dict(data, "an order")
    return OrderDetails(
        **_open_order_fields(item),
        associate_trades=_strings(item.get("associate_trades")),
        outcome=_str(item, "outcome"),
    )


def parse_levels(data: Any, what: str) -> tuple[BookLevel, ...]:
    levels = require_list(data or [], what)
    return tuple(
        BookLevel(
            price=to_decimal(require_dict(level, what).get("price"), f"{what} price"),
            size=to_decimal(level.get("size"), f"{what} size"),
        )
        for level in levels
    )


def parse_order_book(data: Any) -> OrderBook:
    item = require_dict(data, "an order book")
    return OrderBook(
        market=_str(item, "market"),
        asset_id=_str(item, "asset_id"),
        timestamp=to_int(item.get("timestamp"), "book timestamp", default=0),
        bids=parse_levels(item.get("bids"), "bids"),
        asks=parse_levels(item.get("asks"), "asks"),
        min_order_size=to_decimal(item.get("min_order_size", "0"), "min_order_size"),
        tick_size=to_decimal(item.get("tick_size"), "tick_size"),
        neg_risk=bool(item.get("neg_risk", False)),
        last_trade_price=optional_decimal(item.get("last_trade_price"), "last_trade_price"),
        hash=_str(item, "hash"),
    )


def _parse_maker_order(data: Any) -> MakerOrder:
    item = require_dict(data, "a maker order")
    side = item.get("side")
    return MakerOrder(
        order_id=_order_id(item, "order_id"),
        owner=_str(item, "owner"),
        maker_address=_str(item, "maker_address"),
        matched_amount=to_decimal(item.get("matched_amount", "0"), "matched_amount"),
        price=to_decimal(item.get("price", "0"), "maker price"),
        asset_id=_str(item, "asset_id"),
        side=to_side(side, "maker side") if side else None,
        outcome=_str(item, "outcome"),
        fee_rate_bps=to_int(item.get("fee_rate_bps"), "fee_rate_bps", default=0),
    )


def parse_trade(data: Any) -> Trade:
    item = require_dict(data, "a trade")
    trade_id = _str(item, "id")
    where = f"trade {trade_id}"
    return Trade(
        id=trade_id,
        taker_order_id=_order_id(item, "taker_order_id"),
        market=_str(item, "market"),
        asset_id=_str(item, "asset_id"),
        side=to_side(item.get("side"), f"{where} side"),
        size=to_decimal(item.get("size"), f"{where} size"),
        price=to_decimal(item.get("price"), f"{where} price"),
        status=_str(item, "status").upper(),
        match_time=to_int(item.get("match_time"), f"{where} match_time", default=0),
        owner=_str(item, "owner"),
        maker_address=_str(item, "maker_address"),
        trader_side=_str(item, "trader_side"),
        transaction_hash=_str(item, "transaction_hash"),
        outcome=_str(item, "outcome"),
        bucket_index=to_int(item.get("bucket_index"), f"{where} bucket_index", default=0),
        fee_rate_bps=to_int(item.get("fee_rate_bps"), f"{where} fee_rate_bps", default=0),
        last_update=to_int(item.get("last_update"), f"{where} last_update", default=0),
        maker_orders=tuple(_parse_maker_order(m) for m in item.get("maker_orders") or []),
    )


def parse_page_envelope(data: Any, what: str) -> tuple[list[Any], str, int | None, int | None]:
    """(data, next_cursor, limit, count) of a paginated answer; a missing cursor is an error."""
    item = require_dict(data, what)
    cursor = item.get("next_cursor")
    if not isinstance(cursor, str) or not cursor:
        raise ProtocolError(f"{what}: the page has no next_cursor, so completeness is unknown")
    limit = item.get("limit")
    count = item.get("count")
    return (
        require_list(item.get("data") or [], f"{what} data"),
        cursor,
        None if limit is None else to_int(limit, "limit"),
        None if count is None else to_int(count, "count"),
    )


def parse_balance_allowance(data: Any) -> BalanceAllowance:
    item = require_dict(data, "a balance/allowance answer")
    allowances = item.get("allowances")
    if allowances is None and "allowance" in item:  # older single-spender shape
        allowances = {"": item["allowance"]}
    return BalanceAllowance(
        balance=to_int(item.get("balance"), "balance"),
        allowances={
            str(k): to_int(v, f"allowance {k}")
            for k, v in require_dict(allowances or {}, "allowances").items()
        },
    )


def parse_notification(data: Any) -> Notification:
    item = require_dict(data, "a notification")
    payload = item.get("payload") or {}
    return Notification(
        id=_str(item, "id"),
        type=to_int(item.get("type"), "notification type"),
        owner=_str(item, "owner"),
        payload=require_dict(payload, "notification payload"),
    )
