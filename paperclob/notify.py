"""Notification payloads, types 1-11, as clob-v2-wire.md 2.12 lists them.

Envelope (state.Notification): `{"id": int, "owner": api key ("" for a broadcast), "type": int,
"payload": {...}, "timestamp": unix seconds}`.

* 1 ORDER_CANCELLATION, 2 ORDER_FILL, 8 ORDER_FILL_FAILED: the order payload (`order_payload`);
  `type` is the ORDER TYPE (GTC/GTD/FAK/FOK); `transaction_hash` and `trade_id` are set on fills
  (2 and 8) and `""` on cancellations. Reference silent on `matched_size`: on 2 and 8 it is the
  size of that fill, on 1 the order's total matched size.
* 3 MARKET_REGISTERED, 4 MARKET_RESOLVED: the market object (`market_payload`), with
  `tokens[].winner` marking the winner.
* 5, 6, 7, 9, 10, 11: the listed shapes; the paper exchange has no cause for them, so they are
  sent only by `POST /_admin/notifications` (defaults below, any key overridable).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from paperclob.book import Order
from paperclob.markets import Market

ORDER_CANCELLATION = 1
ORDER_FILL = 2
MARKET_REGISTERED = 3
MARKET_RESOLVED = 4
REWARD_PAYOUT = 5
CHILD_COMMENT_CREATED = 6
YIELD_PAYOUT = 7
ORDER_FILL_FAILED = 8
AUTO_REDEEMED = 9
COMBO_AUTO_REDEEMED = 10
TAKER_TIER_UPGRADED = 11
ORDER_TYPES = (ORDER_CANCELLATION, ORDER_FILL, ORDER_FILL_FAILED)
MARKET_TYPES = (MARKET_REGISTERED, MARKET_RESOLVED)
ALL_TYPES = tuple(range(1, 12))


def fmt_units(units: int) -> str:
    """Base units as the exchange prints human amounts: `100`, `47.1698`, `0.000001`."""
    whole, frac = divmod(abs(units), 10**6)
    sign = "-" if units < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def order_payload(
    order: Order, *, matched: int | None = None, trade_id: str = "", transaction_hash: str = ""
) -> dict[str, Any]:
    """The order payload of types 1, 2 and 8."""
    return {
        "asset_id": order.token_id,
        "market": order.condition_id,
        "order_id": order.order_id,
        "side": order.side.value,
        "type": order.order_type,
        "price": f"{order.price:f}",
        "original_size": fmt_units(order.original),
        "matched_size": fmt_units(order.matched if matched is None else matched),
        "remaining_size": fmt_units(max(order.remaining, 0)),
        "outcome": order.outcome,
        "outcome_index": 0 if order.outcome.lower() == "yes" else 1,
        "transaction_hash": transaction_hash,
        "trade_id": trade_id,
        "question": "",
        "market_slug": "",
        "icon": "",
        "image": "",
        "eventSlug": "",
        "seriesSlug": "",
    }


def market_payload(condition_id: str, markets: list[Market]) -> dict[str, Any]:
    """The market payload of types 3 and 4 (also GET /markets/{condition_id})."""
    first = markets[0]
    return {
        "condition_id": condition_id,
        "question_id": condition_id,
        "question": first.question,
        "description": "",
        "market_slug": "",
        "icon": "",
        "image": "",
        "fpmm": "",
        "active": True,
        "closed": not first.accepting_orders,
        "archived": False,
        "accepting_orders": first.accepting_orders,
        "enable_order_book": True,
        "seconds_delay": 0,
        "minimum_order_size": first.min_order_size,
        "minimum_tick_size": first.tick_size,
        "maker_base_fee": first.base_fee_bps,
        "taker_base_fee": first.base_fee_bps,
        "neg_risk": first.neg_risk,
        "game_start_time": first.game_start_time,
        "tokens": [
            {
                "token_id": m.token_id,
                "outcome": m.outcome,
                "price": Decimal("0.5"),
                "winner": m.winner,
            }
            for m in markets
        ],
    }


def _fake_hash(seed: str) -> str:
    return "0x" + hashlib.sha256(f"paperclob:{seed}".encode()).hexdigest()


def default_payload(kind: int, *, address: str, seed: str) -> dict[str, Any]:
    """A payload of the documented shape for the types the paper exchange never causes."""
    tx = _fake_hash(seed)
    condition = _fake_hash("condition:" + seed)
    if kind == REWARD_PAYOUT:
        return {"proxyWallet": address, "reward": "1.5", "txnHash": tx}
    if kind == CHILD_COMMENT_CREATED:
        return {
            "id": "1",
            "body": "",
            "parentEntityType": "Event",
            "parentEntityID": 1,
            "parentCommentID": "1",
            "userAddress": address,
            "createdAt": "2026-01-01T00:00:00Z",
            "profile": None,
            "eventSlug": "",
            "eventTitle": "",
            "seriesSlug": "",
            "seriesTitle": "",
            "image": "",
        }
    if kind == YIELD_PAYOUT:
        return {"proxyWallet": address, "amount": "0.25", "txnHash": tx}
    if kind == AUTO_REDEEMED:
        return {
            "proxyWallet": address,
            "amount": "10",
            "conditionId": condition,
            "question": "",
            "image": "",
            "slug": "",
            "negRisk": False,
            "txnHash": tx,
        }
    if kind == COMBO_AUTO_REDEEMED:
        return {
            "proxyWallet": address,
            "amount": "10",
            "positionId": "1",
            "conditionId": "0x03" + condition[6:],  # a Protocol-V2 combo condition id
            "outcomeIndex": 0,
            "legs": 2,
            "txnHash": tx,
        }
    if kind == TAKER_TIER_UPGRADED:
        return {"previous_tier": 0, "tier": 1, "rebate_bps": 5, "snapshot_date": "2026-01-01"}
    raise ValueError(f"notification type {kind} takes an order or a market, not a default payload")
