"""Order routes (L2): post, cancel, read orders and trades.

Each write passes, in this order: the trading mode (modes.py: 425 / 503, which cost no tokens),
the payload limits (15 orders per POST /orders, 1000 ids per DELETE /orders, which cost no
tokens either), the signer's token bucket (ratelimit.py: 429 with nothing done), then the work.
The reference does not say in which order the exchange runs these checks. Every answer the
limiter evaluated carries the Poly-RateLimit-* headers, refusals included.
"""

from __future__ import annotations

from typing import Any

from paperclob import errors, render
from paperclob.exchange import Exchange
from paperclob.ratelimit import Admission, Bucket
from paperclob.routes import Request, Response, private
from paperclob.state import ApiKey
from paperclob.verify import parse_entry
from reconciler.model import MAX_BATCH_POST

MAX_CANCEL_IDS = 1000


def _admit(exchange: Exchange, caller: ApiKey, which: Bucket, cost: int) -> Admission:
    return exchange.limiter.admit(caller.address, which, cost, exchange.now_float())


def _known_hashes(exchange: Exchange, execution: Any) -> list[str]:
    now = exchange.now_float()
    hashes = (exchange.settlement.visible_hash(t, now) for t in execution.trades)
    return [h for h in hashes if h]


def _place_one(exchange: Exchange, caller: ApiKey, raw: Any, post_only_mode: bool, **kw: Any):
    """One entry's answer, or raise OrderRejected / the post-only 503."""
    entry = parse_entry(raw)
    if post_only_mode and not entry.post_only:
        raise exchange.modes.post_only_refusal(caller.address, exchange.now_float())
    execution = exchange.place(caller, entry, **kw)
    return render.post_result(execution, known_hashes=_known_hashes(exchange, execution))


