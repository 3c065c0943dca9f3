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

A 401 on an L2 call means the API key was refused (deleted, or rotated elsewhere): the client
derives the key again through L1 once (derive, then create when there is none), and repeats the
call once with it. A 401 is a refusal, so the repeat cannot double a write. If that fails too,
`AuthenticationFailed` says what to check, in the CLI's terms.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import requests

from reconciler.clob import auth
from reconciler.clob.client_account import AccountMethods
from reconciler.clob.client_markets import MarketMethods
from reconciler.clob.client_orders import OrderMethods
from reconciler.clob.errors import (
    AuthenticationFailed,
    ClobError,
    CredentialsRequired,
    ExchangeRejected,
    ProtocolError,
)
from reconciler.clob.parsing import END_CURSOR, require_dict, require_list, to_int, to_price
from reconciler.clob.profiles import Profile
from reconciler.clob.ratelimit import Bucket, Pacer, RateLimitState, TierLimits
from reconciler.clob.signing import Wallet
from reconciler.clob.transport import AUTH_ADVICE, RateLimitInfo, Transport, build_query
from reconciler.clob.types import (
    AssetType,
    BalanceAllowance,
    OrderBook,
    PostArgs,
    parse_balance_allowance,
    parse_order_book,
    parse_page_envelope,
)

__all__ = ["ClobClient", "PostArgs"]

log = logging.getLogger(__name__)

