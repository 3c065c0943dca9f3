"""Order verification, as the exchange does it, before anything touches the book.

An order entry (`{"order": {...}, "owner": key, "orderType": ..., "postOnly": ...}`) is checked in
this order, each failure with the exchange's own text (errors.py):

1. shape, order type, owner = the caller's API key, protocol: V1 when the order carries
   `nonce`/`feeRateBps`/`taker`, else the server's protocol; on a Protocol-V2 market (Gamma
   `version: "v2"`) only ExchangeV3 (domain "3") signatures are accepted (clob-v2-wire.md 2.4),
   and elsewhere a domain "3" signature recovers to a stranger (`invalid signature`);
2. signature: the EIP-712 hash is recomputed and the signer recovered
   (`reconciler.clob.signing.recover_order_signer`, neg-risk exchange chosen by the market); the
   recovered address must be the order's signer (type 3: the deposit wallet's owner) and the
   address the API key is bound to; an EOA order's maker must be its signer;
3. duplicates (order id = order hash), market open, post-only only on GTC/GTD, GTD expiration
   outside the security window;
4. amounts: precision per side/type, price consistent with the amounts and on the tick grid
   within [tick, 1 - tick], size at least the market minimum (limit orders).

Balance, post-only crossing and FOK fillability need the book, so the engine checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from paperclob import errors
from paperclob.book import Order
from paperclob.engine import fmt_units
from paperclob.markets import Market
from paperclob.state import ApiKey
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import SignatureType, order_from_wire, recover_order_signer
from reconciler.model import Side

ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")
V1_KEYS = ("nonce", "feeRateBps", "taker")
FINEST_PRICE = Decimal("0.0001")
LATEST_CLIENT = "Please check if you are using the latest version of the 'clob-client' library"


@dataclass(frozen=True)
class Intake:
    """A verified order and how the engine should trade it."""

    order: Order
    limit: Decimal
    budget: int | None  # collateral units a market buy may spend; None = share-based
    post_only: bool


@dataclass(frozen=True)
class Entry:
    """The parts of a POST body entry, parsed but not yet verified."""

    wire: dict[str, Any]
    owner: str
    order_type: str
    post_only: bool


def parse_entry(entry: Any) -> Entry:
    if not isinstance(entry, dict) or not isinstance(entry.get("order"), dict):
        raise errors.OrderRejected("Invalid order payload")
    order_type = entry.get("orderType", "GTC")
    if order_type not in ORDER_TYPES:
        raise errors.OrderRejected(f"invalid order type {order_type!r}")
    post_only = entry.get("postOnly", False)
    if not isinstance(post_only, bool):
        raise errors.OrderRejected("Invalid order payload")
    return Entry(entry["order"], str(entry.get("owner", "")), order_type, post_only)


def profile_of(wire: dict[str, Any], *, server_protocol: str) -> Profile:
    if any(key in wire for key in V1_KEYS):
        return Profile.V1
    if "timestamp" in wire or server_protocol == "v2":
        return Profile.V2
    return Profile.V1


class OrderVerifier:
    def __init__(
        self, *, chain_id: int, protocol: str, strict_version: bool, gtd_security_s: int
    ) -> None:
        self.chain_id = chain_id
        self.protocol = protocol
        self.strict_version = strict_version
        self.gtd_security_s = gtd_security_s

    def check_identity(
        self, entry: Entry, *, caller: ApiKey, market: Market
    ) -> tuple[Profile, str, Any]:
        """Steps 1-2: returns (profile, order id, parsed unsigned order)."""
        if entry.owner != caller.api_key:
            raise errors.OrderRejected(errors.OWNER_MISMATCH)
        profile = profile_of(entry.wire, server_protocol=self.protocol)
        if self.strict_version and profile.value != self.protocol:
            raise errors.OrderRejected(errors.VERSION_MISMATCH)
        if market.version == "v2":
            if profile is Profile.V1:
                raise errors.OrderRejected(errors.INVALID_SIGNATURE)
            profile = Profile.V3
        try:
            unsigned = order_from_wire(entry.wire, profile=profile)
        except ValueError:
            raise errors.OrderRejected("Invalid order payload") from None
        try:
            recovered, order_id = recover_order_signer(
                entry.wire, chain_id=self.chain_id, profile=profile, neg_risk=market.neg_risk
            )
        except ValueError:
            raise errors.OrderRejected(errors.INVALID_SIGNATURE) from None
        recovered = recovered.lower()
        if unsigned.signature_type is SignatureType.POLY_1271:
            signer = recovered  # the wallet's owner EOA signed the envelope
        else:
            signer = unsigned.signer.lower()
            if recovered != signer:
                raise errors.OrderRejected(errors.INVALID_SIGNATURE)
            if unsigned.signature_type is SignatureType.EOA and unsigned.maker.lower() != signer:
                raise errors.OrderRejected(errors.INVALID_SIGNATURE)
        if signer != caller.address:
            raise errors.OrderRejected(errors.SIGNER_MISMATCH)
        return profile, order_id, unsigned

    def check_rules(self, entry: Entry, *, order_id: str, market: Market, now: int) -> None:
        """Step 3 (except duplicates, which need the order store)."""
        if not market.accepting_orders:
            raise errors.OrderRejected(errors.MARKET_CLOSED)
        if entry.post_only and entry.order_type not in ("GTC", "GTD"):
            raise errors.OrderRejected(errors.POST_ONLY_TYPE)
        expiration = _expiration(entry.wire)
        if entry.order_type == "GTD":
            # It would rest until expiration - 60 s: that must still be in the future.
            if expiration <= now + self.gtd_security_s:
                raise errors.OrderRejected(errors.INVALID_EXPIRATION)
        elif expiration != 0:
            raise errors.OrderRejected(errors.INVALID_EXPIRATION)

    def build(
        self,
        entry: Entry,
        *,
        unsigned: Any,
        profile: Profile,
        order_id: str,
        caller: ApiKey,
        market: Market,
        now: int,
        seq: int,
    ) -> Intake:
        """Step 4, then the `Order` the engine will trade."""
        maker_amount, taker_amount = unsigned.maker_amount, unsigned.taker_amount
        side: Side = unsigned.side
        if maker_amount <= 0 or taker_amount <= 0:
            raise errors.OrderRejected("invalid amounts, maker and taker amounts must be positive")
        is_market = entry.order_type in ("FOK", "FAK")
        digits = amount_digits(market.tick_size)
        check_precision(
            side=side, is_market=is_market, maker=maker_amount, taker=taker_amount, digits=digits
        )
        if is_market:
            limit, price = market_limit(side, maker_amount, taker_amount, market.tick_size)
        else:
            price = limit_price(side, maker_amount, taker_amount, market.tick_size)
            limit = price
        check_tick(order_id, price, market.tick_size)
        shares = taker_amount if side is Side.BUY else maker_amount
        if not is_market and Decimal(shares).scaleb(-6) < market.min_order_size:
            raise errors.OrderRejected(
                f"order {order_id} is invalid. Size ({fmt_units(shares)}) lower than the "
                f"minimum: {market.min_order_size.normalize():f}"
            )
        order = Order(
            order_id=order_id,
            owner=caller.api_key,
            address=caller.address,
            maker=unsigned.maker.lower(),
            token_id=market.token_id,
            condition_id=market.condition_id,
            outcome=market.outcome,
            side=side,
            price=price,
            original=shares,
            order_type=entry.order_type,
            expiration=_expiration(entry.wire),
            created_at=now,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            signature_type=int(unsigned.signature_type),
            seq=seq,
            profile=profile.value,
        )
        budget = maker_amount if is_market and side is Side.BUY else None
        return Intake(order=order, limit=limit, budget=budget, post_only=entry.post_only)


def _expiration(wire: dict[str, Any]) -> int:
    value = wire.get("expiration", "0")
    text = str(value)
    if not text.isdigit():
        raise errors.OrderRejected(errors.INVALID_EXPIRATION)
    return int(text)


def amount_digits(tick: Decimal) -> int:
    """Decimals a notional may have on this tick: price decimals + 2 size decimals."""
    return -int(tick.normalize().as_tuple().exponent) + 2


def _has_digits(units: int, digits: int) -> bool:
    return units % 10 ** (6 - digits) == 0


def check_precision(*, side: Side, is_market: bool, maker: int, taker: int, digits: int) -> None:
    """The exchange's "invalid amounts, ... max accuracy" rules (clob-v1-wire.md 5.4)."""
    if side is Side.BUY:
        kind = "market buy" if is_market else "buy"
        maker_digits, taker_digits = (2, 4) if is_market else (digits, 2)
    else:
        kind = "market sell" if is_market else "sell"
        maker_digits, taker_digits = 2, digits
    if not (_has_digits(maker, maker_digits) and _has_digits(taker, taker_digits)):
        raise errors.OrderRejected(
            f"invalid amounts, the {kind} orders maker amount supports a max accuracy of "
            f"{maker_digits} decimals, taker amount a max of {taker_digits} decimals"
        )


