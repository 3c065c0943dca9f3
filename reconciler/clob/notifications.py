"""GET /notifications: the envelope, the 11 types of 2.12, and their payloads.

Envelope: `{"id": int (or a numeric string), "owner": api key ("" for broadcasts), "type": int,
"payload": {...}, "timestamp": unix seconds or ISO-8601}`. The list is parsed item by item:
an item whose `type` is not one of 1-11 is skipped (and logged at debug), so a type added
later does not stop the daemon reading the fills it needs. An item of a known type that cannot
be trusted raises `ProtocolError`, naming its id: for an order payload (1, 2, 8) that is the
rule that no fill is recorded from a garbled answer.

Order payloads (1, 2, 8) are typed in `OrderNotice`; `type` inside them is the ORDER type
(GTC/GTD/FAK/FOK, absent or "" on old notifications). Market payloads (3, 4) are typed in
`MarketNotice`. The others (5, 6, 7, 9, 10, 11) are display data: their payload is kept as the
mapping it came as. `Notification.payload` keeps the raw mapping for every type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from reconciler.clob.errors import ProtocolError
from reconciler.clob.parsing import (
    opt_str,
    order_hash,
    require_dict,
    require_list,
    to_int,
    to_price,
    to_side,
    to_size,
)
from reconciler.model import NotificationType, OrderType, Side

log = logging.getLogger(__name__)


ORDER_NOTIFICATIONS = frozenset(
    {
        NotificationType.ORDER_CANCELLATION,
        NotificationType.ORDER_FILL,
        NotificationType.ORDER_FILL_FAILED,
    }
)
MARKET_NOTIFICATIONS = frozenset(
    {NotificationType.MARKET_REGISTERED, NotificationType.MARKET_RESOLVED}
)


@dataclass(frozen=True)
class OrderNotice:
    """The order payload of types 1, 2 and 8."""

    order_id: str
    asset_id: str
    market: str
    side: Side
    price: Decimal
    original_size: Decimal
    matched_size: Decimal
    remaining_size: Decimal
    order_type: OrderType | None = None  # the payload's `type`; None on old notifications
    outcome: str = ""
    outcome_index: int | None = None
    transaction_hash: str = ""  # fills only
    trade_id: str = ""  # fills only


@dataclass(frozen=True)
class MarketNotice:
    """The market payload of types 3 and 4 (the fields the daemon may act on)."""

    condition_id: str
    question: str = ""
    closed: bool = False
    accepting_orders: bool = True
    winners: tuple[str, ...] = ()  # token ids with `winner: true`
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notification:
    id: str
    type: NotificationType
    owner: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    timestamp: int | None = None  # unix seconds, when the envelope carried a readable one
    order: OrderNotice | None = None  # types 1, 2, 8
    market: MarketNotice | None = None  # types 3, 4


def _order_type(raw: Any, where: str) -> OrderType | None:
    """The payload's `type`: GTC/GTD/FAK/FOK. It may be absent or "" on old notifications, and
    2.12/§5 say to accept values not in the enumeration: those read as None (unknown), since
    nothing acts on the order type of a notification."""
    if raw is None or raw == "":
        return None
    try:
        return OrderType(str(raw).strip().upper())
    except ValueError:
        log.debug("%s: order type %r is not GTC/GTD/FAK/FOK; read as unknown", where, raw)
        return None


def parse_order_notice(payload: Mapping[str, Any], where: str) -> OrderNotice:
    original = to_size(payload.get("original_size"), f"{where} original_size")
    matched = to_size(payload.get("matched_size", "0"), f"{where} matched_size")
    remaining = to_size(payload.get("remaining_size", original - matched), f"{where} remaining")
    if matched > original or remaining > original:
        raise ProtocolError(
            f"{where}: matched_size {matched} or remaining_size {remaining} is above "
            f"original_size {original}"
        )
    index = payload.get("outcome_index")
    return OrderNotice(
        order_id=order_hash(payload.get("order_id"), f"{where} order_id"),
        asset_id=opt_str(payload, "asset_id"),
        market=opt_str(payload, "market"),
        side=to_side(payload.get("side"), f"{where} side"),
        price=to_price(payload.get("price"), f"{where} price"),
        original_size=original,
        matched_size=matched,
        remaining_size=remaining,
        order_type=_order_type(payload.get("type"), where),
        outcome=opt_str(payload, "outcome"),
        outcome_index=None if index in (None, "") else to_int(index, f"{where} outcome_index"),
        transaction_hash=opt_str(payload, "transaction_hash"),
        trade_id=opt_str(payload, "trade_id"),
    )


def parse_market_notice(payload: Mapping[str, Any], where: str) -> MarketNotice:
    listed = require_list(payload.get("tokens") or [], f"{where} tokens")
    tokens = [require_dict(t, f"{where} token") for t in listed]
    return MarketNotice(
        condition_id=opt_str(payload, "condition_id"),
        question=opt_str(payload, "question"),
        closed=payload.get("closed") is True,
        accepting_orders=payload.get("accepting_orders") is not False,
        winners=tuple(opt_str(t, "token_id") for t in tokens if t.get("winner") is True),
        tokens=tuple(opt_str(t, "token_id") for t in tokens),
    )


def _timestamp(raw: Any) -> int | None:
    """Unix seconds from seconds, milliseconds (by size, as the SDK guesses) or ISO-8601."""
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    try:
        number = int(Decimal(str(raw).strip()))
    except ArithmeticError:
        try:
            return int(datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return number // 1000 if number > 10**11 else number


def notification_type(raw: Any) -> NotificationType | None:
    """The type, or None when it is not one of 1-11 (such an item is skipped)."""
    try:
        return NotificationType(to_int(raw, "notification type"))
    except (ProtocolError, ValueError):
        return None


def parse_notification(data: Any) -> Notification | None:
    """One notification, or None when its type is unknown (skip it)."""
    item = require_dict(data, "a notification")
    raw_id = item.get("id")
    if raw_id is None or raw_id == "" or isinstance(raw_id, bool):
        raise ProtocolError("a notification without an id")
    note_id = str(to_int(raw_id, "notification id"))
    kind = notification_type(item.get("type"))
    if kind is None:
        log.debug("notification %s: unknown type %r, skipped", note_id, item.get("type"))
        return None
    where = f"notification {note_id} (type {int(kind)})"
    payload = require_dict(item.get("payload") or {}, f"{where} payload")
    return Notification(
        id=note_id,
        type=kind,
        owner=opt_str(item, "owner"),
        payload=payload,
        timestamp=_timestamp(item.get("timestamp")),
        order=parse_order_notice(payload, where) if kind in ORDER_NOTIFICATIONS else None,
        market=parse_market_notice(payload, where) if kind in MARKET_NOTIFICATIONS else None,
    )


def parse_notifications(data: Any) -> list[Notification]:
    """Every notification of a GET /notifications answer (a list, or `{"data": [...]}`)."""
    if isinstance(data, dict) and "data" in data:
        data = data["data"]
    items = require_list(data if data is not None else [], "notifications")
    parsed = (parse_notification(item) for item in items)
    return [note for note in parsed if note is not None]


__all__ = [
    "MARKET_NOTIFICATIONS",
    "ORDER_NOTIFICATIONS",
    "MarketNotice",
    "Notification",
    "NotificationType",
    "OrderNotice",
    "parse_notification",
    "parse_notifications",
]
