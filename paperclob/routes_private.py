"""Authenticated routes: API keys (L1/L2), account state, balances, notifications, heartbeats,
and the rate-limit tier. Orders, cancels and trades are in routes_orders."""

from __future__ import annotations

from typing import Any

from paperclob import errors
from paperclob.exchange import Exchange
from paperclob.routes import Request, Response, l1_identity, private, query_token, route
from paperclob.state import ApiKey
from reconciler.clob.profiles import Profile, contracts_for

MAX_UINT256 = str(2**256 - 1)
# The current Neg Risk Adapter for pUSD collateral (clob-v2-wire.md 2.5); 0xd91E80... is v1.
NEG_RISK_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"

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
    # The body is not in the reference; the unified SDK accepts only the JSON string "OK".
    return Response("OK")


@private("GET", "/auth/ban-status/closed-only")
def closed_only(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    return Response({"closed_only": exchange.modes.closed_only(caller.address)})


@private("GET", "/v1/user/rate-limit-tier")
def rate_limit_tier(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    """The signer's tier. The reference does not show this body: `{"tier": "Standard"}` is the
    paper exchange's choice (the tier's name, as the Poly-RateLimit-Tier header spells it)."""
    return Response({"tier": exchange.limiter.tier_of(caller.address).name})


# --- balances, notifications, heartbeats -------------------------------------------------------


def _int(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise errors.ApiError(400, f"invalid number {text!r}")
    return int(text)


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
    body = request.json()
    if body is not None and not isinstance(body, dict):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    given = (body or {}).get("heartbeat_id")
    given = "" if given is None else given  # py-clob-client 0.34 sends null the first time
    if not isinstance(given, str):
        raise errors.ApiError(400, errors.INVALID_PAYLOAD)
    new_id = exchange.heartbeats.send(caller.api_key, given, exchange.now_float())
    return Response({"heartbeat_id": new_id})


@private("POST", "/heartbeats")
def post_heartbeat_docs(exchange: Exchange, request: Request, caller: ApiKey) -> Response:
    # The documented variant: no id chaining, just "I am alive".
    exchange.heartbeats.ping(caller.api_key, exchange.now_float())
    return Response({"status": "ok"})
