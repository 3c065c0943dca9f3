"""How the CLI shows blind tokens (invariant 10): the `plan` section, what `adopt` would take,
and the lines of `status`. Presentation only: the finding is `Plan.blind`, or the run summary's
`blind` list that `status` reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.model import BlindToken, OpenOrder

ADOPT_HINT = ("If they are the daemon's (a state file that is new, restored from a backup or "
              "replaced), stop the daemon and run `reconciler adopt` (or `reconciler adopt "
              "--token ID`); they then count toward their levels. If they are not, cancel them.")


def blind_section(blind: Sequence[BlindToken], *, labels: Mapping[str, str] | None = None) -> str:
    """The `plan` section: the blind tokens, their orders, and what adopting would do."""
    if not blind:
        return ""
    count = sum(len(b.orders) for b in blind)
    lines = [
        f"Blind: {count} open order(s) at declared levels on {len(blind)} token(s) are not in "
        "this state file; nothing is posted on these tokens until they are adopted:",
        *orders_lines(blind, labels=labels),
        f"Adopting would take these {count} order(s) into the inventory as the daemon's.",
        ADOPT_HINT,
    ]
    return "\n".join(lines) + "\n"


def orders_lines(
    blind: Sequence[BlindToken], *, labels: Mapping[str, str] | None = None
) -> list[str]:
    labels = labels or {}
    lines: list[str] = []
    for token in blind:
        label = labels.get(token.token_id)
        lines.append(f"token {token.token_id}" + (f"  ({label})" if label else ""))
        lines += [f"  ? {_order_line(o)}" for o in token.orders]
    return lines


def _order_line(order: OpenOrder) -> str:
    created = (datetime.fromtimestamp(order.created_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
               if order.created_at > 0 else "-")
    return (f"{order.side.value:<4} {order.price} x {order.remaining}  {order.order_id}  "
            f"({order.order_type.value}, placed {created})")


def blind_json(blind: Sequence[BlindToken]) -> list[dict[str, Any]]:
    return [
        {"token_id": b.token_id,
         "orders": [{"order_id": o.order_id, "side": o.side.value, "price": format(o.price, "f"),
                     "remaining": format(o.remaining, "f"), "order_type": o.order_type.value,
                     "created_at": o.created_at} for o in b.orders]}
        for b in blind
    ]


def status_lines(status: Mapping[str, Any]) -> list[str]:
    """The identity and blind lines of `status`."""
    identity = status.get("identity")
    if not identity:
        lines = ["identity:          none yet (a file from before identities: the next writer "
                 "that opens it records one)"]
    else:
        account = ("not bound to an account yet" if identity.get("funder") is None
                   else f"chain {identity.get('chain_id')}, funder {identity.get('funder')}")
        lines = [f"identity:          {account}, file id {identity.get('file_id')}"]
    blind = status.get("blind") or []
    if not blind:
        lines.append("blind tokens:      none at the last pass")
        return lines
    count = sum(int(b.get("orders", 0)) for b in blind)
    lines.append(f"blind tokens:      {len(blind)} ({count} open orders not in this state file; "
                 "nothing is posted there: stop the daemon and run `reconciler adopt`)")
    for b in blind:
        levels = ", ".join(f"{lv['side']} {lv['price']} ({lv['orders']})" for lv in b["levels"])
        lines.append(f"  {b['token_id']}: {b['orders']} at {levels}")
    return lines
