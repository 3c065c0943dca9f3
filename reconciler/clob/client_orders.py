"""The order half of `ClobClient`: building, posting, and the version-mismatch retry.

Kept apart from `client.py` only for size; `ClobClient` inherits `OrderMethods` and supplies the
plumbing declared at the top of the class (`_l2`, the wallet, the clock, the market parameters
of `client_markets` ...).

Order building is split from posting on purpose: `create_order` returns a `SignedOrder` whose
`order_id` (the EIP-712 hash) is known before anything is sent, so a journal can record the
intent first; `post_order`/`post_orders` then send it. `create_and_post_*` are the one-call forms,
and they alone rebuild and retry once on `order_version_mismatch` (a rejection, so nothing was
placed): a hand-built order cannot be rebuilt here, so `post_*` switch the profile and re-raise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reconciler.clob import amounts
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.client_markets import canonical_tick
from reconciler.clob.errors import (
    ClobError,
    ExchangeRejected,
    OrderVersionMismatch,
    ProtocolError,
)
from reconciler.clob.numbers import exact_decimal
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import SignedOrder
from reconciler.clob.transport import VERSION_MISMATCH_MARKERS
from reconciler.clob.types import (
    OrderBook,
    OrderResult,
    PostArgs,
    parse_order_result,
    require_list,
)
from reconciler.model import (
    GTD_MIN_LIFETIME_SECONDS,
    MAX_BATCH_POST,
    OrderType,
    Side,
)

if TYPE_CHECKING:
    from reconciler.clob.auth import ApiCreds
    from reconciler.clob.signing import Wallet

MARKET_ORDER_TYPES = (OrderType.FOK, OrderType.FAK)
PROFILE_OF_VERSION = {1: Profile.V1, 2: Profile.V2}


def as_decimal(value: Decimal | int | str, what: str) -> Decimal:
    """Money in: Decimal, int or a decimal string. A float is refused, never converted."""
    return exact_decimal(value, what, invalid=ValueError)


def check_post_only(order_type: OrderType, post_only: bool) -> None:
    if post_only and order_type in MARKET_ORDER_TYPES:
        raise ValueError("post_only is only allowed with GTC and GTD orders")


class OrderMethods:
    """Order building and posting for `ClobClient` (see the module docstring)."""

    if TYPE_CHECKING:
        chain_id: int
        profile: Profile
        wallet: Wallet | None
        clock: Callable[[], float]

        @property
        def creds(self) -> ApiCreds | None: ...
        def _require_wallet(self) -> Wallet: ...
        def _require_creds(self) -> ApiCreds: ...
        def _l2(
            self,
            method: str,
            path: str,
            *,
            query: str = "",
            payload: Any = None,
            cost: int = 1,
            payload_for: Callable[[ApiCreds], Any] | None = None,
        ) -> Any: ...
        def order_profile(self, token_id: str) -> Profile: ...
        def get_order_book(self, token_id: str) -> OrderBook: ...
        def get_version(self) -> int: ...
        def get_tick_size(self, token_id: str) -> Decimal: ...
        def get_neg_risk(self, token_id: str) -> bool: ...
        def get_fee_rate_bps(self, token_id: str) -> int: ...
        def clear_market_cache(self, token_id: str | None = None) -> None: ...

    def __init__(self) -> None:
        self._builders: dict[Profile, OrderBuilder] = {}

    def _order_market(
        self, token_id: str, tick_size: Decimal | str | None, neg_risk: bool | None
    ) -> tuple[Decimal, bool, Profile]:
        """(tick, neg-risk, profile) of the market an order is built for: the profile is chosen
        per market (`order_profile`), never once for the whole client."""
        if tick_size is None:
            tick = self.get_tick_size(token_id)
        else:
            tick = canonical_tick(as_decimal(tick_size, "tick_size"), "tick_size")
        profile = self.order_profile(token_id)
        if profile is Profile.V3:
            return tick, False, profile  # ExchangeV3 has no neg-risk variant
        return tick, self.get_neg_risk(token_id) if neg_risk is None else neg_risk, profile

    # --- building -------------------------------------------------------------------------------

    def _builder(self, profile: Profile) -> OrderBuilder:
        wallet = self._require_wallet()
        builder = self._builders.get(profile)
        if builder is None or builder.wallet is not wallet:
            clock = self.clock  # the order timestamp (V2, ms) follows the injected clock
            builder = OrderBuilder(
                wallet,
                chain_id=self.chain_id,
                profile=profile,
                clock_ms=lambda: int(clock() * 1000),
            )
            self._builders[profile] = builder
        return builder

    def _check_expiration(self, order_type: OrderType, expiration: int) -> None:
        if order_type is OrderType.GTD:
            earliest = int(self.clock()) + GTD_MIN_LIFETIME_SECONDS
            if expiration < earliest:
                raise ValueError(
                    f"a GTD order needs expiration >= now + {GTD_MIN_LIFETIME_SECONDS} s "
                    f"(>= {earliest}); got {expiration}"
                )
        elif expiration:
            raise ValueError(f"expiration is only for GTD orders, not {order_type.value}")

    def create_order(
        self,
        token_id: str,
        side: Side | str,
        price: Decimal | str | int,
        size: Decimal | str | int,
        *,
        order_type: OrderType | str = OrderType.GTC,
        expiration: int = 0,
        tick_size: Decimal | str | None = None,
        neg_risk: bool | None = None,
    ) -> SignedOrder:
        """Build and sign a limit order (nothing is sent but market-parameter reads)."""
        kind = OrderType(order_type)
        self._check_expiration(kind, expiration)
        tick, is_neg_risk, profile = self._order_market(token_id, tick_size, neg_risk)
        fee = self.get_fee_rate_bps(token_id) if profile is Profile.V1 else 0
        return self._builder(profile).build_limit(
            token_id,
            Side(side),
            as_decimal(price, "price"),
            as_decimal(size, "size"),
            tick_size=tick,
            neg_risk=is_neg_risk,
            expiration=expiration,
            fee_rate_bps=fee,
        )

    def calculate_market_price(
        self, token_id: str, side: Side | str, amount: Decimal | str | int, order_type: OrderType
    ) -> Decimal:
        """The price a market order must carry to fill `amount` against the current book."""
        book = self.get_order_book(token_id)
        levels = book.asks if Side(side) is Side.BUY else book.bids
        return amounts.market_price_from_book(
            Side(side), as_decimal(amount, "amount"), levels, OrderType(order_type)
        )

    def create_market_order(
        self,
        token_id: str,
        side: Side | str,
        amount: Decimal | str | int,
        *,
        order_type: OrderType | str,
        price: Decimal | str | None = None,
        tick_size: Decimal | str | None = None,
        neg_risk: bool | None = None,
    ) -> SignedOrder:
        """Build a FOK/FAK order. BUY `amount` is collateral to spend, SELL `amount` is shares.
        Without `price` the price comes from walking the current book."""
        kind = OrderType(order_type)
        if kind not in MARKET_ORDER_TYPES:
            raise ValueError(f"a market order is FOK or FAK, not {kind.value}")
        tick, is_neg_risk, profile = self._order_market(token_id, tick_size, neg_risk)
        value = as_decimal(amount, "amount")
        limit = (
            self.calculate_market_price(token_id, side, value, kind)
            if price is None
            else as_decimal(price, "price")
        )
        fee = self.get_fee_rate_bps(token_id) if profile is Profile.V1 else 0
        return self._builder(profile).build_market(
            token_id,
            Side(side),
            value,
            limit,
            tick_size=tick,
            neg_risk=is_neg_risk,
            fee_rate_bps=fee,
        )

    # --- posting --------------------------------------------------------------------------------

    def _post_payload(
        self, order: SignedOrder, order_type: OrderType, post_only: bool, creds: ApiCreds
    ) -> dict[str, Any]:
        # Key order as py-clob-client-v2 sends it: order, owner, orderType, deferExec, postOnly.
        return {
            "order": order.to_wire(),
            "owner": creds.api_key,
            "orderType": OrderType(order_type).value,
            "deferExec": False,
            "postOnly": bool(post_only),
        }

    def post_order(
        self,
        order: SignedOrder,
        order_type: OrderType | str = OrderType.GTC,
        post_only: bool = False,
    ) -> OrderResult:
        """POST /order. A rejection (HTTP 400) raises `ExchangeRejected`; a transport failure or
        5xx raises with `outcome_unknown=True`: look the order up by `order.order_id` then."""
        kind = OrderType(order_type)
        check_post_only(kind, post_only)
        data = self._send_order_write(
            "/order",
            lambda creds: self._post_payload(order, kind, post_only, creds),
            [order.order.token_id_str],
            cost=1,
        )
        result = _parse_write(parse_order_result, data, "POST /order")
        if _is_version_mismatch(result.error_msg):
            self._switch_profile_after_mismatch()
            raise OrderVersionMismatch(
                f"POST /order: {result.error_msg}", status=200, method="POST", path="/order"
            )
        return result

    def post_orders(self, orders: Sequence[PostArgs | tuple[Any, ...]]) -> list[OrderResult]:
        """POST /orders: at most 15 orders, one result per order in the same order."""
        args = [_post_args(entry) for entry in orders]
        if len(args) > MAX_BATCH_POST:
            raise ValueError(
                f"post_orders takes at most {MAX_BATCH_POST} orders per call, got {len(args)}; "
                "split the batch"
            )
        if not args:
            return []
        for entry in args:
            check_post_only(entry.order_type, entry.post_only)
        tokens = sorted({a.order.order.token_id_str for a in args})
        data = self._send_order_write(
            "/orders",
            lambda creds: [
                self._post_payload(a.order, a.order_type, a.post_only, creds) for a in args
            ],
            tokens,
            cost=len(args),
        )
        items = _parse_write(lambda d: require_list(d, "POST /orders"), data, "POST /orders")
        if len(items) != len(args):
            raise ProtocolError(
                f"POST /orders: sent {len(args)} orders, got {len(items)} results; look each "
                "order up by its hash before sending again",
                method="POST",
                path="/orders",
                outcome_unknown=True,
            )
        results = [_parse_write(parse_order_result, item, "POST /orders") for item in items]
        if any(_is_version_mismatch(r.error_msg) for r in results):
            self._switch_profile_after_mismatch()  # so the caller's rebuild uses the right profile
        return results

    def post_many(self, orders: Sequence[PostArgs | tuple[Any, ...]]) -> list[OrderResult]:
        """Any number of orders in as few POST /orders as the 15-order limit allows, each paced
        against the order bucket; one result per order, in order. A failure raises with
        `.partial` holding the results of the batches answered before it."""
        args = [_post_args(entry) for entry in orders]
        results: list[OrderResult] = []
        for start in range(0, len(args), MAX_BATCH_POST):
            try:
                results.extend(self.post_orders(args[start : start + MAX_BATCH_POST]))
            except ClobError as exc:
                if results:
                    exc.partial = tuple(results)
                raise
        return results

    def _send_order_write(
        self,
        path: str,
        payload_for: Callable[[ApiCreds], Any],
        token_ids: Sequence[str],
        *,
        cost: int,
    ) -> Any:
        try:
            return self._l2("POST", path, payload_for=payload_for, cost=cost)
        except OrderVersionMismatch:
            self._switch_profile_after_mismatch()
            raise
        except ExchangeRejected as exc:
            if "tick" in exc.message.lower():
                for token_id in token_ids:  # the tick may have changed: read it again next time
                    self.clear_market_cache(token_id)
            raise

    def _switch_profile_after_mismatch(self) -> bool:
        """Re-read /version; switch to the profile it names. True if the profile changed."""
        if self.profile is Profile.V3:
            return False  # V3 is chosen per market, not by the server version
        try:
            version = self.get_version()
        except ClobError:
            return False  # keep the mismatch as the error the caller sees
        new = PROFILE_OF_VERSION.get(version)
        if new is None or new is self.profile:
            return False
        self.profile = new
        return True

    def create_and_post_order(
        self,
        token_id: str,
        side: Side | str,
        price: Decimal | str | int,
        size: Decimal | str | int,
        *,
        order_type: OrderType | str = OrderType.GTC,
        expiration: int = 0,
        post_only: bool = False,
        tick_size: Decimal | str | None = None,
        neg_risk: bool | None = None,
    ) -> OrderResult:
        kind = OrderType(order_type)
        check_post_only(kind, post_only)
        return self._retry_on_mismatch(
            lambda: self.create_order(
                token_id,
                side,
                price,
                size,
                order_type=kind,
                expiration=expiration,
                tick_size=tick_size,
                neg_risk=neg_risk,
            ),
            lambda signed: self.post_order(signed, kind, post_only),
        )

    def create_and_post_market_order(
        self,
        token_id: str,
        side: Side | str,
        amount: Decimal | str | int,
        *,
        order_type: OrderType | str = OrderType.FOK,
        price: Decimal | str | None = None,
        tick_size: Decimal | str | None = None,
        neg_risk: bool | None = None,
    ) -> OrderResult:
        kind = OrderType(order_type)
        return self._retry_on_mismatch(
            lambda: self.create_market_order(
                token_id,
                side,
                amount,
                order_type=kind,
                price=price,
                tick_size=tick_size,
                neg_risk=neg_risk,
            ),
            lambda signed: self.post_order(signed, kind, False),
        )

    def _retry_on_mismatch(
        self, build: Callable[[], SignedOrder], post: Callable[[SignedOrder], OrderResult]
    ) -> OrderResult:
        """Build and post; on order_version_mismatch (nothing placed) rebuild once with the
        profile /version names, if that differs from the one the order was built with."""
        signed = build()
        try:
            return post(signed)
        except OrderVersionMismatch:
            if self.order_profile(signed.order.token_id_str) is signed.profile:
                raise  # /version names the profile we already used: retrying cannot help
            return post(build())


def _post_args(entry: PostArgs | tuple[Any, ...]) -> PostArgs:
    if isinstance(entry, PostArgs):
        return PostArgs(entry.order, OrderType(entry.order_type), bool(entry.post_only))
    if isinstance(entry, tuple) and 1 <= len(entry) <= 3:
        order = entry[0]
        kind = OrderType(entry[1]) if len(entry) > 1 else OrderType.GTC
        return PostArgs(order, kind, bool(entry[2]) if len(entry) > 2 else False)
    raise TypeError("post_orders takes PostArgs or (signed_order, order_type, post_only) tuples")


def _is_version_mismatch(text: str) -> bool:
    return any(marker in text for marker in VERSION_MISMATCH_MARKERS)


def _parse_write(parser: Callable[[Any], Any], data: Any, what: str) -> Any:
    """Parse a write's answer; an answer we cannot read leaves the outcome unknown."""
    try:
        return parser(data)
    except ProtocolError as exc:
        raise ProtocolError(
            f"{what}: unreadable answer ({exc.message}); the write may have been applied: look "
            "the order up by its hash before sending again",
            method="POST",
            path=what.split(" ", 1)[-1],
            outcome_unknown=True,
        ) from None
