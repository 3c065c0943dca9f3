"""`ClobClient`: every authenticated CLOB method, with Python names and typed results.

The client is a thin, explicit layer over three things it does not own:
- `transport.Transport` sends bytes and turns every failure into one `errors.ClobError`;
- `auth` makes the L1 (EIP-712) and L2 (HMAC) headers;
- `builder.OrderBuilder` builds and signs orders (the order ID is known before posting).

Three habits matter more than anything else here:
1. Sign exactly the bytes you send: a body is serialised ONCE to compact JSON, the HMAC is
   computed over those bytes, and the same bytes go on the wire.
2. A failed observation is an error, never data: a broken page, a cursor that loops or an
   unparsable order raises; `get_open_orders` never returns a partial list as if it were whole.
3. Nothing spends by default: market orders need an explicit FOK/FAK, GTD needs an explicit
   expiration, `cancel_market_orders` refuses to run without a filter, a batch over 15 orders is
   refused before any request is sent.

Secrets stay inside `auth.ApiCreds` and `signing.Wallet`; the transport scrubs the API secret and
passphrase from any exchange text before it lands in an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import requests

from reconciler.clob import auth
from reconciler.clob.client_markets import MarketMethods
from reconciler.clob.client_orders import OrderMethods
from reconciler.clob.errors import CredentialsRequired, ExchangeRejected, NotFound, ProtocolError
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import Wallet
from reconciler.clob.transport import RateLimitInfo, Transport, build_query
from reconciler.clob.types import (
    END_CURSOR,
    INITIAL_CURSOR,
    AssetType,
    BalanceAllowance,
    CancelResult,
    HeartbeatResult,
    Notification,
    OrderBook,
    OrderDetails,
    Page,
    PostArgs,
    Trade,
    parse_balance_allowance,
    parse_cancel_result,
    parse_notification,
    parse_open_order,
    parse_order_book,
    parse_order_details,
    parse_page_envelope,
    parse_trade,
    require_dict,
    require_list,
    to_decimal,
    to_int,
)
from reconciler.model import OpenOrder

__all__ = ["ClobClient", "PostArgs"]

#: The unified SDK sends at most this many ids in one DELETE /orders.
MAX_BATCH_CANCEL = 3000
HEARTBEAT_PATHS = ("/v1/heartbeats", "/heartbeats")


def compact_json(payload: Any) -> bytes:
    """The one serialisation of a request body: what is HMAC'd is exactly what is sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ClobClient(OrderMethods, MarketMethods):
    """A client of one CLOB host for one wallet (L1) and one API key (L2).

    Without `wallet` only public reads work; without `creds` the L1 key calls work too
    (create/derive an API key, then set `client.creds`).
    """

    def __init__(
        self,
        host: str,
        *,
        chain_id: int,
        wallet: Wallet | None = None,
        creds: auth.ApiCreds | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
        profile: Profile = Profile.V2,
        max_pages: int = 1000,
        market_cache_ttl: float = 300.0,
    ) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.chain_id = chain_id
        self.wallet = wallet
        self.profile = Profile(profile)
        self.max_pages = max_pages
        self.clock = clock
        self._transport = Transport(host, session=session, timeout=timeout, clock=clock)
        self._creds: auth.ApiCreds | None = None
        self.creds = creds
        self._heartbeat_path = HEARTBEAT_PATHS[0]
        MarketMethods.__init__(self, market_cache_ttl=market_cache_ttl)
        OrderMethods.__init__(self)

    def __repr__(self) -> str:
        address = self.wallet.address if self.wallet else None
        return (
            f"ClobClient(host={self.host!r}, chain_id={self.chain_id}, address={address}, "
            f"profile={self.profile.value}, l2={'yes' if self._creds else 'no'})"
        )

    @property
    def host(self) -> str:
        return self._transport.host

    @property
    def creds(self) -> auth.ApiCreds | None:
        return self._creds

    @creds.setter
    def creds(self, value: auth.ApiCreds | None) -> None:
        self._creds = value
        if value is not None:  # earlier creds stay redacted too: they may still be echoed
            self._transport.add_redactions((value.secret, value.passphrase))

    @property
    def last_rate_limit(self) -> RateLimitInfo | None:
        """Rate-limit headers of the last response that carried any (None until one does)."""
        return self._transport.last_rate_limit

    # --- plumbing -------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock())

    def _require_wallet(self) -> Wallet:
        if self.wallet is None:
            raise CredentialsRequired("this call needs a wallet (private key); none was given")
        return self.wallet

    def _require_creds(self) -> auth.ApiCreds:
        if self._creds is None:
            raise CredentialsRequired(
                "this call needs API credentials: create_or_derive_api_key() and set client.creds"
            )
        return self._creds

    def _public(self, path: str, *, query: str = "") -> Any:
        return self._transport.send("GET", path, query=query)

    def _l1(self, method: str, path: str, *, nonce: int) -> Any:
        headers = auth.l1_headers(
            self._require_wallet(), chain_id=self.chain_id, timestamp=self._now(), nonce=nonce
        )
        return self._transport.send(method, path, headers=headers)

    def _l2(self, method: str, path: str, *, query: str = "", payload: Any = None) -> Any:
        """An authenticated request. The path is signed without the query, as the exchange does."""
        wallet = self._require_wallet()
        creds = self._require_creds()
        body = None if payload is None else compact_json(payload)
        headers = auth.l2_headers(
            creds,
            address=wallet.address,
            timestamp=self._now(),
            method=method,
            path=path,
            body=body,
        )
        return self._transport.send(method, path, query=query, body=body, headers=headers)

    def _paginate(
        self, path: str, filters: list[tuple[str, object]], *, cursor: str, first_only: bool
    ) -> list[Any]:
        """Every item of a paginated read, MA== to LTE=; a cursor that repeats or never ends
        raises instead of looping or returning a partial list."""
        items: list[Any] = []
        seen = {cursor}
        for _ in range(self.max_pages):
            query = build_query([*filters, ("next_cursor", cursor)])
            data, cursor, _limit, _count = parse_page_envelope(
                self._l2("GET", path, query=query), f"GET {path}"
            )
            items.extend(data)
            if first_only or cursor == END_CURSOR:
                return items
            if cursor in seen:
                raise ProtocolError(f"GET {path}: the exchange repeated page cursor {cursor!r}")
            seen.add(cursor)
        raise ProtocolError(
            f"GET {path}: still not at the last page after {self.max_pages} pages; refusing to "
            "treat a partial list as complete (raise max_pages if the account is that large)"
        )

    # --- L1: API keys ---------------------------------------------------------------------------

    def create_api_key(self, nonce: int = 0) -> auth.ApiCreds:
        return _parse_creds(self._l1("POST", "/auth/api-key", nonce=nonce))

    def derive_api_key(self, nonce: int = 0) -> auth.ApiCreds:
        return _parse_creds(self._l1("GET", "/auth/derive-api-key", nonce=nonce))

    def create_or_derive_api_key(self, nonce: int = 0) -> auth.ApiCreds:
        """Create the key for (address, nonce), or derive it when it already exists."""
        try:
            return self.create_api_key(nonce=nonce)
        except ExchangeRejected as exc:
            if exc.status in (401, 403):
                raise  # the L1 signature itself was refused; deriving would fail the same way
        return self.derive_api_key(nonce=nonce)

    # --- L2: keys, balances, notifications, heartbeats ------------------------------------------

    def get_api_keys(self) -> list[str]:
        data = self._l2("GET", "/auth/api-keys")
        keys = data.get("apiKeys") if isinstance(data, dict) else data
        return [str(k) for k in require_list(keys or [], "apiKeys")]

    def delete_api_key(self) -> None:
        """Delete the API key this client signs with; the client's creds stop working."""
        self._l2("DELETE", "/auth/api-key")

    def _balance_query(self, asset_type: AssetType | str, token_id: str | None) -> str:
        kind = AssetType(asset_type)
        if kind is not AssetType.COLLATERAL and not token_id:
            raise ValueError(f"asset_type {kind.value} needs token_id")
        signature_type = int(self._require_wallet().signature_type)
        return build_query(
            [("asset_type", kind.value), ("token_id", token_id), ("signature_type", signature_type)]
        )

    def get_balance_allowance(
        self, asset_type: AssetType | str = AssetType.COLLATERAL, token_id: str | None = None
    ) -> BalanceAllowance:
        query = self._balance_query(asset_type, token_id)
        return parse_balance_allowance(self._l2("GET", "/balance-allowance", query=query))

    def update_balance_allowance(
        self, asset_type: AssetType | str = AssetType.COLLATERAL, token_id: str | None = None
    ) -> None:
        """Ask the exchange to refresh its cached on-chain balance and allowance."""
        query = self._balance_query(asset_type, token_id)
        self._l2("GET", "/balance-allowance/update", query=query)

    def get_notifications(self) -> list[Notification]:
        signature_type = int(self._require_wallet().signature_type)
        query = build_query([("signature_type", signature_type)])
        data = self._l2("GET", "/notifications", query=query)
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        return [parse_notification(item) for item in require_list(data or [], "notifications")]

    def drop_notifications(self, ids: Sequence[str]) -> None:
        if isinstance(ids, str):
            raise TypeError("drop_notifications takes a list of ids, not one string")
        if not ids:
            return
        self._l2("DELETE", "/notifications", query=build_query([("ids", ",".join(ids))]))

    def post_heartbeat(self, heartbeat_id: str = "") -> HeartbeatResult:
        """Keep the dead-man switch alive (once started, ~10 s of silence cancels every order of
        this API key). POST /v1/heartbeats as the SDKs do; /heartbeats if that path is 404."""
        if self._heartbeat_path == HEARTBEAT_PATHS[0]:
            try:
                data = self._l2("POST", HEARTBEAT_PATHS[0], payload={"heartbeat_id": heartbeat_id})
            except NotFound:
                self._heartbeat_path = HEARTBEAT_PATHS[1]
            else:
                return _parse_heartbeat(data, heartbeat_id)
        return _parse_heartbeat(self._l2("POST", HEARTBEAT_PATHS[1]), heartbeat_id)

    # --- L2: orders -----------------------------------------------------------------------------

    def cancel_order(self, order_id: str) -> CancelResult:
        return parse_cancel_result(self._l2("DELETE", "/order", payload={"orderID": order_id}))

    def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        """Cancel by id in one DELETE /orders (split only beyond 3000 ids)."""
        if isinstance(order_ids, str):
            raise TypeError("cancel_orders takes a list of order ids, not one string")
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        ids = list(order_ids)
        for start in range(0, len(ids), MAX_BATCH_CANCEL):
            chunk = ids[start : start + MAX_BATCH_CANCEL]
            result = parse_cancel_result(self._l2("DELETE", "/orders", payload=chunk))
            canceled.extend(result.canceled)
            not_canceled.update(result.not_canceled)
        return CancelResult(canceled=tuple(canceled), not_canceled=not_canceled)

    def cancel_all(self) -> CancelResult:
        return parse_cancel_result(self._l2("DELETE", "/cancel-all"))

    def cancel_market_orders(self, market: str = "", asset_id: str = "") -> CancelResult:
        """Cancel this account's orders in one market (condition id) and/or one token."""
        if not market and not asset_id:
            raise ValueError(
                "cancel_market_orders needs market= or asset_id=; use cancel_all() to cancel "
                "every order of the account"
            )
        body = {k: v for k, v in (("market", market), ("asset_id", asset_id)) if v}
        return parse_cancel_result(self._l2("DELETE", "/cancel-market-orders", payload=body))

    def get_order(self, order_id: str) -> OrderDetails | None:
        """The order with this hash in any state, or None when the exchange has no such order."""
        data = self._l2("GET", f"/data/order/{order_id}")
        if data in (None, "", {}, "null"):
            return None
        return parse_order_details(data)

    def get_open_orders(
        self,
        *,
        market: str = "",
        asset_id: str = "",
        id: str = "",
        only_first_page: bool = False,
    ) -> list[OpenOrder]:
        """This account's open orders, every page, normalised for the planner."""
        filters: list[tuple[str, object]] = [("market", market), ("asset_id", asset_id), ("id", id)]
        items = self._paginate(
            "/data/orders", filters, cursor=INITIAL_CURSOR, first_only=only_first_page
        )
        return [parse_open_order(item) for item in items]

    def get_trades(
        self,
        *,
        market: str = "",
        asset_id: str = "",
        after: int | None = None,
        before: int | None = None,
        maker_address: str = "",
        id: str = "",
        only_first_page: bool = False,
    ) -> list[Trade]:
        filters = _trade_filters(market, asset_id, after, before, maker_address, id)
        items = self._paginate(
            "/data/trades", filters, cursor=INITIAL_CURSOR, first_only=only_first_page
        )
        return [parse_trade(item) for item in items]

    def get_trades_paginated(
        self,
        *,
        market: str = "",
        asset_id: str = "",
        after: int | None = None,
        before: int | None = None,
        maker_address: str = "",
        id: str = "",
        next_cursor: str = INITIAL_CURSOR,
    ) -> Page[Trade]:
        filters = _trade_filters(market, asset_id, after, before, maker_address, id)
        query = build_query([*filters, ("next_cursor", next_cursor or INITIAL_CURSOR)])
        data, cursor, limit, count = parse_page_envelope(
            self._l2("GET", "/data/trades", query=query), "GET /data/trades"
        )
        return Page(
            items=tuple(parse_trade(t) for t in data), next_cursor=cursor, limit=limit, count=count
        )

    # --- public reads ---------------------------------------------------------------------------

    def get_ok(self) -> Any:
        return self._public("/")

    def get_server_time(self) -> int:
        data = self._public("/time")
        if isinstance(data, dict):
            data = data.get("time", data.get("timestamp"))
        return to_int(data, "server time")

    def get_version(self) -> int:
        """The CLOB order-protocol version (2 on production since 2026-04-28)."""
        data = require_dict(self._public("/version"), "GET /version")
        return to_int(data.get("version"), "version")

    def get_order_book(self, token_id: str) -> OrderBook:
        return parse_order_book(self._public("/book", query=build_query([("token_id", token_id)])))

    def get_midpoint(self, token_id: str) -> Decimal:
        data = require_dict(
            self._public("/midpoint", query=build_query([("token_id", token_id)])), "midpoint"
        )
        return to_decimal(data.get("mid"), "mid")


def _trade_filters(
    market: str, asset_id: str, after: int | None, before: int | None, maker: str, trade_id: str
) -> list[tuple[str, object]]:
    # The fixed order the official clients use: market, asset_id, after, before, maker_address, id.
    return [
        ("market", market),
        ("asset_id", asset_id),
        ("after", after),
        ("before", before),
        ("maker_address", maker),
        ("id", trade_id),
    ]


def _parse_creds(data: Any) -> auth.ApiCreds:
    item = require_dict(data, "API credentials")
    try:
        return auth.ApiCreds(
            api_key=str(item["apiKey"]),
            secret=str(item["secret"]),
            passphrase=str(item["passphrase"]),
        )
    except KeyError as exc:
        raise ProtocolError(f"API credentials answer lacks {exc.args[0]!r}") from None


def _parse_heartbeat(data: Any, sent_id: str) -> HeartbeatResult:
    if isinstance(data, dict):
        return HeartbeatResult(
            heartbeat_id=str(data.get("heartbeat_id") or sent_id),
            status=str(data.get("status", "")),
        )
    return HeartbeatResult(heartbeat_id=sent_id)
