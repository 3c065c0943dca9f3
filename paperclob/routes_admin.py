"""Admin routes for tests and demos (loopback only; `--no-admin` switches them all off).

Every route takes and answers JSON; `curl -s -XPOST localhost:8080/_admin/... -d '{...}'`.

* `POST /_admin/market` define or change a market: `{"token_id", "tick_size"?, "min_order_size"?,
  "neg_risk"?, "condition_id"?, "outcome"?, "question"?, "version"?: "v1"|"v2",
  "min_order_age_s"?, "taker_delay"?, "game_start_time"?, "rewards"?}`; or resolve one:
  `{"condition_id" | "token_id", "resolve": true, "winner"?: token_id}`.
* `GET|POST|DELETE /_admin/faults` read, change or reset the injected faults (faults.py).
* `POST /_admin/balance` `{"address", "collateral"?, "token_id"?, "shares"?}` (human units).
* `POST /_admin/clock` `{"advance_s": 90}` moves the exchange clock forward.
* `GET|POST /_admin/trading-mode` `{"mode": "normal"|"disabled"|"cancel-only"|"post-only"|
  "restarting", "address"?, "duration_s"?, "retry_after_s"?}` globally or for one signer
  (`"mode": "clear"` with an address drops the account's own mode); `{"address",
  "restriction": "closed-only"|"banned"|"none"}` restricts an account (modes.py).
* `GET|POST /_admin/rate-limits` `{"mode"?: "enforce"|"warn"|"off", "tier"?: "Gold",
  "address"?, "reset"?: true}`: the default tier, or one signer's tier; `reset` refills every
  bucket (ratelimit.py).
* `GET|POST /_admin/settlement` `{"fail"?: [trade ids], "fail_next"?: N, "delay_s"?: 0.5}`:
  the chosen trades (or the next N) go RETRYING -> FAILED, and their fills are taken back
  (settlement.py).
* `POST /_admin/notifications` `{"type": 1..11, "address"?, "order_id"? (1, 2, 8),
  "token_id" | "condition_id"? (3, 4), "payload"?: {...}}`: sends one notification of the
  documented shape (without an address: a broadcast to every account, owner "").
* `GET|POST /_admin/wire` the forms where sources disagree (config.WireForms):
  `{"heartbeat_error_key": "error_msg"|"error", "unknown_order": "404"|"null",
  "order_status": "plain"|"prefixed", "trade_status": "prefixed"|"plain",
  "orders_end_cursor": "LTE="|"", "stream_frames": "object"|"array",
  "stream_timestamp": "s"|"ms"}`.
* `GET|POST|DELETE /_admin/stream` the WebSocket channels' fault switch (stream_faults.py):
  `{"drop": ["user", "market"], "rules": [{"action": "lose"|"cut"|"delay", "channel",
  "event_type"?, "match"?, "api_key"?, "count"?, "delay_ms"?}], "refuse_next"?: N}`; GET also
  shows the open connections per channel and how many were accepted.
"""

from __future__ import annotations

from typing import Any

from paperclob import errors, notify
from paperclob.config import RateLimit
from paperclob.exchange import Exchange
from paperclob.markets import MarketError
from paperclob.modes import Mode, Restriction
from paperclob.notify import fmt_units
from paperclob.ratelimit import LimitMode, tier_named
from paperclob.routes import Request, Response, route


def _admin_body(request: Request) -> dict[str, Any]:
    body = request.json() or {}
    if not isinstance(body, dict):
        raise errors.ApiError(400, "admin calls take a JSON object")
    return body


def _address(body: dict[str, Any], *, required: bool = False) -> str:
    address = str(body.get("address") or "")
    if (address or required) and (not address.startswith("0x") or len(address) != 42):
        raise errors.ApiError(400, "address must be a 0x address")
    return address.lower()


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
        market_ = exchange.set_ticks(lambda: exchange.markets.define(token_id, body))
    except MarketError as exc:
        raise errors.ApiError(400, str(exc)) from None
    return Response(
        {
            "token_id": market_.token_id,
            "condition_id": market_.condition_id,
            "tick_size": market_.tick_size,
            "min_order_size": market_.min_order_size,
            "neg_risk": market_.neg_risk,
            "version": market_.version,
        }
    )


@route("GET", "/_admin/faults")
def admin_faults(exchange: Exchange, request: Request) -> Response:
    return Response(exchange.faults.to_json() | exchange.holds.to_json())


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
    address = _address(body, required=True)
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


@route("GET", "/_admin/trading-mode")
def admin_get_mode(exchange: Exchange, request: Request) -> Response:
    return Response(exchange.modes.describe(exchange.now_float()))


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise errors.ApiError(400, f"{key} must be a non-negative number of seconds")
    return float(value)


@route("POST", "/_admin/trading-mode")
def admin_set_mode(exchange: Exchange, request: Request) -> Response:
    body = _admin_body(request)
    address = _address(body)
    modes, now = exchange.modes, exchange.now_float()
    if "restriction" in body:
        try:
            restriction = Restriction(str(body["restriction"]))
        except ValueError:
            known = ", ".join(r.value for r in Restriction)
            raise errors.ApiError(400, f"restriction must be one of: {known}") from None
        if not address:
            raise errors.ApiError(400, "a restriction needs an address")
        modes.restrict(address, restriction)
    if "mode" in body:
        if body["mode"] == "clear" and address:
            modes.clear_account(address)
        else:
            try:
                mode = Mode(str(body["mode"]))
            except ValueError:
                known = ", ".join(m.value for m in Mode)
                raise errors.ApiError(400, f"mode must be one of: {known}") from None
            retry = _number(body, "retry_after_s")
            modes.set_mode(
                mode,
                now=now,
                address=address,
                duration_s=_number(body, "duration_s"),
                retry_after_s=None if retry is None else max(1, int(retry)),
            )
    return Response(modes.describe(now))