def limit_price(side: Side, maker: int, taker: int, tick: Decimal) -> Decimal:
    """The price a limit order's amounts imply.

    A clean price (at most 4 decimals, the finest grid) is returned for the tick check; amounts
    that imply no clean price are inconsistent and get the exchange's "should be" message.
    """
    collateral, shares = (maker, taker) if side is Side.BUY else (taker, maker)
    with localcontext() as ctx:
        ctx.prec = 80
        implied = Decimal(collateral) / Decimal(shares)
    if implied == implied.quantize(FINEST_PRICE):
        return implied.normalize()
    nearest = (implied / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick
    expected = int(Decimal(shares) * nearest)
    which = "maker" if side is Side.BUY else "taker"
    raise errors.OrderRejected(
        f"invalid amounts, the {which} amount for a ${nearest.normalize():f} order of size "
        f"{fmt_units(shares)} should be '{fmt_units(expected)}' but the value submited "
        f"is '{fmt_units(collateral)}'. {LATEST_CLIENT}"
    )


def market_limit(side: Side, maker: int, taker: int, tick: Decimal) -> tuple[Decimal, Decimal]:
    """(worst price the market order accepts, that price on the grid for display and checks)."""
    with localcontext() as ctx:
        ctx.prec = 80
        if side is Side.BUY:
            limit = Decimal(maker) / Decimal(taker)  # pays at most this per share
        else:
            limit = Decimal(taker) / Decimal(maker)  # takes at least this per share
    on_grid = (limit / tick).to_integral_value(rounding=ROUND_DOWN) * tick
    if side is Side.SELL and on_grid < limit:
        on_grid += tick
    return limit, on_grid.normalize()


def check_tick(order_id: str, price: Decimal, tick: Decimal) -> None:
    if price < tick or price > 1 - tick or (price / tick) % 1 != 0:
        raise errors.OrderRejected(
            f"order {order_id} is invalid. Price ({price.normalize():f}) breaks minimum tick "
            f"size rule: {tick.normalize():f}"
        )
