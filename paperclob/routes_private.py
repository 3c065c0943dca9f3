"""Authenticated routes: API keys (L1/L2), orders, trades, balances, notifications, heartbeats."""

from __future__ import annotations

from typing import Any

from paperclob import errors, render
from paperclob.exchange import Exchange
from paperclob.routes import Request, Response, l1_identity, private, query_token, route
from paperclob.state import ApiKey
from reconciler.clob.profiles import Profile, contracts_for
from reconciler.model import MAX_BATCH_POST

MAX_UINT256 = str(2**256 - 1)
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"

# --- API keys ---------------------------------------------------------------------------------


@route("POST", "/auth/api-key")
def create_api_key(exchange: Exchange, request: Request) -> Response:
    address, nonce = l1_identity(exchange, request)
    return Response(exchange.create_key(address, nonce).creds_json())


@route("GET", "/auth/derive-api-key")
def derive_api_key(exchange: Exchange, request: Request) -> Response:
    address, nonce = l1_identity(exchange, request)
    return Response(exchange.derive_key(address, nonce).creds_json())


@private("GET", "/auth/api-keys")
def get_api_keys(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response({"apiKeys": exchange.keys.keys_of(caller.address)})


@private("DELETE", "/auth/api-key")
def delete_api_key(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    exchange.keys.delete(caller.api_key)
    return Response(raw=b"")


@private("GET", "/auth/ban-status/closed-only")
def closed_only(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response({"closed_only": False})


# --- orders -----------------------------------------------------------------------------------


@private("POST", "/order")
def post_order(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    try:
        execution = exchange.place(caller, request.json())
    except errors.OrderRejected as exc:
        raise errors.ApiError(400, exc.message) from None
    return Response(render.post_result(execution))


@private("POST", "/orders")
def post_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    entries = request.json()
    if not isinstance(entries, list):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    if len(entries) > MAX_BATCH_POST:
        raise errors.ApiError(400, errors.TOO_MANY_ORDERS)
    return Response(exchange.post_orders(caller, entries))


def _order_id_of(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("orderID", "orderId", "order_id"):
            if isinstance(body.get(key), str):
                return str(body[key])
    raise errors.ApiError(400, errors.INVALID_PAYLOAD)


@private("DELETE", "/order")
def cancel_order(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response(exchange.cancel_orders(caller, [_order_id_of(request.json())]))


@private("DELETE", "/orders")
def cancel_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    ids = request.json()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    return Response(exchange.cancel_orders(caller, ids))


@private("DELETE", "/cancel-all")
def cancel_all(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response(exchange.cancel_where(caller))


@private("DELETE", "/cancel-market-orders")
def cancel_market_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    body = request.json() or {}
    if not isinstance(body, dict):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    market, asset_id = str(body.get("market") or ""), str(body.get("asset_id") or "")
    return Response(exchange.cancel_where(caller, market=market, asset_id=asset_id))


@private("GET", "/data/order/")
def get_order(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    order = exchange.visible_order(caller, request.path.rsplit("/", 1)[-1])
    # The exchange answers an unknown id with an empty (null) body, not an error.
    return Response(render.order_json(order) if order is not None else None)


def _paged(items: list[Any], request: Request, size: int) -> tuple[list[Any], dict[str, Any]]:
    try:
        return render.page(items, cursor=request.query.get("next_cursor", "MA=="), size=size)
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None


@private("GET", "/data/orders")
def get_open_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    q = request.query
    orders = exchange.open_orders(
        caller, market=q.get("market", ""), asset_id=q.get("asset_id", ""), order_id=q.get("id", "")
    )
    chunk, keys = _paged(orders, request, exchange.config.page_size)
    return Response({"data": [render.order_json(o) for o in chunk], **keys})


@private("GET", "/data/pre-migration-orders")
def get_pre_migration_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response({"data": [], "next_cursor": render.END_CURSOR, "limit": 0, "count": 0})


@private("GET", "/data/trades")
def get_trades(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    q = request.query
    trades = list(exchange.engine.trades_by_address.get(caller.address, []))
    after, before = _int(q.get("after")), _int(q.get("before"))
    maker = q.get("maker_address", "").lower()
    trades = [
        t
        for t in trades
        if (not q.get("id") or t.trade_id == q["id"])
        and (not q.get("market") or t.taker.condition_id.lower() == q["market"].lower())
        and (not q.get("asset_id") or t.taker.token_id == q["asset_id"])
        and (after is None or t.match_time >= after)
        and (before is None or t.match_time <= before)
        and (not maker or maker in {t.taker.maker} | {f.order.maker for f in t.makers})
    ]
    chunk, keys = _paged(trades, request, exchange.config.page_size)
    # Settlement is instant on paper: a trade is reported MATCHED and CONFIRMED at once.
    data = [render.trade_json(t, viewer=caller.address, status="CONFIRMED") for t in chunk]
    return Response({"data": data, **keys})


def _int(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise errors.ApiError(400, f"invalid timestamp {text!r}")
    return int(text)


# --- balances, notifications, heartbeats -------------------------------------------------------


def _balance(exchange: Exchange, request: Request, caller: ApiKey) -> dict[str, Any]:
    q = request.query
    sig_type = _int(q.get("signature_type") or None) or 0
    funder = exchange.funder_of.get((caller.address, sig_type), caller.address)
    account = exchange.engine.account(funder)
    asset_type = q.get("asset_type", "COLLATERAL").upper()
    if asset_type == "COLLATERAL":
        balance = account.collateral
    elif asset_type in ("CONDITIONAL", "CONDITIONAL-V2"):
        if not q.get("token_id"):
            raise errors.ApiError(400, "Invalid token id")
        balance = account.share_balance(query_token(exchange, request))
    else:
        raise errors.ApiError(400, f"Invalid asset type {asset_type!r}")
    contracts = contracts_for(exchange.config.chain_id)
    profile = Profile(exchange.config.protocol)
    spenders = [
        contracts.exchange(profile, False),
        contracts.exchange(profile, True),
        NEG_RISK_ADAPTER,
    ]
    return {"balance": str(balance), "allowances": {s: MAX_UINT256 for s in spenders}}


@private("GET", "/balance-allowance")
def get_balance_allowance(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response(_balance(exchange, request, caller))


@private("GET", "/balance-allowance/update")
def update_balance_allowance(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    _balance(exchange, request, caller)  # same validation; paper balances need no refresh
    return Response(None)


@private("GET", "/notifications")
def get_notifications(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response([n.to_json() for n in exchange.notifications.of(caller.address)])


@private("DELETE", "/notifications")
def drop_notifications(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    raw = request.query.get("ids", "")
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise errors.ApiError(400, f"invalid notification ids {raw!r}") from None
    exchange.notifications.drop(caller.address, ids)
    return Response(None)


@private("POST", "/v1/heartbeats")
def post_heartbeat(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    body = request.json() or {}
    given = body.get("heartbeat_id") if isinstance(body, dict) else None
    return Response({"heartbeat_id": exchange.heartbeat(caller, given or None)})


@private("POST", "/heartbeats")
def post_heartbeat_docs(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    # The documented variant: no id chaining, just "I am alive".
    exchange.heartbeat(caller, None)
    return Response({"status": "ok"})
