"""Public market-data routes (no auth): book, prices, market metadata, and the few Gamma market
fields the protocol choice needs (under /gamma/, so one paper server can stand in for both hosts).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from paperclob import errors, render
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


# --- Gamma: the market fields that choose the order protocol (clob-v2-wire.md 2.4) ----------


def _gamma_market(condition_id: str, markets: list[Any]) -> dict[str, Any]:
    """A Gamma market with the fields the protocol choice reads: `version`, `outcomes` (JSON
    text), and the outcome ids: `positionIds` (a JSON array) on a "v2" market, `clobTokenIds`
    (JSON-encoded text) on a "v1" one. The other keys are the usual Gamma names."""
    first = markets[0]
    ids = [m.token_id for m in markets]
    answer: dict[str, Any] = {
        "id": str(int(condition_id[2:10], 16)),
        "conditionId": condition_id,
        "question": first.question,
        "slug": "",
        "version": first.version,
        "outcomes": json.dumps([m.outcome for m in markets]),
        "negRisk": first.neg_risk,
        "active": True,
        "closed": not first.accepting_orders,
        "acceptingOrders": first.accepting_orders,
        "orderPriceMinTickSize": first.tick_size,
        "orderMinSize": first.min_order_size,
    }
    if first.version == "v2":
        answer["positionIds"] = ids
    else:
        answer["clobTokenIds"] = json.dumps(ids)
    return answer


def _conditions(exchange: Exchange) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for m in exchange.markets.markets.values():
        found.setdefault(m.condition_id, []).append(m)
    return found


@route("GET", "/gamma/markets")
def gamma_markets(exchange: Exchange, request: Request) -> Response:
    """`?condition_ids=a,b` and/or `?clob_token_ids=x,y` (a token is listed on first use)."""
    q = request.query
    for token in filter(None, q.get("clob_token_ids", "").split(",")):
        query_token(exchange, Request("GET", "", {"token_id": token}, {}, b""))
    wanted_conditions = {c.lower() for c in q.get("condition_ids", "").split(",") if c}
    wanted_tokens = {t for t in q.get("clob_token_ids", "").split(",") if t}
    answer = [
        _gamma_market(cid, ms)
        for cid, ms in _conditions(exchange).items()
        if (not wanted_conditions or cid.lower() in wanted_conditions)
        and (not wanted_tokens or wanted_tokens & {m.token_id for m in ms})
    ]
    return Response(answer)


@route("GET", "/gamma/markets/")
def gamma_market(exchange: Exchange, request: Request) -> Response:
    wanted = request.path.rsplit("/", 1)[-1]
    for cid, ms in _conditions(exchange).items():
        if wanted in (cid, _gamma_market(cid, ms)["id"]):
            return Response(_gamma_market(cid, ms))
    raise errors.ApiError(404, "market not found")