@private("POST", "/order")
def post_order(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    post_only_mode = exchange.modes.check_post(caller.address, exchange.now_float())
    body = request.json()
    try:
        entry = parse_entry(body)
    except errors.OrderRejected as exc:
        raise errors.ApiError(400, exc.message) from None
    if post_only_mode and not entry.post_only:
        raise exchange.modes.post_only_refusal(caller.address, exchange.now_float())
    admission = _admit(exchange, caller, Bucket.ORDER, 1)
    try:
        execution = exchange.place(caller, entry)
    except errors.OrderRejected as exc:
        raise errors.ApiError(400, exc.message, headers=admission.headers) from None
    answer = render.post_result(execution, known_hashes=_known_hashes(exchange, execution))
    return Response(answer, headers=admission.headers)


@private("POST", "/orders")
def post_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    post_only_mode = exchange.modes.check_post(caller.address, exchange.now_float())
    entries = request.json()
    if not isinstance(entries, list):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    if len(entries) > MAX_BATCH_POST:
        raise errors.ApiError(
            400, f"Too many orders in payload: {len(entries)}, max allowed: {MAX_BATCH_POST}"
        )
    admission = _admit(exchange, caller, Bucket.ORDER, len(entries)) if entries else None
    results = []
    for position, raw in enumerate(entries):
        try:
            results.append(_place_one(exchange, caller, raw, post_only_mode, position=position))
        except errors.OrderRejected as exc:
            # The docs' table (clob-v1-wire.md 6.3) gives INVALID_ORDER_DUPLICATED success=true.
            duplicate = exc.message == errors.DUPLICATED
            results.append(render.post_error(exc.message, success=duplicate))
        except errors.ApiError as exc:  # the post-only refusal, in its batch-entry form
            results.append(render.post_only_entry(exc.message))
    return Response(results, headers=admission.headers if admission else {})


def _order_id_of(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("orderID", "orderId", "order_id"):
            if isinstance(body.get(key), str):
                return str(body[key])
    raise errors.ApiError(400, errors.INVALID_PAYLOAD)


@private("DELETE", "/order")
def cancel_order(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    exchange.modes.check_cancel(caller.address, exchange.now_float())
    order_id = _order_id_of(request.json())
    admission = _admit(exchange, caller, Bucket.CANCEL, 1)
    return Response(exchange.cancel_orders(caller, [order_id]), headers=admission.headers)


@private("DELETE", "/orders")
def cancel_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    """At most 1000 ids (2026-06-15); each id sent costs a cancel token, duplicates included;
    duplicates are then dropped."""
    exchange.modes.check_cancel(caller.address, exchange.now_float())
    ids = request.json()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    if len(ids) > MAX_CANCEL_IDS:
        raise errors.ApiError(400, errors.TOO_MANY_CANCELS)
    admission = _admit(exchange, caller, Bucket.CANCEL, len(ids)) if ids else None
    answer = exchange.cancel_orders(caller, ids)
    return Response(answer, headers=admission.headers if admission else {})


def _cancel_matching(
    exchange: Exchange, caller: ApiKey, *, market: str = "", asset_id: str = ""
) -> Response:
    """Cancel-all / by market: 1 token up front, then one per order actually cancelled."""
    exchange.modes.check_cancel(caller.address, exchange.now_float())
    _admit(exchange, caller, Bucket.CANCEL, 1)
    answer = exchange.cancel_where(caller, market=market, asset_id=asset_id)
    headers = exchange.limiter.charge_after(
        caller.address, len(answer["canceled"]), exchange.now_float()
    )
    return Response(answer, headers=headers)


@private("DELETE", "/cancel-all")
def cancel_all(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return _cancel_matching(exchange, caller)


@private("DELETE", "/cancel-market-orders")
def cancel_market_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    body = request.json() or {}
    if not isinstance(body, dict):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    market, asset_id = str(body.get("market") or ""), str(body.get("asset_id") or "")
    return _cancel_matching(exchange, caller, market=market, asset_id=asset_id)


@private("GET", "/data/order/")
def get_order(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    """One order; an unknown id answers 404 {"error": "Order not found"} (the OpenAPI), or 200
    `null` (the other form seen) with `--unknown-order null`."""
    exchange.modes.check_order_read(caller.address, exchange.now_float())
    order = exchange.visible_order(caller, request.path.rsplit("/", 1)[-1])
    if order is None:
        if exchange.wire.unknown_order == "null":
            return Response(None)
        raise errors.ApiError(404, errors.ORDER_NOT_FOUND)
    return Response(render.order_json(order, prefixed=exchange.wire.order_status == "prefixed"))


def _paged(
    items: list[Any], request: Request, size: int, end: str = render.END_CURSOR
) -> tuple[list[Any], dict[str, Any]]:
    try:
        return render.page(
            items, cursor=request.query.get("next_cursor", "MA=="), size=size, end=end
        )
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None


@private("GET", "/data/orders")
def get_open_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    exchange.modes.check_order_read(caller.address, exchange.now_float())
    q = request.query
    orders = exchange.open_orders(
        caller, market=q.get("market", ""), asset_id=q.get("asset_id", ""), order_id=q.get("id", "")
    )
    chunk, keys = _paged(
        orders, request, exchange.config.page_size, end=exchange.wire.orders_end_cursor
    )
    prefixed = exchange.wire.order_status == "prefixed"
    return Response({"data": [render.order_json(o, prefixed=prefixed) for o in chunk], **keys})


@private("GET", "/data/pre-migration-orders")
def get_pre_migration_orders(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response({"data": [], "next_cursor": render.END_CURSOR, "limit": 0, "count": 0})


@private("GET", "/data/trades")
def get_trades(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    """Trades with their settlement status at this moment (`TRADE_STATUS_*` on REST, or plain
    with `--trade-status plain`); `transaction_hash` is "" until the trade is mined."""
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
    now, settlement = exchange.now_float(), exchange.settlement
    prefix = "TRADE_STATUS_" if exchange.wire.trade_status == "prefixed" else ""
    data = [
        render.trade_json(
            t,
            viewer=caller.address,
            status=prefix + settlement.status(t, now),
            transaction_hash=settlement.visible_hash(t, now),
            last_update=settlement.last_update(t, now),
        )
        for t in chunk
    ]
    return Response({"data": data, **keys})


def _int(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise errors.ApiError(400, f"invalid timestamp {text!r}")
    return int(text)
