"""The messages of the exchange's WebSocket channels, typed, and their strict parsers.

Shapes from clob-v2-wire.md 2.14 (the docs' user-channel and market-channel pages, the
asyncapi-user schema, the unified SDK's stream models); status vocabularies from 2.12.

User channel (`/ws/user`): `order` events (`type` PLACEMENT, UPDATE or CANCELLATION) and `trade`
events (the same trade id again each time its status moves: MATCHED, MINED, CONFIRMED, or
RETRYING then FAILED). Market channel (`/ws/market`): `book` (a full snapshot) and
`tick_size_change`, which the daemon acts on, and the other documented events (`price_change`,
`last_trade_price`, `best_bid_ask`, `new_market`, `market_resolved`), which it reads and ignores.

A frame carries one event object or a JSON array of them; both are accepted. Nothing read is
trusted (DESIGN invariant 9): a frame that is not JSON, an event without `event_type` or with
one the channel does not send, a missing required key, an order id that is not a hash, a
negative or non-numeric size, `size_matched` above `original_size`, a price above 1, an
unknown status: each raises `ProtocolError` for the whole frame. The caller (the daemon) treats
that as a broken stream: it drops the connection and sweeps everything over REST, and never
records anything from that frame.

Where sources differ, both forms are accepted: `timestamp` in seconds or milliseconds (the
schema says ms, its examples s; told apart by size, as the SDK does), `token_id` for
`asset_id`, `matchtime` for `match_time`, prices without a leading zero (`.48`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reconciler.clob.errors import ProtocolError
from reconciler.clob.parsing import (
    opt_str,
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
from reconciler.clob.statuses import ExchangeOrderStatus, order_status
from reconciler.clob.types import BookLevel, Trade, parse_levels, parse_trade
from reconciler.model import Side

USER = "user"
MARKET = "market"
CHANNELS = (USER, MARKET)

#: A timestamp below this is in seconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 10**11
#: Order types the stream may name (2.14: the asyncapi lists GTC, GTD, FOK; the SDK adds FAK, IOC).
ORDER_TYPES = frozenset({"GTC", "GTD", "FOK", "FAK", "IOC"})
#: Market-channel events read and not acted on (2.14, "Other events").
OTHER_MARKET_EVENTS = frozenset(
    {"price_change", "last_trade_price", "best_bid_ask", "new_market", "market_resolved"}
)
_ORDER_REQUIRED = ("id", "owner", "market", "side", "original_size", "size_matched", "price",
                   "type", "timestamp")
_TRADE_REQUIRED = ("id", "taker_order_id", "market", "side", "size", "price", "status", "owner")
_MAKER_REQUIRED = ("order_id", "owner", "matched_amount", "price", "side")


class OrderEventType(StrEnum):
    PLACEMENT = "PLACEMENT"  # the order was placed
    UPDATE = "UPDATE"  # it changed, e.g. a match raised size_matched
    CANCELLATION = "CANCELLATION"  # it was removed


@dataclass(frozen=True)
class OrderEvent:
    """An `order` event of the user channel."""

    order_id: str
    owner: str  # the API key the event is for
    market: str  # condition id
    asset_id: str
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    kind: OrderEventType
    timestamp_ms: int
    status: ExchangeOrderStatus | None = None  # None when the event names none
    status_reason: str = ""  # the <REASON> of CANCELED_<REASON>
    order_type: str = ""
    created_at: int = 0
    associate_trades: tuple[str, ...] = ()  # may be null; deprecated from 2026-12-14 (2.9)
    outcome: str = ""
    maker_address: str = ""

    @property
    def token_ids(self) -> frozenset[str]:
        return frozenset({self.asset_id})


@dataclass(frozen=True)
class TradeEvent:
    """A `trade` event of the user channel: the trade as `GET /data/trades` gives it."""

    trade: Trade
    timestamp_ms: int

    @property
    def token_ids(self) -> frozenset[str]:
        """Every token the trade touches: the taker's, and each maker order's (a maker may
        rest on the complementary token of the same market)."""
        return frozenset({self.trade.asset_id, *(m.asset_id for m in self.trade.maker_orders
                                                 if m.asset_id)})


@dataclass(frozen=True)
class BookEvent:
    """A `book` snapshot of the market channel. Levels are kept as sent: their order differs
    between sources (2.14, section 5), so sort by price before relying on position."""

    asset_id: str
    market: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    timestamp_ms: int
    hash: str = ""

    @property
    def token_ids(self) -> frozenset[str]:
        return frozenset({self.asset_id})


@dataclass(frozen=True)
class TickSizeChange:
    """`tick_size_change`: from now on prices must be multiples of `new_tick_size`, and every
    cached tick of the market is stale."""

    asset_id: str
    market: str
    old_tick_size: Decimal
    new_tick_size: Decimal
    timestamp_ms: int

    @property
    def token_ids(self) -> frozenset[str]:
        return frozenset({self.asset_id})


@dataclass(frozen=True)
class OtherMarketEvent:
    """Another documented market-channel event; read, checked for its `event_type`, ignored."""

    event_type: str
    market: str

    @property
    def token_ids(self) -> frozenset[str]:
        return frozenset()


StreamEvent = OrderEvent | TradeEvent | BookEvent | TickSizeChange | OtherMarketEvent


# --- frames ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"a stream frame holds {name}, which is not a number")


def parse_frame(data: str | bytes, channel: str) -> list[StreamEvent]:
    """Every event in one frame of `channel` ("user" or "market"), or ProtocolError."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"a {channel} stream frame is not UTF-8 text") from None
    try:
        decoded = json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError(f"a {channel} stream frame is not JSON: {data[:80]!r}") from None
    items = decoded if isinstance(decoded, list) else [decoded]
    parse = _parse_user_event if channel == USER else _parse_market_event
    return [parse(require_dict(item, f"a {channel} stream event")) for item in items]


