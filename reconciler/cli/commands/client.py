"""The client's methods by hand: `orders`, `order`, `trades`, `balance`, `keys`,
`notifications`, `cancel`, `cancel-all`, `cancel-market`.

Every command that takes an order id also takes a unique prefix of one we know (in the state
file, or open on the exchange): `reconciler cancel 0x3f9a` is enough when one order starts so.
"""

from __future__ import annotations

import argparse
import json
import re
from decimal import Decimal
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.commands.common import labels, paper_note, say
from reconciler.cli.settings import Settings, SettingsError
from reconciler.cli.tables import order_details, order_rows, our_fills, trade_rows
from reconciler.cli.wiring import Connection, connect
from reconciler.clob import AssetType, CancelResult, ClobError
from reconciler.model import NotificationType
from reconciler.store import StateFileError, Store

_FULL_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")
_PREFIX = re.compile(r"^(0[xX])?[0-9a-fA-F]*$")
#: A prefix must have at least this many hex digits: `cancel 0x` must not mean "the one order".
MIN_PREFIX_DIGITS = 4


def _connect(settings: Settings) -> Connection:
    conn = connect(settings)
    paper_note(settings, url=conn.host)
    return conn


def orders(args: argparse.Namespace, settings: Settings) -> int:
    with _connect(settings) as conn:
        found = conn.client.get_open_orders(market=args.market, asset_id=args.token)
    if args.json:
        print(out.dumps(found))
        return 0
    rows = order_rows(found, labels=labels(settings), wide=args.wide)
    out.print_table(rows.headers, rows.rows)
    return 0


def order(args: argparse.Namespace, settings: Settings) -> int:
    with _connect(settings) as conn:
        (order_id,) = resolve_order_ids([args.order_id], settings=settings, conn=conn)
        found = conn.client.get_order(order_id)
    if found is None:
        raise SettingsError(f"the exchange has no order {order_id}")
    if args.json:
        print(out.dumps(found))
    else:
        for key, value in order_details(found):
            print(f"{key}: {value}")
    return 0


def trades(args: argparse.Namespace, settings: Settings) -> int:
    with _connect(settings) as conn:
        found = conn.client.get_trades(market=args.market, asset_id=args.token)
        api_key = conn.client.creds.api_key if conn.client.creds else ""
        address = conn.wallet.maker
    fills = [f for t in found for f in our_fills(t, api_key=api_key, address=address)]
    if args.json:
        print(out.dumps([{"trade_id": f.trade_id, "match_time": f.match_time,
                          "token_id": f.token_id, "side": f.side, "price": f.price,
                          "size": f.size, "role": f.role, "status": f.status,
                          "order_id": f.order_id} for f in fills]))
        return 0
    rows = trade_rows(fills, labels=labels(settings), wide=args.wide)
    out.print_table(rows.headers, rows.rows)
    return 0


def balance(args: argparse.Namespace, settings: Settings) -> int:
    kind = AssetType.CONDITIONAL if args.token else AssetType.COLLATERAL
    with _connect(settings) as conn:
        if args.update:
            conn.client.update_balance_allowance(kind, args.token)
        found = conn.client.get_balance_allowance(kind, args.token)
    what = f"token {args.token} shares" if args.token else "collateral (pUSD)"
    print(f"{what}: {out.amount(found.balance_decimal)}")
    for spender, units in sorted(found.allowances.items()):
        # Base units to pUSD exactly (a string-built Decimal is not rounded; a float would be).
        shown = out.amount(Decimal(f"{units}e-6")) if units < 10**30 else "unlimited"
        print(f"  allowance {spender}: {shown}")
    return 0


