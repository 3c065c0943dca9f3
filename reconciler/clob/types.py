"""Typed results of the CLOB client, and the parsers that build them from the exchange's JSON.

Every value is a frozen dataclass built once and valid from then on: money is `Decimal` (prices,
sizes, human-unit amounts) or `int` base units (balances, 6 decimals), sides are `model.Side`,
timestamps are ints. A parser that meets a shape it cannot trust raises `ProtocolError` instead of
guessing: a garbled open-orders page must abort a tick, never read as fewer orders (STYLE 6).

Open orders are returned as `model.OpenOrder`, the type the planner consumes; `OrderDetails`
(GET /data/order/{id}) is an `OpenOrder` with the extra fields that endpoint carries.

What is checked before anything may act on an answer (DESIGN invariant 9): sizes and prices are
finite non-negative decimals (prices at most 1), `size_matched` <= `original_size`, the side is
BUY or SELL, an order id is a 32-byte hash (0x + 64 hex, kept in lower case), statuses are from
the reference's sets (`statuses`), and required fields are present. The callers check what
depends on the question (the token or id asked for).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from reconciler.clob.errors import ProtocolError
from reconciler.clob.modes import restriction_in_text
from reconciler.clob.notifications import Notification as Notification
from reconciler.clob.notifications import parse_notification as parse_notification
from reconciler.clob.parsing import END_CURSOR as END_CURSOR
from reconciler.clob.parsing import INITIAL_CURSOR as INITIAL_CURSOR
from reconciler.clob.parsing import (
    is_end_cursor,
    optional_decimal,
    optional_order_hash,
    order_hash,
    require_dict,
    require_key,
    require_list,
    strings,
    to_int,
    to_price,
    to_side,
    to_size,
)
from reconciler.clob.parsing import opt_str as _str
from reconciler.clob.parsing import order_id_key as order_id_key
from reconciler.clob.parsing import to_decimal as to_decimal
from reconciler.clob.signing import SignedOrder
from reconciler.clob.statuses import (
    ExchangeOrderStatus,
    TradeStatus,
    order_status,
    place_status,
    trade_status,
)
from reconciler.model import OpenOrder, OrderType, Side, TradingRestriction

T = TypeVar("T")

# `order_id_key`, `require_dict`, `to_int` ... are re-exported from `parsing` for older imports.


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
    order_id: str  # an order hash, or "" on a refused entry
    status: str  # normalised to lower case: live | matched | delayed | unmatched | "" on failure
    making_amount: Decimal | None = None  # human units, None when nothing filled
    taking_amount: Decimal | None = None
    trade_ids: tuple[str, ...] = ()
    transaction_hashes: tuple[str, ...] = ()  # absent since 2026-07-24 for FAK/FOK (2.8)
    restriction: TradingRestriction | None = None  # e.g. the post-only batch-entry refusal

    @property
    def order_status(self) -> ExchangeOrderStatus | None:
        return ExchangeOrderStatus(self.status.upper()) if self.status else None

    @property
    def ok(self) -> bool:
        """Placed (resting or matched): the exchange gave an order ID and no error text."""
        return self.success and not self.error_msg and bool(self.order_id)


@dataclass(frozen=True)
class CancelResult:
    """`{canceled: [...], not_canceled: {id: reason}}` from every cancel endpoint.

    `never_sent` is ours, not the exchange's: in the `.partial` of a split cancel that failed
    part way, the ids no request carried (certainly not cancelled by this call)."""

    canceled: tuple[str, ...] = ()
    not_canceled: Mapping[str, str] = field(default_factory=dict)
    never_sent: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderDetails(OpenOrder):
    """One order from GET /data/order/{id}, in any state (LIVE, MATCHED, CANCELED ...)."""

    associate_trades: tuple[str, ...] = ()  # deprecated from 2026-12-14: may be empty (2.9)
    outcome: str = ""
    status_reason: str = ""  # the <REASON> of CANCELED_<REASON>, e.g. EXPIRED_ORDER


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
    status: TradeStatus
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
    error: str = ""  # err_msg: why settlement failed or is retrying


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paginated read."""

    items: tuple[T, ...]
    next_cursor: str
    limit: int | None = None
    count: int | None = None

    @property
    def is_last(self) -> bool:
        return is_end_cursor(self.next_cursor)


