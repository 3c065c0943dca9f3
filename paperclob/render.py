"""JSON shapes the exchange answers with (clob-v1-wire.md 3.2, 6.3, 7.2, 7.3; clob-v2-wire.md 2.2).

Human amounts are decimal strings (`"100"`, `"47.1698"`); prices keep the grid's text (`"0.52"`).
`dumps` writes compact JSON and renders `Decimal` values as JSON *numbers* with their exact
decimal text (`0.01`, never a binary float), for the few fields the exchange sends as numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from decimal import Decimal
from typing import Any

from paperclob.book import Order, OrderBook
from paperclob.engine import Execution, Trade
from paperclob.markets import Market
from paperclob.notify import fmt_units, market_payload

END_CURSOR = "LTE="
# Wraps a Decimal's text while json encodes; random so no request text can forge it.
_MARK = "\u0000" + secrets.token_hex(8)
_QUOTED_MARK = json.dumps(_MARK)[1:-1]


def _mark_decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_MARK}{value.normalize():f}{_MARK}"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(payload: Any) -> bytes:
    text = json.dumps(payload, separators=(",", ":"), default=_mark_decimal)
    if _QUOTED_MARK in text:
        # A marked Decimal became the JSON string "<mark><digits><mark>": unquote it.
        text = text.replace('"' + _QUOTED_MARK, "").replace(_QUOTED_MARK + '"', "")
    return text.encode()


def encode_cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """Offset of a `next_cursor`; -1 for the end sentinel; ValueError when malformed."""
    try:
        offset = int(base64.b64decode(cursor.encode(), validate=True).decode())
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid next_cursor {cursor!r}") from None
    if offset < -1:
        raise ValueError(f"invalid next_cursor {cursor!r}")
    return offset


def page(
    items: list[Any], *, cursor: str, size: int, end: str = END_CURSOR
) -> tuple[list[Any], dict[str, Any]]:
    """The slice of `items` a cursor names, and the paging keys of the answer.

    `end` is the cursor of the last page: `LTE=`, or `""` as the OpenAPI's OrdersResponse says.
    """
    offset = decode_cursor(cursor or "MA==")
    if offset < 0:
        return [], {"next_cursor": end, "limit": size, "count": 0}
    chunk = items[offset : offset + size]
    after = offset + size
    next_cursor = encode_cursor(after) if after < len(items) else end
    return chunk, {"next_cursor": next_cursor, "limit": size, "count": len(chunk)}


def order_json(order: Order, *, prefixed: bool = False) -> dict[str, Any]:
    """An order object; `prefixed` spells the status `ORDER_STATUS_LIVE` (the OpenAPI) instead
    of `LIVE` (seen live)."""
    return {
        "id": order.order_id,
        "status": f"ORDER_STATUS_{order.status}" if prefixed else order.status,
        "owner": order.owner,
        "maker_address": order.maker,
        "market": order.condition_id,
        "asset_id": order.token_id,
        "side": order.side.value,
        "original_size": fmt_units(order.original),
        "size_matched": fmt_units(order.matched),
        "price": f"{order.price:f}",
        "associate_trades": list(order.trade_ids),
        "outcome": order.outcome,
        "created_at": order.created_at,
        "expiration": str(order.expiration),
        "order_type": order.order_type,
    }


def post_result(execution: Execution, *, known_hashes: list[str]) -> dict[str, Any]:
    """The place answer. Since 2026-07-24 a FAK/FOK match carries `tradeIDs` and no
    `transactionsHashes` (clob-v2-wire.md 2.8); a GTC/GTD answer lists the hashes of its trades
    that are already mined (none, unless the settle delay is 0)."""
    order = execution.order
    matched = bool(execution.trades)
    answer: dict[str, Any] = {
        "success": True,
        "errorMsg": "",
        "orderID": order.order_id,
        "status": "matched" if matched else ("live" if order.status == "LIVE" else "unmatched"),
        "makingAmount": fmt_units(execution.making) if matched else "",
        "takingAmount": fmt_units(execution.taking) if matched else "",
        "tradeIDs": [t.trade_id for t in execution.trades],
    }
    if order.order_type not in ("FAK", "FOK"):
        answer["transactionsHashes"] = known_hashes
    return answer


def post_only_entry(message: str) -> dict[str, Any]:
    """A `POST /orders` entry refused by post-only mode (the OpenAPI's form)."""
    return {
        "success": True,
        "orderID": "",
        "status": "",
        "makingAmount": "",
        "takingAmount": "",
        "errorMsg": message,
    }


def post_error(message: str, *, success: bool = False) -> dict[str, Any]:
    """A refused `POST /orders` entry: errorMsg set, orderID and status empty (clob-v1-wire.md
    6.3). `success` is what the docs' table gives for the code (true for a duplicate)."""
    return {
        "success": success,
        "errorMsg": message,
        "orderID": "",
        "status": "",
        "makingAmount": "",
        "takingAmount": "",
        "transactionsHashes": [],
        "tradeIDs": [],
    }


def trade_json(
    trade: Trade, *, viewer: str, status: str, transaction_hash: str, last_update: int
) -> dict[str, Any]:
    """A trade as `viewer` (a lowercase address) sees it: as its taker, or as one of its makers.

    `status` is already in the REST spelling (`TRADE_STATUS_CONFIRMED` or plain)."""
    taker = trade.taker
    is_taker = taker.address == viewer
    fills = trade.makers if is_taker else [f for f in trade.makers if f.order.address == viewer]
    owner = taker.owner if is_taker else (fills[0].order.owner if fills else taker.owner)
    maker_address = taker.maker if is_taker else (fills[0].order.maker if fills else "")
    return {
        "id": trade.trade_id,
        "taker_order_id": taker.order_id,
        "market": taker.condition_id,
        "asset_id": taker.token_id,
        "side": taker.side.value,
        "size": fmt_units(trade.size),
        "fee_rate_bps": "0",
        "price": f"{trade.price:f}",
        "status": status,
        "match_time": str(trade.match_time),
        "last_update": str(last_update),
        "outcome": taker.outcome,
        "bucket_index": 0,
        "owner": owner,
        "maker_address": maker_address,
        "transaction_hash": transaction_hash,
        "err_msg": "settlement failed" if status.endswith("FAILED") else None,
        "trader_side": "TAKER" if is_taker else "MAKER",
        "maker_orders": [
            {
                "order_id": f.order.order_id,
                "owner": f.order.owner,
                "maker_address": f.order.maker,
                "matched_amount": fmt_units(f.units),
                "price": f"{f.order.price:f}",
                "fee_rate_bps": "0",
                "asset_id": f.order.token_id,
                "outcome": f.order.outcome,
                "side": f.order.side.value,
            }
            for f in fills
        ],
    }


def book_json(book: OrderBook, market: Market, *, now_ms: int, last_trade: str) -> dict[str, Any]:
    """Every key the SDK's parser indexes; bids ascending and asks descending (best last)."""
    bids = [{"price": f"{p:f}", "size": fmt_units(u)} for p, u in book.bids.aggregated()]
    asks = [{"price": f"{p:f}", "size": fmt_units(u)} for p, u in reversed(book.asks.aggregated())]
    summary: dict[str, Any] = {
        "market": market.condition_id,
        "asset_id": market.token_id,
        "timestamp": str(now_ms),
        "hash": "",
        "bids": bids,
        "asks": asks,
        "min_order_size": f"{market.min_order_size.normalize():f}",
        "tick_size": f"{market.tick_size.normalize():f}",
        "neg_risk": market.neg_risk,
        "last_trade_price": last_trade,
    }
    # The server-compatible hash the SDK recomputes: SHA-1 of the compact JSON, hash left empty.
    summary["hash"] = hashlib.sha1(
        json.dumps(summary, separators=(",", ":")).encode(), usedforsecurity=False
    ).hexdigest()
    return summary


def clob_market_json(condition_id: str, markets: list[Market]) -> dict[str, Any]:
    """The compact market parameters V2 SDKs read, keys as the OpenAPI's ClobMarketDetails
    defines them (clob-v2-wire.md 2.2): `oas` the minimum order age in seconds, `itode` only
    when on, `gst` the game start time, `r` the rewards configuration."""
    first = markets[0]
    details: dict[str, Any] = {
        "t": [{"t": m.token_id, "o": m.outcome} for m in markets],
        "mts": first.tick_size,
        "mos": first.min_order_size,
        "nr": first.neg_risk,
        "fd": {"r": 0, "e": 0, "to": True},
        "mbf": first.base_fee_bps,
        "tbf": first.base_fee_bps,
        "rfqe": False,
        "ibce": False,
        "oas": first.min_order_age_s,
        "gst": first.game_start_time,
        "r": first.rewards,
    }
    if first.taker_delay:
        details["itode"] = True
    return details


def market_json(condition_id: str, markets: list[Market]) -> dict[str, Any]:
    """GET /markets/{condition_id}: the CLOB market object."""
    return market_payload(condition_id, markets)


def stream_order_json(order: Order, *, kind: str, status: str, timestamp: str) -> dict[str, Any]:
    """An `order` event of the user channel (clob-v2-wire.md 2.14): PLACEMENT, UPDATE or
    CANCELLATION, with the order's state as it is now."""
    return {
        "event_type": "order",
        "id": order.order_id,
        "owner": order.owner,
        "order_owner": order.owner,
        "market": order.condition_id,
        "asset_id": order.token_id,
        "side": order.side.value,
        "original_size": fmt_units(order.original),
        "size_matched": fmt_units(order.matched),
        "price": f"{order.price:f}",
        "associate_trades": list(order.trade_ids) or None,
        "outcome": order.outcome,
        "type": kind,
        "created_at": str(order.created_at),
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "status": status,
        "maker_address": order.maker,
        "timestamp": timestamp,
    }