def keys(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "delete" and not args.yes:
        raise SettingsError("`keys delete` deletes the API key in use; add --yes to confirm")
    with _connect(settings) as conn:
        if args.action == "delete":
            conn.client.delete_api_key()
            print("deleted the API key in use")
        else:
            print("\n".join(conn.client.get_api_keys()) or "(none)")
    return 0


#: How `notifications` names the types (others print as their number).
_NOTIFICATION_WORDS: dict[int, str] = {
    NotificationType.ORDER_CANCELLATION: "cancelled",
    NotificationType.ORDER_FILL: "filled",
    NotificationType.ORDER_FILL_FAILED: "fill failed",
    NotificationType.MARKET_RESOLVED: "resolved",
}


def notifications(args: argparse.Namespace, settings: Settings) -> int:
    with _connect(settings) as conn:
        found = conn.client.get_notifications()
        if args.drop and found:
            conn.client.drop_notifications([n.id for n in found])
    if args.json:
        print(out.dumps(found))
        return 0
    rows = [(n.id, _NOTIFICATION_WORDS.get(n.type, n.type), _summary(dict(n.payload)))
            for n in found]
    out.print_table(("ID", "TYPE", "WHAT"), rows)
    return 0


def _summary(payload: dict[str, Any]) -> str:
    """An order notification as words (side, size, price, order); others as compact JSON."""
    if "order_id" in payload:
        matched = payload.get("matched_size")
        parts = [str(payload.get("side") or ""), out.amount(payload.get("price"))]
        if matched not in (None, "", "0"):
            parts.append(f"matched {out.amount(matched)}")
        parts.append(f"order {out.short_id(str(payload['order_id']))}")
        return " ".join(p for p in parts if p)
    return json.dumps(payload, sort_keys=True, default=str)[:100]


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel by id, through the client's splitting and pacing (1000 ids and the tier's cancel
    burst per request); a failure part way still prints what was cancelled before it."""
    with _connect(settings) as conn:
        ids = resolve_order_ids(args.order_ids, settings=settings, conn=conn)
        try:
            result = conn.client.cancel_orders(ids)
        except ClobError as exc:
            if isinstance(exc.partial, CancelResult):
                _print_cancel(exc.partial)
                say(f"reconciler: stopped after {len(exc.partial.canceled)} cancelled; the "
                    "other ids were not cancelled, or their outcome is unknown: check with "
                    "`reconciler orders`")
            raise
    return _print_cancel(result)


def cancel_all(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        raise SettingsError("`cancel-all` cancels EVERY open order of the account (also ones "
                            "the daemon did not place); add --yes to confirm")
    with _connect(settings) as conn:
        return _print_cancel(conn.client.cancel_all())


def cancel_market(args: argparse.Namespace, settings: Settings) -> int:
    if not args.market and not args.token:
        raise SettingsError("`cancel-market` needs --market CONDITION_ID or --token TOKEN_ID")
    with _connect(settings) as conn:
        return _print_cancel(conn.client.cancel_market_orders(market=args.market,
                                                              asset_id=args.token))


def _print_cancel(result: Any) -> int:
    for order_id in result.canceled:
        print(f"cancelled {order_id}")
    for order_id, reason in sorted(result.not_canceled.items()):
        print(f"not cancelled {order_id}: {reason}")
    if result.canceled:
        say("note: a running daemon re-posts declared levels at its next tick; to stop it "
            "quoting, run `reconciler suspend` first (or edit the YAML)")
    return 0 if not result.not_canceled else 1


# --- order ids by prefix ---------------------------------------------------------------------


def resolve_order_ids(given: list[str], *, settings: Settings, conn: Connection) -> list[str]:
    """Each id as given when whole, else the one order we know (state file, open orders)
    whose id starts with it. Refused with one line when none or several match."""
    resolved: list[str] = []
    open_ids: list[str] | None = None
    for text in given:
        if _FULL_ID.match(text):
            resolved.append(text)
            continue
        if not _PREFIX.match(text):
            raise SettingsError(f"{text[:20]!r} is not an order id (0x and 64 hex digits) nor "
                                "the start of one")
        prefix = ("0x" + text.removeprefix("0x").removeprefix("0X")).lower()
        if len(prefix) - 2 < MIN_PREFIX_DIGITS:
            raise SettingsError(f"{text} is too short to name one order: give at least "
                                f"{MIN_PREFIX_DIGITS} hex digits")
        if open_ids is None:
            open_ids = [o.order_id for o in conn.client.get_open_orders()]
        matches = sorted({i for i in [*_known_ids(settings, prefix), *open_ids]
                          if i.lower().startswith(prefix)}, key=str.lower)
        if not matches:
            raise SettingsError(f"no order we know starts with {text} (looked in the state "
                                f"file {settings.state_path} and the open orders)")
        if len(matches) > 1:
            shown = ", ".join(out.short_id(m) for m in matches[:5])
            raise SettingsError(f"{text} matches {len(matches)} orders ({shown}"
                                f"{', ...' if len(matches) > 5 else ''}); give more digits")
        resolved.append(matches[0])
    return resolved


def _known_ids(settings: Settings, prefix: str) -> list[str]:
    if not settings.state_path.exists():
        return []
    try:
        with Store.open(settings.state_path, read_only=True) as store:
            return store.order_ids_with_prefix(prefix)
    except StateFileError:
        return []