@dataclass(frozen=True)
class BalanceAllowance:
    """GET /balance-allowance: balance and allowances in integer base units (6 decimals)."""

    balance: int
    allowances: Mapping[str, int] = field(default_factory=dict)

    @property
    def balance_decimal(self) -> Decimal:
        return Decimal(self.balance) / Decimal(1_000_000)


@dataclass(frozen=True)
class HeartbeatResult:
    heartbeat_id: str
    status: str = ""


# --- parsers ---------------------------------------------------------------------------------


def parse_order_result(data: Any) -> OrderResult:
    item = require_dict(data, "an order post result")
    error_msg = _str(item, "errorMsg") or _str(item, "error")
    status = place_status(item.get("status"))
    success = item.get("success", False)
    if not isinstance(success, bool):
        raise ProtocolError(f"an order post result: success must be true or false: {success!r}")
    return OrderResult(
        success=success,
        error_msg=error_msg,
        order_id=optional_order_hash(item.get("orderID"), "orderID"),
        status=status.value.lower() if status is not None else "",
        making_amount=optional_decimal(item.get("makingAmount"), "makingAmount"),
        taking_amount=optional_decimal(item.get("takingAmount"), "takingAmount"),
        trade_ids=strings(item.get("tradeIDs", item.get("tradeIds"))),
        transaction_hashes=strings(item.get("transactionsHashes", item.get("transactionHashes"))),
        restriction=restriction_in_text(error_msg) if error_msg else None,
    )


def parse_cancel_result(data: Any) -> CancelResult:
    if data is None:  # some deployments answer an empty body when nothing matched
        return CancelResult()
    item = require_dict(data, "a cancel result")
    not_canceled = item.get("not_canceled", item.get("notCanceled")) or {}
    canceled = require_list(item.get("canceled") or [], "canceled")
    return CancelResult(
        canceled=tuple(order_hash(v, "a canceled id") for v in canceled),
        not_canceled={
            order_hash(k, "a not_canceled id"): str(v)
            for k, v in require_dict(not_canceled, "not_canceled").items()
        },
    )


def _order_type(item: Mapping[str, Any], where: str) -> OrderType:
    raw = item.get("order_type", item.get("type"))
    if raw in (None, ""):
        return OrderType.GTC
    try:
        return OrderType(str(raw).strip().upper())
    except ValueError:
        raise ProtocolError(f"{where}: unknown order_type {raw!r}") from None