def _event_type(item: Mapping[str, Any], channel: str) -> str:
    kind = item.get("event_type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError(f"a {channel} stream event without an event_type: {_keys(item)}")
    return kind


def _parse_user_event(item: Mapping[str, Any]) -> StreamEvent:
    kind = _event_type(item, USER)
    if kind == "order":
        return parse_order_event(item)
    if kind == "trade":
        return parse_trade_event(item)
    raise ProtocolError(f"the user stream sent an event of unknown type {kind[:40]!r}")


def _parse_market_event(item: Mapping[str, Any]) -> StreamEvent:
    kind = _event_type(item, MARKET)
    if kind == "book":
        return parse_book_event(item)
    if kind == "tick_size_change":
        return parse_tick_size_change(item)
    if kind in OTHER_MARKET_EVENTS:
        return OtherMarketEvent(event_type=kind, market=opt_str(item, "market"))
    raise ProtocolError(f"the market stream sent an event of unknown type {kind[:40]!r}")


# --- user channel ----------------------------------------------------------------------------


def parse_order_event(data: Any) -> OrderEvent:
    item = require_dict(data, "an order event")
    order_id = order_hash(item.get("id"), "an order event's id")
    where = f"order event {order_id}"
    _require(item, _ORDER_REQUIRED, where)
    original = to_size(item["original_size"], f"{where} original_size")
    matched = to_size(item["size_matched"], f"{where} size_matched")
    if matched > original:
        raise ProtocolError(f"{where}: size_matched {matched} is above original_size {original}")
    try:
        kind = OrderEventType(str(item["type"]).strip().upper())
    except ValueError:
        raise ProtocolError(f"{where}: unknown order event type {item['type']!r}") from None
    status, reason = (None, "")
    if item.get("status") not in (None, ""):
        status, reason = order_status(item["status"], f"{where} status")
    order_type = opt_str(item, "order_type").strip().upper()
    if order_type and order_type not in ORDER_TYPES:
        raise ProtocolError(f"{where}: unknown order_type {order_type[:20]!r}")
    trades = item.get("associate_trades")
    return OrderEvent(
        order_id=order_id,
        owner=_text(item, "owner", where),
        market=_text(item, "market", where),
        asset_id=_asset_id(item, where),
        side=to_side(item["side"], f"{where} side"),
        price=to_price(item["price"], f"{where} price"),
        original_size=original,
        size_matched=matched,
        kind=kind,
        timestamp_ms=epoch_ms(item["timestamp"], f"{where} timestamp"),
        status=status,
        status_reason=reason,
        order_type=order_type,
        created_at=to_int(item.get("created_at"), f"{where} created_at", default=0),
        associate_trades=strings(require_list(trades, f"{where} associate_trades"))
        if trades is not None else (),
        outcome=opt_str(item, "outcome"),
        maker_address=opt_str(item, "maker_address"),
    )


def parse_trade_event(data: Any) -> TradeEvent:
    item = dict(require_dict(data, "a trade event"))
    trade_id = opt_str(item, "id").strip()
    where = f"trade event {trade_id[:80]!r}" if trade_id else "a trade event"
    if "asset_id" not in item and "token_id" in item:
        item["asset_id"] = item["token_id"]
    if "match_time" not in item and "matchtime" in item:
        item["match_time"] = item["matchtime"]
    _require(item, _TRADE_REQUIRED, where)
    if item.get("type") not in (None, "", "TRADE"):
        raise ProtocolError(f"{where}: type must be TRADE, got {str(item['type'])[:20]!r}")
    order_hash(item["taker_order_id"], f"{where} taker_order_id")
    _asset_id(item, where)
    _text(item, "owner", where)
    _text(item, "market", where)
    makers = []
    for raw in require_list(item.get("maker_orders") or [], f"{where} maker_orders"):
        maker = dict(require_dict(raw, f"{where} maker order"))
        if "asset_id" not in maker and "token_id" in maker:
            maker["asset_id"] = maker["token_id"]
        _require(maker, (*_MAKER_REQUIRED, "asset_id"), f"{where} maker order")
        makers.append(maker)
    item["maker_orders"] = makers
    trade = parse_trade(item)
    stamp = item.get("timestamp", item.get("last_update", item.get("match_time")))
    return TradeEvent(
        trade=trade,
        timestamp_ms=epoch_ms(stamp, f"{where} timestamp") if stamp not in (None, "") else 0,
    )


# --- market channel --------------------------------------------------------------------------


def parse_book_event(data: Any) -> BookEvent:
    item = require_dict(data, "a book event")
    where = "book event"
    asset_id = _asset_id(item, where)
    where = f"book event of {asset_id}"
    for side in ("bids", "asks"):
        require_list(require_key(item, side, where), f"{where} {side}")
    return BookEvent(
        asset_id=asset_id,
        market=_text(item, "market", where),
        bids=parse_levels(item["bids"], f"{where} bids"),
        asks=parse_levels(item["asks"], f"{where} asks"),
        timestamp_ms=epoch_ms(require_key(item, "timestamp", where), f"{where} timestamp"),
        hash=opt_str(item, "hash"),
    )


def parse_tick_size_change(data: Any) -> TickSizeChange:
    item = require_dict(data, "a tick_size_change event")
    asset_id = _asset_id(item, "tick_size_change")
    where = f"tick_size_change of {asset_id}"
    new = to_price(require_key(item, "new_tick_size", where), f"{where} new_tick_size")
    if new <= 0:
        raise ProtocolError(f"{where}: new_tick_size must be above 0")
    return TickSizeChange(
        asset_id=asset_id,
        market=_text(item, "market", where),
        old_tick_size=to_price(require_key(item, "old_tick_size", where),
                               f"{where} old_tick_size"),
        new_tick_size=new,
        timestamp_ms=epoch_ms(require_key(item, "timestamp", where), f"{where} timestamp"),
    )


# --- small readers ---------------------------------------------------------------------------


def epoch_ms(value: Any, what: str) -> int:
    """A unix time in seconds or milliseconds (2.14 accepts both), as milliseconds."""
    number = to_int(value, what)
    if number < 0:
        raise ProtocolError(f"{what}: a time must not be negative, got {value!r}")
    return number if number >= _MS_THRESHOLD else number * 1000


def _require(item: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    missing = [k for k in keys if item.get(k) is None]
    if missing:
        raise ProtocolError(f"{where}: the event has no {', '.join(map(repr, missing))}")


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{where}: {key!r} must be a non-empty string")
    return value.strip()


def _asset_id(item: Mapping[str, Any], where: str) -> str:
    """A token id: a decimal integer (as text), under `asset_id` or `token_id`."""
    value = item.get("asset_id", item.get("token_id"))
    text = value.strip() if isinstance(value, str) else ""
    if not text.isdigit() or len(text) > 78:
        raise ProtocolError(f"{where}: asset_id must be a token id (decimal digits), got "
                            f"{str(value)[:80]!r}")
    return text


def _keys(item: Mapping[str, Any]) -> str:
    return "keys " + ", ".join(sorted(str(k)[:20] for k in item)[:12])


__all__ = [
    "CHANNELS",
    "MARKET",
    "USER",
    "BookEvent",
    "OtherMarketEvent",
    "OrderEvent",
    "OrderEventType",
    "StreamEvent",
    "TickSizeChange",
    "TradeEvent",
    "epoch_ms",
    "parse_book_event",
    "parse_frame",
    "parse_order_event",
    "parse_tick_size_change",
    "parse_trade_event",
]