@route("GET", "/_admin/rate-limits")
def admin_get_limits(exchange: Exchange, request: Request) -> Response:
    return Response(exchange.limiter.describe())


@route("POST", "/_admin/rate-limits")
def admin_set_limits(exchange: Exchange, request: Request) -> Response:
    body = _admin_body(request)
    limiter, address = exchange.limiter, _address(body)
    try:
        if "mode" in body:
            limiter.mode = LimitMode(str(body["mode"]))
        if "tier" in body:
            tier = tier_named(str(body["tier"]))
            if address:
                limiter.set_tier(address, tier)
            else:
                limiter.default_tier = tier
                limiter.reset()
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None
    if body.get("reset"):
        limiter.reset()
    return Response(limiter.describe())


@route("GET", "/_admin/settlement")
def admin_get_settlement(exchange: Exchange, request: Request) -> Response:
    s = exchange.settlement
    return Response({"delay_s": s.delay_s, "fail_next": s.fail_next})


@route("POST", "/_admin/settlement")
def admin_settlement(exchange: Exchange, request: Request) -> Response:
    body = _admin_body(request)
    settlement, now = exchange.settlement, exchange.now_float()
    delay = _number(body, "delay_s")
    if delay is not None:
        settlement.delay_s = delay
    fail = body.get("fail", [])
    if not isinstance(fail, list) or not all(isinstance(t, str) for t in fail):
        raise errors.ApiError(400, "fail takes a list of trade ids")
    for trade_id in fail:
        settlement.fail(trade_id, now)
    if "fail_next" in body:
        count = body["fail_next"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise errors.ApiError(400, "fail_next must be a whole number")
        settlement.fail_next = count
    return Response({"delay_s": settlement.delay_s, "fail_next": settlement.fail_next})


@route("POST", "/_admin/notifications")
def admin_notify(exchange: Exchange, request: Request) -> Response:
    body = _admin_body(request)
    kind = body.get("type")
    if kind not in notify.ALL_TYPES:
        raise errors.ApiError(400, "type must be a notification type from 1 to 11")
    address = _address(body)
    overrides = body.get("payload") or {}
    if not isinstance(overrides, dict):
        raise errors.ApiError(400, "payload must be an object")
    _payload(exchange, int(kind), body, address)  # refuse what cannot be built, even unsent
    recipients = [address] if address else exchange.keys.addresses()
    sent = []
    for recipient in recipients:
        payload = _payload(exchange, int(kind), body, recipient) | overrides
        keys = exchange.keys.keys_of(recipient)
        owner = keys[0] if keys and address else ""
        note = exchange.notifications.add(
            kind=int(kind), owner=owner, address=recipient, payload=payload, now=exchange.now()
        )
        sent.append(note.id)
    return Response({"sent": sent})


def _payload(exchange: Exchange, kind: int, body: dict[str, Any], address: str) -> dict[str, Any]:
    if kind in notify.ORDER_TYPES:
        order = exchange.engine.orders.get(str(body.get("order_id", "")))
        if order is None:
            raise errors.ApiError(400, "order notifications need the order_id of a known order")
        return notify.order_payload(order)
    if kind in notify.MARKET_TYPES:
        try:
            condition = str(
                body.get("condition_id")
                or exchange.markets.get(str(body.get("token_id", ""))).condition_id
            )
        except MarketError as exc:
            raise errors.ApiError(400, str(exc)) from None
        markets = exchange.markets.by_condition(condition)
        if not markets:
            raise errors.ApiError(400, f"unknown condition id {condition}")
        return notify.market_payload(markets[0].condition_id, markets)
    return notify.default_payload(kind, address=address, seed=f"{kind}:{address}")


@route("GET", "/_admin/wire")
def admin_get_wire(exchange: Exchange, request: Request) -> Response:
    return Response(exchange.wire.to_json())


@route("POST", "/_admin/wire")
def admin_set_wire(exchange: Exchange, request: Request) -> Response:
    try:
        exchange.wire.update(_admin_body(request))
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None
    return Response(exchange.wire.to_json())


def _stream_state(exchange: Exchange) -> dict[str, Any]:
    hub = exchange.stream
    return hub.faults.to_json() | {"open": hub.open_connections(),
                                   "accepted": dict(hub.connections)}


@route("GET", "/_admin/stream")
def admin_get_stream(exchange: Exchange, request: Request) -> Response:
    return Response(_stream_state(exchange))


@route("POST", "/_admin/stream")
def admin_stream(exchange: Exchange, request: Request) -> Response:
    """Drop connections now, add message rules, refuse the next subscriptions."""
    body = _admin_body(request)
    unknown = set(body) - {"drop", "rules", "refuse_next"}
    if unknown:
        raise errors.ApiError(400, f"unknown stream fault keys: {', '.join(sorted(unknown))}")
    drop = body.get("drop", [])
    if not isinstance(drop, list) or not set(drop) <= {"user", "market"}:
        raise errors.ApiError(400, 'drop takes a list of channels: "user", "market"')
    faults = exchange.stream.faults
    try:
        if "rules" in body:
            faults.add_rules(body["rules"])
    except ValueError as exc:
        raise errors.ApiError(400, str(exc)) from None
    if "refuse_next" in body:
        count = body["refuse_next"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise errors.ApiError(400, "refuse_next must be a whole number")
        faults.refuse_next = count
    dropped = exchange.stream.drop(drop) if drop else 0
    return Response(_stream_state(exchange) | {"dropped": dropped})


@route("DELETE", "/_admin/stream")
def admin_reset_stream(exchange: Exchange, request: Request) -> Response:
    exchange.stream.faults.reset()
    return Response(_stream_state(exchange))