def _open_order_fields(item: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    order_id = order_hash(item.get("id"), "an order's id")
    where = f"order {order_id}"
    original = to_size(require_key(item, "original_size", where), f"{where} original_size")
    matched = to_size(require_key(item, "size_matched", where), f"{where} size_matched")
    if matched > original:
        raise ProtocolError(
            f"{where}: size_matched {matched} is above original_size {original}; not acting "
            "on an order that filled more than its size"
        )
    token_id = _str(item, "asset_id").strip()
    if not token_id:
        raise ProtocolError(f"{where}: the answer has no 'asset_id'")
    status, reason = order_status(require_key(item, "status", where), f"{where} status")
    fields = {
        "order_id": order_id,
        "token_id": token_id,
        "side": to_side(item.get("side"), f"{where} side"),
        "price": to_price(require_key(item, "price", where), f"{where} price"),
        "original_size": original,
        "size_matched": matched,
        "created_at": to_int(item.get("created_at"), f"{where} created_at", default=0),
        "order_type": _order_type(item, where),
        "expiration": to_int(item.get("expiration"), f"{where} expiration", default=0),
        "status": status,
        "owner": _str(item, "owner"),
        "maker_address": _str(item, "maker_address"),
        "market": _str(item, "market"),
    }
    return fields, reason


def parse_open_order(data: Any) -> OpenOrder:
    fields, _reason = _open_order_fields(require_dict(data, "an open order"))
    return OpenOrder(**fields)


def parse_order_details(data: Any) -> OrderDetails:
    item = require_dict(data, "an order")
    fields, reason = _open_order_fields(item)
    return OrderDetails(
        **fields,
        associate_trades=strings(item.get("associate_trades")),
        outcome=_str(item, "outcome"),
        status_reason=reason,
    )


def parse_levels(data: Any, what: str) -> tuple[BookLevel, ...]:
    levels = require_list(data or [], what)
    return tuple(
        BookLevel(
            price=to_price(require_dict(level, what).get("price"), f"{what} price"),
            size=to_size(level.get("size"), f"{what} size"),
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
        min_order_size=to_size(item.get("min_order_size", "0"), "min_order_size"),
        tick_size=to_size(item.get("tick_size"), "tick_size"),
        neg_risk=bool(item.get("neg_risk", False)),
        last_trade_price=optional_decimal(item.get("last_trade_price"), "last_trade_price"),
        hash=_str(item, "hash"),
    )


def _parse_maker_order(data: Any) -> MakerOrder:
    item = require_dict(data, "a maker order")
    side = item.get("side")
    return MakerOrder(
        order_id=order_hash(item.get("order_id"), "a maker order's order_id"),
        owner=_str(item, "owner"),
        maker_address=_str(item, "maker_address"),
        matched_amount=to_size(item.get("matched_amount", "0"), "matched_amount"),
        price=to_price(item.get("price", "0"), "maker price"),
        asset_id=_str(item, "asset_id"),
        side=to_side(side, "maker side") if side else None,
        outcome=_str(item, "outcome"),
        fee_rate_bps=to_int(item.get("fee_rate_bps"), "fee_rate_bps", default=0),
    )


def parse_trade(data: Any) -> Trade:
    item = require_dict(data, "a trade")
    trade_id = _str(item, "id").strip()
    if not trade_id:
        raise ProtocolError("a trade without an id")
    where = f"trade {trade_id}"
    return Trade(
        id=trade_id,
        taker_order_id=optional_order_hash(item.get("taker_order_id"), f"{where} taker_order_id"),
        market=_str(item, "market"),
        asset_id=_str(item, "asset_id"),
        side=to_side(item.get("side"), f"{where} side"),
        size=to_size(require_key(item, "size", where), f"{where} size"),
        price=to_price(require_key(item, "price", where), f"{where} price"),
        status=trade_status(require_key(item, "status", where), f"{where} status"),
        match_time=to_int(item.get("match_time"), f"{where} match_time", default=0),
        owner=_str(item, "owner"),
        maker_address=_str(item, "maker_address"),
        trader_side=_str(item, "trader_side"),
        transaction_hash=_str(item, "transaction_hash"),
        outcome=_str(item, "outcome"),
        bucket_index=to_int(item.get("bucket_index"), f"{where} bucket_index", default=0),
        fee_rate_bps=to_int(item.get("fee_rate_bps"), f"{where} fee_rate_bps", default=0),
        last_update=to_int(item.get("last_update"), f"{where} last_update", default=0),
        maker_orders=tuple(
            _parse_maker_order(m) for m in require_list(item.get("maker_orders") or [], where)
        ),
        error=_str(item, "err_msg"),
    )


def parse_page_envelope(data: Any, what: str) -> tuple[list[Any], str, int | None, int | None]:
    """(data, next_cursor, limit, count) of a paginated answer. The cursor comes back as
    `END_CURSOR` when the page says it is the last (`LTE=`, `""` or no cursor: 2.9); `data`
    itself must be there and be an array (2.9: `{data, next_cursor, limit, count}`; the SDKs
    concatenate it as a list), or completeness is unknown: `null`, `{}`, `false`, `0` or `""`
    is not "an empty page", it is an answer we cannot read."""
    item = require_dict(data, what)
    if "data" not in item:
        raise ProtocolError(f"{what}: the page has no 'data', so completeness is unknown")
    items = item["data"]
    if not isinstance(items, list):
        raise ProtocolError(
            f"{what}: the page's 'data' is {items!r:.40}, not an "
            "array, so completeness is unknown; not reading it as an empty page"
        )
    cursor = item.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ProtocolError(f"{what}: next_cursor is not a string: {cursor!r}")
    limit = item.get("limit")
    count = item.get("count")
    return (
        items,
        END_CURSOR if is_end_cursor(cursor) else str(cursor),
        None if limit is None else to_int(limit, "limit"),
        None if count is None else to_int(count, "count"),
    )


def parse_balance_allowance(data: Any) -> BalanceAllowance:
    item = require_dict(data, "a balance/allowance answer")
    allowances = item.get("allowances")
    if allowances is None and "allowance" in item:  # older single-spender shape
        allowances = {"": item["allowance"]}
    balance = to_int(item.get("balance"), "balance")
    if balance < 0:
        raise ProtocolError(f"balance: must not be negative, got {balance}")
    return BalanceAllowance(
        balance=balance,
        allowances={
            str(k): to_int(v, f"allowance {k}")
            for k, v in require_dict(allowances or {}, "allowances").items()
        },
    )