def compact_json(payload: Any) -> bytes:
    """The one serialisation of a request body: what is HMAC'd is exactly what is sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ClobClient(OrderMethods, MarketMethods, AccountMethods):
    """A client of one CLOB host for one wallet (L1) and one API key (L2).

    Without `wallet` only public reads work; without `creds` the L1 key calls work too
    (create/derive an API key, then set `client.creds`). `clock` and `sleep` are injected: the
    pacing of order and cancel requests (2.13) waits with them, so tests never sleep for real.
    `rederive_on_401=False` turns the 401 recovery off (then a 401 raises at once).
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
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
        profile: Profile = Profile.V2,
        max_pages: int = 1000,
        market_cache_ttl: float = 300.0,
        max_body: int = 16 * 1024 * 1024,
        pacing: bool = True,
        rederive_on_401: bool = True,
    ) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.chain_id = chain_id
        self.wallet = wallet
        self.profile = Profile(profile)
        self.max_pages = max_pages
        self.clock = clock
        self.rederive_on_401 = rederive_on_401
        self._transport = Transport(
            host,
            session=session,
            timeout=timeout,
            clock=clock,
            sleep=sleep,
            max_body=max_body,
            pacing=pacing,
        )
        self._creds: auth.ApiCreds | None = None
        self.creds = creds
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
            refused = self._transport.add_redactions((value.secret, value.passphrase))
            if refused:
                log.warning(
                    "%d API credential(s) are too short to be scrubbed from messages; use the "
                    "credentials the exchange issues", refused
                )

    @property
    def on_progress(self) -> Callable[[float], None] | None:
        """Called with 0 after every request (answered or failed) and with the length of every
        pacing wait just before it: a caller's liveness check (the daemon's heartbeats) can
        tell a pass that is pacing hundreds of requests from a hung one."""
        return self._transport.on_progress

    @on_progress.setter
    def on_progress(self, callback: Callable[[float], None] | None) -> None:
        self._transport.on_progress = callback

    @property
    def last_rate_limit(self) -> RateLimitInfo | None:
        """Rate-limit headers of the last response that carried any (None until one does)."""
        return self._transport.last_rate_limit

    @property
    def pacer(self) -> Pacer:
        return self._transport.pacer

    @property
    def rate_limits(self) -> Mapping[Bucket, RateLimitState]:
        """The last `Poly-RateLimit-*` state seen per bucket (order, cancel)."""
        return dict(self._transport.pacer.states)

    @property
    def rate_tier(self) -> TierLimits:
        """The tier the pacing assumes: Standard until a Poly-RateLimit-Tier header says."""
        return self._transport.pacer.tier

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
                "this call needs API credentials: create_or_derive_api_key() and set "
                "client.creds (a library call; the CLI derives them from the wallet itself)"
            )
        return self._creds

    def _public(self, path: str, *, query: str = "") -> Any:
        return self._transport.send("GET", path, query=query)

    def _l1(self, method: str, path: str, *, nonce: int) -> Any:
        headers = auth.l1_headers(
            self._require_wallet(), chain_id=self.chain_id, timestamp=self._now(), nonce=nonce
        )
        return self._transport.send(method, path, headers=headers)

    def _l2(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        payload: Any = None,
        cost: int = 1,
        payload_for: Callable[[auth.ApiCreds], Any] | None = None,
        empty_ok: bool = True,
    ) -> Any:
        """An authenticated request. The path is signed without the query, as the exchange does.
        `payload_for` builds the body from the creds (an order's `owner` is the API key), so a
        repeat after a re-derive carries the new key. `empty_ok=False`: an empty 2xx body is a
        `ProtocolError` (see `Transport.send`)."""
        signed = functools.partial(
            self._signed, method, path, query, payload, payload_for, cost, empty_ok=empty_ok
        )
        try:
            return signed()
        except AuthenticationFailed as exc:
            if exc.status != 401 or not self.rederive_on_401 or self.wallet is None:
                raise
            self._rederive(exc)
        try:
            return signed()
        except AuthenticationFailed as exc:
            raise AuthenticationFailed(
                f"{method} {path}: the exchange refused the API key again after it was derived "
                f"anew from the wallet ({exc.status}: {exc.exchange_text}). {AUTH_ADVICE}",
                status=exc.status,
                method=method,
                path=path,
                exchange_text=exc.exchange_text,
            ) from None

    def _signed(
        self,
        method: str,
        path: str,
        query: str,
        payload: Any,
        payload_for: Callable[[auth.ApiCreds], Any] | None,
        cost: int,
        *,
        empty_ok: bool = True,
    ) -> Any:
        wallet = self._require_wallet()
        creds = self._require_creds()
        content = payload_for(creds) if payload_for is not None else payload
        body = None if content is None else compact_json(content)
        headers = auth.l2_headers(
            creds, address=wallet.address, timestamp=self._now(), method=method, path=path,
            body=body,
        )
        return self._transport.send(
            method, path, query=query, body=body, headers=headers, cost=cost, empty_ok=empty_ok
        )

    def _rederive(self, refused: AuthenticationFailed) -> None:
        """After a 401: derive the key through L1 (create it when none exists), once."""
        log.warning("the exchange refused the API key (401); deriving it again from the wallet")
        try:
            try:
                creds = self.derive_api_key()
            except ExchangeRejected as exc:
                if isinstance(exc, AuthenticationFailed):
                    raise
                creds = self.create_api_key()
        except ClobError as exc:
            raise AuthenticationFailed(
                f"{refused.method} {refused.path}: the exchange refused the API key (401: "
                f"{refused.exchange_text}), and deriving a new one from the wallet failed too "
                f"({type(exc).__name__}). {AUTH_ADVICE}",
                status=401,
                method=refused.method,
                path=refused.path,
                exchange_text=refused.exchange_text,
            ) from None
        self.creds = creds

    def _paginate(
        self, path: str, filters: list[tuple[str, object]], *, cursor: str, first_only: bool
    ) -> list[Any]:
        """Every item of a paginated read, MA== to the end (LTE=, "" or no cursor); a cursor
        that repeats or never ends raises instead of looping or returning a partial list."""
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
                raise ProtocolError(
                    f"GET {path}: the exchange repeated page cursor {cursor!r} after "
                    f"{len(seen)} page(s); refusing to loop or to treat a partial list as whole"
                )
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

    # --- L2: keys, balances ---------------------------------------------------------------------

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

    def get_rate_limit_tier(self) -> Any:
        """GET /v1/user/rate-limit-tier (L2): the signer's tier, as the exchange answers it
        (2.2 says the body was not seen, so it is returned as parsed JSON)."""
        return self._l2("GET", "/v1/user/rate-limit-tier")

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
        """2.5/§5: the key is `mid` (SDKs, older docs) or `mid_price` (OpenAPI); both read."""
        data = require_dict(
            self._public("/midpoint", query=build_query([("token_id", token_id)])), "midpoint"
        )
        value = data.get("mid", data.get("mid_price"))
        return to_price(value, "mid")


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
