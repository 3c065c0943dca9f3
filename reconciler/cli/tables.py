"""The rows of `orders`, `trades` and `history`: what each column says, for people.

Every row names its token (with the label from the desired files beside it), side, price and
size in the one amount format (`output.amount`); ids are shortened unless `--wide`.

`trades` shows OUR side of each trade. A trade's `side` is the taker's, and `trader_side` says
whether this account was the TAKER or a MAKER (clob-v2-wire.md 2.14); as a maker, our fills are
the `maker_orders` entries that carry our API key as `owner` (or our address), each with its own
side, size and price. So a maker BUY fill prints as BUY, not as the taker's SELL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reconciler.cli.output import amount, parsed, short_id, token_cell, when, when_seconds
from reconciler.model import OpenOrder, Side


@dataclass(frozen=True)
class Rows:
    headers: tuple[str, ...]
    rows: list[tuple[object, ...]]


# --- orders ----------------------------------------------------------------------------------


def order_rows(orders: Sequence[OpenOrder], *, labels: Mapping[str, str],
               wide: bool = False) -> Rows:
    rows: list[tuple[object, ...]] = [
        (token_cell(o.token_id, labels, wide=wide), o.side.value, amount(o.price),
         amount(o.original_size), amount(o.size_matched), amount(o.remaining),
         o.order_type.value, when_seconds(o.created_at), short_id(o.order_id, wide=wide))
        for o in sorted(orders, key=lambda o: (o.token_id, o.side.value, o.price, o.order_id))
    ]
    return Rows(("TOKEN", "SIDE", "PRICE", "SIZE", "MATCHED", "REMAINING", "TYPE", "CREATED",
                 "ORDER"), rows)


def order_details(order: Any) -> list[tuple[str, str]]:
    """`reconciler order ID`: one `key: value` per field, times as times, amounts exact."""
    from reconciler.cli.output import to_jsonable

    fields = to_jsonable(order)
    lines: list[tuple[str, str]] = []
    for key, value in fields.items():
        if key in ("created_at", "expiration") and isinstance(value, int) and value:
            shown = f"{when_seconds(value)} ({value})"
        elif key in ("price", "original_size", "size_matched") and value is not None:
            shown = amount(value)
        else:
            shown = str(value)
        lines.append((key, shown))
    return lines


# --- trades ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OurFill:
    """One trade as this account took part in it."""

    trade_id: str
    match_time: int
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    role: str  # "maker" | "taker"
    status: str
    order_id: str


def our_fills(trade: Any, *, api_key: str, address: str) -> list[OurFill]:
    """Our part of `trade`: the taker order when we were the taker, else each maker order of
    ours. A maker trade whose `maker_orders` names none of ours (the exchange filtered them
    already, or it did not say) is shown as the other side of the taker, whole."""
    status = str(trade.status.value if hasattr(trade.status, "value") else trade.status)
    if str(trade.trader_side).upper() != "MAKER":
        return [OurFill(trade.id, trade.match_time, trade.asset_id, trade.side, trade.price,
                        trade.size, "taker", status, trade.taker_order_id)]
    mine = [m for m in trade.maker_orders
            if (api_key and m.owner == api_key)
            or (address and m.maker_address.lower() == address.lower())]
    if not mine:
        other = Side.SELL if trade.side is Side.BUY else Side.BUY
        return [OurFill(trade.id, trade.match_time, trade.asset_id, other, trade.price,
                        trade.size, "maker", status, "")]
    return [
        OurFill(trade.id, trade.match_time, m.asset_id or trade.asset_id,
                m.side if m.side is not None else
                (Side.SELL if trade.side is Side.BUY else Side.BUY),
                m.price, m.matched_amount, "maker", status, m.order_id)
        for m in mine
    ]


def trade_rows(fills: Sequence[OurFill], *, labels: Mapping[str, str], wide: bool = False) -> Rows:
    rows: list[tuple[object, ...]] = [
        (when_seconds(f.match_time), token_cell(f.token_id, labels, wide=wide), f.side.value,
         amount(f.price), amount(f.size), f.role, _trade_status(f.status),
         short_id(f.order_id, wide=wide) if f.order_id else "-", short_id(f.trade_id, wide=wide))
        for f in fills
    ]
    return Rows(("TIME", "TOKEN", "SIDE", "PRICE", "SIZE", "ROLE", "STATUS", "ORDER", "TRADE"),
                rows)


def _trade_status(status: str) -> str:
    return status.removeprefix("TRADE_STATUS_")


# --- history ---------------------------------------------------------------------------------


def history_rows(entries: Sequence[Mapping[str, Any]], *, labels: Mapping[str, str],
                 wide: bool = False) -> Rows:
    """Journal entries (and fills, `kind` "fill"), newest first, each saying token, side, price
    and size; the exchange's answer as a short detail, never as raw JSON."""
    rows: list[tuple[object, ...]] = []
    for e in entries:
        payload = e.get("payload") or {}
        token = str(payload.get("token_id") or "")
        size = payload.get("size", payload.get("remaining"))
        rows.append((
            e.get("id"), when(e.get("intent_ms") or e.get("at_ms")), e.get("run_id") or "-",
            e.get("kind"), token_cell(token, labels, wide=wide) if token else "-",
            payload.get("side") or "-", amount(payload.get("price")),
            amount(size) if size is not None else "-",
            short_id(str(e.get("order_id") or "-"), wide=wide),
            e.get("outcome") or "(no answer)", _detail(e.get("result"), wide=wide),
        ))
    return Rows(("ID", "TIME", "RUN", "KIND", "TOKEN", "SIDE", "PRICE", "SIZE", "ORDER",
                 "OUTCOME", "DETAIL"), rows)


def _detail(result: Any, *, wide: bool) -> str:
    value = parsed(result)
    if isinstance(value, Mapping) and "matched" in value:  # a fill
        of = f" of {amount(value['order_size'])}" if value.get("order_size") else ""
        return f"{amount(value['matched'])}{of} matched"
    if isinstance(value, Mapping):
        parts = [str(value[k]) for k in ("status", "error", "message", "role") if value.get(k)]
        text = "; ".join(parts)
    else:
        text = "" if value is None else str(value)
    return text if wide else _clip(text, 50)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
