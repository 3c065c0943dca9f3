"""Public market-data routes (no auth) and the admin routes tests use while the server runs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paperclob import errors, render
from paperclob.config import RateLimit
from paperclob.engine import fmt_units
from paperclob.exchange import Exchange
from paperclob.markets import MarketError
from paperclob.routes import Request, Response, query_token, route

NO_BOOK = "No orderbook exists for the requested token id"


@route("GET", "/")
@route("GET", "/ok")
def ok(exchange: Exchange, request: Request) -> Response:
    return Response("OK")


@route("GET", "/time")
def server_time(exchange: Exchange, request: Request) -> Response:
    return Response(exchange.now())


@route("GET", "/version")
def version(exchange: Exchange, request: Request) -> Response:
    return Response({"version": 1 if exchange.config.protocol == "v1" else 2})


@route("GET", "/tick-size")
def tick_size(exchange: Exchange, request: Request) -> Response:
    market = exchange.markets.get(query_token(exchange, request))
    return Response({"minimum_tick_size": market.tick_size})


@route("GET", "/neg-risk")
def neg_risk(exchange: Exchange, request: Request) -> Response:
    market = exchange.markets.get(query_token(exchange, request))
    return Response({"neg_risk": market.neg_risk})


@route("GET", "/fee-rate")
def fee_rate(exchange: Exchange, request: Request) -> Response:
    market = exchange.markets.get(query_token(exchange, request))
    return Response({"base_fee": market.base_fee_bps})


@route("GET", "/fee-rate/")
def fee_rate_by_path(exchange: Exchange, request: Request) -> Response:
    request.query["token_id"] = request.path.rsplit("/", 1)[-1]
    return fee_rate(exchange, request)


def _book(exchange: Exchange, token_id: str) -> dict[str, Any]:
    market = exchange.markets.get(token_id)
    last = exchange.engine.last_trade.get(market.token_id)
    return render.book_json(
        exchange.engine.book(market.token_id),
        market,
        now_ms=int(exchange.now_float() * 1000),
        last_trade=f"{last[0]:f}" if last else "0",
    )


@route("GET", "/book")
def book(exchange: Exchange, request: Request) -> Response:
    return Response(_book(exchange, query_token(exchange, request)))


def _token_params(exchange: Exchange, request: Request) -> list[dict[str, str]]:
    body = request.json()
    if not isinstance(body, list) or not all(isinstance(p, dict) for p in body):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    for param in body:
        try:
            param["token_id"] = exchange.markets.get(str(param.get("token_id", ""))).token_id
        except MarketError:
            raise errors.ApiError(400, "Invalid token id") from None
    return body


@route("POST", "/books")
def books(exchange: Exchange, request: Request) -> Response:
    return Response([_book(exchange, p["token_id"]) for p in _token_params(exchange, request)])


def _best(exchange: Exchange, token_id: str, side: str) -> Decimal | None:
    """BUY -> best bid, SELL -> best ask (as the exchange's /price documents)."""
    book_ = exchange.engine.book(token_id)
    if side == "BUY":
        return book_.best_bid()
    if side == "SELL":
        return book_.best_ask()
    raise errors.ApiError(400, "Invalid side")


def _mid(exchange: Exchange, token_id: str) -> Decimal:
    bid, ask = _best(exchange, token_id, "BUY"), _best(exchange, token_id, "SELL")
    if bid is None or ask is None:
        raise errors.ApiError(404, NO_BOOK)
    return (bid + ask) / 2


@route("GET", "/midpoint")
def midpoint(exchange: Exchange, request: Request) -> Response:
    return Response({"mid": f"{_mid(exchange, query_token(exchange, request)).normalize():f}"})


@route("POST", "/midpoints")
def midpoints(exchange: Exchange, request: Request) -> Response:
    params = _token_params(exchange, request)
    return Response(
        {p["token_id"]: f"{_mid(exchange, p['token_id']).normalize():f}" for p in params}
    )


def _price(exchange: Exchange, token_id: str, side: str) -> str:
    best = _best(exchange, token_id, side.upper())
    if best is None:
        raise errors.ApiError(404, NO_BOOK)
    return f"{best:f}"


@route("GET", "/price")
def price(exchange: Exchange, request: Request) -> Response:
    token = query_token(exchange, request)
    return Response({"price": _price(exchange, token, request.query.get("side", ""))})


@route("POST", "/prices")
def prices(exchange: Exchange, request: Request) -> Response:
    answer: dict[str, dict[str, str]] = {}
    for p in _token_params(exchange, request):
        side = str(p.get("side", "")).upper()
        answer.setdefault(p["token_id"], {})[side] = _price(exchange, p["token_id"], side)
    return Response(answer)


def _spread(exchange: Exchange, token_id: str) -> str:
    bid, ask = _best(exchange, token_id, "BUY"), _best(exchange, token_id, "SELL")
    if bid is None or ask is None:
        raise errors.ApiError(404, NO_BOOK)
    return f"{(ask - bid).normalize():f}"


@route("GET", "/spread")
def spread(exchange: Exchange, request: Request) -> Response:
    return Response({"spread": _spread(exchange, query_token(exchange, request))})


@route("POST", "/spreads")
def spreads(exchange: Exchange, request: Request) -> Response:
    params = _token_params(exchange, request)
    return Response({p["token_id"]: _spread(exchange, p["token_id"]) for p in params})


def _last(exchange: Exchange, token_id: str) -> dict[str, str]:
    last = exchange.engine.last_trade.get(token_id)
    if last is None:
        return {"price": "0", "side": ""}
    return {"price": f"{last[0]:f}", "side": last[1].value}


@route("GET", "/last-trade-price")
def last_trade_price(exchange: Exchange, request: Request) -> Response:
    return Response(_last(exchange, query_token(exchange, request)))


@route("POST", "/last-trades-prices")
def last_trades_prices(exchange: Exchange, request: Request) -> Response:
    params = _token_params(exchange, request)
    return Response([{"token_id": p["token_id"], **_last(exchange, p["token_id"])} for p in params])


# --- market metadata --------------------------------------------------------------------------


@route("GET", "/markets-by-token/")
def market_by_token(exchange: Exchange, request: Request) -> Response:
    request.query["token_id"] = request.path.rsplit("/", 1)[-1]
    market = exchange.markets.get(query_token(exchange, request))
    tokens = [m.token_id for m in exchange.markets.by_condition(market.condition_id)]
    return Response(
        {
            "condition_id": market.condition_id,
            "primary_token_id": tokens[0],
            "secondary_token_id": tokens[1] if len(tokens) > 1 else "",
        }
    )


def _condition(exchange: Exchange, request: Request) -> tuple[str, list[Any]]:
    condition_id = request.path.rsplit("/", 1)[-1]
    markets = exchange.markets.by_condition(condition_id)
    if not markets:
        raise errors.ApiError(404, "market not found")
    return markets[0].condition_id, markets


@route("GET", "/clob-markets/")
def clob_market(exchange: Exchange, request: Request) -> Response:
    return Response(render.clob_market_json(*_condition(exchange, request)))


@route("GET", "/markets/")
def market(exchange: Exchange, request: Request) -> Response:
    return Response(render.market_json(*_condition(exchange, request)))


@route("GET", "/markets")
def markets(exchange: Exchange, request: Request) -> Response:
    conditions: dict[str, list[Any]] = {}
    for m in exchange.markets.markets.values():
        conditions.setdefault(m.condition_id, []).append(m)
    items = [render.market_json(cid, ms) for cid, ms in conditions.items()]
    try:
        chunk, keys = render.page(
            items, cursor=request.query.get("next_cursor", "MA=="), size=exchange.config.page_size
        )
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None
    return Response({"data": chunk, **keys})


# --- admin (tests and demos; loopback only) ---------------------------------------------------


def _admin_body(request: Request) -> dict[str, Any]:
    body = request.json() or {}
    if not isinstance(body, dict):
        raise errors.ApiError(400, "admin calls take a JSON object")
    return body


@route("POST", "/_admin/market")
def admin_market(exchange: Exchange, request: Request) -> Response:
    """Define or change a market: {token_id, tick_size?, min_order_size?, neg_risk?, ...}, or
    resolve one: {condition_id | token_id, resolve: true, winner?: token_id}."""
    body = _admin_body(request)
    try:
        if body.pop("resolve", False):
            winner = body.get("winner")
            condition = (
                body.get("condition_id")
                or exchange.markets.get(str(body.get("token_id", ""))).condition_id
            )
            told = exchange.resolve_market(str(condition), str(winner) if winner else None)
            return Response({"resolved": condition, "notified": told})
        token_id = str(body.pop("token_id", ""))
        market_ = exchange.markets.define(token_id, body)
    except MarketError as exc:
        raise errors.ApiError(400, str(exc)) from None
    return Response(
        {
            "token_id": market_.token_id,
            "condition_id": market_.condition_id,
            "tick_size": market_.tick_size,
            "min_order_size": market_.min_order_size,
            "neg_risk": market_.neg_risk,
        }
    )


@route("GET", "/_admin/faults")
def admin_faults(exchange: Exchange, request: Request) -> Response:
    return Response(exchange.faults.to_json())


@route("POST", "/_admin/faults")
def admin_set_faults(exchange: Exchange, request: Request) -> Response:
    """Change faults (see paperclob.faults); `rate_limit: "N/SECONDS"` or null switches the
    per-signer limit on or off."""
    body = _admin_body(request)
    try:
        if "rate_limit" in body:
            text = body.pop("rate_limit")
            exchange.rate_limiter.limit = RateLimit.parse(str(text)) if text else None
        exchange.faults.update(body)
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None
    limit = exchange.rate_limiter.limit
    rate = f"{limit.requests}/{limit.window_s:g}" if limit else None
    return Response(exchange.faults.to_json() | {"rate_limit": rate})


@route("DELETE", "/_admin/faults")
def admin_reset_faults(exchange: Exchange, request: Request) -> Response:
    exchange.faults.reset()
    return Response(exchange.faults.to_json())


@route("POST", "/_admin/balance")
def admin_balance(exchange: Exchange, request: Request) -> Response:
    """Set balances: {address, collateral?, token_id?, shares?} in human units."""
    body = _admin_body(request)
    address = str(body.get("address", ""))
    if not address.startswith("0x") or len(address) != 42:
        raise errors.ApiError(400, "address must be a 0x address")
    try:
        exchange.fund(
            address,
            collateral=body.get("collateral"),
            token_id=str(body.get("token_id", "")),
            shares=body.get("shares"),
        )
    except (ValueError, ArithmeticError) as exc:
        raise errors.ApiError(400, str(exc)) from None
    account = exchange.engine.account(address)
    return Response({"address": account.address, "collateral": fmt_units(account.collateral)})


@route("POST", "/_admin/clock")
def admin_clock(exchange: Exchange, request: Request) -> Response:
    """Move the exchange's clock forward: {advance_s: seconds} (GTD expiry, heartbeats)."""
    body = _admin_body(request)
    try:
        exchange.clock_offset += float(body.get("advance_s", 0))
    except (TypeError, ValueError):
        raise errors.ApiError(400, "advance_s must be a number of seconds") from None
    return Response({"now": exchange.now()})
